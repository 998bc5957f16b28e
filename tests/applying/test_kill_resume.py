"""An apply killed at a random point, then run again, always converges.

Each trial applies 50 new guests in a separate ``proxgit apply`` process,
kills it (SIGKILL) after a seeded random number of Proxmox requests, and runs
apply again. After
the second run every guest exists exactly once, the plan is clean, and the
journal of the run that finished is complete.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from proxgit.cli import main
from tests.support import TOKEN_ENV, TOKEN_SECRET, GitRepo, config_yaml, vm_path, vm_yaml

TRIALS = 20
GUESTS = 50


@pytest.mark.slow
def test_kill_at_random_points_then_rerun_converges(
    pve: Any, fakepve_cafile: str, tmp_path: Path
) -> None:
    rng = random.Random(20261122)
    env = {**os.environ, TOKEN_ENV: TOKEN_SECRET}
    killed_mid_run = 0
    for trial in range(TRIALS):
        (tmp_path / f"trial-{trial}").mkdir()
        repo = GitRepo(tmp_path / f"trial-{trial}")
        first = 2000 + trial * 100
        files = {"proxgit.yaml": config_yaml(pve.url, fakepve_cafile)}
        files.update(
            {
                vm_path(f"t{trial}-vm{i}"): vm_yaml(
                    f"t{trial}-vm{i}",
                    first + i,
                    node="pve1" if i % 2 else "pve2",
                    extra="cores: 1\nmemory: 512\ntags: [kill-test]\n",
                )
                for i in range(GUESTS)
            }
        )
        repo.commit(files, f"Trial {trial}: {GUESTS} guests")
        repo.git("push", "--quiet", "origin", "main")
        process = subprocess.Popen(
            [sys.executable, "-m", "proxgit", "apply", "--repo", str(repo.path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # kill after a random number of Proxmox requests: a random point of the run
        before = len(pve.requests)
        kill_after = rng.randint(1, GUESTS * 5)
        deadline = time.monotonic() + 60
        while (
            process.poll() is None
            and len(pve.requests) - before < kill_after
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        if process.poll() is None:
            killed_mid_run += 1
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

        result = CliRunner().invoke(
            main, ["apply", "--repo", str(repo.path), "--lock-timeout", "30", "--output", "json"]
        )
        assert result.exit_code == 0, f"trial {trial}: {result.output}"
        vmids = Counter(vm.vmid for vm in pve.vms if first <= vm.vmid < first + GUESTS)
        assert set(vmids) == set(range(first, first + GUESTS)), f"trial {trial}"
        assert max(vmids.values()) == 1
        assert all(pve.guest(v).status == "running" for v in vmids)
        plan = CliRunner().invoke(main, ["plan", "--repo", str(repo.path), "--output", "json"])
        mine = [
            c for c in json.loads(plan.stdout)["changes"] if first <= c["vmid"] < first + GUESTS
        ]
        assert all(c["action"] == "noop" for c in mine), f"trial {trial}"
        journals = sorted((repo.path / ".proxgit" / "journal").glob("*.json"))
        record = json.loads(journals[-1].read_text())
        assert record["finished_at"] and record["state"] in ("succeeded", "noop")
        done = {r["vmid"] for r in record["results"]}
        assert done <= set(range(first, first + GUESTS))
    assert killed_mid_run >= TRIALS // 2, "the delays must interrupt most runs"
