"""bench/fakepve_server.py's cluster, dressed for NetBox: agents, IPv6, a second NIC, containers.

Usage and protocol as bench/fakepve_server.py. On top of its N running VMs:
every other VM's guest agent answers with the address of its ``ipconfig0``
and an IPv6 address on ``net0`` (the rest are reflected from cloud-init);
every fourth VM has a second NIC and a second disk; every tenth guest is a
container with static IPv4 and IPv6 addresses instead of a VM.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fakepve_server


def seed(pve: object, count: int) -> None:
    for node in ("pve1", "pve2", "pve3"):
        pve.add_node(node)  # type: ignore[attr-defined]
    for i in range(count):
        vmid = 1000 + i
        node = f"pve{i % 3 + 1}"
        mac = f"BC:24:11:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}"
        ipv4 = f"10.{i // 250 % 250}.{i % 250}.10"
        ipv6 = f"2001:db8:{i // 250:x}:{i % 250:x}::10"
        if i % 10 == 9:
            pve.add_ct(  # type: ignore[attr-defined]
                vmid,
                f"ct-{i:05d}",
                node=node,
                status="running",
                config={
                    "hostname": f"ct-{i:05d}",
                    "cores": 1,
                    "memory": 512,
                    "tags": f"bench;team-{i % 7}",
                    "rootfs": f"local-lvm:vm-{vmid}-disk-0,size=8G",
                    "net0": f"name=eth0,bridge=vmbr0,hwaddr={mac},ip={ipv4}/16,ip6={ipv6}/64,"
                    f"tag={i % 4000 + 1}",
                },
            )
            continue
        config = {
            "cores": 2,
            "sockets": 1,
            "memory": "4096",
            "tags": f"bench;team-{i % 7}",
            "onboot": 1,
            "agent": "1",
            "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=32G,ssd=1,discard=on",
            "net0": f"virtio={mac},bridge=vmbr0,tag={i % 4000 + 1}",
            "ciuser": "ubuntu",
            "ipconfig0": f"ip={ipv4}/16",
        }
        if i % 4 == 0:
            config["net1"] = (
                f"virtio=BC:24:12:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X},bridge=vmbr1"
            )
            config["scsi1"] = f"local-lvm:vm-{vmid}-disk-1,size=100G"
        vm = pve.add_vm(vmid, f"vm-{i:05d}", node=node, status="running", config=config)  # type: ignore[attr-defined]
        if i % 2 == 0:
            vm.agent = {
                "interfaces": [
                    {
                        "name": "eth0",
                        "hardware-address": mac.lower(),
                        "ip-addresses": [
                            {"ip-address": ipv4, "prefix": 16},
                            {"ip-address": ipv6, "prefix": 64},
                            {"ip-address": "fe80::1", "prefix": 64},
                        ],
                    }
                ]
            }


fakepve_server.seed = seed

if __name__ == "__main__":
    fakepve_server.main()
