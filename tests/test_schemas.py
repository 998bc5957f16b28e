"""The committed JSON Schemas are exactly what the models generate, and they agree with them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from proxgit.cli import main
from proxgit.schemas import render_schemas

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schemas_match_models() -> None:
    rendered = render_schemas()
    for name, text in rendered.items():
        committed = ROOT / "schemas" / name
        assert committed.exists(), f"schemas/{name} missing: run 'make schemas'"
        assert committed.read_text() == text, f"schemas/{name} is stale: run 'make schemas'"


def test_schema_check_fails_on_stale_file(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(main, ["schema", "--check", "--out", str(tmp_path)]).exit_code == 0
    (tmp_path / "virtualmachine.schema.json").write_text("{}\n")
    result = runner.invoke(main, ["schema", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "virtualmachine.schema.json" in result.stderr


def test_schemas_accept_what_models_accept_and_reject_unknown_keys() -> None:
    schema = json.loads(render_schemas()["virtualmachine.schema.json"])
    document = {
        "apiVersion": "proxgit/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "web-01", "cluster": "lab"},
        "spec": {
            "vmid": 101,
            "node": "pve1",
            "memory": "4G",
            "disks": {"scsi0": {"storage": "local-lvm", "size": "32G"}},
            "cloudInit": {"ipconfig0": "ip=dhcp", "passwordFrom": {"env": "PW"}},
        },
    }
    jsonschema.validate(document, schema)
    document["spec"]["cors"] = 2
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as err:
        assert "cors" in err.message
    else:  # pragma: no cover - the assertion is the point
        raise AssertionError("schema accepted an unknown key")
