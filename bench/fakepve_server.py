"""A seeded fakepve in its own process, for benchmarks (so its CPU is not ours).

Usage: python bench/fakepve_server.py N_GUESTS LATENCY_MS SECRET
Prints ``url cafile`` on its first line, then answers commands on stdin:
``count`` (requests served since the last reset, by method), ``reset``, ``quit``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import tempfile
import threading

from fakepve import FakePve
from fakepve.certs import make_cert

TOKEN_ID = "proxgit@pve!bench"


def seed(pve: FakePve, count: int) -> None:
    for node in ("pve1", "pve2", "pve3"):
        pve.add_node(node)
    for i in range(count):
        vmid = 1000 + i
        node = f"pve{i % 3 + 1}"
        pve.add_vm(
            vmid,
            f"vm-{i:05d}",
            node=node,
            status="running",
            config={
                "cores": 2,
                "sockets": 1,
                "memory": "4096",
                "tags": f"bench;team-{i % 7}",
                "onboot": 1,
                "agent": "1",
                "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=32G,ssd=1,discard=on",
                "net0": f"virtio=BC:24:11:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X},"
                f"bridge=vmbr0,tag={i % 4000 + 1}",
                "ciuser": "ubuntu",
                "ipconfig0": f"ip=10.{i // 250 % 250}.{i % 250}.10/16",
            },
        )


def main() -> None:
    count, latency_ms, secret = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="proxgit-bench-pve-")
    certfile, keyfile, _ = make_cert(tmp, hosts=("127.0.0.1",))
    pve = FakePve(user="root@pam", password="secret", host="127.0.0.1", port=0)
    pve.max_requests = 10**7
    pve.apitokens[TOKEN_ID] = secret
    seed(pve, count)
    # latency is in PVE seconds times time_scale: 20 ms real with tasks still fast
    pve.time_scale = 0.001
    pve.slow_network(latency_ms)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(pve.start(certfile, keyfile), loop).result(60)
    print(pve.url, certfile, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "count":
            counts = collections.Counter(method for method, _, _ in pve.requests)
            print(json.dumps(counts), flush=True)
        elif command == "reset":
            pve.requests.clear()
            print("{}", flush=True)
        elif command == "quit":
            break


if __name__ == "__main__":
    main()
