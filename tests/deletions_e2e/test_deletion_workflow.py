"""The whole deletion workflow against fakepve and real Git history.

Removal merged -> apply opens a request and tags the guest, destroys nothing
-> a second person's approval commit -> ``deletions execute`` destroys and
archives. Every case counts the destroy calls in fakepve's request log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from proxgit.cli import main
from proxgit.deletions.executing import process_requests
from tests.support import (
    ALICE,
    BOB,
    MALLORY,
    TOKEN_ENV,
    TOKEN_SECRET,
    GitRepo,
    config_yaml,
    vm_path,
    vm_yaml,
)

CAROL = ("Carol Checker", "carol@example.com")
REQUEST = "deletions/lab-101.yaml"
WEB = "cores: 1\nmemory: 512\nnetworks:\n  net0: {bridge: vmbr0}\n"


def destroys(pve: Any) -> int:
    return sum(1 for m, p, _ in pve.requests if m == "DELETE" and "/qemu/" in p)


def push(repo: GitRepo) -> None:
    repo.git("push", "--quiet", "origin", "main")


def cli(repo: GitRepo, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--repo", str(repo.path)])
    assert "Traceback" not in result.output, result.output
    return result


def edit_request(repo: GitRepo, author: tuple[str, str], **changes: Any) -> str:
    yaml = YAML()
    path = repo.path / REQUEST
    data = yaml.load(path.read_text())
    for key, value in changes.items():
        data["spec"][key] = value
    with path.open("w") as handle:
        yaml.dump(data, handle)
    repo.git("add", REQUEST)
    repo.git("commit", "--quiet", "-m", "Decide", author=author)
    push(repo)
    return repo.git("rev-parse", "HEAD")


@pytest.fixture
def requested(repo: GitRepo, pve: Any) -> GitRepo:
    """web-01 created by apply, then removed by Bob and applied: a request is open."""
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01", author=ALICE)
    push(repo)
    assert cli(repo, "apply").exit_code == 0
    repo.commit({vm_path("web-01"): None}, "Remove web-01", author=BOB)
    push(repo)
    result = cli(repo, "apply")
    assert result.exit_code == 0, result.output
    assert "deletion-pending" in result.output
    return repo


def test_happy_path(requested: GitRepo, pve: Any) -> None:
    assert (requested.path / REQUEST).is_file()
    assert "proxgit-pending-deletion" in str(pve.guest(101).config.get("tags"))
    assert destroys(pve) == 0
    request = (requested.path / REQUEST).read_text()
    assert "bob@example.com" in request and "removedIn" in request
    edit_request(requested, CAROL, approve=True)
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 0, result.output
    assert "executed" in result.output
    assert destroys(pve) == 1
    assert pve.guest(101) is None
    assert not (requested.path / REQUEST).exists()
    archived = list((requested.path / "deletions" / "archive").glob("lab-101-*.yaml"))
    assert len(archived) == 1 and "carol@example.com" in archived[0].read_text()
    # validate accepts the archive, and running again destroys nothing more
    assert cli(requested, "validate").exit_code == 0
    assert cli(requested, "deletions", "execute").exit_code == 0
    assert destroys(pve) == 1


@pytest.mark.parametrize(
    ("author", "changes", "reason"),
    [
        (BOB, {"approve": True}, "requester"),
        (MALLORY, {"approve": True}, "approve_deletion"),
        (BOB, {"approve": True, "requester": {"handle": "carol@example.com"}}, "requester"),
    ],
    ids=["self-approval", "not-in-policy", "requester-spoofs-name"],
)
def test_refused_approvals_destroy_nothing(
    requested: GitRepo, pve: Any, author: tuple[str, str], changes: dict[str, Any], reason: str
) -> None:
    edit_request(requested, author, **changes)
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 3, result.output
    assert destroys(pve) == 0
    assert pve.guest(101) is not None
    assert "executed" not in result.output
    assert reason in result.output
    assert (requested.path / REQUEST).exists()


def test_approval_that_changes_other_files_is_refused(requested: GitRepo, pve: Any) -> None:
    yaml = YAML()
    path = requested.path / REQUEST
    data = yaml.load(path.read_text())
    data["spec"]["approve"] = True
    with path.open("w") as handle:
        yaml.dump(data, handle)
    requested.commit({vm_path("other"): vm_yaml("other", 150)}, "Approve and sneak", author=CAROL)
    push(requested)
    cli(requested, "deletions", "execute")
    assert destroys(pve) == 0 and pve.guest(101) is not None


def test_rejection_untags_and_archives(requested: GitRepo, pve: Any) -> None:
    edit_request(requested, CAROL, reject={"reason": "still serving traffic"})
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 0, result.output
    assert destroys(pve) == 0
    assert "proxgit-pending-deletion" not in str(pve.guest(101).config.get("tags", ""))
    assert not (requested.path / REQUEST).exists()
    # live but no longer declared: unmanaged from now on
    plan = cli(requested, "plan", "--output", "json")
    assert '"vmid": 101' in plan.stdout and '"unmanaged"' in plan.stdout


def test_expiry_untags_and_archives(requested: GitRepo, pve: Any) -> None:
    later = datetime.now(UTC) + timedelta(days=8)
    run = process_requests(requested.path, execute=True, now=later)
    assert [o.state for o in run.outcomes] == ["expired"]
    assert destroys(pve) == 0
    assert "proxgit-pending-deletion" not in str(pve.guest(101).config.get("tags", ""))
    assert list((requested.path / "deletions" / "archive").glob("lab-101-*.yaml"))


def test_reused_vmid_is_never_destroyed(requested: GitRepo, pve: Any) -> None:
    pve.vms.remove(pve.guest(101))
    pve.add_vm(101, "someone-new", node="pve1", status="running")
    edit_request(requested, CAROL, approve=True)
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 1
    assert "not the requested" in result.output
    assert destroys(pve) == 0


def test_protected_guest_is_not_destroyed(requested: GitRepo, pve: Any) -> None:
    pve.guest(101).config["protection"] = 1
    edit_request(requested, CAROL, approve=True)
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 1 and "protection" in result.output
    assert destroys(pve) == 0


def test_writes_disabled_refuses(requested: GitRepo, pve: Any, fakepve_cafile: str) -> None:
    edit_request(requested, CAROL, approve=True)
    requested.commit(
        {"proxgit.yaml": config_yaml(pve.url, fakepve_cafile, allow_writes=False)},
        "Freeze writes",
        author=ALICE,
    )
    push(requested)
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 3, result.output
    assert "refused by gate allowWrites" in result.output
    assert destroys(pve) == 0


def test_crash_between_destroy_and_archive_recovers_without_second_destroy(
    requested: GitRepo, pve: Any
) -> None:
    edit_request(requested, CAROL, approve=True)
    before = len(pve.requests)
    process = subprocess.Popen(
        [sys.executable, "-m", "proxgit", "deletions", "execute", "--repo", str(requested.path)],
        env={**os.environ, TOKEN_ENV: TOKEN_SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        m == "DELETE" for m, _, _ in pve.requests[before:]
    ):
        time.sleep(0.001)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert destroys(pve) == 1
    requested.git("reset", "--quiet", "--hard")  # whatever the killed run left half-written
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 0, result.output
    assert "already gone" in result.output
    assert destroys(pve) == 1
    assert not (requested.path / REQUEST).exists()


def test_self_approval_allowed_later_does_not_apply_to_an_open_request(
    requested: GitRepo, pve: Any, fakepve_cafile: str
) -> None:
    requested.commit(
        {
            "proxgit.yaml": config_yaml(
                pve.url, fakepve_cafile, extra="  deletions:\n    selfApprovalAllowed: true\n"
            )
        },
        "Allow self-approval",
        author=ALICE,
    )
    push(requested)
    edit_request(requested, BOB, approve=True)
    # The rules a request opened under judge it: allowing self-approval afterwards does not
    # let the requester approve this one.
    result = cli(requested, "deletions", "execute")
    assert result.exit_code == 3, result.output
    assert "requester" in result.output
    assert destroys(pve) == 0


def test_list_shows_state(requested: GitRepo, pve: Any) -> None:
    result = cli(requested, "deletions", "list")
    assert result.exit_code == 0
    assert "lab-101: web-01 (vmid 101) requested by bob@example.com" in result.output
    assert Path(requested.path / REQUEST).exists()
    listed = cli(requested, "deletions", "list", "--output", "json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [w.split(":")[0] for w in data["warnings"]] == ["deletions.identity is git-author"]
    [row] = data["requests"]
    assert row["id"] == "lab-101" and row["file"] == REQUEST
    assert (row["guest"], row["vmid"], row["requester"]) == ("web-01", 101, "bob@example.com")
    assert row["state"] == "pending" and row["approver"] is None and row["reasons"]


def test_a_shard_leaves_other_clusters_requests_alone(requested: GitRepo, pve: Any) -> None:
    edit_request(requested, CAROL, approve=True)
    before = len(pve.requests)
    run = process_requests(requested.path, execute=True, clusters=["prod"])
    assert run.outcomes == [] and run.commit is None
    assert len(pve.requests) == before  # not even a read of the lab cluster
    assert destroys(pve) == 0 and (requested.path / REQUEST).exists()


# --- apply, then settle: one sequence for `proxgit apply` and the watch pod ---------------


def watch_once(repo: GitRepo, workdir: Path) -> list[str]:
    """One watch iteration on a fresh clone of ``repo``'s remote; the lines it logged."""
    from proxgit.watching.loop import Watcher, WatchOptions

    lines: list[str] = []
    watcher = Watcher(
        WatchOptions(workdir=workdir, url=str(repo.remote), listen=None, lock_wait=10),
        log=lines.append,
        log_error=lines.append,
    )
    watcher._ensure_clone()
    ok = watcher.iterate(threading.Event())
    return lines if ok else [*lines, "iteration failed"]


def test_apply_settles_but_never_destroys_and_the_pod_destroys(
    requested: GitRepo, pve: Any, tmp_path: Path
) -> None:
    edit_request(requested, CAROL, approve=True)
    result = cli(requested, "apply")
    assert result.exit_code == 0, result.output
    assert destroys(pve) == 0 and (requested.path / REQUEST).exists()
    lines = watch_once(requested, tmp_path / "pod")
    assert destroys(pve) == 1, lines
    assert "iteration failed" not in lines
    assert any("deletion lab-101: executed" in line for line in lines), lines
    requested.git("pull", "--quiet", "--rebase", "origin", "main")
    assert not (requested.path / REQUEST).exists()


@pytest.mark.parametrize("caller", ["apply", "watch"])
def test_a_rejection_is_settled_by_apply_and_by_the_pod(
    requested: GitRepo, pve: Any, tmp_path: Path, caller: str
) -> None:
    edit_request(requested, CAROL, reject={"reason": "still serving traffic"})
    if caller == "apply":
        result = cli(requested, "apply")
        assert result.exit_code == 0, result.output
        assert "deletion request lab-101: rejected" in result.output
    else:
        lines = watch_once(requested, tmp_path / "pod")
        assert any("deletion lab-101: rejected" in line for line in lines), lines
    assert destroys(pve) == 0
    assert "proxgit-pending-deletion" not in str(pve.guest(101).config.get("tags", ""))


@pytest.mark.parametrize("caller", ["apply", "watch"])
def test_a_refused_revision_settles_nothing(
    requested: GitRepo, pve: Any, fakepve_cafile: str, tmp_path: Path, caller: str
) -> None:
    edit_request(requested, CAROL, reject={"reason": "keep it"})
    config = config_yaml(pve.url, fakepve_cafile).replace(
        "confirm: allow-edit-and-add-actions", "confirm: yes please"
    )
    assert "confirm: yes please" in config
    requested.commit({"proxgit.yaml": config}, "Break the confirm phrase", author=ALICE)
    push(requested)
    if caller == "apply":
        result = cli(requested, "apply")
        assert result.exit_code == 3, result.output
        assert "deletion request" not in result.output
    else:
        lines = watch_once(requested, tmp_path / "pod")
        assert any("deletion requests not settled" in line for line in lines), lines
        # the reflect step fails on the same tree, as it should: one error, logged
        assert lines[-1] == "iteration failed"
    # the request stays open and the guest keeps its tag: the distrusted tree decided nothing
    assert "proxgit-pending-deletion" in str(pve.guest(101).config.get("tags", ""))
    remote_tree = requested.git("ls-tree", "-r", "--name-only", "origin/main")
    assert REQUEST in remote_tree.split()


def test_a_failed_apply_still_settles(requested: GitRepo, pve: Any) -> None:
    edit_request(requested, CAROL, reject={"reason": "keep it"})
    requested.commit(
        {vm_path("db-01"): vm_yaml("db-01", 102, extra=WEB)}, "Add db-01", author=ALICE
    )
    push(requested)
    pve.fail("POST", "/nodes/pve1/qemu", 500, "no space left on device")
    result = cli(requested, "apply")
    assert result.exit_code == 1, result.output
    assert "deletion request lab-101: rejected" in result.output
    assert "proxgit-pending-deletion" not in str(pve.guest(101).config.get("tags", ""))


def test_apply_reports_a_settling_commit_it_could_not_push(requested: GitRepo, pve: Any) -> None:
    edit_request(requested, CAROL, reject={"reason": "keep it"})
    hook = requested.remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        '  if git log --format=%s "$old..$new" | grep -q "^proxgit deletions"; then\n'
        '    echo "archive commits are not accepted here" >&2; exit 1\n'
        "  fi\n"
        "done\n"
    )
    hook.chmod(0o755)
    result = cli(requested, "apply", "--push")
    assert result.exit_code == 1, result.output
    assert "deletion request lab-101: rejected" in result.output
    assert "error: deletion requests:" in result.output and "not pushed" in result.output
    # the guest was untagged and the archive commit waits locally for the next push
    assert "proxgit-pending-deletion" not in str(pve.guest(101).config.get("tags", ""))
    assert "proxgit deletions" in requested.git("log", "-1", "--format=%s")
    hook.unlink()
    again = cli(requested, "apply", "--push")
    assert again.exit_code == 0, again.output
    assert "proxgit deletions" in requested.git("log", "-1", "--format=%s", "origin/main")
