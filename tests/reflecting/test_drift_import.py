"""``proxgit drift`` and ``proxgit import`` against fakepve, with ``plan`` as the judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from proxgit.loading import load_directory
from tests.planning.test_plan import DNS, WEB, client, create_from_desired
from tests.reflecting.conftest import SEED_SECRET, run
from tests.support import TOKEN_SECRET, GitRepo, ct_path, ct_yaml, vm_path, vm_yaml


def test_drift_exit_codes_and_fields(repo: GitRepo, pve: Any) -> None:
    repo.commit(
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            ct_path("dns-01"): ct_yaml("dns-01", 201, extra=DNS),
        },
        "Add guests",
    )
    create_from_desired(repo, pve)
    result = run(repo, "drift")
    assert result.exit_code == 0, result.output
    assert "No drift" in result.output
    assert "ubuntu-2404-tpl (vmid 9000, lab) not declared: template" in result.output

    api = client(repo)
    api.put("nodes/pve1/qemu/101/config", cores=4, tags="web;prod;extra")
    pve.add_vm(150, "hand-made", node="pve2", status="running")
    repo.commit({vm_path("gone"): vm_yaml("gone", 190)}, "Declare gone")
    result = run(repo, "drift")
    assert result.exit_code == 2, result.output
    assert "~ VirtualMachine web-01 (vmid 101, lab/pve1) differs from" in result.output
    assert "    cores: live 4, desired 2" in result.output
    assert '    tags: live ["extra", "prod", "web"], desired ["prod", "web"]' in result.output
    assert "- VirtualMachine gone (vmid 190, lab/pve1) is declared in" in result.output
    assert "? VirtualMachine hand-made (vmid 150, lab/pve2) is live (running)" in result.output
    assert "Drift: 1 changed, 1 missing, 1 unmanaged (1 in sync)" in result.output

    data = json.loads(run(repo, "drift", "--output", "json").stdout)
    assert data["summary"] == {
        "changed": 1,
        "missing": 1,
        "unmanaged": 1,
        "in_sync": 1,
        "errors": 0,
    }
    web = next(g for g in data["guests"] if g["vmid"] == 101)
    assert web["drift"] == "changed" and web["file"] == "clusters/lab/vms/web-01.yaml"
    assert {f["path"]: (f["before"], f["after"]) for f in web["fields"]} == {
        "cores": (4, 2),
        "tags": (["extra", "prod", "web"], ["prod", "web"]),
    }
    assert [g["reason"] for g in data["ignored"]] == ["template"]

    md = run(repo, "drift", "--output", "markdown")
    assert md.exit_code == 2
    assert "| 1 | 1 | 1 | 1 |" in md.stdout
    assert "| lab/web-01 (101) | `cores` | `4` | `2` |" in md.stdout
    assert "#### Missing" in md.stdout and "#### Unmanaged" in md.stdout
    assert TOKEN_SECRET not in result.output + md.stdout


def test_drift_reads_only_declared_guests(repo: GitRepo, pve: Any) -> None:
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    create_from_desired(repo, pve)
    for vmid in range(500, 510):
        pve.add_vm(vmid, f"other-{vmid}", node="pve1")
    pve.requests.clear()
    result = run(repo, "drift")
    assert result.exit_code == 2  # the ten undeclared guests
    paths = [p for _, p, _ in pve.requests]
    assert paths == [
        "/api2/json/cluster/resources",
        "/api2/json/nodes/pve1/qemu/101/pending",
    ]


def test_drift_unreachable_cluster_exits_1(repo: GitRepo, pve: Any) -> None:
    pve.fail("GET", "/cluster/resources", 401, "authentication failure")
    result = run(repo, "drift")
    assert result.exit_code == 1
    assert "! cluster 'lab':" in result.output and "drift unknown" in result.output


def test_import_round_trip_plans_zero_changes_and_no_drift(seeded: GitRepo, pve: Any) -> None:
    # guests created through the API as well (values come back typed differently)
    seeded.commit(
        {
            vm_path("api-vm"): vm_yaml("api-vm", 120, extra=WEB),
            ct_path("api-ct"): ct_yaml("api-ct", 220, extra=DNS),
        },
        "Declare two guests to create them",
    )
    create_from_desired(seeded, pve)
    seeded.commit({vm_path("api-vm"): None, ct_path("api-ct"): None}, "Forget them again")
    # a change waiting for a restart: the import takes the pending value, as plan does
    client(seeded).put("nodes/pve1/qemu/100/config", memory=3072)

    result = run(seeded, "import", "--cluster", "lab", "--all-unmanaged")
    assert result.exit_code == 0, result.output
    assert "wrote clusters/lab/vms/web-01.yaml (VirtualMachine, vmid 100)" in result.output
    assert "{env: WEB_01_PASSWORD} is a placeholder" in result.output
    written = sorted(p.relative_to(seeded.path).as_posix() for p in seeded.path.rglob("*.yaml"))
    assert written == [
        "clusters/lab/containers/api-ct.yaml",
        "clusters/lab/containers/dns-01.yaml",
        "clusters/lab/vms/api-vm.yaml",
        "clusters/lab/vms/db-01.yaml",
        "clusters/lab/vms/web-01.yaml",
        "proxgit.yaml",
    ]  # the template is not imported
    state = load_directory(seeded.path)
    assert {vmid for _, vmid in state.guests} == {100, 101, 120, 200, 220}

    plan = run(seeded, "plan", "--output", "json")
    data = json.loads(plan.stdout)
    assert plan.exit_code == 0, json.dumps(data["changes"], indent=1)
    assert data["summary"]["noop"] == 5
    assert data["summary"]["create"] == data["summary"]["update"] == 0
    drift = run(seeded, "drift")
    assert drift.exit_code == 0, drift.output

    web_text = (seeded.path / vm_path("web-01")).read_text()
    web = yaml.safe_load(web_text)
    assert web["spec"]["memory"] == 3072
    assert web["spec"]["cloudInit"]["passwordFrom"] == {"env": "WEB_01_PASSWORD"}
    assert "macaddr" not in web_text and "BC:24:11" not in web_text
    for path in written:
        text = (seeded.path / path).read_text()
        assert SEED_SECRET not in text and TOKEN_SECRET not in text
    assert "    scsi0: {storage: local-lvm, size: 32G, discard: true, ssd: true}" in web_text

    again = run(seeded, "import", "--cluster", "lab", "--vmid", "100")
    assert again.exit_code == 1
    assert "vmid 100 is already declared in clusters/lab/vms/web-01.yaml" in again.output
    nothing = run(seeded, "import", "--cluster", "lab", "--all-unmanaged")
    assert nothing.exit_code == 0 and "no unmanaged guests to import" in nothing.output


def test_import_refuses_to_overwrite_and_writes_nothing(seeded: GitRepo, pve: Any) -> None:
    target = seeded.path / vm_path("db-01")
    seeded.commit(
        {vm_path("db-01"): vm_yaml("db-01", 177, node="pve2")}, "Someone else's db-01 at 177"
    )
    before = target.read_text()
    result = run(seeded, "import", "--cluster", "lab", "--vmid", "100", "--vmid", "101")
    assert result.exit_code == 1
    assert "name 'db-01' is already used by clusters/lab/vms/db-01.yaml" in result.output
    assert target.read_text() == before
    assert not (seeded.path / vm_path("web-01")).exists()  # all or nothing


def test_import_refuses_templates_and_unknown_vmids(seeded: GitRepo, pve: Any) -> None:
    template = run(seeded, "import", "--cluster", "lab", "--vmid", "9000")
    assert template.exit_code == 1 and "is a template" in template.output
    unknown = run(seeded, "import", "--cluster", "lab", "--vmid", "4242")
    assert unknown.exit_code == 1 and "vmid 4242 does not exist" in unknown.output
    neither = run(seeded, "import", "--cluster", "lab")
    assert neither.exit_code == 1 and "--all-unmanaged" in neither.output
    bad_cluster = run(seeded, "import", "--cluster", "prod", "--vmid", "100")
    assert bad_cluster.exit_code == 1 and "not in proxgit.yaml" in bad_cluster.output


def test_import_writes_the_schema_line_when_schemas_exist(seeded: GitRepo, pve: Any) -> None:
    schemas = seeded.path / "schemas"
    schemas.mkdir()
    for name in ("virtualmachine", "container"):
        (schemas / f"{name}.schema.json").write_text("{}")
    result = run(seeded, "import", "--cluster", "lab", "--vmid", "101", "--vmid", "200")
    assert result.exit_code == 0, result.output
    vm = (seeded.path / vm_path("db-01")).read_text().splitlines()
    ct = (seeded.path / ct_path("dns-01")).read_text().splitlines()
    assert vm[0] == "# yaml-language-server: $schema=../../../schemas/virtualmachine.schema.json"
    assert ct[0] == "# yaml-language-server: $schema=../../../schemas/container.schema.json"
    assert vm[1] == "apiVersion: proxgit/v1"
    assert Path(seeded.path / "clusters/lab/vms").is_dir()
