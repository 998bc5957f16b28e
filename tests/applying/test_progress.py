"""Progress while apply, execute, import and reflect work: on a terminal (a pty) and in CI.

The terminal case runs the real ``proxgit`` executable on a pseudo-terminal
against fakepve slowed down so the work takes seconds; the CI case runs the
CLI with plain pipes.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from proxgit.watching.logs import log_writer
from tests.support import BOB, TOKEN_ENV, TOKEN_SECRET, GitRepo, vm_path, vm_yaml

SMALL = "cores: 1\nmemory: 512\n"
PROXGIT = str(Path(sys.executable).parent / "proxgit")
LINE = re.compile(r"^\[\s*\d+\.\d+s\] ")


def merge(repo: GitRepo, files: dict[str, str | None]) -> None:
    repo.git("push", "--quiet", "origin", "main")
    repo.commit(files, "change", author=BOB)
    repo.git("push", "--quiet", "origin", "main")


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def two_guests(repo: GitRepo) -> None:
    merge(
        repo,
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=SMALL),
            vm_path("web-02"): vm_yaml("web-02", 102, extra=SMALL),
        },
    )


def test_without_a_terminal_one_line_per_guest_state_change(repo: GitRepo, pve: Any) -> None:
    two_guests(repo)
    result = run("apply", "--repo", str(repo.path))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if LINE.match(line)]
    states = [LINE.sub("", line) for line in lines]
    for name, vmid in (("web-01", 101), ("web-02", 102)):
        mine = [s for s in states if s.startswith(f"lab/{name} (vmid {vmid}): ")]
        assert mine[0] == f"lab/{name} (vmid {vmid}): running: create", mine
        assert mine[-1] == f"lab/{name} (vmid {vmid}): succeeded", mine
        assert any(": task: " in s for s in mine), mine  # each Proxmox task it waited for
    seconds = [float(line[1:].split("s]")[0]) for line in lines]
    assert seconds == sorted(seconds)
    assert "\x1b" not in result.stderr  # no terminal: no colour, no status line
    # the summary on stdout stays as it was
    assert result.stdout.strip().splitlines()[-1].endswith(": succeeded")


def test_verbose_adds_each_proxmox_call_and_quiet_only_the_summary(repo: GitRepo, pve: Any) -> None:
    two_guests(repo)
    verbose = run("apply", "--repo", str(repo.path), "-v", "--output", "json")
    assert verbose.exit_code == 0, verbose.output
    assert re.search(r"GET lab /cluster/resources: ok in \d+ ms", verbose.stderr)
    assert re.search(r"POST lab /nodes/pve1/qemu: ok in \d+ ms", verbose.stderr)
    assert re.search(r"apply lab: done in \d+\.\ds", verbose.stderr)
    json.loads(verbose.stdout)  # -v never mixes into the JSON on stdout

    merge(repo, {vm_path("web-03"): vm_yaml("web-03", 103, extra=SMALL)})
    quiet = run("apply", "--repo", str(repo.path), "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert re.fullmatch(r"apply [0-9a-f]{12}: succeeded\n", quiet.stdout), quiet.stdout


def test_reflect_import_and_execute_report_progress_too(repo: GitRepo, pve: Any) -> None:
    pve.add_vm(150, "hand-made", node="pve1", config={"memory": 512, "cores": 1})
    reflected = run("reflect", "--repo", str(repo.path), "--no-commit")
    assert reflected.exit_code == 0, reflected.output
    assert re.search(r"^\[\s*\d+\.\ds\] lab/hand-made \(vmid 150\): read$", reflected.stderr, re.M)
    imported = run("import", "--repo", str(repo.path), "--cluster", "lab", "--vmid", "150")
    assert imported.exit_code == 0, imported.output
    assert re.search(
        r"lab/hand-made \(vmid 150\): imported: clusters/lab/vms/hand-made.yaml", imported.stderr
    )
    quiet = run("reflect", "--repo", str(repo.path), "--no-commit", "-q")
    assert quiet.stderr == "" and quiet.stdout == "reflect: 1/1 cluster(s) read\n"


def read_pty(fd: int, process: subprocess.Popen[bytes], limit: float = 60.0) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def apply_on_a_pty(repo: GitRepo, **env: str) -> tuple[int, str]:
    main_fd, other_fd = pty.openpty()
    process = subprocess.Popen(
        [PROXGIT, "apply", "--repo", str(repo.path)],
        stdin=other_fd,
        stdout=other_fd,
        stderr=other_fd,
        env={**os.environ, TOKEN_ENV: TOKEN_SECRET, "COLUMNS": "160", **env},
    )
    os.close(other_fd)
    try:
        text = read_pty(main_fd, process)
        return process.wait(timeout=30), text
    finally:
        os.close(main_fd)


def test_on_a_terminal_a_live_status_line_with_elapsed_task_time(
    repo: GitRepo, pve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pve.time_scale = 1.0
    pve.slow_network(0.15)  # each request takes 150 ms: the apply takes seconds
    two_guests(repo)
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, text = apply_on_a_pty(repo)
    assert code == 0, text
    # the status line is redrawn in place: done/total and what runs for how long
    assert "\r\x1b[K" in text
    assert re.search(r"[0-2]/2 done; web-0[12] \w+ \d+\.\ds", text), text
    assert "2/2 done" in text
    assert "\x1b[32msucceeded\x1b[0m" in text  # coloured on a terminal

    merge(repo, {vm_path("web-03"): vm_yaml("web-03", 103, extra=SMALL)})
    code, text = apply_on_a_pty(repo, NO_COLOR="1")
    assert code == 0, text
    assert "succeeded" in text and "\x1b[32m" not in text  # NO_COLOR: no colour


def test_watch_logs_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "log"
    with out.open("w") as stream:
        info, error = log_writer("json", stream)
        info("watch: applied 1234567890ab: succeeded")
        error("watch: step apply: cluster 'lab': unreachable")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["level"], r["message"]) for r in records] == [
        ("info", "watch: applied 1234567890ab: succeeded"),
        ("error", "watch: step apply: cluster 'lab': unreachable"),
    ]
    assert all(r["logger"] == "proxgit.watch" and r["time"].endswith("+00:00") for r in records)


def test_watch_command_logs_json_lines(repo: GitRepo, pve: Any, tmp_path: Path) -> None:
    merge(repo, {vm_path("web-01"): vm_yaml("web-01", 101, extra=SMALL)})
    result = run(
        "watch",
        "--workdir",
        str(tmp_path / "pod"),
        "--url",
        str(repo.remote),
        "--listen",
        "off",
        "--max-iterations",
        "1",
        "--no-push",
        "--log-format",
        "json",
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and all(set(r) == {"time", "level", "logger", "message"} for r in records)
    assert any(r["message"].startswith("watch: applied") for r in records), records
