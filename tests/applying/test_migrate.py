"""A changed ``node``: ``proxgit plan`` shows a migration, ``proxgit apply`` makes it,
against fakepve over HTTPS and real Git remotes.

fakepve 0.5 answers ``POST /nodes/{node}/qemu/{vmid}/migrate`` with a task but
leaves the VM where it was (its LXC migrate does move the container). The
``vm_moves`` fixture below is a TEST HOOK: it makes that answer move the VM,
through fakepve's own ``migrate()`` (the hook fakepve offers for "an operator
moved this VM": a ``qmigrate`` task, then the VM lives on the target). Every
test also asserts the exact requests sent, which is what proxgit controls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from tests.support import (
    DEBIAN_TEMPLATE,
    TOKEN_SECRET,
    GitRepo,
    ct_path,
    ct_yaml,
    vm_path,
    vm_yaml,
)

WEB = """\
cores: 2
memory: 2048
disks:
  scsi0: {storage: local-lvm, size: 16G}
networks:
  net0: {bridge: vmbr0}
"""
DNS = f"""\
ostemplate: {DEBIAN_TEMPLATE}
cores: 1
memory: 512
rootfs: {{storage: local-lvm, size: 8G}}
networks:
  net0: {{bridge: vmbr0, ip: 10.0.0.53/24, gw: 10.0.0.1}}
"""
MIGRATE_QEMU = "/api2/json/nodes/{node}/qemu/{vmid}/migrate"
MIGRATE_LXC = "/api2/json/nodes/{node}/lxc/{vmid}/migrate"


@pytest.fixture
def vm_moves(pve: Any) -> Iterator[Any]:
    """TEST HOOK (see the module docstring): fakepve's QEMU migrate answer moves the VM."""
    generic = pve.synthesise

    async def synthesise(match: Any, method: str, info: Any, user: Any, values: Any) -> Any:
        if method == "POST" and match.template == "/nodes/{node}/qemu/{vmid}/migrate":
            vm = pve.vm(int(values["vmid"]))
            if vm is not None and vm.node == values["node"]:
                return await pve.migrate(vm.vmid, values["target"], secs=0, user="root@pam")
        return await generic(match, method, info, user, values)

    pve.synthesise = synthesise
    yield pve
    pve.synthesise = generic


@pytest.fixture
def merged(repo: GitRepo) -> GitRepo:
    repo.git("push", "--quiet", "origin", "main")
    return repo


def merge(repo: GitRepo, files: dict[str, str | None], message: str) -> str:
    sha = repo.commit(files, message)
    repo.git("push", "--quiet", "origin", "main")
    return sha


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return result


def apply(repo: GitRepo) -> Result:
    return run("apply", "--repo", str(repo.path), "--lock-timeout", "5", "--output", "json")


def plan(repo: GitRepo, base: str, output: str = "json") -> Result:
    return run("plan", "--repo", str(repo.path), "--base", base, "--output", output)


def posts(pve: Any, path: str) -> list[dict[str, str]]:
    """The form bodies of the POSTs to ``path``, in order."""
    return [
        {k: v[0] for k, v in parse_qs(body.decode()).items()}
        for method, where, body in pve.requests
        if method == "POST" and where == path
    ]


def writes(pve: Any) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in pve.requests if m in ("POST", "PUT", "DELETE")]


def journal(repo: GitRepo) -> dict[str, Any]:
    files = sorted(
        (repo.path / ".proxgit" / "journal").glob("*.json"), key=lambda p: p.stat().st_mtime
    )
    data: dict[str, Any] = json.loads(files[-1].read_text())
    return data


def created(repo: GitRepo, files: dict[str, str]) -> str:
    """Merge and apply ``files``; returns the applied revision."""
    sha = merge(repo, files, "Add guests")
    result = apply(repo)
    assert result.exit_code == 0, result.output
    return sha


def the_change(result: Result, vmid: int) -> dict[str, Any]:
    data = json.loads(result.stdout)
    return next(c for c in data["changes"] if c["vmid"] == vmid)


def test_running_vm_moves_online_copying_local_disks_then_plans_clean(
    merged: GitRepo, vm_moves: Any
) -> None:
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    assert vm_moves.guest(101).status == "running"
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=WEB)}, "Move")
    planned = plan(merged, base)
    assert planned.exit_code == 2, planned.output
    change = the_change(planned, 101)
    assert change["action"] == "migrate" and change["blockers"] == []
    assert change["migration"] == {
        "source": "pve1",
        "target": "pve2",
        "mode": "online",
        "with_local_disks": True,
    }
    assert change["fields"] == [
        {"path": "node", "before": "pve1", "after": "pve2", "effect": "live", "removed": False}
    ]
    assert json.loads(planned.stdout)["summary"]["migrate"] == 1
    vm_moves.requests.clear()
    result = apply(merged)
    assert result.exit_code == 0, result.output
    sent = posts(vm_moves, MIGRATE_QEMU.format(node="pve1", vmid=101))
    assert sent == [{"target": "pve2", "online": "1", "with-local-disks": "1"}]
    assert vm_moves.guest(101).node == "pve2" and vm_moves.guest(101).status == "running"
    (record,) = journal(merged)["results"]
    assert record["action"] == "migrate" and record["state"] == "succeeded"
    assert "migrated from pve1 to pve2 (online)" in record["message"]
    assert [":qmigrate:" in t["upid"] and t["exitstatus"] == "OK" for t in record["tasks"]] == [
        True
    ]
    # nothing else was written: the move was the whole change
    assert writes(vm_moves) == [("POST", MIGRATE_QEMU.format(node="pve1", vmid=101))]
    again = run("plan", "--repo", str(merged.path), "--output", "json")
    assert again.exit_code == 0, again.output
    assert the_change(again, 101)["action"] == "noop" and the_change(again, 101)["warnings"] == []
    journals = "".join(p.read_text() for p in (merged.path / ".proxgit" / "journal").glob("*"))
    assert TOKEN_SECRET not in journals + planned.output + result.output


def test_stopped_vm_moves_offline(merged: GitRepo, vm_moves: Any) -> None:
    stopped = WEB + "power: stopped\n"
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=stopped)})
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=stopped)}, "Move")
    assert the_change(plan(merged, base), 101)["migration"]["mode"] == "offline"
    vm_moves.requests.clear()
    assert apply(merged).exit_code == 0
    assert posts(vm_moves, MIGRATE_QEMU.format(node="pve1", vmid=101)) == [{"target": "pve2"}]
    assert vm_moves.guest(101).node == "pve2" and vm_moves.guest(101).status == "stopped"


def test_running_container_moves_in_restart_mode_only_with_if_required(
    merged: GitRepo, pve: Any
) -> None:
    never = DNS
    base = created(merged, {ct_path("dns-01"): ct_yaml("dns-01", 201, extra=never)})
    merge(merged, {ct_path("dns-01"): ct_yaml("dns-01", 201, node="pve2", extra=never)}, "Move")
    refused = plan(merged, base)
    assert refused.exit_code == 1
    change = the_change(refused, 201)
    assert change["action"] == "migrate"
    assert [b["code"] for b in change["blockers"]] == ["migrate-restart-not-allowed"]
    pve.requests.clear()
    result = apply(merged)
    assert result.exit_code == 1, result.output
    (record,) = json.loads(result.stdout)["results"]
    assert record["state"] == "failed" and "restartPolicy is Never" in record["message"]
    assert posts(pve, MIGRATE_LXC.format(node="pve1", vmid=201)) == []
    assert pve.ct(201).node == "pve1" and pve.ct(201).status == "running"

    allowed = DNS + "restartPolicy: IfRequired\n"
    merge(merged, {ct_path("dns-01"): ct_yaml("dns-01", 201, node="pve2", extra=allowed)}, "Allow")
    planned = run("plan", "--repo", str(merged.path), "--base", base, "--output", "text")
    assert "will be migrated to pve2 (restart)" in planned.output, planned.output
    pve.requests.clear()
    result = apply(merged)
    assert result.exit_code == 0, result.output
    sent = posts(pve, MIGRATE_LXC.format(node="pve1", vmid=201))
    assert sent == [{"target": "pve2", "restart": "1", "timeout": "180"}]
    assert pve.ct(201).node == "pve2" and pve.ct(201).status == "running"
    (record,) = json.loads(result.stdout)["results"]
    assert record["action"] == "migrate" and record["state"] == "succeeded"
    assert any(":vzmigrate:" in t["upid"] for t in record["tasks"])


def test_vm_with_a_passed_through_pci_device_is_blocked_and_not_moved(
    merged: GitRepo, vm_moves: Any
) -> None:
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    # set up by hand in Proxmox (only root@pam may pass a raw device through)
    vm_moves.guest(101).config["hostpci0"] = "0000:01:00.0,pcie=1"
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=WEB)}, "Move")
    planned = plan(merged, base)
    assert planned.exit_code == 1
    (blocker,) = the_change(planned, 101)["blockers"]
    assert blocker["code"] == "migrate-local-resource" and blocker["key"] == "hostpci0"
    assert "0000:01:00.0" in blocker["message"]
    vm_moves.requests.clear()
    result = apply(merged)
    assert result.exit_code == 1
    (record,) = json.loads(result.stdout)["results"]
    assert record["state"] == "failed" and record["message"].startswith("blocked: ")
    assert writes(vm_moves) == [] and vm_moves.guest(101).node == "pve1"


def test_unknown_target_node_is_blocked(merged: GitRepo, vm_moves: Any) -> None:
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve9", extra=WEB)}, "Typo")
    planned = plan(merged, base, output="text")
    assert planned.exit_code == 1
    assert "! blocker [migrate-target-missing]: node pve1 -> pve9: node 'pve9' does not exist" in (
        planned.output
    )
    vm_moves.requests.clear()
    assert apply(merged).exit_code == 1
    assert writes(vm_moves) == []


def test_guest_moved_by_ha_is_not_migrated_back_while_its_file_is_unchanged(
    merged: GitRepo, pve: Any
) -> None:
    base = created(
        merged,
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            ct_path("dns-01"): ct_yaml("dns-01", 201, extra=DNS),
        },
    )
    pve.guest(101).node = "pve2"  # HA (or an operator) moved it; the file still says pve1
    # another guest's file changes; web-01's does not
    merge(
        merged,
        {ct_path("dns-01"): ct_yaml("dns-01", 201, extra=DNS.replace("512", "768"))},
        "More memory for dns-01",
    )
    note = "vm 101 runs on pve2, its file says pve1; not migrated back"
    for output in ("text", "markdown"):
        shown = plan(merged, base, output=output)
        assert shown.exit_code == 2 and note in shown.output, shown.output
    change = the_change(plan(merged, base), 101)
    assert change["action"] == "noop" and change["migration"] is None
    assert [w["code"] for w in change["warnings"]] == ["node-moved"]
    assert note in change["warnings"][0]["message"]
    pve.requests.clear()
    result = apply(merged)
    assert result.exit_code == 0, result.output
    assert all(not p.endswith("/migrate") for _, p in writes(pve))
    assert pve.guest(101).node == "pve2"
    # a later edit of its file that leaves node alone updates it where it runs
    merge(
        merged,
        {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB.replace("cores: 2", "cores: 3"))},
        "Three cores",
    )
    pve.requests.clear()
    assert apply(merged).exit_code == 0
    assert ("PUT", "/api2/json/nodes/pve2/qemu/101/config") in writes(pve)
    assert all(not p.endswith("/migrate") for _, p in writes(pve))


def test_full_plan_without_base_migrates_nothing_and_says_so(merged: GitRepo, pve: Any) -> None:
    created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    pve.guest(101).node = "pve2"
    full = run("plan", "--repo", str(merged.path), "--output", "json")
    assert full.exit_code == 0, full.output
    (warning,) = the_change(full, 101)["warnings"]
    assert warning["code"] == "node-moved" and "without a base revision" in warning["message"]


def test_node_and_memory_change_migrates_first_then_writes_memory_on_the_target(
    merged: GitRepo, vm_moves: Any
) -> None:
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    bigger = WEB.replace("memory: 2048", "memory: 4096") + "restartPolicy: IfRequired\n"
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=bigger)}, "Move")
    change = the_change(plan(merged, base), 101)
    assert change["action"] == "migrate"
    assert [(f["path"], f["after"]) for f in change["fields"]] == [
        ("node", "pve2"),
        ("memory", 4096),
    ]
    vm_moves.requests.clear()
    result = apply(merged)
    assert result.exit_code == 0, result.output
    order = [(m, p) for m, p in writes(vm_moves) if not p.endswith("/status/start")]
    assert order[:3] == [
        ("POST", MIGRATE_QEMU.format(node="pve1", vmid=101)),
        ("POST", "/api2/json/nodes/pve2/qemu/101/status/shutdown"),
        ("PUT", "/api2/json/nodes/pve2/qemu/101/config"),
    ]
    assert str(vm_moves.guest(101).config["memory"]) == "4096"
    assert vm_moves.guest(101).node == "pve2" and vm_moves.guest(101).status == "running"
    (record,) = json.loads(result.stdout)["results"]
    assert record["state"] == "succeeded" and record["message"].startswith(
        "migrated from pve1 to pve2 (online); restarted"
    )
    again = run("plan", "--repo", str(merged.path), "--output", "json")
    assert again.exit_code == 0, again.output


def test_a_migration_that_does_not_move_the_guest_is_not_taken_for_done(
    merged: GitRepo, pve: Any
) -> None:
    """Without the hook, fakepve's task says OK and the VM stays: apply must say so."""
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    merge(
        merged,
        {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=WEB.replace("2048", "3072"))},
        "Move",
    )
    assert the_change(plan(merged, base), 101)["action"] == "migrate"
    pve.requests.clear()
    result = run("apply", "--repo", str(merged.path), "--lock-timeout", "5", "--output", "json")
    assert result.exit_code == 1
    (record,) = json.loads(result.stdout)["results"]
    assert record["state"] == "failed"
    assert "lists qemu 101 on pve1, not pve2" in record["message"]
    assert not any(m == "PUT" for m, _ in writes(pve))  # memory was not written anywhere


def test_first_apply_without_an_applied_revision_migrates_nothing(
    merged: GitRepo, pve: Any
) -> None:
    """No applied revision yet: no base to show a node change, so no migration; the
    guest's other fields are still converged where it runs."""
    pve.add_vm(
        101,
        "web-01",
        node="pve2",
        config={
            "cores": 1,
            "memory": 2048,
            "scsi0": "local-lvm:vm-101-disk-0,size=16G",
            "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
        },
    )
    pve.guest(101).status = "running"
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Adopt web-01")
    shown = run("plan", "--repo", str(merged.path), "--output", "text")
    assert "vm 101 runs on pve2, its file says pve1; not migrated back" in shown.output
    assert "without a base revision" in shown.output
    pve.requests.clear()
    result = apply(merged)
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["results"]
    assert record["action"] == "update" and record["state"] == "pending-restart"
    assert [p for _, p in writes(pve)] == ["/api2/json/nodes/pve2/qemu/101/config"]
    assert pve.guest(101).node == "pve2"


def test_target_without_the_guests_storage_is_blocked(merged: GitRepo, vm_moves: Any) -> None:
    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    vm_moves.storages["local-lvm"]["nodes"] = "pve1,pve3"  # storage.cfg: not on pve2
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=WEB)}, "Move")
    planned = plan(merged, base)
    assert planned.exit_code == 1
    (blocker,) = the_change(planned, 101)["blockers"]
    assert blocker["code"] == "migrate-storage-missing" and blocker["key"] == "scsi0"
    assert "storage 'local-lvm', which is missing on node 'pve2'" in blocker["message"]
    vm_moves.requests.clear()
    assert apply(merged).exit_code == 1
    assert writes(vm_moves) == [] and vm_moves.guest(101).node == "pve1"


def test_a_migration_finished_since_the_plan_is_not_started_again(
    merged: GitRepo, pve: Any
) -> None:
    """A migration that outlasted an earlier apply's wait ends while the next apply
    runs: that apply finds the guest on the target, sends no second migrate, and
    writes the other changes there."""
    from proxgit.applying.executor import GuestExecutor, execute_change
    from proxgit.planning.run import run_plan
    from proxgit.proxmox.client import ProxmoxClient
    from proxgit.secrets import SecretBox

    base = created(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)})
    bigger = WEB.replace("memory: 2048", "memory: 3072")
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, node="pve2", extra=bigger)}, "Move")
    planned = run_plan(merged.path, base=base)
    (change,) = [c for c in planned.plan.changes if c.vmid == 101]
    assert change.action == "migrate"
    pve.guest(101).node = "pve2"  # the earlier migration finishes now
    pve.requests.clear()
    settings = planned.head.config.spec.clusters["lab"]
    executor = GuestExecutor(ProxmoxClient("lab", settings, secret=TOKEN_SECRET), SecretBox(None))
    result = execute_change(
        executor,
        change,
        planned.head.guests[("lab", 101)].document,
        planned.live.clusters["lab"].guests[101],
        [],
    )
    assert result.state == "pending-restart", result.message
    assert result.message.startswith("already on pve2; ")
    assert [(m, p) for m, p in writes(pve)] == [("PUT", "/api2/json/nodes/pve2/qemu/101/config")]
    assert str(pve.guest(101).pending.get("memory") or pve.guest(101).config["memory"]) == "3072"
