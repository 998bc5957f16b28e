"""``validate`` refuses what Proxmox refuses for the modelled constraints, and takes
what Proxmox takes: each case one line with file:line:col, never a traceback."""

from __future__ import annotations

import textwrap

import pytest

from proxgit.errors import InvalidRepository
from proxgit.loading import load_files
from tests.support import config_yaml

CONFIG = config_yaml("https://127.0.0.1:8006", "/nonexistent")


def _load(spec: str, kind: str = "VirtualMachine") -> None:
    folder = "vms" if kind == "VirtualMachine" else "containers"
    doc = (
        f"apiVersion: proxgit/v1\nkind: {kind}\nmetadata: {{name: g, cluster: lab}}\n"
        "spec:\n  vmid: 100\n  node: pve1\n" + textwrap.indent(textwrap.dedent(spec), "  ")
    )
    load_files([("proxgit.yaml", CONFIG), (f"clusters/lab/{folder}/g.yaml", doc)])


@pytest.mark.parametrize(
    ("spec", "kind", "message"),
    [
        ("memory: -5\n", "VirtualMachine", "memory"),
        ("memory: 8\n", "VirtualMachine", "greater than or equal to 16"),
        ("memory: 8\n", "Container", "greater than or equal to 16"),
        ("memory: 1024\nballoon: 2048\n", "VirtualMachine", "balloon 2048 is above memory 1024"),
        ("disks:\n  scsi0: {storage: local-, size: 8G}\n", "VirtualMachine", "storage ids"),
        ("hotplug: foo\n", "VirtualMachine", "hotplug is 0, 1 or a comma list"),
        ("cloudInit:\n  ipconfig0: ip=notanip\n", "VirtualMachine", "ipconfig0: ip=notanip"),
        ("cloudInit:\n  ipconfig0: gw=10.0.0.1,ip=10.0.0.5\n", "VirtualMachine", "prefix"),
        (
            "networks:\n  net0: {bridge: vmbr0, ip: 10.0.0.5}\n",
            "Container",
            "ip=10.0.0.5: write an IPv4 address with its prefix",
        ),
        ("networks:\n  net0: {bridge: vmbr0, gw: nope}\n", "Container", "gw=nope"),
        ("description: '" + "x" * 8193 + "'\n", "VirtualMachine", "at most 8192"),
        (
            "disks:\n  ide0: {storage: local-lvm, size: 8G, iothread: true}\n",
            "VirtualMachine",
            "no iothread option on ide",
        ),
        (
            "disks:\n  virtio0: {storage: local-lvm, size: 8G, product: QEMU}\n",
            "VirtualMachine",
            "no product option on virtio",
        ),
        (
            "disks:\n  scsi0: {storage: local-lvm, size: 8G, wwn: '5000c500a0b1c2d3'}\n",
            "VirtualMachine",
            "wwn",
        ),
        ("cpulimit: 200\n", "VirtualMachine", "less than or equal to 128"),
        ("tty: 9\n", "Container", "less than or equal to 6"),
        ("cpuFlags: aes\n", "VirtualMachine", "cpuFlags"),
        (
            "mountpoints:\n  mp0: {source: /mnt/x, storage: local-lvm, size: 1G, path: /x}\n",
            "Container",
            "exactly one",
        ),
        (
            "mountpoints:\n  mp0: {source: /mnt/x, size: 1G, path: /x}\n",
            "Container",
            "a bind mount has no size",
        ),
        ("cores: 2\nsockets: 1\nvcpus: 4\n", "VirtualMachine", "vcpus 4 is above sockets x cores"),
        (
            "disks:\n  scsi0: {storage: local-lvm, size: 8G, iopsMaxLength: 0}\n",
            "VirtualMachine",
            "iopsMaxLength: 0 is too small: it must be greater than or equal to 1",
        ),
        (
            "disks:\n  scsi0: {storage: local-lvm, size: 8G, mbpsRdMax: -1}\n",
            "VirtualMachine",
            "mbpsRdMax",
        ),
        ("efiDisk: {storage: local-lvm, msCert: '2024'}\n", "VirtualMachine", "'2023k'"),
        ("swap: -1\n", "Container", "swap"),
        ("tags: [Web, 'bad tag']\n", "VirtualMachine", "'bad tag' is not valid"),
        ("networks:\n  net0: {bridge: vmbr0, tag: 4095}\n", "VirtualMachine", "4094"),
        ("networks:\n  net0: {bridge: vmbr0, ip: 10.0.0.300/24}\n", "Container", "10.0.0.300"),
        ("disks:\n  scsi31: {storage: local-lvm, size: 8G}\n", "VirtualMachine", "scsi0-scsi30"),
    ],
)
def test_validate_refuses_what_proxmox_refuses(spec: str, kind: str, message: str) -> None:
    with pytest.raises(InvalidRepository) as caught:
        _load(spec, kind)
    text = str(caught.value)
    assert message in text, text
    first = str(caught.value.problems[0])
    path, line, col = first.split(":")[:3]
    assert path.endswith("g.yaml") and line.isdigit() and col.isdigit()


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("sockets: 8\ncores: 64\n", "VirtualMachine"),
        ("networks:\n  net0: {bridge: vmbr0, model: e1000-82540em}\n", "VirtualMachine"),
        ("memory: 16\n", "VirtualMachine"),
        ("hotplug: network,disk,cpu,memory\n", "VirtualMachine"),
        ("hotplug: '0'\n", "VirtualMachine"),
        ("cloudInit:\n  ipconfig0: ip=dhcp,ip6=auto\n", "VirtualMachine"),
        (
            "cloudInit:\n  ipconfig1: ip=10.0.0.5/24,gw=10.0.0.1,ip6=fd00::5/64,gw6=fd00::1\n",
            "VirtualMachine",
        ),
        ("networks:\n  net0: {bridge: vmbr0, ip: manual, ip6: auto}\n", "Container"),
        ("disks:\n  scsi0: {storage: ceph-ssd.pool1, size: 8G}\n", "VirtualMachine"),
        ("memory: 2048\nballoon: 0\n", "VirtualMachine"),
        ("mountpoints:\n  mp0: {source: /mnt/tank/media, path: /media, ro: true}\n", "Container"),
        (
            "hugepages: 2\nnuma: true\nnumaNodes: {numa0: {cpus: 0-3, memory: 2048}}\n",
            "VirtualMachine",
        ),
        (
            "audio: {device: ich9-intel-hda}\nrng: {source: /dev/urandom}\n"
            "watchdog: {model: i6300esb, action: reset}\n",
            "VirtualMachine",
        ),
        (
            "cpuFlags: +aes;-pcid\nvga: {type: qxl, memory: 32}\nserials: {serial0: socket}\n",
            "VirtualMachine",
        ),
        (
            "efiDisk: {storage: local-lvm, efitype: 4m, preEnrolledKeys: true}\n"
            "tpmState: {storage: local-lvm, version: v2.0}\nbios: ovmf\n",
            "VirtualMachine",
        ),
        ("tags: [Home, Media, k8s]\n", "VirtualMachine"),  # case kept, as Proxmox keeps it
        ("cores: 4\nsockets: 2\nvcpus: 8\n", "VirtualMachine"),
        ("memory: 1024\nballoon: 1024\n", "VirtualMachine"),
        (
            "disks:\n  scsi0: {storage: local-lvm, size: 8G, wwn: '0x5000c500a0b1c2d3', "
            "product: QEMU HARDDISK, vendor: ATA, snapshot: false, shared: true}\n"
            "  ide0: {storage: local-lvm, size: 8G, model: WDC%20WD40}\n",
            "VirtualMachine",
        ),
        (
            "disks:\n  scsi0: {storage: local-lvm, size: 8G, iopsRdMax: 12000, "
            "iopsRdMaxLength: 60, mbpsWrMax: 300.5, mbpsMaxLength: 10}\n",
            "VirtualMachine",
        ),
        (
            "efiDisk: {storage: local-lvm, efitype: 4m, msCert: 2023}\nbios: ovmf\n",
            "VirtualMachine",
        ),
    ],
)
def test_validate_takes_what_proxmox_takes(spec: str, kind: str) -> None:
    _load(spec, kind)
