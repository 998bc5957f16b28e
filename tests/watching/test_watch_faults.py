"""The watch pod through a Proxmox error and a Git remote that goes away mid-apply:
it logs one line per failing step, backs off, and once the remote is back it
pushes what it journaled, moves the applied ref and leaves no lock; every write
Proxmox carried out is sent once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxgit.watching.loop import Watcher, WatchOptions
from tests.applying.faults import Faults
from tests.support import TOKEN_SECRET, GitRepo, vm_path, vm_yaml

SMALL = "cores: 1\nmemory: 512\n"


@pytest.fixture
def faults(pve: Any) -> Iterator[Faults]:
    injected = Faults(pve, secret=TOKEN_SECRET)
    yield injected
    injected.restore()


def remote_ref(repo: GitRepo, ref: str) -> str | None:
    out = repo.git("ls-remote", str(repo.remote), ref)
    return out.split()[0] if out else None


def test_the_pod_recovers_from_a_failed_write_and_an_unreachable_remote(
    repo: GitRepo, pve: Any, faults: Faults, tmp_path: Path
) -> None:
    repo.commit(
        {vm_path(f"w{i}"): vm_yaml(f"w{i}", 140 + i, extra=SMALL) for i in range(2)}, "Two VMs"
    )
    repo.git("push", "--quiet", "origin", "main")
    revision = repo.git("rev-parse", "HEAD")
    away = repo.remote.with_name("away.git")
    faults.once("500", "POST", "/nodes/pve1/qemu/140/status/start")
    faults.before("POST", "/nodes/pve1/qemu/141/status/start", lambda: repo.remote.rename(away))
    lines: list[str] = []
    watcher = Watcher(
        WatchOptions(
            workdir=tmp_path / "pod",
            url=str(repo.remote),
            interval=0.0,
            reflect_interval=3600.0,
            listen=None,
            lock_wait=10,
            backoff=0.01,
            max_backoff=0.05,
            max_iterations=8,
        ),
        log=lines.append,
    )

    def on_iteration(i: int) -> None:
        if i == 3:  # the remote is back after a few failing iterations
            away.rename(repo.remote)

    watcher.run(threading.Event(), on_iteration=on_iteration)
    text = "\n".join(lines)
    assert "Traceback" not in text and TOKEN_SECRET not in text, text
    assert "injected fault" in text and "not pushed" in text, text
    assert remote_ref(repo, "refs/proxgit/applied/lab") == revision, text
    assert remote_ref(repo, "refs/proxgit/locks/lab") is None
    writes = Counter(p for m, p, _ in pve.requests if m in ("POST", "PUT") and "/access/" not in p)
    writes["/api2/json/nodes/pve1/qemu/140/status/start"] -= 1  # refused by Proxmox
    writes["/api2/json/nodes/pve1/qemu"] -= 1  # two creates, one per guest
    assert set(writes.values()) == {1}, writes
    assert pve.guest(140).status == "running" and pve.guest(141).status == "running"
    repo.git("pull", "--quiet", "--rebase", "origin", "main")
    journals = sorted((repo.path / ".proxgit" / "journal").glob("*.json"))
    assert len(journals) == 2, text  # the partial run's and the one that finished it
    assert watcher.failures == 0
