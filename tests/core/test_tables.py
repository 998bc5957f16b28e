"""Table tests of the pure pieces: effects, normalization of Proxmox config, scrubbing."""

from __future__ import annotations

from typing import Any

import pytest

from proxgit.planning.effects import DEFAULT_HOTPLUG, lxc_effect, parse_hotplug, qemu_effect
from proxgit.planning.fieldchange import Effect
from proxgit.proxmox.normalize import normalize_lxc_config, normalize_qemu_config
from proxgit.secrets import MASK, Scrubber

LIVE, RESTART = Effect.live, Effect.restart
ALL = parse_hotplug("1")
NONE = parse_hotplug("0")


@pytest.mark.parametrize(
    ("value", "features"),
    [
        (None, DEFAULT_HOTPLUG),
        ("1", frozenset({"network", "disk", "cpu", "memory", "usb", "cloudinit"})),
        ("0", frozenset()),
        ("network, disk ,", frozenset({"network", "disk"})),
        ("memory,cpu", frozenset({"memory", "cpu"})),
    ],
)
def test_hotplug_option(value: str | None, features: frozenset[str]) -> None:
    assert parse_hotplug(value) == features


# (path, new slot, hotplug, numa, effect on a running VM) -- PVE's documented behaviour.
QEMU = [
    ("memory", False, DEFAULT_HOTPLUG, False, RESTART),
    ("memory", False, ALL, False, RESTART),  # memory hotplug also needs NUMA
    ("memory", False, ALL, True, LIVE),
    ("cores", False, ALL, True, RESTART),
    ("cpu", False, ALL, True, RESTART),
    ("disks.scsi1", True, DEFAULT_HOTPLUG, False, LIVE),
    ("disks.scsi1", True, NONE, False, RESTART),
    ("networks.net1", True, DEFAULT_HOTPLUG, False, LIVE),
    ("networks.net1", True, NONE, False, RESTART),
    ("networks.net0.bridge", False, DEFAULT_HOTPLUG, False, LIVE),
    ("networks.net0.bridge", False, NONE, False, RESTART),
    ("tags", False, NONE, False, LIVE),
    ("description", False, NONE, False, LIVE),
    ("onboot", False, NONE, False, LIVE),
    ("power", False, NONE, False, LIVE),
    ("pool", False, NONE, False, LIVE),
    ("bios", False, ALL, True, RESTART),
    ("extraConfig.no-such-key", False, ALL, True, RESTART),
]


@pytest.mark.parametrize(("path", "new_slot", "hotplug", "numa", "effect"), QEMU)
def test_qemu_effect(
    path: str, new_slot: bool, hotplug: frozenset[str], numa: bool, effect: Effect
) -> None:
    assert qemu_effect(path, new_slot=new_slot, hotplug=hotplug, numa=numa) is effect


@pytest.mark.parametrize(
    ("path", "effect"),
    [("memory", LIVE), ("cores", LIVE), ("onboot", LIVE), ("tags", LIVE), ("power", LIVE)],
)
def test_container_effect(path: str, effect: Effect) -> None:
    assert lxc_effect(path, new_slot=False) is effect


# (config as the API returns it, entries the view must hold)
QEMU_VIEWS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"memory": "4096"}, {"memory": 4096}),
    ({"cores": 2, "onboot": 1}, {"cores": 2, "onboot": True}),
    ({"onboot": 0}, {"onboot": False}),
    ({"tags": "b;a"}, {"tags": ["a", "b"]}),
    ({"tags": "b,a c"}, {"tags": ["a", "b", "c"]}),
    (
        {"scsi0": "local-lvm:vm-100-disk-0,size=32G,ssd=1"},
        {"disks.scsi0.storage": "local-lvm", "disks.scsi0.size": 32 << 30, "disks.scsi0.ssd": True},
    ),
    (
        {"net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0,tag=10,firewall=1"},
        {
            "networks.net0.model": "virtio",
            "networks.net0.bridge": "vmbr0",
            "networks.net0.tag": 10,
            "networks.net0.firewall": True,
        },
    ),
]


@pytest.mark.parametrize(("config", "entries"), QEMU_VIEWS)
def test_qemu_config_view(config: dict[str, Any], entries: dict[str, Any]) -> None:
    view = normalize_qemu_config({**config, "digest": "x"}, status="running", pool=None)
    assert {key: view.get(key) for key in entries} == entries
    assert view["power"] == "running"
    assert not any("digest" in key for key in view)


def test_container_config_view() -> None:
    view = normalize_lxc_config(
        {"memory": "512", "hostname": "c1", "rootfs": "local-lvm:subvol-200-disk-0,size=8G"},
        status="stopped",
        pool="team",
    )
    assert view["memory"] == 512 and view["hostname"] == "c1"
    assert (view["rootfs.storage"], view["rootfs.size"]) == ("local-lvm", 8 << 30)
    assert (view["power"], view["pool"]) == ("stopped", "team")


SCRUB = [
    ("password=hunter22", f"password={MASK}"),
    ("db_password: 's3cr3t pw'", f"db_password: {MASK}"),
    ("Authorization: PVEAPIToken=root@pam!ci=1234-abcd", f"Authorization: PVEAPIToken={MASK}"),
    ("user $6$salt$abcdefghijklmnop done", f"user {MASK} done"),
    (
        "key -----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY----- end",
        f"key {MASK} end",
    ),
    ("plain text with no secret", "plain text with no secret"),
    ("token-less: value", "token-less: value".replace("value", MASK)),
]


@pytest.mark.parametrize(("text", "scrubbed"), SCRUB)
def test_scrubber_masks_secret_shapes(text: str, scrubbed: str) -> None:
    assert Scrubber().text(text) == scrubbed


def test_scrubber_masks_known_values_anywhere_and_secret_keys_whole() -> None:
    scrub = Scrubber(known=["topsecretvalue", "abc"])  # too short to mask: 'abc'
    data = {
        "description": "uses topsecretvalue here; abc stays",
        "cipassword": "anything",
        "nested": [{"apiToken": 5}, {"name": "topsecretvalue-2"}],
        "empty_password": "",
    }
    assert scrub.any(data) == {
        "description": f"uses {MASK} here; abc stays",
        "cipassword": MASK,
        "nested": [{"apiToken": MASK}, {"name": f"{MASK}-2"}],
        "empty_password": "",
    }
