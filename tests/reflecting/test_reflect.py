"""``proxgit reflect`` against fakepve over HTTPS, committing into real Git repositories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from proxgit.proxmox.client import ProxmoxClient
from proxgit.reflecting.run import read_tree
from tests.reflecting.conftest import SEED_SECRET, run
from tests.support import BOB, TOKEN_SECRET, GitRepo, vm_path, vm_yaml


def snapshot(repo: GitRepo) -> dict[str, bytes]:
    return read_tree(repo.path / "snapshot")


def api(repo: GitRepo, pve: Any) -> ProxmoxClient:
    from proxgit.loading import load_directory

    cluster = load_directory(repo.path).config.spec.clusters["lab"]
    return ProxmoxClient("lab", cluster, secret=TOKEN_SECRET)


def changed_files(repo: GitRepo, revision: str = "HEAD") -> list[str]:
    out = repo.git("show", "--no-renames", "--name-only", "--format=", revision)
    return sorted(line for line in out.splitlines() if line)


def test_first_reflect_commits_every_file_under_snapshot(seeded: GitRepo, pve: Any) -> None:
    before = seeded.git("rev-parse", "HEAD")
    result = run(seeded, "reflect")
    assert result.exit_code == 0, result.output
    assert "snapshot 4 added" in result.output
    assert seeded.git("rev-parse", "HEAD^") == before
    files = changed_files(seeded)
    assert all(f.startswith("snapshot/lab/") for f in files)
    assert {
        "snapshot/lab/index.yaml",
        "snapshot/lab/cluster.yaml",
        "snapshot/lab/storage.yaml",
        "snapshot/lab/ha.yaml",
        "snapshot/lab/nodes/pve1.yaml",
        "snapshot/lab/nodes/pve3.yaml",
        "snapshot/lab/guests/100-web-01.yaml",
        "snapshot/lab/guests/101-db-01.yaml",
        "snapshot/lab/guests/200-dns-01.yaml",
        "snapshot/lab/guests/9000-ubuntu-2404-tpl.yaml",
    } <= set(files)
    message = seeded.git("log", "-1", "--format=%an <%ae>%n%B")
    assert message.startswith("proxgit <proxgit@noreply.invalid>\nproxgit reflect: lab: 4 added")
    assert "added: 100 web-01, 101 db-01, 200 dns-01, 9000 ubuntu-2404-tpl" in message
    assert "[skip ci]" in message

    root = seeded.path / "snapshot" / "lab"
    web = yaml.safe_load((root / "guests/100-web-01.yaml").read_text())
    assert web["status"] == "running" and web["node"] == "pve1" and web["managed"] is False
    assert web["spec"]["disks"]["scsi0"] == {
        "storage": "local-lvm",
        "size": "32G",
        "ssd": True,
        "discard": True,
    }
    assert web["ha"] == {"state": "started"}
    assert web["agent"]["interfaces"] == [
        {"name": "eth0", "mac": "BC:24:11:00:00:01", "addresses": ["192.0.2.10/24"]}
    ]
    assert web["snapshots"] == [
        {"name": "before-upgrade", "description": "pre", "time": "2023-11-14T22:13:20Z"}
    ]
    assert web["lastBackup"]["volid"].endswith("vzdump-qemu-100-2024_11_14-22_13_20.vma.zst")
    assert web["config"]["memory"] == "2048"  # raw values as text, whatever type came back
    cluster = yaml.safe_load((root / "cluster.yaml").read_text())
    assert cluster["quorate"] is True and cluster["nodesOnline"] == 2
    node = yaml.safe_load((root / "nodes/pve1.yaml").read_text())
    assert node["status"] == "online" and node["cpus"] == 4 and node["memory"] == "8G"
    storage = yaml.safe_load((root / "storage.yaml").read_text())["storages"]
    assert storage["local"]["type"] == "dir" and "backup" in storage["local"]["content"]
    index = yaml.safe_load((root / "index.yaml").read_text())
    assert index["counts"]["guests"] == 4 and index["counts"]["templates"] == 1
    assert index["drift"] == {"changed": 0, "missing": 0, "unmanaged": 3}
    assert [g["vmid"] for g in index["guests"]] == [100, 101, 200, 9000]


def test_reads_one_listing_and_only_cheap_per_guest_reads(seeded: GitRepo, pve: Any) -> None:
    pve.requests.clear()
    result = run(seeded, "reflect", "--output", "json")
    assert result.exit_code == 0, result.output
    paths = [p.removeprefix("/api2/json/") for _, p, _ in pve.requests]
    assert paths.count("cluster/resources") == 1
    assert sum(p.endswith("/pending") for p in paths) == 4
    # the agent only of the running VM that enables it, snapshots only where a parent is set
    assert [p for p in paths if "/agent/" in p] == [
        "nodes/pve1/qemu/100/agent/network-get-interfaces"
    ]
    assert [p for p in paths if p.endswith("/snapshot")] == ["nodes/pve1/qemu/100/snapshot"]
    # nothing is asked of the offline node
    assert not [p for p in paths if p.startswith("nodes/pve3/")]
    data = json.loads(result.stdout)
    assert data["clusters"][0]["requests"] == len(paths)


def test_second_reflect_without_change_commits_nothing_and_keeps_bytes(
    seeded: GitRepo, pve: Any
) -> None:
    assert run(seeded, "reflect").exit_code == 0
    head = seeded.git("rev-parse", "HEAD")
    first = snapshot(seeded)
    mtimes = {p: p.stat().st_mtime_ns for p in (seeded.path / "snapshot").rglob("*.yaml")}
    result = run(seeded, "reflect")
    assert result.exit_code == 0, result.output
    assert "snapshot unchanged" in result.output and "nothing to commit" in result.output
    assert seeded.git("rev-parse", "HEAD") == head
    assert snapshot(seeded) == first
    # unchanged files are not even rewritten
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert seeded.git("status", "--porcelain") == ""


def test_a_change_on_one_guest_is_a_one_guest_commit(seeded: GitRepo, pve: Any) -> None:
    assert run(seeded, "reflect").exit_code == 0
    first = snapshot(seeded)
    # a stopped VM takes the change at once; values come back as strings after a PUT
    api(seeded, pve).put("nodes/pve2/qemu/101/config", memory=8192, cores=4)
    result = run(seeded, "reflect")
    assert result.exit_code == 0, result.output
    assert changed_files(seeded) == ["snapshot/lab/guests/101-db-01.yaml"]
    subject = seeded.git("log", "-1", "--format=%s")
    assert subject == "proxgit reflect: lab: 1 changed"
    assert "changed: 101 db-01" in seeded.git("log", "-1", "--format=%b")
    second = snapshot(seeded)
    assert {p for p in first if first[p] != second.get(p)} == {"lab/guests/101-db-01.yaml"}
    db = yaml.safe_load(second["lab/guests/101-db-01.yaml"])
    assert db["spec"]["memory"] == 8192 and db["config"]["cores"] == "4"


def test_pending_changes_and_renames_are_recorded(seeded: GitRepo, pve: Any) -> None:
    assert run(seeded, "reflect").exit_code == 0
    client = api(seeded, pve)
    client.put("nodes/pve1/qemu/100/config", memory=4096, name="web-01-new")
    assert run(seeded, "reflect").exit_code == 0
    files = changed_files(seeded)
    assert "snapshot/lab/guests/100-web-01.yaml" in files  # removed
    assert "snapshot/lab/guests/100-web-01-new.yaml" in files
    assert "changed: 100 web-01-new" in seeded.git("log", "-1", "--format=%b")
    web = yaml.safe_load((seeded.path / "snapshot/lab/guests/100-web-01-new.yaml").read_text())
    assert {"key": "memory", "value": "2048", "pending": "4096"} in web["pending"]
    assert web["spec"]["memory"] == 4096  # the view is what the guest gets at its next boot


def test_guest_added_and_removed(seeded: GitRepo, pve: Any) -> None:
    assert run(seeded, "reflect").exit_code == 0
    pve.add_vm(300, "new-vm", node="pve1", config={"memory": 512})
    pve.vms.remove(pve.vm(101))
    assert run(seeded, "reflect").exit_code == 0
    subject = seeded.git("log", "-1", "--format=%s")
    assert subject == "proxgit reflect: lab: 1 added, 1 removed"
    assert not (seeded.path / "snapshot/lab/guests/101-db-01.yaml").exists()
    assert (seeded.path / "snapshot/lab/guests/300-new-vm.yaml").exists()


def test_push_race_is_won_by_rebasing_our_commit_only(
    seeded: GitRepo, pve: Any, tmp_path: Path
) -> None:
    # someone else pushes a desired-state change after our clone was made
    other = tmp_path / "other"
    GitRepo.git_in(tmp_path, "clone", "--quiet", str(seeded.remote), str(other))
    (other / "clusters/lab/vms").mkdir(parents=True)
    theirs = vm_yaml("app-01", 150, extra="cores: 2\n")
    (other / vm_path("app-01")).write_text(theirs)
    GitRepo.git_in(other, "add", "-A", author=BOB)
    GitRepo.git_in(other, "commit", "--quiet", "-m", "Add app-01", author=BOB)
    GitRepo.git_in(other, "push", "--quiet", "origin", "main", author=BOB)
    their_commit = GitRepo.git_in(other, "rev-parse", "HEAD")

    result = run(seeded, "reflect", "--push")
    assert result.exit_code == 0, result.output
    assert "pushed" in result.output
    remote_head = GitRepo.git_in(tmp_path, "--git-dir", str(seeded.remote), "rev-parse", "main")
    log = GitRepo.git_in(
        tmp_path, "--git-dir", str(seeded.remote), "log", "--format=%H %an %s", "-2", "main"
    ).splitlines()
    assert log[0].split()[0] == remote_head and " proxgit proxgit reflect: " in log[0]
    assert log[1].split()[0] == their_commit  # ours sits on top of theirs
    files = GitRepo.git_in(
        tmp_path, "--git-dir", str(seeded.remote), "show", "--name-only", "--format=", "main"
    ).splitlines()
    assert files and all(f.startswith("snapshot/") for f in files)
    shown = GitRepo.git_in(
        tmp_path, "--git-dir", str(seeded.remote), "show", f"main:{vm_path('app-01')}"
    )
    assert shown == theirs.strip()


def test_secrets_never_reach_the_snapshot_or_the_commit(seeded: GitRepo, pve: Any) -> None:
    vm = pve.vm(101)
    vm.config["description"] = "db; root password: Hunter2-Db-Pass"
    vm.config["cicustom"] = "user=local:snippets/db.yaml"
    vm.config["cipassword"] = "$6$rounds=4096$salt$hashedhashedhashed"
    # a password waiting in the pending list of the running VM
    api(seeded, pve).put("nodes/pve1/qemu/100/config", cipassword="Pending-Secret-99")
    assert run(seeded, "reflect").exit_code == 0
    texts = [data.decode() for data in snapshot(seeded).values()]
    history = seeded.git("log", "-p", "--all")
    for secret in (
        SEED_SECRET,
        "Hunter2-Db-Pass",
        "hashedhashedhashed",
        "Pending-Secret-99",
        TOKEN_SECRET,
    ):
        assert not any(secret in text for text in texts), secret
        assert secret not in history, secret
    web = yaml.safe_load((seeded.path / "snapshot/lab/guests/100-web-01.yaml").read_text())
    assert web["config"]["cipassword"] == "***"  # that a password is set is still visible
    assert {"key": "cipassword", "pending": "***", "value": "***"} in web["pending"]
    db = yaml.safe_load((seeded.path / "snapshot/lab/guests/101-db-01.yaml").read_text())
    assert db["config"]["description"] == "db; root password: ***"
    assert db["config"]["cicustom"] == "user=local:snippets/db.yaml"


def test_index_records_drift_counts(seeded: GitRepo, pve: Any) -> None:
    seeded.commit(
        {
            vm_path("db-01"): vm_yaml("db-01", 101, node="pve2", extra="cores: 8\n"),
            vm_path("gone"): vm_yaml("gone", 190),
        },
        "Declare db-01 and gone",
    )
    result = run(seeded, "reflect")
    assert result.exit_code == 0, result.output
    assert "drift: 1 changed, 1 missing, 2 unmanaged" in result.output
    index = yaml.safe_load((seeded.path / "snapshot/lab/index.yaml").read_text())
    assert index["drift"] == {"changed": 1, "missing": 1, "unmanaged": 2}
    assert index["counts"]["managed"] == 1
    db = yaml.safe_load((seeded.path / "snapshot/lab/guests/101-db-01.yaml").read_text())
    assert db["managed"] is True and db["desired"] == "clusters/lab/vms/db-01.yaml"


def test_unreachable_cluster_keeps_its_snapshot_and_exits_1(seeded: GitRepo, pve: Any) -> None:
    assert run(seeded, "reflect").exit_code == 0
    head = seeded.git("rev-parse", "HEAD")
    first = snapshot(seeded)
    pve.fail("GET", "/cluster/resources", 401, "authentication failure")
    result = run(seeded, "reflect")
    assert result.exit_code == 1
    assert "cluster 'lab': not read, snapshot kept: GET /cluster/resources: 401" in result.output
    assert "cluster 'lab': cluster 'lab'" not in result.output
    assert snapshot(seeded) == first and seeded.git("rev-parse", "HEAD") == head


def test_guest_on_an_offline_node_does_not_fail_the_cluster(seeded: GitRepo, pve: Any) -> None:
    # The other guests are reflected and committed; the run exits 1 and says which
    # guest could not be read (issue 12: a failed read is never a silent success).
    pve.add_vm(400, "stranded", node="pve3", status="running", config={"memory": 1024})
    result = run(seeded, "reflect")
    assert result.exit_code == 1, result.output
    assert "1 guest(s) not read" in result.output and "vmid 400" in result.output
    stranded = yaml.safe_load((seeded.path / "snapshot/lab/guests/400-stranded.yaml").read_text())
    assert stranded["error"] == "node pve3 is offline; config not read"
    assert "config" not in stranded


def test_no_commit_writes_files_only(seeded: GitRepo, pve: Any) -> None:
    head = seeded.git("rev-parse", "HEAD")
    result = run(seeded, "reflect", "--no-commit")
    assert result.exit_code == 0, result.output
    assert seeded.git("rev-parse", "HEAD") == head
    assert (seeded.path / "snapshot/lab/index.yaml").exists()


def test_the_guest_agent_is_asked_only_where_it_can_answer(seeded: GitRepo, pve: Any) -> None:
    """Running QEMU guests whose config enables the agent (either spelling); never a stopped
    VM, a container, or a VM whose config leaves the agent off, even when one would answer."""
    config = {"memory": 1024, "cores": 1, "scsi0": "local-lvm:vm-1-disk-0,size=8G"}
    guests = {
        110: ("enabled-form", "running", {"agent": "enabled=1,fstrim_cloned_disks=1"}),
        111: ("agent-off", "running", {"agent": "0"}),
        112: ("agent-off-form", "running", {"agent": "enabled=0,fstrim_cloned_disks=1"}),
        113: ("no-agent-key", "running", {}),
        114: ("stopped-with-agent", "stopped", {"agent": "1"}),
    }
    for vmid, (name, status, extra) in guests.items():
        vm = pve.add_vm(vmid, name, node="pve1", status=status, config={**config, **extra})
        vm.agent = {}  # fakepve would answer for every one of them
    pve.add_ct(201, "ct-agentish", node="pve1", status="running", config={"agent": "1"})
    pve.requests.clear()
    result = run(seeded, "reflect", "--no-commit")
    assert result.exit_code == 0, result.output
    paths = [p.removeprefix("/api2/json/") for _, p, _ in pve.requests]
    assert sorted(p for p in paths if "/agent/" in p) == [
        "nodes/pve1/qemu/100/agent/network-get-interfaces",
        "nodes/pve1/qemu/110/agent/network-get-interfaces",
    ]
    # every guest's config was still read, the agent-less ones included
    for vmid in (*guests, 201):
        assert any(p.endswith(f"/{vmid}/pending") for p in paths), vmid
    # and --no-agent-addresses asks no agent at all
    pve.requests.clear()
    result = run(seeded, "reflect", "--no-commit", "--no-agent-addresses")
    assert result.exit_code == 0, result.output
    assert not [p for _, p, _ in pve.requests if "/agent/" in p]
