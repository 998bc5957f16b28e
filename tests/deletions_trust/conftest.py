from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deletions_trust.harness import Scene


@pytest.fixture
def scene(
    tmp_path: Path, pve: Any, fakepve_cafile: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Scene]:
    def make(**options: Any) -> Scene:
        return Scene(tmp_path, pve, fakepve_cafile, monkeypatch, **options)

    return make
