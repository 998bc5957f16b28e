"""bench/fakepve_server.py's cluster, plus what reflect reads beyond the config.

Usage and protocol as bench/fakepve_server.py. On top of its N running VMs
(every one with ``agent: 1`` in its config) this seeds what a real cluster
has: a guest agent that answers on every other VM (on the rest it is
configured but not running), a snapshot on every tenth VM and a backup of
every fourth.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fakepve_server

_plain_seed = fakepve_server.seed


def seed(pve: object, count: int) -> None:
    _plain_seed(pve, count)  # type: ignore[arg-type]
    for vm in pve.vms:  # type: ignore[attr-defined]
        if vm.vmid % 2 == 0:
            vm.agent = {}
        if vm.vmid % 10 == 0:
            vm.snapshots["before-upgrade"] = {"snaptime": 1_700_000_000, "description": "pre"}
            vm.config["parent"] = "before-upgrade"
        if vm.vmid % 4 == 0:
            pve.store_file(  # type: ignore[attr-defined]
                "local",
                f"vzdump-qemu-{vm.vmid}-2025_01_01-00_00_00.vma.zst",
                1 << 20,
                content="backup",
            )


fakepve_server.seed = seed

if __name__ == "__main__":
    fakepve_server.main()
