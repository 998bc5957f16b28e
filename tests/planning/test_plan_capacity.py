"""Capacity end to end: ``proxgit plan`` on a real Git repo against fakepve over HTTPS.

fakepve's ``/cluster/resources`` gives every node 4 CPUs and 8 GiB and every
storage 100 GiB, nothing used: enough for the plan to see that a pull request
does not fit, from the one listing it reads anyway.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from proxgit.cli import main
from tests.forges.fakeforge import FakeForge
from tests.planning.test_plan import plan
from tests.planning.test_plan_comment import github_env
from tests.support import GitRepo, vm_path, vm_yaml

RESOURCES = "/api2/json/cluster/resources"


def add_thick_storage(pve: Any, name: str = "fast") -> None:
    """A thick LVM volume group on every node (fakepve's local-lvm is thin)."""
    pve.storages[name] = {
        "type": "lvm",
        "active": 1,
        "content": "images,rootdir",
        "files": set(),
        "vgname": name,
    }


def vms(count: int, size: str, *, storage: str = "fast", first: int = 301) -> dict[str, str]:
    """``count`` VMs of 1G and 1 vCPU on pve2, each with one disk of ``size`` on ``storage``."""
    disk = f"{{scsi0: {{storage: {storage}, size: {size}}}}}"
    return {
        vm_path(f"app-{i:02d}"): vm_yaml(
            f"app-{i:02d}",
            first + i,
            node="pve2",
            extra=f"memory: 1024\ncores: 1\ndisks: {disk}\n",
        )
        for i in range(count)
    }


def proxmox_paths(pve: Any) -> list[str]:
    return [p for _, p, _ in pve.requests if "/access/" not in p]


def test_pr_creating_vms_beyond_a_storage_is_blocked_without_extra_requests(
    repo: GitRepo, pve: Any
) -> None:
    add_thick_storage(pve)
    base = repo.git("rev-parse", "HEAD")
    fits = repo.commit(vms(2, "40G"), "Add two VMs")
    pve.requests.clear()
    result, data = plan(repo, "--base", base, "--head", fits)
    assert result.exit_code == 2, result.output
    assert data["blockers"] == []
    fitting_requests = proxmox_paths(pve)
    assert fitting_requests == [RESOURCES]
    [storage] = [u for u in data["capacity"] if u["resource"] == "storage"]
    assert storage["storage"] == "fast" and storage["node"] == "pve2"
    assert (storage["before"], storage["after"], storage["limit"]) == (0, 80 << 30, 100 << 30)

    head = repo.commit(vms(3, "40G"), "Add a third VM")
    pve.requests.clear()
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1, result.output
    assert [(b["code"], b["message"]) for b in data["blockers"]] == [
        ("storage-full", "fast on pve2 needs 120G for 3 new disks, 100G free")
    ]
    # capacity comes from the listing the plan reads anyway: still one request
    assert proxmox_paths(pve) == fitting_requests

    text = CliRunner().invoke(
        main, ["plan", "--repo", str(repo.path), "--base", base, "--head", head]
    )
    assert "! blocker [storage-full]: fast on pve2 needs 120G for 3 new disks, 100G free" in (
        text.output
    )
    assert (
        "capacity lab/pve2: memory 0 -> 3G of 8G (37.5 %); vCPUs 0 -> 3 of 4 (75 %); "
        "storage fast 0 -> 120G of 100G (120 %, over)" in text.output
    )


def test_thin_storage_warns_and_the_comment_shows_the_capacity_table(
    repo: GitRepo, pve: Any, github: FakeForge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = repo.git("rev-parse", "HEAD")
    head = repo.commit(vms(3, "40G", storage="local-lvm"), "Add three VMs on local-lvm")
    for key, value in github_env(github, tmp_path, head).items():
        monkeypatch.setenv(key, value)
    args = ["plan", "--repo", str(repo.path), "--base", base, "--head", head]
    result = CliRunner().invoke(main, [*args, "--comment", "github", "--output", "markdown"])
    # local-lvm is lvmthin in fakepve: a warning, not a blocker
    assert result.exit_code == 2, result.output
    [comment] = github.comments
    body = comment["body"]
    assert (
        "`storage-thin`: local-lvm on pve2 is thin-provisioned and this change commits 120G "
        "for 3 new disks, 100G free (120 % of it)" in body
    )
    assert "**Capacity**" in body
    assert (
        "| lab/pve2 | storage `local-lvm` (3 new disks, thin) | 0 → 120G | 120 % ⚠️ | 100G |" in body
    )
    assert "| lab/pve2 | memory | 0 → 3G | 37.5 % | 8G, threshold 100 % |" in body
    assert "| lab/pve2 | vCPUs | 0 → 3 | 75 % | 4 CPUs, threshold 400 % |" in body
    assert [s["state"] for s in github.statuses] == ["success"]


def test_capacity_block_turns_memory_overcommit_into_a_blocker(
    repo: GitRepo, pve: Any, fakepve_cafile: str
) -> None:
    from tests.support import config_yaml

    strict = "  capacity:\n    memoryPercent: 50\n    block: true\n"
    base = repo.commit(
        {"proxgit.yaml": config_yaml(pve.url, fakepve_cafile, extra=strict)}, "Strict capacity"
    )
    head = repo.commit(vms(5, "4G", storage="local-lvm"), "Five VMs of 1G")
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1, result.output
    assert [(b["code"], b["message"]) for b in data["blockers"]] == [
        (
            "memory-overcommit",
            "node pve2: the guests that will run need 5G of memory, 62.5 % of its 8G "
            "(threshold 50 %)",
        )
    ]
    assert json.dumps(data).count("storage-full") == 0


def test_pr_moving_a_vm_with_local_disks_counts_them_on_the_target(repo: GitRepo, pve: Any) -> None:
    add_thick_storage(pve)
    pve.add_vm(
        150,
        "big",
        node="pve1",
        status="running",
        config={
            "memory": 1024,
            "cores": 1,
            "scsi0": "fast:vm-150-disk-0,size=60G",
            "net0": "virtio=BC:24:11:00:01:50,bridge=vmbr0",
        },
    )
    pve.add_vm(
        151,
        "bigger",
        node="pve1",
        status="stopped",
        config={"memory": 1024, "cores": 1, "scsi0": "fast:vm-151-disk-0,size=50G"},
    )
    spec = "memory: 1024\ncores: 1\n"
    base = repo.commit(
        {
            vm_path("big"): vm_yaml("big", 150, extra=spec),
            vm_path("bigger"): vm_yaml("bigger", 151, extra=spec + "power: stopped\n"),
        },
        "Import",
    )
    head = repo.commit(
        {
            vm_path("big"): vm_yaml("big", 150, node="pve2", extra=spec),
            vm_path("bigger"): vm_yaml("bigger", 151, node="pve2", extra=spec + "power: stopped\n"),
        },
        "Move both to pve2",
    )
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1, result.output
    assert sorted(c["action"] for c in data["changes"]) == ["migrate", "migrate"]
    [storage] = [u for u in data["capacity"] if u["resource"] == "storage"]
    assert (storage["node"], storage["storage"]) == ("pve2", "fast")
    assert (storage["before"], storage["after"]) == (0, 110 << 30)
    assert storage["detail"] == "2 disks copied by migration"
    assert [b["message"] for b in data["blockers"] if b["code"] == "storage-full"] == [
        "fast on pve2 needs 110G for 2 disks copied by migration, 100G free"
    ]
