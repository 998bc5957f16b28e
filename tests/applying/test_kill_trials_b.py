"""Seeded SIGKILL trials, second half (see killtrials.py); a file per half so pytest-xdist
runs the halves side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.applying.killtrials import kill_trials


@pytest.mark.slow
def test_kill_trials_second_half_converge(tmp_path: Path) -> None:
    counts = kill_trials(tmp_path, seed=20261202, trials=10)
    print(f"kill trials: {counts}")
    assert counts.get("mid-run", 0) + counts.get("between-push-and-ref", 0) >= 8, counts
    assert counts.get("between-push-and-ref", 0) >= 2, counts
