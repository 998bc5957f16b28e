"""Git faults during an apply, through the CLI against fakepve and real Git remotes.

- a person pushes to main while apply writes to Proxmox: the journal's push is
  rejected, proxgit rebases its own commit onto the new tip and pushes again;
  nothing of either is lost;
- the remote becomes unreachable while apply writes: a one-line error, what was
  done is journaled in a local commit, and the next apply pushes it;
- two applies of the same revision race for the lock ref: one writes, the other
  finds it applied; every guest is created once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from tests.applying.faults import Faults
from tests.applying.procs import clone, start
from tests.support import BOB, TOKEN_SECRET, GitRepo, vm_path, vm_yaml

LOCK = "refs/proxgit/locks/lab"
APPLIED = "refs/proxgit/applied/lab"


def small(name: str, vmid: int, cores: int = 1) -> str:
    return vm_yaml(name, vmid, extra=f"cores: {cores}\nmemory: 512\n")


def apply(repo: GitRepo, *args: str) -> Result:
    result = CliRunner().invoke(
        main, ["apply", "--repo", str(repo.path), "--push", "--lock-timeout", "20", *args]
    )
    assert "Traceback" not in result.output, result.output
    assert TOKEN_SECRET not in result.output
    return result


def remote_ref(repo: GitRepo, ref: str) -> str | None:
    out = repo.git("ls-remote", str(repo.remote), ref)
    return out.split()[0] if out else None


def journals_at(repo: GitRepo, rev: str) -> list[dict[str, Any]]:
    names = repo.git("ls-tree", "--name-only", rev, ".proxgit/journal/").split()
    return [json.loads(repo.git("show", f"{rev}:{n}")) for n in names]


@pytest.fixture
def faults(pve: Any) -> Iterator[Faults]:
    injected = Faults(pve, secret=TOKEN_SECRET)
    yield injected
    injected.restore()


@pytest.fixture
def merged(repo: GitRepo) -> GitRepo:
    repo.git("push", "--quiet", "origin", "main")
    return repo


def test_a_push_by_a_person_during_apply_is_kept_and_the_journal_rebased(
    merged: GitRepo, pve: Any, faults: Faults, tmp_path: Path
) -> None:
    merged.commit({vm_path("web"): small("web", 120)}, "Add web")
    merged.git("push", "--quiet", "origin", "main")
    revision = merged.git("rev-parse", "HEAD")
    human = tmp_path / "human"
    GitRepo.git_in(tmp_path, "clone", "--quiet", str(merged.remote), str(human))

    def human_pushes() -> None:
        (human / "README.md").write_text("notes\n", encoding="utf-8")
        GitRepo.git_in(human, "add", "README.md", author=BOB)
        GitRepo.git_in(human, "commit", "--quiet", "-m", "Notes", author=BOB)
        GitRepo.git_in(human, "push", "--quiet", "origin", "main", author=BOB)

    faults.before("POST", "/nodes/pve1/qemu", human_pushes)
    result = apply(merged)
    assert result.exit_code == 0, result.output
    assert not faults.hooks, "the person's push did not happen during the apply"
    merged.git("fetch", "--quiet", "origin")
    log = merged.git("log", "--format=%an %s", "origin/main").splitlines()
    assert log[0].startswith("proxgit proxgit apply") and log[1] == "Bob Builder Notes", log
    assert merged.git("show", "origin/main:README.md") == "notes"
    [record] = journals_at(merged, "origin/main")
    assert record["revision"] == revision and record["state"] == "succeeded"
    assert remote_ref(merged, APPLIED) == revision
    assert remote_ref(merged, LOCK) is None
    creates = [r for r in pve.requests if r[0] == "POST" and r[1].endswith("/nodes/pve1/qemu")]
    assert len(creates) == 1


def test_an_unreachable_remote_keeps_the_journal_locally_and_the_next_apply_pushes_it(
    merged: GitRepo, pve: Any, faults: Faults
) -> None:
    merged.commit({vm_path("web"): small("web", 121)}, "Add web")
    merged.git("push", "--quiet", "origin", "main")
    revision = merged.git("rev-parse", "HEAD")
    away = merged.remote.with_name("remote-away.git")
    faults.before("POST", "/nodes/pve1/qemu", lambda: merged.remote.rename(away))

    first = apply(merged, "--lock-lease", "3")
    assert first.exit_code == 1, first.output
    assert "not pushed" in first.output, first.output
    assert pve.guest(121) is not None and pve.guest(121).status == "running"
    # what was done is journaled in a local commit
    [record] = journals_at(merged, "HEAD")
    assert record["results"][0]["state"] == "succeeded"
    assert merged.git("log", "-1", "--format=%an", "HEAD") == "proxgit"

    away.rename(merged.remote)
    assert remote_ref(merged, APPLIED) is None  # not moved
    pve.requests.clear()
    second = apply(merged, "--lock-lease", "3")
    assert second.exit_code == 0, second.output
    writes = [r for r in pve.requests if r[0] in ("POST", "PUT") and "/access/" not in r[1]]
    assert writes == []
    merged.git("fetch", "--quiet", "origin")
    pushed = journals_at(merged, "origin/main")
    assert [j["revision"] for j in pushed] == [revision]
    assert pushed[0]["results"][0]["state"] == "succeeded"
    assert remote_ref(merged, APPLIED) == revision
    assert remote_ref(merged, LOCK) is None


def test_an_unreachable_remote_before_apply_is_one_clear_line(merged: GitRepo, pve: Any) -> None:
    merged.commit({vm_path("web"): small("web", 122)}, "Add web")
    merged.git("push", "--quiet", "origin", "main")
    shutil.rmtree(merged.remote)
    result = apply(merged)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "git fetch" in lines[0], result.output
    assert [r for r in pve.requests if r[0] == "POST" and "/access/" not in r[1]] == []


def test_two_applies_racing_for_the_lock_write_once(
    merged: GitRepo, pve: Any, tmp_path: Path
) -> None:
    merged.commit({vm_path(f"g{i}"): small(f"g{i}", 130 + i) for i in range(3)}, "Three")
    merged.git("push", "--quiet", "origin", "main")
    other = clone(merged, tmp_path / "other")
    args = ("apply", "--push", "--lock-timeout", "60")
    both = [start(merged.path, *args, host="a"), start(other, *args, host="b")]
    outputs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert all("Traceback" not in out + err for out, err in outputs)
    creates = [r for r in pve.requests if r[0] == "POST" and r[1].endswith("/nodes/pve1/qemu")]
    assert len(creates) == 3
    assert sum("already applied" in out for out, _ in outputs) == 1, outputs
    assert remote_ref(merged, LOCK) is None
    merged.git("fetch", "--quiet", "origin")
    assert len(journals_at(merged, "origin/main")) == 1


def test_a_task_whose_status_cannot_be_read_is_journaled_with_its_upid(
    merged: GitRepo, pve: Any
) -> None:
    merged.commit({vm_path("web"): small("web", 123)}, "Add web")
    merged.git("push", "--quiet", "origin", "main")
    revision = merged.git("rev-parse", "HEAD")
    # every read of a task's status fails, retries included
    pve.fail("GET", "/nodes/{node}/tasks/{upid}/status", 500, f"status lost {TOKEN_SECRET}")
    first = apply(merged)
    assert first.exit_code == 1, first.output
    assert "was started, but its status could not be read" in first.output
    merged.git("fetch", "--quiet", "origin")
    [record] = journals_at(merged, "origin/main")
    [result] = record["results"]
    assert result["state"] == "failed"
    [task] = result["tasks"]
    assert task["exitstatus"] == "unknown" and task["upid"] in pve.tasks
    assert TOKEN_SECRET not in json.dumps(record)
    assert remote_ref(merged, APPLIED) is None and remote_ref(merged, LOCK) is None
    pve.failures.clear()
    second = apply(merged)
    assert second.exit_code == 0, second.output
    creates = [r for r in pve.requests if r[0] == "POST" and r[1].endswith("/nodes/pve1/qemu")]
    assert len(creates) == 1 and pve.guest(123).status == "running"
    assert remote_ref(merged, APPLIED) == revision
