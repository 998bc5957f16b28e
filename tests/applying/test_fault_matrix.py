"""Every Proxmox request of an apply fails once, in turn, in every way it can.

One revision creates a VM and a container (both started), updates a stopped VM
(more cores, then started) and migrates a stopped container to another node.
For each request that apply sends (taken from a clean run, and checked to be
still the same) and each kind of fault (HTTP 500, 596, a connection reset, a
task that ends with an error, a write that outlasts ``timeouts.read`` although
Proxmox carries it out), through the CLI against fakepve over HTTPS and a real
Git remote:

- no traceback; the guest that met the fault reports ``failed`` with Proxmox's
  message, the token secret masked; every other guest succeeds;
- the journal pushed says exactly what the output said, and every task it names
  is a task Proxmox ran, with the exit status Proxmox gave it;
- the lock ref is released, the applied ref moves only when all succeeded;
- a second apply converges, and over both runs no write Proxmox carried out is
  sent twice; a third apply does nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from tests.applying.faults import KINDS, Faults
from tests.support import (
    DEBIAN_TEMPLATE,
    TOKEN_SECRET,
    GitRepo,
    config_yaml,
    ct_path,
    ct_yaml,
    vm_path,
    vm_yaml,
)

LOCK = "refs/proxgit/locks/lab"
APPLIED = "refs/proxgit/applied/lab"
READ_TIMEOUT = 1.5  # timeouts.read of the cluster; a "timeout" fault answers after 2.5 s

CT = (
    f"ostemplate: {DEBIAN_TEMPLATE}\ncores: 1\nmemory: 512\n"
    "rootfs: {storage: local-lvm, size: 8G}\n"
)
FIRST = {
    vm_path("upd"): vm_yaml("upd", 110, extra="cores: 1\nmemory: 512\npower: stopped\n"),
    ct_path("mig"): ct_yaml("mig", 220, extra=CT + "power: stopped\n"),
}
SECOND = {
    vm_path("upd"): vm_yaml("upd", 110, extra="cores: 2\nmemory: 512\npower: running\n"),
    ct_path("mig"): ct_yaml("mig", 220, node="pve2", extra=CT + "power: stopped\n"),
    vm_path("new"): vm_yaml("new", 130, extra="cores: 1\nmemory: 512\n"),
    ct_path("ct"): ct_yaml("ct", 230, extra=CT),
}
# Which guest each request belongs to (None: the cluster's shared reads).
TASK_STATUS = "/nodes/{node}/tasks/{upid}/status"
# The requests the second apply sends, in a clean run (reads of shared state
# first, then each guest's); a change here shows as a failed reference test.
REQUESTS: list[tuple[str, str, str | None]] = [
    ("GET", "/cluster/resources", None),
    ("GET", "/nodes/pve1/storage/local/content", None),
    ("GET", "/nodes/pve2/storage/local/content", None),
    ("GET", "/nodes/pve1/qemu/110/pending", "upd"),
    ("GET", "/nodes/pve1/lxc/220/pending", "mig"),
    ("GET", "/nodes/pve1/qemu/110/config", "upd"),
    ("GET", "/nodes/pve1/qemu/110/status/current", "upd"),
    ("PUT", "/nodes/pve1/qemu/110/config", "upd"),
    ("POST", "/nodes/pve1/qemu/110/status/start", "upd"),
    ("GET", "/nodes/pve1/lxc/220/config", "mig"),
    ("GET", "/nodes/pve1/lxc/220/status/current", "mig"),
    ("POST", "/nodes/pve1/lxc/220/migrate", "mig"),
    ("POST", "/nodes/pve1/qemu", "new"),
    ("POST", "/nodes/pve1/qemu/130/status/start", "new"),
    ("POST", "/nodes/pve1/lxc", "ct"),
    ("POST", "/nodes/pve1/lxc/230/status/start", "ct"),
    ("GET", TASK_STATUS, None),
]
# the cases the fast suite runs; `make test-slow` runs the whole matrix
FAST = {
    ("POST", "/nodes/pve1/qemu", "timeout"),
    ("POST", "/nodes/pve1/qemu", "reset"),
    ("PUT", "/nodes/pve1/qemu/110/config", "596"),
    ("POST", "/nodes/pve1/lxc/220/migrate", "task-error"),
    ("POST", "/nodes/pve1/lxc/230/status/start", "timeout"),
    ("GET", "/cluster/resources", "reset"),
}
TASK_STARTERS = {p for m, p, _ in REQUESTS if m == "POST"}


def _cases() -> Iterator[Any]:
    for method, path, guest in REQUESTS:
        for kind in KINDS:
            if kind == "task-error" and path not in TASK_STARTERS:
                continue
            if kind == "timeout" and method == "GET" and path != "/cluster/resources":
                continue  # reads are retried alike; one read stands for them
            fast = (kind == "500" and method != "GET") or (method, path, kind) in FAST
            marks = [] if fast else [pytest.mark.slow]
            yield pytest.param(method, path, guest, kind, id=f"{kind}-{method}-{path}", marks=marks)


def cli(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output
    assert TOKEN_SECRET not in result.output, result.output
    return result


def apply(repo: GitRepo) -> Result:
    return cli(
        "apply", "--repo", str(repo.path), "--push", "--lock-timeout", "10", "--output", "json"
    )


def remote_ref(repo: GitRepo, ref: str) -> str | None:
    out = repo.git("ls-remote", str(repo.remote), ref)
    return out.split()[0] if out else None


def remote_journals(repo: GitRepo) -> list[dict[str, Any]]:
    repo.git("fetch", "--quiet", "origin", "main")
    names = repo.git("ls-tree", "--name-only", "origin/main", ".proxgit/journal/").split()
    return [json.loads(repo.git("show", f"origin/main:{n}")) for n in sorted(names)]


def executed_writes(pve: Any) -> Counter[tuple[str, str]]:
    return Counter(
        (m, p.removeprefix("/api2/json"))
        for m, p, _ in pve.requests
        if m in ("POST", "PUT", "DELETE") and "/access/" not in p
    )


@pytest.fixture
def scenario(tmp_path: Any, pve: Any, fakepve_cafile: str) -> Iterator[tuple[GitRepo, Faults]]:
    """The first revision applied; the second merged, not applied yet."""
    repo = GitRepo(tmp_path)
    config = config_yaml(pve.url, fakepve_cafile).replace(
        "      allowWrites: true\n",
        f"      allowWrites: true\n      timeouts: {{read: {READ_TIMEOUT}}}\n",
    )
    repo.commit({"proxgit.yaml": config, **FIRST}, "Two guests")
    repo.git("push", "--quiet", "origin", "main")
    first = apply(repo)
    assert first.exit_code == 0, first.output
    repo.git("pull", "--quiet", "--rebase", "origin", "main")
    repo.commit(SECOND, "Update, migrate, create")
    repo.git("push", "--quiet", "origin", "main")
    pve.requests.clear()
    faults = Faults(pve, secret=TOKEN_SECRET, delay=READ_TIMEOUT + 1.0)
    yield repo, faults
    faults.restore()


def test_reference_run_sends_the_requests_the_matrix_covers(
    scenario: tuple[GitRepo, Faults], pve: Any
) -> None:
    repo, _faults = scenario
    result = apply(repo)
    assert result.exit_code == 0, result.output
    sent = {
        (m, re.sub(r"/tasks/[^/]+/status$", "/tasks/{upid}/status", p))
        for m, p, _ in pve.requests
        if "/access/" not in p
    }
    sent = {
        (m, re.sub(r"^/api2/json", "", p).replace("/nodes/pve2/tasks", "/nodes/pve1/tasks"))
        for m, p in sent
    }
    sent = {(m, TASK_STATUS if p.endswith("/tasks/{upid}/status") else p) for m, p in sent}
    assert sent == {(m, p) for m, p, _ in REQUESTS}
    assert all(n == 1 for n in executed_writes(pve).values()), executed_writes(pve)


@pytest.mark.parametrize(("method", "path", "guest", "kind"), list(_cases()))
def test_one_request_fails_once(
    scenario: tuple[GitRepo, Faults],
    pve: Any,
    method: str,
    path: str,
    guest: str | None,
    kind: str,
) -> None:
    repo, faults = scenario
    applied_before = remote_ref(repo, APPLIED)
    faults.once(kind, method, path)
    first = apply(repo)
    if kind == "timeout" and method != "GET":
        assert faults.done_late.wait(30), "the timed-out write never reached Proxmox"
    report = json.loads(first.stdout)
    states = {r["name"]: r["state"] for r in report["results"]}
    messages = {r["name"]: r.get("message") or "" for r in report["results"]}
    others = {"upd", "mig", "new", "ct"} - {guest}

    absorbed = method == "GET"  # reads are retried: a single failed read costs nothing
    if absorbed:
        assert first.exit_code == 0, first.output
        assert states == dict.fromkeys(["upd", "mig", "new", "ct"], "succeeded"), states
    else:
        assert first.exit_code == 1, first.output
        assert states[guest] == "failed", states
        assert all(states[g] == "succeeded" for g in others), states
        said = messages[guest]
        expected = {
            "500": "injected fault",
            "596": "injected fault",
            "reset": "connection",
            "timeout": "timed out",
            "task-error": "task",
        }[kind]
        assert expected in said.lower(), said
        assert TOKEN_SECRET not in said
        if kind in ("500", "596"):
            assert "*" in said  # the secret Proxmox quoted is masked, the rest kept
        if kind == "timeout" and method != "GET":
            assert "nothing written" not in said and "not counted as done" not in said, said

    # the journal on the remote says what the output said, and no more
    journals = remote_journals(repo)
    mine = [j for j in journals if j["revision"] == report["revision"]]
    assert len(mine) == 1, mine
    record = mine[0]
    assert {r["name"]: r["state"] for r in record["results"]} == states
    assert TOKEN_SECRET not in json.dumps(journals)
    for result in record["results"]:
        for task in result["tasks"]:
            ran = pve.tasks.get(task["upid"])
            assert ran is not None, task
            assert ran.get("exitstatus") == task["exitstatus"], (task, ran)
    # the lock is released; the applied ref moves only when every guest succeeded
    assert remote_ref(repo, LOCK) is None
    applied_after = remote_ref(repo, APPLIED)
    assert (applied_after == applied_before) is (not absorbed)

    # the second apply converges; no write Proxmox carried out is sent twice
    pve.failures.clear()
    second = apply(repo)
    assert second.exit_code == 0, second.output
    assert remote_ref(repo, LOCK) is None
    assert remote_ref(repo, APPLIED) == report["revision"]
    writes = executed_writes(pve)
    if kind in ("500", "596", "reset", "task-error") and method != "GET":
        writes[(method, path)] -= 1  # refused by Proxmox: not carried out
    assert all(n == 1 for n in writes.values()), writes
    assert pve.guest(110).status == "running" and pve.guest(130).status == "running"
    assert pve.guest(230).status == "running" and pve.guest(220).node == "pve2"
    assert str(pve.guest(110).config["cores"]) == "2"
    pve.requests.clear()
    third = apply(repo)
    assert third.exit_code == 0 and "already applied" in third.output, third.output
    assert executed_writes(pve) == Counter()
