"""A task's log is read only to explain a failure: an OK task costs its status polls alone."""

from __future__ import annotations

from typing import Any

from tests.planning.test_plan import client
from tests.support import GitRepo


def log_reads(pve: Any) -> list[str]:
    return [p for _, p, _ in pve.requests if p.endswith("/log")]


def test_an_ok_task_is_not_followed_by_a_log_read(repo: GitRepo, pve: Any) -> None:
    api = client(repo)
    upid = api.post("nodes/pve1/qemu", vmid=500, name="quick", memory=512)
    pve.requests.clear()
    result = api.wait_task("pve1", upid, timeout=30)
    assert result.ok and result.exitstatus == "OK" and result.log == []
    assert log_reads(pve) == []
    assert any(p.endswith("/status") for _, p, _ in pve.requests)


def test_a_failed_task_brings_its_last_log_lines(repo: GitRepo, pve: Any) -> None:
    api = client(repo)
    upid = api.post(
        "nodes/pve1/lxc",
        vmid=501,
        ostemplate="local:vztmpl/missing.tar.zst",
        hostname="ct",
        rootfs="local-lvm:4",
    )
    pve.requests.clear()
    result = api.wait_task("pve1", upid, timeout=30)
    assert not result.ok and "does not exist" in result.exitstatus
    assert len(log_reads(pve)) == 1
    assert any("TASK ERROR" in line for line in result.log)
