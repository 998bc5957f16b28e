"""Healing drift on purpose: ``apply --sync``, ``plan --sync`` and the watch pod's self-heal.

Through the CLI (and the watch loop) against fakepve and a real bare remote:
drift made behind proxgit's back is put back only when asked, never for a
guest under an open deletion request, and never by restarting a running guest
whose spec says ``restartPolicy: Never``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from proxgit.cli import main
from proxgit.watching.loop import Watcher, WatchOptions
from tests.support import BOB, GitRepo, config_yaml, vm_path, vm_yaml

STOPPED = "power: stopped\nmemory: 1024\ncores: 1\n"
RUNNING = "memory: 1024\ncores: 1\n"


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def merge(repo: GitRepo, files: dict[str, str | None]) -> str:
    sha = repo.commit(files, "change", author=BOB)
    repo.git("push", "--quiet", "origin", "main")
    return sha


def config_puts(pve: Any, vmid: int) -> list[Any]:
    return [b for m, p, b in pve.requests if m in ("PUT", "POST") and p.endswith(f"/{vmid}/config")]


def restarts(pve: Any, vmid: int) -> list[str]:
    return [p for m, p, _ in pve.requests if m == "POST" and f"/{vmid}/status/" in p]


def applied(repo: GitRepo, pve: Any, files: dict[str, str | None]) -> None:
    repo.git("push", "--quiet", "origin", "main")
    merge(repo, files)
    result = run("apply", "--repo", str(repo.path), "--push", "--lock-timeout", "5")
    assert result.exit_code == 0, result.output
    repo.git("pull", "--quiet", "--rebase", "origin", "main")
    pve.requests.clear()


def test_apply_sync_heals_what_plain_apply_leaves(repo: GitRepo, pve: Any) -> None:
    applied(repo, pve, {vm_path("db-01"): vm_yaml("db-01", 101, extra=STOPPED)})
    pve.guest(101).config["memory"] = 4096  # changed in the Proxmox UI
    path = str(repo.path)

    assert run("drift", "--repo", path).exit_code == 2
    plain = run("apply", "--repo", path, "--push")
    assert plain.exit_code == 0 and "already applied" in plain.output
    assert config_puts(pve, 101) == []

    preview = run("plan", "--repo", path, "--sync", "--output", "json")
    assert preview.exit_code == 2, preview.output
    change = next(c for c in json.loads(preview.stdout)["changes"] if c["vmid"] == 101)
    assert change["action"] == "update"
    assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [
        ("memory", 4096, 1024)
    ]
    assert any(w["code"] == "drift-healed" for w in change["warnings"])
    assert config_puts(pve, 101) == []  # plan writes nothing

    healed = run("apply", "--repo", path, "--sync", "--push", "--output", "json")
    assert healed.exit_code == 0, healed.output
    record = json.loads(healed.stdout)
    assert record["sync"] == "all" and record["state"] == "succeeded"
    assert [(r["name"], r["action"]) for r in record["results"]] == [("db-01", "update")]
    assert int(pve.guest(101).config["memory"]) == 1024
    assert run("drift", "--repo", path).exit_code == 0
    # journaled like any apply, by proxgit, pushed
    repo.git("pull", "--quiet", "--rebase", "origin", "main")
    # (journal names are unique, not ordered within a second: look at each)
    journals = [
        json.loads(j.read_text()) for j in (repo.path / ".proxgit" / "journal").glob("*.json")
    ]
    assert [j.get("sync") for j in journals].count("all") == 1, journals
    # converged: a second sync has nothing to do and takes no lock
    pve.requests.clear()
    again = run("apply", "--repo", path, "--sync")
    assert again.exit_code == 0 and config_puts(pve, 101) == []


def test_sync_never_restarts_a_running_guest_under_restart_policy_never(
    repo: GitRepo, pve: Any
) -> None:
    applied(repo, pve, {vm_path("web-01"): vm_yaml("web-01", 101, extra=RUNNING)})
    assert pve.guest(101).status == "running"
    pve.guest(101).config["memory"] = 4096  # memory needs a restart (no memory hotplug)
    path = str(repo.path)

    preview = run("plan", "--repo", path, "--sync")
    assert "drift not healed: the fix needs a restart and restartPolicy is Never" in (
        preview.output
    ), preview.output
    assert preview.exit_code == 0
    result = run("apply", "--repo", path, "--sync")
    assert result.exit_code == 0, result.output
    assert config_puts(pve, 101) == [] and restarts(pve, 101) == []
    assert pve.guest(101).status == "running"
    assert run("drift", "--repo", path).exit_code == 2  # still reported, not hidden


def test_sync_leaves_a_guest_under_an_open_deletion_request(repo: GitRepo, pve: Any) -> None:
    applied(
        repo,
        pve,
        {
            vm_path("old-01"): vm_yaml("old-01", 101, extra=STOPPED),
            vm_path("db-01"): vm_yaml("db-01", 102, extra=STOPPED),
        },
    )
    applied(repo, pve, {vm_path("old-01"): None})  # opens deletion request lab-101
    assert (repo.path / "deletions" / "lab-101.yaml").is_file()
    pve.guest(101).config["memory"] = 4096
    pve.guest(102).config["memory"] = 4096
    path = str(repo.path)

    result = run("apply", "--repo", path, "--sync", "--output", "json")
    assert result.exit_code == 0, result.output
    assert config_puts(pve, 101) == []  # the guest waiting for its approval is left alone
    assert int(pve.guest(101).config["memory"]) == 4096
    assert int(pve.guest(102).config["memory"]) == 1024  # its neighbour was healed


def test_watch_pod_self_heals_only_where_sync_policy_says(
    repo: GitRepo, pve: Any, fakepve_cafile: str, tmp_path: Path
) -> None:
    heal = "      syncPolicy: {selfHeal: true}\n"
    text = config_yaml(pve.url, fakepve_cafile).replace(
        "      allowWrites: true\n", "      allowWrites: true\n" + heal
    )
    applied(
        repo,
        pve,
        {
            "proxgit.yaml": text,
            vm_path("db-01"): vm_yaml("db-01", 101, extra=STOPPED),
            vm_path("db-02"): vm_yaml(
                "db-02", 102, extra=STOPPED + "syncPolicy: {selfHeal: false}\n"
            ),
        },
    )
    pve.guest(101).config["memory"] = 4096
    pve.guest(102).config["memory"] = 4096
    lines: list[str] = []
    watcher = Watcher(
        WatchOptions(
            workdir=tmp_path / "pod",
            url=str(repo.remote),
            interval=0.0,
            reflect_interval=3600.0,
            listen=None,
            lock_wait=10,
            max_iterations=2,
        ),
        log=lines.append,
    )
    watcher.run(threading.Event())
    assert int(pve.guest(101).config["memory"]) == 1024, lines  # healed by the pod
    assert int(pve.guest(102).config["memory"]) == 4096  # its own syncPolicy says no
    assert config_puts(pve, 102) == []
    assert len(config_puts(pve, 101)) == 1  # once: the second iteration found nothing


def test_self_heal_is_off_by_default(repo: GitRepo, pve: Any, tmp_path: Path) -> None:
    applied(repo, pve, {vm_path("db-01"): vm_yaml("db-01", 101, extra=STOPPED)})
    pve.guest(101).config["memory"] = 4096
    watcher = Watcher(
        WatchOptions(
            workdir=tmp_path / "pod",
            url=str(repo.remote),
            interval=0.0,
            reflect_interval=3600.0,
            listen=None,
            max_iterations=1,
        ),
        log=lambda _line: None,
    )
    watcher.run(threading.Event())
    assert config_puts(pve, 101) == []
    assert int(pve.guest(101).config["memory"]) == 4096
