"""Fixtures for planning tests: a fake GitHub API (fakepve and repo: tests/conftest.py)."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from tests.forges.fakeforge import FakeForge


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeForge:
    """A fake GitHub API that keeps the PR's comments and statuses."""
    return FakeForge(httpserver, "github")
