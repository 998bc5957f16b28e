"""The watch loop against fakepve and a real Git remote: soak with faults, and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from proxgit.cli import main
from proxgit.watching.loop import Watcher, WatchOptions
from tests.support import (
    ALICE,
    BOB,
    TOKEN_ENV,
    TOKEN_SECRET,
    GitRepo,
    vm_path,
    vm_yaml,
)

CAROL = ("Carol Checker", "carol@example.com")
SMALL = "cores: 1\nmemory: 512\nnetworks:\n  net0: {bridge: vmbr0}\n"


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def destroys(pve: Any) -> list[str]:
    return [p for m, p, _ in pve.requests if m == "DELETE" and ("/qemu/" in p or "/lxc/" in p)]


def pull(people: GitRepo) -> None:
    """Pull with a few retries: the remote moves under us on purpose in this test."""
    for attempt in range(5):
        try:
            people.git("pull", "--quiet", "--rebase", "origin", "main")
            return
        except subprocess.CalledProcessError as err:
            if attempt == 4:
                raise AssertionError(f"git pull failed: {err.stderr}") from None
            time.sleep(0.1)


_PEOPLE = threading.Lock()  # the racer thread and the main thread share one clone


def push(
    people: GitRepo, files: dict[str, str | None], message: str, author: tuple[str, str] = ALICE
) -> None:
    with _PEOPLE:
        _push(people, files, message, author)


def _push(
    people: GitRepo, files: dict[str, str | None], message: str, author: tuple[str, str]
) -> None:
    pull(people)
    people.commit(files, message, author=author)
    for _ in range(10):
        try:
            people.git("push", "--quiet", "origin", "main")
            return
        except subprocess.CalledProcessError:
            pull(people)
    raise AssertionError("could not push")


def approve(people: GitRepo, request: str) -> None:
    pull(people)
    yaml = YAML()
    data = yaml.load((people.path / request).read_text())
    data["spec"]["approve"] = True
    with (people.path / request).open("w") as handle:
        yaml.dump(data, handle)
    people.git("add", request)
    people.git("commit", "--quiet", "-m", "Approve", author=CAROL)
    people.git("push", "--quiet", "origin", "main")


@pytest.mark.slow
def test_soak_200_iterations_with_faults(repo: GitRepo, pve: Any, tmp_path: Path) -> None:
    people = repo
    people.commit(
        {vm_path(f"web-{i}"): vm_yaml(f"web-{i}", 120 + i, extra=SMALL) for i in range(3)},
        "Three web VMs",
    )
    people.git("push", "--quiet", "origin", "main")
    workdir = tmp_path / "pod"
    watcher = Watcher(
        WatchOptions(
            workdir=workdir,
            url=str(people.remote),
            interval=0.0,
            reflect_interval=3.0,
            listen=None,
            lock_wait=10,
            backoff=0.05,
            max_backoff=0.5,
            max_iterations=200,
        ),
        log=lambda line: None,
    )
    memory: dict[str, float] = {}
    racers: list[threading.Thread] = []
    destroyed_before_approval: list[str] = []

    def race() -> None:
        for n in range(8):
            push(people, {f"notes/race-{n}.md": f"note {n}\n"}, f"Unrelated note {n}", author=BOB)
            time.sleep(0.05)

    def on_iteration(i: int) -> None:
        if i == 10:
            push(people, {vm_path("app-1"): vm_yaml("app-1", 131, extra=SMALL)}, "Add app-1")
            pve.fail("POST", "/nodes/pve1/qemu/131/status/start", 500, "start failed", times=1)
        elif i == 30:
            pve.flaky_network(drop_rate=0.3, seed=7)
        elif i == 45:
            pve.flaky_network(drop_rate=0.0)
        elif i == 50:
            memory["warm"] = rss_mb()
        elif i == 60:
            pve.lose_quorum()
            push(people, {vm_path("app-2"): vm_yaml("app-2", 132, extra=SMALL)}, "Add app-2")
        elif i == 75:
            pve.regain_quorum()
        elif i == 90:
            thread = threading.Thread(target=race)
            racers.append(thread)
            thread.start()
            push(
                people,
                {vm_path("web-0"): vm_yaml("web-0", 120, extra=SMALL + "tags: [x]\n")},
                "Tag web-0",
            )
        elif i == 110:
            push(people, {vm_path("web-2"): None}, "Remove web-2", author=BOB)
        elif i == 140:
            destroyed_before_approval.extend(destroys(pve))
            approve(people, "deletions/lab-122.yaml")

    watcher.run(threading.Event(), on_iteration=on_iteration)
    for thread in racers:
        thread.join()
    assert racers and not racers[0].is_alive()
    assert watcher.iterations == 200
    # converged: the plan of the final tree shows nothing to do
    pull(people)
    plan = CliRunner().invoke(main, ["plan", "--repo", str(people.path), "--output", "json"])
    data = json.loads(plan.stdout)
    assert data["summary"]["create"] == data["summary"]["update"] == 0, plan.stdout
    assert {c["name"] for c in data["changes"]} == {"web-0", "web-1", "app-1", "app-2"}
    assert pve.guest(131).status == "running" and pve.guest(132).status == "running"
    # nothing destroyed before the approval, exactly the approved guest after it
    assert destroyed_before_approval == []
    assert destroys(pve) == ["/api2/json/nodes/pve1/qemu/122"]
    assert list((people.path / "deletions" / "archive").glob("lab-122-*.yaml"))
    # the other commits of the push race are all there, untouched
    assert len(list((people.path / "notes").glob("race-*.md"))) == 8
    assert (people.path / "snapshot" / "lab").is_dir()
    growth = rss_mb() - memory["warm"]
    print(
        f"soak: {watcher.iterations} iterations, RSS {memory['warm']:.1f} MB at iteration 50, "
        f"grew {growth:+.1f} MB by the end"
    )
    assert growth < 20, f"memory grew {growth:.1f} MB after warm-up"


def test_sigterm_mid_apply_releases_lock_and_completes_journal(
    repo: GitRepo, pve: Any, tmp_path: Path
) -> None:
    repo.commit(
        {vm_path(f"vm-{i}"): vm_yaml(f"vm-{i}", 200 + i, extra=SMALL) for i in range(30)},
        "Thirty VMs",
    )
    repo.git("push", "--quiet", "origin", "main")
    pve.time_scale = 0.02  # tasks take a little real time, so SIGTERM lands mid-apply
    workdir = tmp_path / "pod"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxgit",
            "watch",
            "--workdir",
            str(workdir),
            "--url",
            str(repo.remote),
            "--interval",
            "0.2",
            "--listen",
            "off",
            "--reflect-interval",
            "1h",
        ],
        env={**os.environ, TOKEN_ENV: TOKEN_SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        m == "POST" and p.endswith("/nodes/pve1/qemu") for m, p, _ in pve.requests
    ):
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "SIGTERM" in stderr and "Traceback" not in stderr
    remote = GitRepo.git_in(tmp_path, "ls-remote", str(repo.remote))
    assert "refs/proxgit/locks/" not in remote
    repo.git("pull", "--quiet", "--rebase", "origin", "main")
    journals = sorted((repo.path / ".proxgit" / "journal").glob("*.json"))
    assert journals, stderr
    record = json.loads(journals[-1].read_text())
    assert record["finished_at"] and len(record["results"]) == 30
    assert TOKEN_SECRET not in stderr
