"""``proxgit reflect`` cost: 2,000 guests behind 20 ms of latency, into a real Git repository.

fakepve runs in its own process (bench/reflect_server.py: bench/plan.py's
cluster of running VMs, with an answering guest agent on half of them, a
snapshot on every tenth and a backup of every fourth), with ``slow_network``
adding 20 ms to every request. The repository declares no guests, so every
guest is reflected as unmanaged, which is the heaviest case (each guest's
config is read either way).

It prints the first reflect (wall time, requests per guest, the commit), then
a second reflect with nothing changed (which must commit nothing), then a
reflect without guest-agent calls for comparison. Last line:
``guests=2000 seconds=<s> requests_per_guest=<x> noop_seconds=<t>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET = "0b7f4c1e-2a9d-4e6b-8c35-71f0d2a9e6b4"


class Fake:
    """bench/reflect_server.py in a child process, driven over stdin/stdout."""

    def __init__(self, count: int, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "reflect_server.py"), str(count), str(latency_ms), SECRET],
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
        return dict(json.loads(self.proc.stdout.readline()))

    def requests(self) -> int:
        return sum(self.ask("count").values())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(30)


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    return subprocess.run(
        ["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def write_repo(root: Path, fake: Fake, concurrency: int) -> None:
    (root / "proxgit.yaml").write_text(
        "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    bench:\n"
        f"      url: {fake.url}\n      tokenId: 'proxgit@pve!bench'\n"
        "      tokenSecretFrom: {env: PROXGIT_BENCH_TOKEN}\n"
        f"      caFile: {fake.cafile}\n      concurrency: {concurrency}\n"
    )
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "Configure proxgit")


def timed_reflect(root: Path, fake: Fake, **options: bool) -> tuple[float, int, str | None]:
    from proxgit.reflecting import ReflectOptions, reflect_repository

    fake.ask("reset")
    start = time.perf_counter()
    result = reflect_repository(root, ReflectOptions(**options))
    seconds = time.perf_counter() - start
    assert result.ok, [c.error for c in result.clusters]
    return seconds, fake.requests(), result.commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--guests", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--concurrency", type=int, default=16, help="the cluster's pool (proxgit's default is 8)"
    )
    args = parser.parse_args()
    os.environ["PROXGIT_BENCH_TOKEN"] = SECRET
    count = args.guests
    print(
        f"{count} guests, {args.latency_ms:g} ms per request, concurrency {args.concurrency}",
        flush=True,
    )
    fake = Fake(count, args.latency_ms)
    try:
        with tempfile.TemporaryDirectory(prefix="proxgit-bench-reflect-") as tmp:
            root = Path(tmp)
            write_repo(root, fake, args.concurrency)
            seconds, requests, commit = timed_reflect(root, fake)
            assert commit is not None, "the first reflect must commit"
            files = len(git(root, "show", "--name-only", "--format=", "HEAD").splitlines())
            print(
                f"first reflect: {seconds:.2f} s, {requests} requests "
                f"({requests / count:.3f} per guest), commit {commit[:12]} with {files} files",
                flush=True,
            )
            noop_seconds, noop_requests, noop_commit = timed_reflect(root, fake)
            assert noop_commit is None, "a reflect with nothing changed must not commit"
            assert git(root, "status", "--porcelain") == "", "no file may change"
            print(
                f"second reflect, nothing changed: {noop_seconds:.2f} s, {noop_requests} "
                "requests, no commit, working tree clean",
                flush=True,
            )
            bare_seconds, bare_requests, _ = timed_reflect(
                root, fake, agent_addresses=False, commit=False
            )
            print(
                f"without guest-agent calls (--no-agent-addresses): {bare_seconds:.2f} s, "
                f"{bare_requests / count:.3f} requests per guest",
                flush=True,
            )
    finally:
        fake.close()
    print(
        f"guests={count} seconds={seconds:.2f} requests_per_guest={requests / count:.3f} "
        f"noop_seconds={noop_seconds:.2f}"
    )


if __name__ == "__main__":
    main()
