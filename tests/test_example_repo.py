"""The example repository is valid, editor-ready, and documented from the schemas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from proxgit.cli import main
from proxgit.schemas import render_schemas, schema_id

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


def check_modelines(repo: Path) -> int:
    """Every document's modeline names a schema inside ``repo`` that accepts the document.

    Returns the number of documents checked. The schema is read from the file
    the modeline points at and applied with jsonschema, as an editor would."""
    root = repo.resolve()
    documents = [repo / "proxgit.yaml", *repo.glob("clusters/*/*/*.yaml")]
    for path in documents:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.is_relative_to(root), f"{path}: schema {target} is outside {root}"
        assert target.is_file(), f"{path}: schema {target} does not exist"
        schema = json.loads(target.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = list(
            jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text()))
        )
        assert not errors, f"{path}: {errors[0].message}"
    return len(documents)


def test_every_example_document_names_its_schema() -> None:
    assert check_modelines(EXAMPLE) >= 14


def test_a_copy_of_the_example_in_an_empty_directory_stands_alone(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(EXAMPLE, copy)
    assert check_modelines(copy) >= 14
    result = CliRunner().invoke(main, ["validate", str(copy)])
    assert result.exit_code == 0, result.output


def test_the_example_carries_the_current_schemas() -> None:
    for name, text in render_schemas().items():
        carried = EXAMPLE / "schemas" / name
        assert carried.is_file(), f"example-repo/schemas/{name}: run 'make schemas'"
        assert carried.read_text() == text, f"example-repo/schemas/{name} is stale: 'make schemas'"
    result = CliRunner().invoke(main, ["schema", "--check", "--out", str(EXAMPLE / "schemas")])
    assert result.exit_code == 0, result.output


def test_schema_ids_are_versioned_names() -> None:
    for name, text in render_schemas().items():
        schema = json.loads(text)
        kind = name.split(".")[0]
        assert schema["$id"] == schema_id(kind) == f"urn:proxgit:schema:v1:{kind}"


def test_a_modeline_pointing_outside_the_copy_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(EXAMPLE, copy)
    vm = copy / "clusters" / "lab" / "vms" / "web-01.yaml"
    vm.write_text(vm.read_text().replace("$schema=../../../", "$schema=../../../../", 1))
    (tmp_path / "schemas").mkdir()
    shutil.copy(copy / "schemas" / "virtualmachine.schema.json", tmp_path / "schemas")
    with pytest.raises(AssertionError, match="outside"):
        check_modelines(copy)


def test_reference_tables_match_schemas() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
