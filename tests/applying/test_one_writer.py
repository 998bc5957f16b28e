"""One writer, in order, under signals and bad answers (issue 12), through the CLI.

fakepve runs in its own process (task durations on where it matters) and the
bare remote's pushes are slowed by a pre-receive hook, so the windows between
the writes, the journal push and the applied-ref move are wide.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.applying.procs import (
    clone,
    effective,
    remote_journals,
    remote_ref,
    run,
    setup_repo,
    slow_remote,
    start,
    wait_for,
)
from tests.applying.pveproc import PveProcess
from tests.support import vm_path, vm_yaml

LOCK = "refs/proxgit/locks/lab"
APPLIED = "refs/proxgit/applied/lab"


@pytest.fixture
def pve(tmp_path: Path) -> Iterator[PveProcess]:
    process = PveProcess(tmp_path, time_scale=0.002)
    yield process
    process.stop()


def small(name: str, vmid: int, cores: int = 1, node: str = "pve1") -> str:
    return vm_yaml(name, vmid, node=node, extra=f"cores: {cores}\nmemory: 512\npower: stopped\n")


def guests(count: int, first: int, prefix: str = "g") -> dict[str, str]:
    return {
        vm_path(f"{prefix}{i}"): vm_yaml(
            f"{prefix}{i}",
            first + i,
            node="pve1" if i % 2 else "pve2",
            extra="cores: 1\nmemory: 512\n",
        )
        for i in range(count)
    }


# --- the ordering race --------------------------------------------------------------


def _race(tmp: Path, pve: PveProcess, vmid: int, newer_first: bool) -> None:
    repo = setup_repo(tmp, pve, {vm_path("web"): small("web", vmid, cores=2)})
    r1 = repo.git("rev-parse", "HEAD")
    r2 = repo.commit({vm_path("web"): small("web", vmid, cores=4)}, "More cores")
    repo.git("push", "--quiet", "origin", "main")
    slow_remote(repo, 0.3)
    other = clone(repo, tmp / "other")
    first, second = (r2, r1) if newer_first else (r1, r2)
    a = start(repo.path, "apply", "--revision", first, "--push", "--lock-timeout", "60")
    assert wait_for(lambda: remote_ref(repo, LOCK) is not None)
    b = start(other, "apply", "--revision", second, "--push", "--lock-timeout", "60", host="b")
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert "Traceback" not in err_a + err_b
    if newer_first:
        assert a.returncode == 0, err_a
        assert b.returncode == 3, out_b + err_b
        assert "refused by gate last-applied" in err_b
    else:
        assert (a.returncode, b.returncode) == (0, 0), out_a + err_a + out_b + err_b
    assert effective(pve.guest(vmid))["cores"] == "4"
    assert remote_ref(repo, APPLIED) == r2
    assert remote_ref(repo, LOCK) is None


@pytest.mark.slow
@pytest.mark.parametrize("newer_first", [True, False], ids=["newer-first", "older-first"])
def test_ordering_race_never_applies_an_older_revision_over_a_newer(
    tmp_path: Path, pve: PveProcess, newer_first: bool
) -> None:
    for repeat in range(10):
        _race(tmp_path / f"r{repeat}", pve, 300 + repeat, newer_first)


# --- signals and crashes ------------------------------------------------------------


def test_sigterm_journals_releases_the_lock_and_exits_143(tmp_path: Path) -> None:
    pve = PveProcess(tmp_path, time_scale=0.05)
    try:
        repo = setup_repo(tmp_path / "r", pve, guests(12, 400))
        slow_remote(repo, 0.2)
        before = pve.request_total()
        process = start(repo.path, "apply", "--push")
        assert wait_for(lambda: pve.request_total() - before > 12)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 143, out + err
        assert "SIGTERM received" in err and "Traceback" not in err
        assert "(interrupted)" in out
        assert remote_ref(repo, LOCK) is None  # released, not left for its lease
        journals = remote_journals(repo)
        assert len(journals) == 1 and journals[0]["interrupted"] is True
        assert remote_ref(repo, APPLIED) is None
        # the re-run on another host does not wait for any lease
        began = time.monotonic()
        other = clone(repo, tmp_path / "other")
        again = run(other, "apply", "--push", "--lock-timeout", "5", host="host-b")
        assert again.code == 0, again
        assert time.monotonic() - began < 30
        vmids = [g["vmid"] for g in pve.call("guests") if 400 <= g["vmid"] < 412]
        assert sorted(vmids) == list(range(400, 412))
    finally:
        pve.stop()


def test_sigkill_frees_the_cluster_for_another_host_within_the_lease(tmp_path: Path) -> None:
    pve = PveProcess(tmp_path, time_scale=0.05)
    try:
        repo = setup_repo(tmp_path / "r", pve, guests(8, 500))
        before = pve.request_total()
        process = start(repo.path, "apply", "--push", "--lock-lease", "4")
        assert wait_for(lambda: pve.request_total() - before > 6)
        process.kill()
        process.wait()
        assert remote_ref(repo, LOCK) is not None  # the dead holder's lease is left
        other = clone(repo, tmp_path / "other")
        began = time.monotonic()
        again = run(other, "apply", "--push", "--lock-lease", "4", "--lock-timeout", "60", host="b")
        waited = time.monotonic() - began
        assert again.code == 0, again
        assert waited < 20, waited  # the lease (4 s), not a 30-minute TTL
        vmids = [g["vmid"] for g in pve.call("guests") if 500 <= g["vmid"] < 508]
        assert sorted(vmids) == list(range(500, 508))
        assert remote_ref(repo, LOCK) is None
    finally:
        pve.stop()


def test_same_second_runs_keep_both_journals(tmp_path: Path, pve: PveProcess) -> None:
    lab2 = {
        vm_path("a"): small("a", 601),
        "clusters/lab2/vms/b.yaml": vm_yaml(
            "b", 602, cluster="lab2", extra="cores: 1\nmemory: 512\npower: stopped\n"
        ),
    }
    repo = setup_repo(tmp_path / "r", pve, lab2)
    config = (repo.path / "proxgit.yaml").read_text()
    block = config[config.index("    lab:\n") : config.index("  apply:")]
    config = config.replace("  apply:", block.replace("    lab:", "    lab2:") + "  apply:", 1)
    repo.commit({"proxgit.yaml": config}, "Second cluster")
    repo.git("push", "--quiet", "origin", "main")
    slow_remote(repo, 0.3)
    other = clone(repo, tmp_path / "other")
    a = start(repo.path, "apply", "--push", "--cluster", "lab")
    b = start(other, "apply", "--push", "--cluster", "lab2", host="b")
    results = [p.communicate(timeout=120) for p in (a, b)]
    assert (a.returncode, b.returncode) == (0, 0), results
    journals = remote_journals(repo)
    assert sorted(j["clusters"][0]["cluster"] for j in journals) == ["lab", "lab2"]


# --- answers that are not what Proxmox promises ----------------------------------------


def test_a_non_upid_task_answer_is_an_error(tmp_path: Path, pve: PveProcess) -> None:
    repo = setup_repo(
        tmp_path / "r", pve, {vm_path("web"): vm_yaml("web", 701, extra="memory: 512\n")}
    )
    pve.call("answer", method="POST", suffix="/qemu/701/status/start", data=None)
    result = run(repo.path, "apply")
    assert result.code == 1, result
    assert "where a task id (UPID) was expected" in result.out
    assert pve.guest(701)["status"] == "stopped"
    assert remote_ref(repo, APPLIED) is None


def test_a_non_json_answer_is_an_error_and_nothing_is_written(
    tmp_path: Path, pve: PveProcess
) -> None:
    repo = setup_repo(tmp_path / "r", pve, {vm_path("web"): small("web", 702)})
    assert run(repo.path, "apply").code == 0
    repo.commit({vm_path("web"): small("web", 702, cores=2)}, "Two cores")
    repo.git("push", "--quiet", "origin", "main")
    pve.call("answer", method="GET", suffix="/qemu/702/config", raw="<html>502 Bad Gateway</html>")
    since = pve.request_total()
    result = run(repo.path, "apply")
    assert result.code == 1, result
    assert "GET /nodes/pve1/qemu/702/config: the answer is not JSON: <html>502" in result.out
    assert not [r for r in pve.requests(since) if r[0] == "PUT"]
    assert effective(pve.guest(702))["cores"] == "1"


def test_a_null_task_status_is_an_error(tmp_path: Path, pve: PveProcess) -> None:
    repo = setup_repo(tmp_path / "r", pve, {vm_path("web"): small("web", 703)})
    pve.call("answer", method="GET", suffix="/status", data=None, times=50)
    result = run(repo.path, "apply")
    assert result.code == 1, result
    assert "expected a JSON object, got null" in result.out


def test_a_wrong_typed_config_value_fails_that_guest_alone(tmp_path: Path, pve: PveProcess) -> None:
    files = {vm_path("a"): small("a", 711), vm_path("b"): small("b", 712)}
    repo = setup_repo(tmp_path / "r", pve, files)
    assert run(repo.path, "apply").code == 0
    assert run(repo.path, "reflect").code == 0
    snap_a = (repo.path / "snapshot/lab/guests/711-a.yaml").read_bytes()
    repo.commit(
        {vm_path("a"): small("a", 711, cores=2), vm_path("b"): small("b", 712, cores=2)}, "More"
    )
    repo.git("push", "--quiet", "origin", "main")
    pve.call("set_config", vmid=711, key="balloon", value="lots")
    since = pve.request_total()
    result = run(repo.path, "apply")
    assert result.code == 1, result
    assert "internal error" not in result.out + result.err
    assert "malformed" in result.out and "lab/a (vmid 711)" in result.out
    puts = [p for m, p in pve.requests(since) if m == "PUT"]
    assert not [p for p in puts if "/711/" in p]
    assert effective(pve.guest(712))["cores"] == "2"
    reflected = run(repo.path, "reflect")
    assert reflected.code == 1, reflected
    assert "vmid 711" in reflected.err and "previous snapshot kept" in reflected.err
    assert (repo.path / "snapshot/lab/guests/711-a.yaml").read_bytes() == snap_a
    assert "cores: 2" in (repo.path / "snapshot/lab/guests/712-b.yaml").read_text()


@pytest.mark.parametrize("answer", [[], None, {"data": "x"}])
def test_reflect_never_removes_files_because_a_listing_failed(
    tmp_path: Path, pve: PveProcess, answer: object
) -> None:
    repo = setup_repo(tmp_path / "r", pve, {vm_path("a"): small("a", 721)})
    assert run(repo.path, "apply").code == 0
    assert run(repo.path, "reflect").code == 0
    head = repo.git("rev-parse", "HEAD")
    files = sorted(p for p in (repo.path / "snapshot").rglob("*") if p.is_file())
    pve.call("answer", method="GET", suffix="/cluster/resources", data=answer)
    result = run(repo.path, "reflect")
    assert result.code == 1, result
    assert "removed" not in result.out and "snapshot kept" in result.out
    assert sorted(p for p in (repo.path / "snapshot").rglob("*") if p.is_file()) == files
    assert repo.git("rev-parse", "HEAD") == head


# --- guest locks ------------------------------------------------------------------------


def test_a_guest_locked_by_a_running_clone_is_waited_for(tmp_path: Path, pve: PveProcess) -> None:
    pve.call(
        "add_vm",
        vmid=731,
        name="copy",
        node="pve1",
        lock="clone",
        config={"memory": 512, "cores": 1, "name": "copy"},
    )
    repo = setup_repo(tmp_path / "r", pve, {vm_path("copy"): small("copy", 731, cores=2)})
    process = start(repo.path, "apply")
    # Clear the lock only once apply says it waits for it: a fixed sleep
    # would race a slow start on a loaded machine.
    assert process.stderr is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(process.stderr.readline, "")))
    reader.start()
    assert wait_for(lambda: any("waiting for the guest's lock (clone)" in x for x in seen), 120), (
        "".join(seen)
    )
    assert process.poll() is None  # still waiting
    pve.call("lock", vmid=731, lock=None)
    assert process.stdout is not None
    out = process.stdout.read()
    process.wait(timeout=120)
    reader.join(timeout=10)
    err = "".join(seen)
    assert process.returncode == 0, out + err
    assert "waiting for the guest's lock (clone) to clear" in err
    assert effective(pve.guest(731))["cores"] == "2"


def test_a_guest_lock_that_never_clears_is_refused_by_name(tmp_path: Path, pve: PveProcess) -> None:
    pve.call("add_vm", vmid=732, name="busy", node="pve1", lock="backup", config={"memory": 512})
    repo = setup_repo(
        tmp_path / "r",
        pve,
        {vm_path("busy"): small("busy", 732, cores=2)},
        cluster_extra="      timeouts: {lock: 1}\n",
    )
    result = run(repo.path, "apply")
    assert result.code == 1, result
    assert "locked (backup)" in result.out and "timeouts.lock" in result.out
