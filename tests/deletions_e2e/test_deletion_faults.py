"""Faults while ``deletions execute`` destroys an approved guest, against fakepve over
HTTPS and real Git remotes: each time no second destroy of a guest that is gone,
no traceback, no secret shown, and the request's state right after a rerun."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result

from tests.applying.faults import Faults
from tests.deletions_e2e.test_deletion_workflow import (  # noqa: F401 (fixture)
    CAROL,
    REQUEST,
    cli,
    edit_request,
    push,
    requested,
)
from tests.support import TOKEN_SECRET, GitRepo

DELETE = "/nodes/pve1/qemu/101"


def destroys(pve: Any) -> int:
    return sum(1 for m, p, _ in pve.requests if m == "DELETE" and p.endswith(DELETE))


def execute(repo: GitRepo, *args: str) -> Result:
    result = cli(repo, "deletions", "execute", *args)
    assert TOKEN_SECRET not in result.output, result.output
    return result


def archived(repo: GitRepo, rev: str = "HEAD") -> list[str]:
    return repo.git("ls-tree", "--name-only", rev, "deletions/archive/").split()


@pytest.fixture
def faults(pve: Any) -> Iterator[Faults]:
    injected = Faults(pve, secret=TOKEN_SECRET, delay=2.5)
    yield injected
    injected.restore()


@pytest.fixture
def approved(requested: GitRepo) -> GitRepo:  # noqa: F811
    edit_request(requested, CAROL, approve=True)
    return requested


def test_a_failed_destroy_task_keeps_the_request_open_and_the_rerun_destroys(
    approved: GitRepo, pve: Any, faults: Faults
) -> None:
    faults.once("task-error", "DELETE", DELETE)
    first = execute(approved)
    assert first.exit_code == 1, first.output
    assert "blocked" in first.output and "destroy failed" in first.output, first.output
    assert pve.guest(101) is not None
    assert (approved.path / REQUEST).is_file() and archived(approved) == []
    second = execute(approved)
    assert second.exit_code == 0 and "executed" in second.output, second.output
    assert pve.guest(101) is None
    assert destroys(pve) == 2  # the first was refused by Proxmox, the second carried out
    assert len(archived(approved)) == 1
    assert execute(approved).exit_code == 0 and destroys(pve) == 2


def test_a_destroy_refused_with_an_error_shows_proxmoxs_message_without_the_secret(
    approved: GitRepo, pve: Any, faults: Faults
) -> None:
    faults.once("500", "DELETE", DELETE)
    first = execute(approved)
    assert first.exit_code == 1 and "injected fault" in first.output, first.output
    assert pve.guest(101) is not None
    second = execute(approved)
    assert second.exit_code == 0 and pve.guest(101) is None, second.output
    assert destroys(pve) == 2


def test_a_destroy_answered_without_a_task_id_is_not_counted_as_done(
    approved: GitRepo, pve: Any, faults: Faults
) -> None:
    faults.once("null", "DELETE", DELETE)
    first = execute(approved)
    assert first.exit_code == 1, first.output
    assert "not counted as done" in first.output and "executed" not in first.output
    assert (approved.path / REQUEST).is_file()
    second = execute(approved)
    assert second.exit_code == 0 and pve.guest(101) is None, second.output


def test_a_destroy_that_times_out_but_happened_is_archived_without_a_second_destroy(
    approved: GitRepo, pve: Any, faults: Faults, fakepve_cafile: str
) -> None:
    config = (approved.path / "proxgit.yaml").read_text()
    approved.commit(
        {
            "proxgit.yaml": config.replace(
                "      allowWrites: true\n", "      allowWrites: true\n      timeouts: {read: 1}\n"
            )
        },
        "Shorter read timeout",
    )
    push(approved)
    faults.once("timeout", "DELETE", DELETE)
    first = execute(approved)
    assert faults.done_late.wait(30)
    assert first.exit_code == 1, first.output
    assert "timed out" in first.output and "unknown" in first.output, first.output
    assert (approved.path / REQUEST).is_file()
    assert pve.guest(101) is None  # Proxmox did destroy it
    second = execute(approved)
    assert second.exit_code == 0, second.output
    assert "already gone" in second.output
    assert destroys(pve) == 1
    assert len(archived(approved)) == 1


def test_an_archive_commit_that_cannot_be_pushed_is_pushed_by_the_next_run(
    approved: GitRepo, pve: Any, faults: Faults
) -> None:
    away = approved.remote.with_name("remote-away.git")
    faults.before("DELETE", DELETE, lambda: approved.remote.rename(away))
    first = execute(approved, "--push")
    assert first.exit_code == 1, first.output
    assert "executed" in first.output and "not pushed" in first.output, first.output
    assert pve.guest(101) is None and len(archived(approved)) == 1
    away.rename(approved.remote)
    second = execute(approved, "--push")
    assert second.exit_code == 0, second.output
    assert destroys(pve) == 1
    approved.git("fetch", "--quiet", "origin")
    assert len(archived(approved, "origin/main")) == 1
    assert REQUEST not in approved.git("ls-tree", "-r", "--name-only", "origin/main")


def test_a_guest_locked_by_a_running_task_is_not_sent_a_destroy(
    approved: GitRepo, pve: Any
) -> None:
    # what an earlier destroy whose answer was lost leaves while its task still runs
    pve.guest(101).config["lock"] = "destroyed"
    first = execute(approved)
    assert first.exit_code == 1 and "locked (destroyed)" in first.output, first.output
    assert destroys(pve) == 0 and (approved.path / REQUEST).is_file()
    del pve.guest(101).config["lock"]
    second = execute(approved)
    assert second.exit_code == 0 and pve.guest(101) is None, second.output
    assert destroys(pve) == 1
