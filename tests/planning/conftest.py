"""Fixtures for planning tests: a seeded fakepve and a Git repository pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.forges.fakeforge import FakeForge
from tests.support import TOKEN_ENV, TOKEN_SECRET, GitRepo, config_yaml, seed_pve


@pytest.fixture
def pve(fakepve: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN_SECRET)
    yield seed_pve(fakepve)


@pytest.fixture
def repo(tmp_path: Path, pve: Any, fakepve_cafile: str) -> GitRepo:
    git = GitRepo(tmp_path)
    git.commit({"proxgit.yaml": config_yaml(pve.url, fakepve_cafile)}, "Configure proxgit")
    return git


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeForge:
    """A fake GitHub API that keeps the PR's comments and statuses."""
    return FakeForge(httpserver, "github")
