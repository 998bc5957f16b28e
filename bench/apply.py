"""``proxgit apply`` of 200 new VMs against a cluster with 20 ms of latency per request.

fakepve runs in its own process (``bench/fakepve_server.py``) with ``slow_network``
20 ms; the desired repository is a real Git repository. Prints wall time and
API requests per guest (create, its task status, start, its task status, plus
the re-plan's one listing; a task's log is read only when it failed). Target:
at most 4 requests per created guest. Last line:
``creates=200 seconds=<s> requests_per_guest=<x>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan import SECRET, Fake

VM = """\
apiVersion: proxgit/v1
kind: VirtualMachine
metadata: {{name: new-{i:04d}, cluster: bench}}
spec:
  vmid: {vmid}
  node: pve{node}
  cores: 2
  memory: 2048
  tags: [bench]
  disks:
    scsi0: {{storage: local-lvm, size: 16G}}
  networks:
    net0: {{bridge: vmbr0, tag: 20}}
"""


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=200)
    args = parser.parse_args()
    os.environ["PROXGIT_BENCH_TOKEN"] = SECRET
    fake = Fake(0, 20)
    try:
        with tempfile.TemporaryDirectory(prefix="proxgit-bench-apply-") as tmp:
            root = Path(tmp)
            (root / "proxgit.yaml").write_text(
                "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    bench:\n"
                f"      url: {fake.url}\n      tokenId: 'proxgit@pve!bench'\n"
                "      tokenSecretFrom: {env: PROXGIT_BENCH_TOKEN}\n"
                f"      caFile: {fake.cafile}\n      allowWrites: true\n"
                "  apply: {enabled: true, confirm: allow-edit-and-add-actions}\n"
            )
            folder = root / "clusters" / "bench" / "vms"
            folder.mkdir(parents=True)
            for i in range(args.creates):
                (folder / f"new-{i:04d}.yaml").write_text(
                    VM.format(i=i, vmid=5000 + i, node=i % 3 + 1)
                )
            git(root, "init", "--quiet", "--initial-branch=main")
            git(root, "add", "-A")
            git(root, "commit", "--quiet", "-m", "200 new VMs")
            from proxgit.applying.run import ApplyOptions, apply_revision

            fake.ask("reset")
            start = time.perf_counter()
            run = apply_revision(root, ApplyOptions())
            seconds = time.perf_counter() - start
            requests = sum(fake.ask("count").values())
            states = {r.state.value for r in run.results}
            assert run.state.value == "succeeded", (run.state, states)
            assert len(run.results) == args.creates
    finally:
        fake.close()
    per_guest = requests / args.creates
    print(
        f"{args.creates} creates in {seconds:.2f} s ({seconds / args.creates * 1000:.0f} ms "
        f"per guest at concurrency 8), {requests} requests, {per_guest:.2f} per guest"
    )
    print(f"creates={args.creates} seconds={seconds:.2f} requests_per_guest={per_guest:.2f}")


if __name__ == "__main__":
    main()
