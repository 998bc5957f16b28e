"""``proxgit plan`` cost against a cluster with 20 ms of latency per request.

For N managed guests (default 100, 1,000 and 5,000) on fakepve (its own
process, ``slow_network`` 20 ms), it prints the plan's wall time, the API
requests per managed guest (from fakepve's request log) and peak memory; at
N = 100 and 1,000 also a baseline that reads each guest the way the Terraform
bpg provider does: cluster/resources, then config and status/current per
guest, one guest at a time. Targets: <= 1.1 requests per guest, >= 15x faster
than the baseline at 1,000. ``--concurrency`` sets the cluster's pool size
(proxgit's default is 8; the run in docs/performance.md shows both).

The pull-request case, in the same run and against the same fakepve: the
repository is committed as the base, one guest's document (and then 50) is
changed in a head commit, and ``plan --base --head`` is timed next to the full
plan (the median of three runs: a second-long run is easily moved by other
load on the machine). Targets at 5,000: at most 3 requests for the one-guest change, at least
20x faster than the full plan. Last line:
``requests_per_guest=<x> speedup_1000=<y> seconds_5000=<s> peak_mb_5000=<m>
pr_requests_5000=<n> pr_speedup_5000=<x>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET = "0b7f4c1e-2a9d-4e6b-8c35-71f0d2a9e6b4"
PR_RUNS = 3  # a PR plan takes about a second: the median of three runs, against noise

VM = """\
apiVersion: proxgit/v1
kind: VirtualMachine
metadata: {{name: vm-{i:05d}, cluster: bench}}
spec:
  vmid: {vmid}
  node: pve{node}
  cores: 2
  sockets: 1
  memory: 4096
  tags: [bench, team-{team}]
  onboot: true
  disks:
    scsi0: {{storage: local-lvm, size: 32G, ssd: true, discard: true}}
  networks:
    net0: {{bridge: vmbr0, tag: {vlan}}}
  cloudInit:
    user: ubuntu
    ipconfig0: ip=10.{a}.{b}.10/16
"""


class Fake:
    def __init__(self, count: int, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fakepve_server.py"), str(count), str(latency_ms), SECRET],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url, self.cafile = self.proc.stdout.readline().split()

    def ask(self, command: str) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(30)


def write_repo(root: Path, fake: Fake, count: int, concurrency: int = 8) -> None:
    (root / "proxgit.yaml").write_text(
        "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    bench:\n"
        f"      url: {fake.url}\n      tokenId: 'proxgit@pve!bench'\n"
        "      tokenSecretFrom: {env: PROXGIT_BENCH_TOKEN}\n"
        f"      caFile: {fake.cafile}\n      concurrency: {concurrency}\n"
    )
    folder = root / "clusters" / "bench" / "vms"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"vm-{i:05d}.yaml").write_text(
            VM.format(
                i=i,
                vmid=1000 + i,
                node=i % 3 + 1,
                team=i % 7,
                vlan=i % 4000 + 1,
                a=i // 250 % 250,
                b=i % 250,
            )
        )


def measure_plan(count: int, concurrency: int) -> dict[str, float]:
    from proxgit.planning.run import run_plan

    fake = Fake(count, 20)
    try:
        with tempfile.TemporaryDirectory(prefix="proxgit-bench-plan-") as tmp:
            root = Path(tmp)
            write_repo(root, fake, count, concurrency)
            fake.ask("reset")
            start = time.perf_counter()
            result = run_plan(root)
            seconds = time.perf_counter() - start
            requests = sum(fake.ask("count").values())
            plan = result.plan
            assert plan.blocker_count == 0, [b.message for b in plan.blockers]
            assert plan.summary.noop == count, plan.summary
            baseline = measure_baseline(root) if count <= 1000 else None
            if baseline is not None:
                baseline["requests"] = sum(fake.ask("count").values()) - requests
            del result, plan  # the pull request's plan starts without the full plan's heap
            gc.collect()
            pr = {n: measure_pr(root, fake, n) for n in (1, 50) if n < count}
    finally:
        fake.close()
    out = {
        "n": count,
        "seconds": seconds,
        "requests_per_guest": requests / count,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if baseline is not None:
        out["baseline_seconds"] = baseline["seconds"]
        out["baseline_requests_per_guest"] = baseline["requests"] / count
    for n, (pr_seconds, pr_requests) in pr.items():
        out[f"pr{n}_seconds"] = pr_seconds
        out[f"pr{n}_requests"] = pr_requests
    return out


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def measure_pr(root: Path, fake: Fake, changed: int) -> tuple[float, int]:
    """``plan --base --head`` of a commit changing ``changed`` guests' cores, timed."""
    from proxgit.planning.run import run_plan

    if not (root / ".git").exists():
        git(root, "init", "--quiet", "--initial-branch=main")
        git(root, "add", "-A")
        git(root, "commit", "--quiet", "-m", "base")
        git(root, "gc", "--quiet")  # objects packed, as in a CI job's clone
    base = git(root, "rev-parse", "HEAD")
    folder = root / "clusters" / "bench" / "vms"
    for i in range(changed):
        path = folder / f"vm-{i:05d}.yaml"
        path.write_text(path.read_text().replace("cores: 2", "cores: 4"))
    git(root, "commit", "--quiet", "-am", f"change {changed}")
    head = git(root, "rev-parse", "HEAD")
    times: list[float] = []
    counts: set[int] = set()
    for _ in range(PR_RUNS):
        fake.ask("reset")
        start = time.perf_counter()
        result = run_plan(root, base=base, head=head)
        times.append(time.perf_counter() - start)
        counts.add(sum(fake.ask("count").values()))
        assert result.plan.blocker_count == 0, [b.message for b in result.plan.blockers]
        assert result.plan.summary.update == changed, result.plan.summary
        del result
        gc.collect()
    assert len(counts) == 1, counts  # every run reads the same
    git(root, "reset", "--quiet", "--hard", base)
    return statistics.median(times), counts.pop()


def measure_baseline(root: Path) -> dict[str, float]:
    """Per guest config + status/current, serially, as the Terraform bpg provider reads."""
    from proxgit.loading import load_directory
    from proxgit.proxmox.client import ProxmoxClient

    state = load_directory(root)
    client = ProxmoxClient("bench", state.config.spec.clusters["bench"], secret=SECRET)
    start = time.perf_counter()
    resources = client.get("cluster/resources", type="vm")
    for item in resources:
        path = f"nodes/{item['node']}/qemu/{item['vmid']}"
        client.get(f"{path}/config")
        client.get(f"{path}/status/current")
    return {"seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="the cluster's concurrency setting (proxgit's default is 8)",
    )
    args = parser.parse_args()
    print(f"concurrency: {args.concurrency} requests in flight per cluster", flush=True)
    os.environ["PROXGIT_BENCH_TOKEN"] = SECRET
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        # each size in a fresh process, so peak memory is that size's own
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), str(args.concurrency)],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        ).stdout
        results[size] = json.loads(out.strip().splitlines()[-1])
        r = results[size]
        line = (
            f"N={size}: plan {r['seconds']:.2f} s, {r['requests_per_guest']:.3f} "
            f"requests/guest, peak {r['peak_mb']:.0f} MB"
        )
        if "baseline_seconds" in r:
            line += (
                f"; baseline {r['baseline_seconds']:.2f} s, "
                f"{r['baseline_requests_per_guest']:.2f} requests/guest, "
                f"speedup {r['baseline_seconds'] / r['seconds']:.1f}x"
            )
        print(line, flush=True)
        for n in (1, 50):
            if f"pr{n}_seconds" in r:
                print(
                    f"N={size}: PR plan changing {n} guest(s) {r[f'pr{n}_seconds']:.2f} s, "
                    f"{r[f'pr{n}_requests']} requests; the full plan "
                    f"{r['seconds'] / r[f'pr{n}_seconds']:.1f}x slower",
                    flush=True,
                )
    worst = max(r["requests_per_guest"] for r in results.values())
    speedup = (
        results[1000]["baseline_seconds"] / results[1000]["seconds"]
        if 1000 in results
        else float("nan")
    )
    big = results.get(5000, {"seconds": float("nan"), "peak_mb": float("nan")})
    pr_requests = big.get("pr1_requests", float("nan"))
    pr_speedup = big["seconds"] / big["pr1_seconds"] if "pr1_seconds" in big else float("nan")
    print(
        f"requests_per_guest={worst:.3f} speedup_1000={speedup:.1f} "
        f"seconds_5000={big['seconds']:.2f} peak_mb_5000={big['peak_mb']:.0f} "
        f"pr_requests_5000={pr_requests} pr_speedup_5000={pr_speedup:.1f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure_plan(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
