from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.deletions_trust.harness import ForgeScene, Scene
from tests.forges.fakeforge import TOKEN, FakeForge


@pytest.fixture
def scene(
    tmp_path: Path, pve: Any, fakepve_cafile: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Scene]:
    def make(**options: Any) -> Scene:
        return Scene(tmp_path, pve, fakepve_cafile, monkeypatch, **options)

    return make


@pytest.fixture
def forge_scene(
    tmp_path: Path,
    pve: Any,
    fakepve_cafile: str,
    monkeypatch: pytest.MonkeyPatch,
    httpserver: HTTPServer,
) -> Callable[[str], ForgeScene]:
    """A scene in forge mode against a fake GitHub, GitLab or Gitea."""

    def make(kind: str) -> ForgeScene:
        fake = FakeForge(httpserver, kind, prefix="/api/v1" if kind == "gitea" else "")
        monkeypatch.setenv("PROXGIT_FORGE_TOKEN", TOKEN)
        return ForgeScene(tmp_path, pve, fakepve_cafile, monkeypatch, fake=fake)

    return make
