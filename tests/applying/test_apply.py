"""``proxgit apply`` against fakepve and real Git remotes: gates, writes, failures, locks."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.applying.lock import ClusterLock
from proxgit.cli import main
from proxgit.git import GitRepository, Identity
from tests.support import (
    BOB,
    DEBIAN_TEMPLATE,
    TOKEN_SECRET,
    GitRepo,
    config_yaml,
    ct_path,
    ct_yaml,
    vm_path,
    vm_yaml,
)

WEB = """\
cores: 2
memory: 2048
tags: [web]
disks:
  scsi0: {storage: local-lvm, size: 16G, ssd: true}
networks:
  net0: {bridge: vmbr0, tag: 20}
cloudInit:
  user: ubuntu
  ipconfig0: ip=10.0.20.11/24,gw=10.0.20.1
  passwordFrom: {env: WEB_PASSWORD}
"""
CLONE = """\
clone: {name: ubuntu-2404-tpl}
cores: 2
memory: 1024
disks:
  scsi0: {storage: local-lvm, size: 8G}
"""
DNS = f"""\
ostemplate: {DEBIAN_TEMPLATE}
cores: 1
memory: 512
rootfs: {{storage: local-lvm, size: 8G}}
networks:
  net0: {{bridge: vmbr0, ip: 10.0.0.53/24, gw: 10.0.0.1}}
"""
PASSWORD = "correct-horse-battery-9f2c"


def merge(
    repo: GitRepo, files: dict[str, str | None], message: str, author: tuple[str, str] = BOB
) -> str:
    sha = repo.commit(files, message, author=author)
    repo.git("push", "--quiet", "origin", "main")
    return sha


def apply(repo: GitRepo, *args: str) -> Result:
    result = CliRunner().invoke(
        main, ["apply", "--repo", str(repo.path), "--lock-timeout", "5", *args]
    )
    assert "Traceback" not in result.output, result.output
    return result


def writes(pve: Any) -> Counter[tuple[str, str]]:
    return Counter(
        (m, p) for m, p, _ in pve.requests if m in ("POST", "PUT", "DELETE") and "/access/" not in p
    )


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PASSWORD", PASSWORD)


@pytest.fixture
def merged(repo: GitRepo) -> GitRepo:
    repo.git("push", "--quiet", "origin", "main")
    return repo


def test_creates_vm_clone_and_container_then_plans_clean(merged: GitRepo, pve: Any) -> None:
    merge(
        merged,
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            vm_path("app-01"): vm_yaml("app-01", 102, extra=CLONE),
            ct_path("dns-01"): ct_yaml("dns-01", 201, extra=DNS),
        },
        "Add three guests",
    )
    result = apply(merged)
    assert result.exit_code == 0, result.output
    assert "apply" in result.output and ": succeeded" in result.output
    assert pve.guest(101).status == "running" and pve.guest(201).status == "running"
    clones = [b for m, p, b in pve.requests if m == "POST" and p.endswith("/qemu/9000/clone")]
    assert (len(clones) == 1 and "newid=102" in str(clones[0])) or "102" in str(clones[0])
    assert pve.guest(102).config["name"] == "app-01"
    plan = CliRunner().invoke(main, ["plan", "--repo", str(merged.path), "--output", "json"])
    assert plan.exit_code == 0, plan.output
    # the journal was committed by proxgit, marked to skip CI
    log = merged.git("log", "-1", "--format=%an <%ae>%n%B")
    assert log.startswith("proxgit <proxgit@noreply.invalid>") and "[skip ci]" in log
    journal = sorted((merged.path / ".proxgit" / "journal").glob("*.json"))
    record = json.loads(journal[-1].read_text())
    assert record["state"] == "succeeded"
    assert {r["name"]: r["state"] for r in record["results"]} == {
        "web-01": "succeeded",
        "app-01": "succeeded",
        "dns-01": "succeeded",
    }
    assert all(t["upid"].startswith("UPID:") for r in record["results"] for t in r["tasks"])


def test_rerun_after_success_does_nothing(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    assert apply(merged).exit_code == 0
    pve.requests.clear()
    again = apply(merged)
    assert again.exit_code == 0 and "already applied" in again.output
    assert writes(pve) == Counter()


def test_update_pending_restart_and_if_required_restart(merged: GitRepo, pve: Any) -> None:
    merge(
        merged,
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB + "restartPolicy: IfRequired\n"),
        },
        "Add",
    )
    assert apply(merged).exit_code == 0
    merge(
        merged,
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB.replace("cores: 2", "cores: 4")),
            vm_path("web-02"): vm_yaml(
                "web-02",
                102,
                extra=WEB.replace("cores: 2", "cores: 4") + "restartPolicy: IfRequired\n",
            ),
        },
        "More cores",
    )
    pve.requests.clear()
    result = apply(merged, "--output", "json")
    assert result.exit_code == 0, result.output
    states = {r["name"]: r["state"] for r in json.loads(result.stdout)["results"]}
    assert states == {"web-01": "pending-restart", "web-02": "succeeded"}
    calls = writes(pve)
    assert calls[("POST", "/api2/json/nodes/pve1/qemu/102/status/shutdown")] == 1
    assert calls[("POST", "/api2/json/nodes/pve1/qemu/101/status/shutdown")] == 0
    assert str(pve.guest(102).config["cores"]) == "4"


def test_disk_grows_through_resize(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add")
    assert apply(merged).exit_code == 0
    merge(
        merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB.replace("16G", "24G"))}, "Grow"
    )
    pve.requests.clear()
    assert apply(merged).exit_code == 0
    resizes = [b for m, p, b in pve.requests if p.endswith("/qemu/101/resize")]
    assert len(resizes) == 1 and "24G" in str(resizes[0]) and "scsi0" in str(resizes[0])
    puts = [b for m, p, b in pve.requests if m == "PUT" and p.endswith("/qemu/101/config")]
    assert puts == []  # a size change is never a config write


def test_power_change_starts_a_stopped_guest(merged: GitRepo, pve: Any) -> None:
    merge(
        merged,
        {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB + "power: stopped\n")},
        "Stopped",
    )
    assert apply(merged).exit_code == 0
    assert pve.guest(101).status == "stopped"
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Run it")
    assert apply(merged).exit_code == 0
    assert pve.guest(101).status == "running"


def test_digest_mismatch_is_reread_not_overwritten(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add")
    assert apply(merged).exit_code == 0
    merge(
        merged,
        {
            vm_path("web-01"): vm_yaml(
                "web-01", 101, extra=WEB.replace("tags: [web]", "tags: [web, x]")
            )
        },
        "Tag",
    )
    pve.fail(
        "PUT",
        "/nodes/pve1/qemu/101/config",
        500,
        "checksum mismatch (file change by other user?)",
        times=1,
    )
    pve.requests.clear()
    result = apply(merged)
    assert result.exit_code == 0, result.output
    puts = [p for m, p, _ in pve.requests if m == "PUT" and p.endswith("/qemu/101/config")]
    gets = [p for m, p, _ in pve.requests if m == "GET" and p.endswith("/qemu/101/config")]
    assert len(puts) == 2 and len(gets) >= 2
    assert "x" in str(pve.guest(101).config["tags"])


def test_failing_task_gives_partial_with_others_applied(merged: GitRepo, pve: Any) -> None:
    merge(
        merged,
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB),
        },
        "Add",
    )
    pve.fail("POST", "/nodes/pve1/qemu/102/status/start", 500, "start failed: boom")
    result = apply(merged, "--output", "json")
    assert result.exit_code == 1
    run = json.loads(result.stdout)
    assert run["state"] == "partial"
    states = {r["name"]: (r["state"], r["message"]) for r in run["results"]}
    assert states["web-01"][0] == "succeeded"
    assert states["web-02"][0] == "failed" and "boom" in states["web-02"][1]
    # not advanced: the same revision is retried and only web-02 is left to do
    pve.failures.clear()
    pve.requests.clear()
    assert apply(merged).exit_code == 0
    assert writes(pve)[("POST", "/api2/json/nodes/pve1/qemu")] == 0


def test_lost_quorum_fails_cleanly(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add")
    pve.lose_quorum()
    result = apply(merged)
    assert result.exit_code == 1
    assert "quorum" in result.output.lower()
    pve.regain_quorum()
    assert apply(merged).exit_code == 0


def test_gate_apply_disabled(merged: GitRepo, pve: Any, fakepve_cafile: str) -> None:
    merge(
        merged,
        {
            "proxgit.yaml": config_yaml(pve.url, fakepve_cafile, apply=False),
            vm_path("web-01"): vm_yaml("web-01", 101),
        },
        "Apply off",
    )
    result = apply(merged)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines()[-1].startswith("error: refused by gate apply.enabled")
    assert writes(pve) == Counter()


def test_gate_allow_writes(merged: GitRepo, pve: Any, fakepve_cafile: str) -> None:
    merge(
        merged,
        {
            "proxgit.yaml": config_yaml(pve.url, fakepve_cafile, allow_writes=False),
            vm_path("web-01"): vm_yaml("web-01", 101),
        },
        "Writes off",
    )
    result = apply(merged)
    assert result.exit_code == 3
    assert "refused by gate allowWrites" in result.stderr
    assert writes(pve) == Counter()


def test_gate_revision_not_on_main(merged: GitRepo, pve: Any) -> None:
    merged.git("checkout", "--quiet", "-b", "feature")
    sha = merged.commit({vm_path("web-01"): vm_yaml("web-01", 101)}, "Unmerged")
    result = apply(merged, "--revision", sha)
    assert result.exit_code == 3
    assert "refused by gate main-branch" in result.stderr
    assert writes(pve) == Counter()


def test_older_revision_refused_after_newer_applied(merged: GitRepo, pve: Any) -> None:
    old = merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "v1")
    merge(merged, {vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB)}, "v2")
    assert apply(merged).exit_code == 0
    pve.requests.clear()
    result = apply(merged, "--revision", old)
    assert result.exit_code == 3
    assert "refused by gate last-applied" in result.stderr
    assert writes(pve) == Counter()


def test_two_concurrent_applies_exactly_one_writes(
    merged: GitRepo, pve: Any, tmp_path: Path
) -> None:
    merge(merged, {vm_path(f"vm-{i}"): vm_yaml(f"vm-{i}", 110 + i) for i in range(6)}, "Six")
    second = tmp_path / "second"
    GitRepo.git_in(tmp_path, "clone", "--quiet", str(merged.remote), str(second))
    outcomes: dict[str, Result] = {}

    def run(name: str, path: Path) -> None:
        outcomes[name] = CliRunner().invoke(
            main, ["apply", "--repo", str(path), "--lock-timeout", "0"]
        )

    threads = [
        threading.Thread(target=run, args=("a", merged.path)),
        threading.Thread(target=run, args=("b", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    creates = writes(pve)[("POST", "/api2/json/nodes/pve1/qemu")]
    assert creates == 6  # never twice
    codes = sorted(r.exit_code for r in outcomes.values())
    texts = " ".join(r.output for r in outcomes.values())
    assert codes[0] == 0
    assert "is locked by" in texts or "already applied" in texts


def test_stale_lock_of_a_dead_process_is_taken_over(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101)}, "Add")
    git = GitRepository(merged.path)
    lock = ClusterLock(git, "lab", Identity("proxgit", "proxgit@noreply.invalid"))
    lock.owner = f"{__import__('socket').gethostname()}:999999:dead"
    lock.acquire()  # never released: as if that process was killed
    assert apply(merged).exit_code == 0


def test_secrets_never_in_output_journal_or_commits(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add")
    pve.fail("POST", "/nodes/pve1/qemu/101/status/start", 500, f"echo {PASSWORD} failed")
    result = apply(merged, "--output", "json")
    history = merged.git("log", "-p", "--all")
    journal = "".join(p.read_text() for p in (merged.path / ".proxgit").rglob("*.json"))
    everything = result.output + history + journal
    assert PASSWORD not in everything and TOKEN_SECRET not in everything
    assert "***" in journal  # the failure message was scrubbed, not dropped


def test_guest_moved_to_another_node_is_updated_there(merged: GitRepo, pve: Any) -> None:
    merge(merged, {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add")
    assert apply(merged).exit_code == 0
    pve.guest(101).node = "pve2"  # migrated by hand (or by HA) after it was created
    merge(
        merged,
        {
            vm_path("web-01"): vm_yaml(
                "web-01", 101, extra=WEB.replace("tags: [web]", "tags: [web, moved]")
            )
        },
        "Tag",
    )
    pve.requests.clear()
    assert apply(merged).exit_code == 0
    puts = [p for m, p, _ in pve.requests if m == "PUT" and p.endswith("/qemu/101/config")]
    assert puts == ["/api2/json/nodes/pve2/qemu/101/config"]
