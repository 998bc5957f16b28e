"""Reflect, drift and import against fakepve, with the commands on a local click group."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from proxgit.cli.reflect import drift, import_command, reflect
from tests.support import GitRepo

SEED_SECRET = "Cl0ud-Init-Pw-7731"


@click.group()
def cli() -> None:
    """The commands under test, as proxgit registers them."""


cli.add_command(reflect)
cli.add_command(drift)
cli.add_command(import_command)


def run(repo: GitRepo, *args: str) -> Result:
    """``proxgit <command> --repo <repo> ...``; plan goes through the real ``proxgit`` group."""
    group = main if args[0] == "plan" else cli
    result = CliRunner().invoke(group, [args[0], "--repo", str(repo.path), *args[1:]])
    assert "Traceback" not in result.output, result.output
    return result


def seed_guests(pve: Any) -> None:
    """A running VM with an agent, a snapshot and a backup; a stopped VM; a container."""
    vm = pve.add_vm(
        100,
        "web-01",
        node="pve1",
        status="running",
        pool="prod",
        config={
            "memory": 2048,
            "cores": 2,
            "sockets": 1,
            "tags": "prod;web",
            "onboot": 1,
            "agent": "1",
            "ostype": "l26",
            "scsihw": "virtio-scsi-single",
            "scsi0": "local-lvm:vm-100-disk-0,discard=on,size=32G,ssd=1",
            "ide2": "local-lvm:vm-100-cloudinit,media=cdrom",
            "net0": "virtio=BC:24:11:00:01:00,bridge=vmbr0,firewall=1,tag=20",
            "ciuser": "ubuntu",
            "cipassword": SEED_SECRET,
            "ipconfig0": "ip=10.0.20.11/24,gw=10.0.20.1",
            "sshkeys": "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIOMq%20ops%40example.com%0A",
            "description": "Web frontend",
        },
    )
    vm.ha_state = "started"
    vm.agent = {}
    vm.snapshots["before-upgrade"] = {"snaptime": 1_700_000_000, "description": "pre"}
    vm.config["parent"] = "before-upgrade"
    pve.store_file(
        "local", "vzdump-qemu-100-2024_11_14-22_13_20.vma.zst", 3 << 30, content="backup"
    )
    pve.add_vm(
        101,
        "db-01",
        node="pve2",
        status="stopped",
        config={
            "memory": "4096",
            "cores": 4,
            "scsi0": "local-lvm:vm-101-disk-0,size=64G",
            "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
            "startup": "order=2,up=30",
        },
    )
    pve.add_ct(
        200,
        "dns-01",
        node="pve1",
        status="running",
        config={
            "cores": 1,
            "memory": 512,
            "tags": "dns",
            "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:00,ip=10.0.0.53/24,gw=10.0.0.1",
            "features": "nesting=1",
        },
    )


@pytest.fixture
def seeded(pve: Any, repo: GitRepo) -> GitRepo:
    seed_guests(pve)
    repo.git("push", "--quiet", "origin", "main")
    return repo
