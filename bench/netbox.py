"""``proxgit reflect --netbox``: 1,000 guests written into a real NetBox, then again unchanged.

Needs the NetBox of ``scripts/netbox-test-server`` (``make bench-netbox`` starts
and stops it; or point ``PROXGIT_NETBOX_ENV`` at a running one's connection
file). fakepve runs in its own process (bench/netbox_server.py: VMs with and
without an answering agent, IPv6, second NICs and disks, containers), with no
added latency: the figures are NetBox's and proxgit's.

The NetBox inventory is emptied first (supporting objects such as tags and
custom fields stay, so their one-time creation is not counted). Then:

* the first reflect: NetBox time, write requests and objects written;
* the second reflect, nothing changed: NetBox time and requests, which must
  include zero writes; the target is a second run at least 10x faster.

Last line: ``guests=<n> first_seconds=<s> first_writes=<w> first_objects=<o>
second_seconds=<s> second_requests=<r> second_writes=0 speedup=<x>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests hold the NetBox test helpers

from tests.netbox.server import ENV_FILE, NetBoxServer, connect, wipe  # noqa: E402

SECRET = "0b7f4c1e-2a9d-4e6b-8c35-71f0d2a9e6b4"


def connection() -> NetBoxServer:
    where = os.environ.get(ENV_FILE)
    if not where or not Path(where).is_file():
        sys.exit(f"bench/netbox.py: set {ENV_FILE} (make bench-netbox starts a NetBox)")
    return connect(Path(where))


def start_fake(count: int) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "netbox_server.py"), str(count), "0", SECRET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url, cafile = proc.stdout.readline().split()
    return proc, url, cafile


def write_repo(root: Path, url: str, cafile: str, netbox_url: str) -> None:
    (root / "proxgit.yaml").write_text(
        "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    bench:\n"
        f"      url: {url}\n      tokenId: 'proxgit@pve!bench'\n"
        "      tokenSecretFrom: {env: PROXGIT_BENCH_TOKEN}\n"
        f"      caFile: {cafile}\n      concurrency: 16\n"
        f"  netbox:\n    url: {netbox_url}\n    tokenFrom: {{env: PROXGIT_BENCH_NETBOX}}\n"
        "    nodes: {site: bench}\n"
    )


def reflect(root: Path) -> tuple[float, Any]:
    from proxgit.reflecting import ReflectOptions, reflect_repository

    start = time.perf_counter()
    result = reflect_repository(root, ReflectOptions(commit=False, netbox=True))
    total = time.perf_counter() - start
    netbox = result.netbox
    assert netbox is not None and netbox.ok, netbox.as_dict() if netbox else result.as_dict()
    return total, netbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--guests", type=int, default=1000)
    args = parser.parse_args()
    server = connection()
    os.environ["PROXGIT_BENCH_TOKEN"] = SECRET
    os.environ["PROXGIT_BENCH_NETBOX"] = server.token_v2
    wipe(server.api())
    proc, url, cafile = start_fake(args.guests)
    try:
        with tempfile.TemporaryDirectory(prefix="proxgit-bench-netbox-") as tmp:
            root = Path(tmp)
            write_repo(root, url, cafile, server.url)
            print(f"{args.guests} guests into NetBox at {server.url}", flush=True)
            total, first = reflect(root)
            objects = sum(c.writes for c in first.clusters)
            print(
                f"first reflect: NetBox {first.seconds:.1f} s ({total:.1f} s with the Proxmox "
                f"read), {first.writes} write requests for {objects} objects, "
                f"{first.requests['GET']} reads",
                flush=True,
            )
            total2, second = reflect(root)
            requests = sum(second.requests.values())
            assert second.writes == 0, second.as_dict()
            print(
                f"second reflect, nothing changed: NetBox {second.seconds:.1f} s "
                f"({total2:.1f} s with the Proxmox read), {requests} requests, "
                f"{second.writes} writes",
                flush=True,
            )
    finally:
        assert proc.stdin is not None
        proc.stdin.write("quit\n")
        proc.stdin.close()
        proc.wait(30)
    speedup = first.seconds / second.seconds
    print(
        f"guests={args.guests} first_seconds={first.seconds:.1f} first_writes={first.writes} "
        f"first_objects={objects} second_seconds={second.seconds:.1f} "
        f"second_requests={requests} second_writes={second.writes} speedup={speedup:.1f}"
    )


if __name__ == "__main__":
    main()
