"""Seeded SIGKILL trials: an apply of 40 guests (fresh VMs, clones, containers) killed at a
random point, or between its journal push and its applied-ref move, then run again on
another host. Every trial must converge: each guest exactly once, a clean plan, the
applied ref on the revision, and every journal on the remote complete."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from tests.applying.procs import (
    remote_journals,
    remote_ref,
    run,
    setup_repo,
    slow_remote,
    start,
    wait_for,
)
from tests.applying.pveproc import PveProcess
from tests.support import DEBIAN_TEMPLATE, GitRepo, ct_path, ct_yaml, vm_path, vm_yaml

GUESTS = 40
LEASE = "3"


def _files(trial: int, first: int) -> dict[str, str]:
    files: dict[str, str] = {}
    for i in range(GUESTS):
        vmid, name, node = first + i, f"t{trial}-g{i}", "pve1" if i % 2 else "pve2"
        if i % 5 == 3:
            files[ct_path(name)] = ct_yaml(
                name,
                vmid,
                node=node,
                extra=f"ostemplate: {DEBIAN_TEMPLATE}\ncores: 1\nmemory: 256\n"
                "rootfs: {storage: local-lvm, size: 4G}\n",
            )
        elif i % 5 == 4:
            files[vm_path(name)] = vm_yaml(
                name,
                vmid,
                node="pve1",
                extra="clone: {name: ubuntu-2404-tpl}\ncores: 1\nmemory: 256\n"
                "disks:\n  scsi0: {storage: local-lvm, size: 8G}\n",
            )
        else:
            files[vm_path(name)] = vm_yaml(
                name, vmid, node=node, extra="cores: 1\nmemory: 256\ntags: [kill]\n"
            )
    return files


def kill_trials(tmp: Path, seed: int, trials: int) -> dict[str, int]:
    rng = random.Random(seed)
    pve = PveProcess(tmp, time_scale=0.01)
    counts = Counter[str]()
    try:
        for trial in range(trials):
            first = 3000 + seed % 7 * 1000 + trial * 50
            repo = setup_repo(tmp / f"trial-{trial}", pve, _files(trial, first))
            revision = repo.git("rev-parse", "HEAD")
            slow_remote(repo, 0.15)
            main_before = remote_ref(repo, "refs/heads/main")
            between = trial % 4 == 3
            before = pve.request_total()
            # a created guest costs about 4 requests (create, wait, start, wait): a kill
            # point past the apply's last request would test nothing
            kill_after = rng.randint(1, GUESTS * 4)
            process = start(repo.path, "apply", "--push", "--lock-lease", LEASE, host="host-a")

            def pushed_not_moved(repo: GitRepo = repo, tip: str | None = main_before) -> bool:
                return (
                    remote_ref(repo, "refs/heads/main") != tip
                    and remote_ref(repo, "refs/proxgit/applied/lab") is None
                )

            def reached(before: int = before, kill_after: int = kill_after) -> bool:
                return pve.request_total() - before >= kill_after

            point = pushed_not_moved if between else reached
            wait_for(
                lambda point=point, process=process: point() or process.poll() is not None,
                timeout=120,
            )
            if process.poll() is None:
                process.kill()
                counts["between-push-and-ref" if between else "mid-run"] += 1
            else:
                counts["finished-before-kill"] += 1
            process.wait()
            again = run(
                repo.path,
                "apply",
                "--push",
                "--lock-lease",
                LEASE,
                "--lock-timeout",
                "60",
                "--output",
                "json",
                host="host-b",
            )
            assert again.code == 0, f"trial {trial}: {again}"
            vmids = Counter(
                g["vmid"] for g in pve.call("guests") if first <= g["vmid"] < first + GUESTS
            )
            assert set(vmids) == set(range(first, first + GUESTS)), f"trial {trial}"
            assert max(vmids.values()) == 1, f"trial {trial}: a duplicate guest"
            plan = run(repo.path, "plan", "--output", "json")
            mine = [c for c in plan.json["changes"] if first <= c["vmid"] < first + GUESTS]
            assert all(c["action"] == "noop" for c in mine), f"trial {trial}: {plan.out[:2000]}"
            assert remote_ref(repo, "refs/proxgit/applied/lab") == revision, f"trial {trial}"
            # the re-run released its lease; a killed holder's lease may be left to expire
            # when the re-run found the revision already applied and needed no lock
            lock = remote_ref(repo, "refs/proxgit/locks/lab")
            if lock is not None:
                git = ["--git-dir", str(repo.remote)]
                owner = GitRepo.git_in(repo.path.parent, *git, "log", "-1", "--format=%B", lock)
                assert '"owner": "host-a:' in owner, f"trial {trial}: {owner}"
            journals = remote_journals(repo)
            assert journals, f"trial {trial}: no journal"
            for journal in journals:
                assert journal["finished_at"] and journal["revision"] == revision
                assert journal["state"] in ("succeeded", "partial", "failed", "noop")
            assert journals[-1]["state"] in ("succeeded", "noop") or any(
                j["state"] == "succeeded" for j in journals
            )
    finally:
        pve.stop()
    return dict(counts)
