"""Reflect when reads fail part-way, against fakepve over HTTPS and a real Git remote:
the guests that could be read are snapshotted and committed, the one that could
not is named, its last good file kept; no traceback, no secret shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from proxgit.reflecting.run import read_tree
from tests.applying.faults import Faults
from tests.reflecting.conftest import run
from tests.support import TOKEN_SECRET, GitRepo

DB_CONFIG = "/nodes/pve2/qemu/101/pending"  # reflect reads the config there


@pytest.fixture
def faults(pve: Any) -> Iterator[Faults]:
    injected = Faults(pve, secret=TOKEN_SECRET)
    yield injected
    injected.restore()


def reflect(repo: GitRepo) -> dict[str, Any]:
    result = run(repo, "reflect", "--output", "json")
    assert TOKEN_SECRET not in result.output
    report: dict[str, Any] = json.loads(result.stdout)
    report["exit"] = result.exit_code
    return report


def files(repo: GitRepo, rev: str = "HEAD") -> list[str]:
    return repo.git("ls-tree", "-r", "--name-only", rev, "snapshot/lab/guests/").split()


def test_a_guest_that_vanishes_between_the_listing_and_its_config_read(
    seeded: GitRepo, pve: Any, faults: Faults
) -> None:
    faults.before("GET", DB_CONFIG, lambda: pve.vms.remove(pve.vm(101)))
    report = reflect(seeded)
    assert report["exit"] == 1, report
    [lab] = report["clusters"]
    assert lab["error"] is None and any("vmid 101" in u for u in lab["unread"]), lab
    names = files(seeded)
    assert any("100-web-01" in n for n in names) and any("200-dns-01" in n for n in names)
    # the next reflect no longer lists it: the snapshot follows, and all is well
    again = reflect(seeded)
    assert again["exit"] == 0, again
    assert not any("101-" in n for n in files(seeded))


def test_a_config_read_that_keeps_failing_keeps_the_last_good_file(
    seeded: GitRepo, pve: Any
) -> None:
    assert reflect(seeded)["exit"] == 0
    before = read_tree(seeded.path / "snapshot")
    pve.guest(100).config["memory"] = 4096  # a change the run must still record
    pve.fail("GET", DB_CONFIG, 500, f"injected fault (token {TOKEN_SECRET})")
    report = reflect(seeded)
    assert report["exit"] == 1, report
    [lab] = report["clusters"]
    [unread] = lab["unread"]
    assert "vmid 101" in unread and "injected fault" in unread, unread
    after = read_tree(seeded.path / "snapshot")
    db = [p for p in after if "101-db-01" in p]
    assert db and all(after[p] == before[p] for p in db)  # kept as last read
    web = [p for p in after if "100-web-01" in p and p.endswith(".yaml")]
    assert any(after[p] != before.get(p) for p in web)  # the rest was written
    assert seeded.git("log", "-1", "--format=%an") == "proxgit"
    snapshot_text = b"".join(after.values()).decode()
    assert TOKEN_SECRET not in snapshot_text
    assert TOKEN_SECRET not in seeded.git("log", "-1", "--format=%B")


def test_a_node_going_offline_keeps_its_guests_files(seeded: GitRepo, pve: Any) -> None:
    assert reflect(seeded)["exit"] == 0
    before = read_tree(seeded.path / "snapshot")
    pve.set_node_offline("pve2")
    report = reflect(seeded)
    assert report["exit"] == 1, report
    [lab] = report["clusters"]
    assert lab["error"] is None and any("vmid 101" in u for u in lab["unread"]), lab
    after = read_tree(seeded.path / "snapshot")
    db = [p for p in before if "101-db-01" in p]
    assert db and all(after.get(p) == before[p] for p in db)
    assert any("100-web-01" in p for p in after)


def test_a_push_to_an_unreachable_remote_is_one_line(seeded: GitRepo, pve: Any) -> None:
    away = seeded.remote.with_name("away.git")
    seeded.remote.rename(away)
    result = run(seeded, "reflect", "--push")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and "git" in lines[-1] and TOKEN_SECRET not in result.output, result.output
    away.rename(seeded.remote)
    again = run(seeded, "reflect", "--push")
    assert again.exit_code == 0, again.output
    seeded.git("fetch", "--quiet", "origin")
    assert files(seeded, "origin/main")
