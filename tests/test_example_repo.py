"""The example repository is valid, editor-ready, and documented from the schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from proxgit.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example-repo"


def test_example_repo_validates() -> None:
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "2 cluster(s)" in result.stdout


def test_validate_from_inside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE)
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output


def test_example_repo_is_large_enough() -> None:
    vms = list(EXAMPLE.glob("clusters/*/vms/*.yaml"))
    containers = list(EXAMPLE.glob("clusters/*/containers/*.yaml"))
    assert len(vms) >= 8
    assert len(containers) >= 3
    assert {p.parts[-3] for p in vms} == {"lab", "prod"}


def test_every_example_document_names_its_schema() -> None:
    for path in [EXAMPLE / "proxgit.yaml", *EXAMPLE.glob("clusters/*/*/*.yaml")]:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.is_file(), f"{path}: schema {target} does not exist"


def test_reference_tables_match_schemas() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
