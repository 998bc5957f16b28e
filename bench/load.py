"""Loading plus validation of a large desired tree: wall time and peak memory.

Generates N VM documents (default 10,000) across two clusters in a temp dir,
then loads them in a fresh process (so peak RSS is the loader's own) and prints
the figures. Target on a 2-core machine: under 3 s and under 400 MB for 10,000.
Last line, machine-readable: ``files=<n> seconds=<s> peak_mb=<m>``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIG = """\
apiVersion: proxgit/v1
kind: Config
spec:
  clusters:
    lab: {url: "https://127.0.0.1:8006", tokenId: "proxgit@pve!ci", tokenSecretFrom: {env: T1}}
    prod: {url: "https://127.0.0.2:8006", tokenId: "proxgit@pve!ci", tokenSecretFrom: {env: T2}}
"""

VM = """\
# yaml-language-server: $schema=../../../schemas/virtualmachine.schema.json
apiVersion: proxgit/v1
kind: VirtualMachine
metadata:
  name: {name}
  cluster: {cluster}
  labels: {{team: t{team}, env: {cluster}}}
spec:
  vmid: {vmid}
  node: pve{node}
  cores: 2
  sockets: 1
  cpu: x86-64-v2-AES
  memory: 4G
  balloon: 1024
  tags: [web, team-{team}]
  onboot: true
  startup: {{order: 3, up: 30}}
  agent: {{enabled: true}}
  disks:
    scsi0: {{storage: local-lvm, size: 32G, ssd: true, discard: true, iothread: true}}
    scsi1: {{storage: local-lvm, size: 100G}}
  networks:
    net0: {{model: virtio, bridge: vmbr0, tag: {vlan}, firewall: true}}
  cloudInit:
    user: ubuntu
    sshKeys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGf5 ops@example.com]
    ipconfig0: ip=10.{a}.{b}.{c}/16,gw=10.{a}.0.1
    nameserver: 10.0.0.53
    passwordFrom: {{env: VM_PASSWORD}}
"""

LOADER = """
import json, resource, sys, time
start = time.perf_counter()
from proxgit.loading import load_directory
from pathlib import Path
state = load_directory(Path(sys.argv[1]))
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"guests": len(state.guests), "seconds": seconds, "peak_mb": peak_mb}))
"""


def generate(root: Path, count: int) -> None:
    (root / "proxgit.yaml").write_text(CONFIG)
    for i in range(count):
        cluster = "lab" if i % 2 else "prod"
        folder = root / "clusters" / cluster / "vms"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"vm-{i:05d}"
        (folder / f"{name}.yaml").write_text(
            VM.format(
                name=name,
                cluster=cluster,
                team=i % 7,
                vmid=1000 + i,
                node=i % 3 + 1,
                vlan=i % 4000 + 1,
                a=i % 250,
                b=(i // 250) % 250,
                c=i % 200 + 2,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proxgit-bench-load-") as tmp:
        root = Path(tmp)
        generate(root, args.files)
        results = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", LOADER, str(root)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results.append(json.loads(out))
            print(
                f"run: {results[-1]['guests']} guests loaded in {results[-1]['seconds']:.2f} s, "
                f"peak {results[-1]['peak_mb']:.0f} MB"
            )
        assert all(r["guests"] == args.files for r in results)
        best = min(results, key=lambda r: r["seconds"])
        print(f"files={args.files} seconds={best['seconds']:.2f} peak_mb={best['peak_mb']:.0f}")


if __name__ == "__main__":
    main()
