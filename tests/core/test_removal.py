"""Fields removed from a document are removed from Proxmox, but only what the base
revision declared (planning/removal.py), called directly on hand-built states."""

from __future__ import annotations

from typing import Any

import pytest

from proxgit.loading import DesiredState, load_files
from proxgit.planning.fieldchange import Effect, FieldChange
from proxgit.planning.plan import Action
from proxgit.planning.planner import build_plan
from proxgit.planning.removal import removal_params
from proxgit.proxmox.live import ClusterLive, LiveGuest, LiveNode, LiveState, LiveStorage

CONFIG = (
    "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n"
    '    lab: {url: "https://127.0.0.1:8006", tokenId: "a@pve!b", tokenSecretFrom: {env: T}}\n'
)
HEAD = """\
apiVersion: proxgit/v1
kind: VirtualMachine
metadata: {name: vm100, cluster: lab}
spec:
  vmid: 100
  node: pve1
  cores: 2
  memory: 1024
"""
NET1 = "    net1: {model: virtio, bridge: vmbr1, tag: 30}\n"
LIVE = {
    "name": "vm100",
    "cores": 2,
    "memory": "1024",
    "description": "web server",
    "localtime": "1",
    "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=20",
    "net1": "virtio=BC:24:11:00:00:02,bridge=vmbr1,tag=30",
    "digest": "d1",
}


def _doc(extra: str = "", nets: str = "") -> DesiredState:
    text = HEAD + extra
    if nets:
        text += "  networks:\n" + nets
    return load_files([("proxgit.yaml", CONFIG), ("clusters/lab/vms/vm100.yaml", text)])


def _live(config: dict[str, Any] | None = None, status: str = "running") -> LiveState:
    guest = LiveGuest(100, "qemu", "vm100", "pve1", status, config=dict(config or LIVE))
    cluster = ClusterLive(
        "lab",
        nodes={"pve1": LiveNode("pve1", "online", 16, 128 << 30)},
        storages=[LiveStorage("local-lvm", "pve1", "available", frozenset({"images"}))],
        guests={100: guest},
    )
    return LiveState({"lab": cluster})


FULL_EXTRA = "  description: web server\n  extraConfig: {localtime: 1}\n"
NET0 = "    net0: {model: virtio, bridge: vmbr0, tag: 20}\n"


def _removed(plan: Any) -> list[tuple[str, Any, Any, bool]]:
    (change,) = plan.changes
    return [(f.path, f.before, f.after, f.removed) for f in change.fields]


def test_keys_the_base_declared_and_head_drops_are_removed() -> None:
    base = _doc(FULL_EXTRA, NET0 + NET1)
    head = _doc("", NET0)
    plan = build_plan(head, _live(), base=base)
    (change,) = plan.changes
    assert change.action is Action.update
    assert _removed(plan) == [
        ("description", "web server", None, True),
        ("extraConfig.localtime", "1", None, True),
        ("networks.net1", LIVE["net1"], None, True),
    ]
    effects = {f.path: f.effect for f in change.fields}
    # a NIC is unplugged live (hotplug has network by default); the rest as changed
    assert effects["networks.net1"] is Effect.live
    assert effects["description"] is Effect.live


def test_a_sub_key_the_base_declared_is_taken_out_of_its_key() -> None:
    base = _doc(FULL_EXTRA, NET0)
    head = _doc(FULL_EXTRA, "    net0: {model: virtio, bridge: vmbr0}\n")
    plan = build_plan(head, _live(), base=base)
    assert _removed(plan) == [("networks.net0.tag", 20, None, True)]


def test_nothing_is_removed_that_the_base_did_not_declare() -> None:
    # base never named description, localtime or net1: live keeps them
    base = _doc("", NET0)
    head = _doc("", NET0)
    plan = build_plan(head, _live(), base=base)
    assert [c.action for c in plan.changes] == [Action.noop]
    changed = _doc("", NET0.replace("tag: 20", "tag: 21"))
    plan = build_plan(changed, _live(), base=base)
    assert [f.path for f in plan.changes[0].fields] == ["networks.net0.tag"]
    assert not any(f.removed for f in plan.changes[0].fields)


def test_without_a_base_nothing_is_removed() -> None:
    plan = build_plan(_doc("", NET0), _live())
    assert [c.action for c in plan.changes] == [Action.noop]


def test_a_key_already_gone_from_proxmox_is_not_removed_again() -> None:
    config = {k: v for k, v in LIVE.items() if k not in ("description", "localtime")}
    plan = build_plan(_doc("", NET0 + NET1), _live(config), base=_doc(FULL_EXTRA, NET0 + NET1))
    assert [c.action for c in plan.changes] == [Action.noop]


@pytest.mark.parametrize(
    ("fields", "params", "want_delete", "want_params"),
    [
        (
            [FieldChange(path="extraConfig.localtime", removed=True)],
            {},
            ["localtime"],
            {},
        ),
        (
            [
                FieldChange(path="networks.net0.tag", removed=True),
                FieldChange(path="description", removed=True),
            ],
            {},
            ["description"],
            {"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0"},
        ),
        (  # a sub-key removed beside a changed one: one write of the key
            [FieldChange(path="networks.net0.tag", removed=True)],
            {"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr9,tag=20"},
            [],
            {"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr9"},
        ),
        (  # not removed: ignored
            [FieldChange(path="description", after="x")],
            {"description": "x"},
            [],
            {"description": "x"},
        ),
    ],
)
def test_removal_params(
    fields: list[FieldChange],
    params: dict[str, str],
    want_delete: list[str],
    want_params: dict[str, str],
) -> None:
    deletes, out = removal_params("qemu", fields, LIVE, params)
    assert sorted(deletes) == want_delete and out == want_params


def test_removing_a_containers_rootfs_is_blocked_and_a_volume_is_detached() -> None:
    ct = (
        "apiVersion: proxgit/v1\nkind: Container\nmetadata: {name: ct200, cluster: lab}\n"
        "spec:\n  vmid: 200\n  node: pve1\n  memory: 512\n"
    )
    rootfs = "  rootfs: {storage: local-lvm, size: 8G}\n"
    mp0 = "  mountpoints:\n    mp0: {storage: local-lvm, size: 4G, path: /data}\n"
    config = {
        "hostname": "ct200",
        "memory": 512,
        "rootfs": "local-lvm:vm-200-disk-0,size=8G",
        "mp0": "local-lvm:vm-200-disk-1,mp=/data,size=4G",
        "digest": "d",
    }

    def state(text: str) -> DesiredState:
        return load_files([("proxgit.yaml", CONFIG), ("clusters/lab/containers/ct200.yaml", text)])

    guest = LiveGuest(200, "lxc", "ct200", "pve1", "running", config=config)
    cluster = ClusterLive(
        "lab", nodes={"pve1": LiveNode("pve1", "online", 16, 128 << 30)}, guests={200: guest}
    )
    plan = build_plan(state(ct), LiveState({"lab": cluster}), base=state(ct + rootfs + mp0))
    (change,) = plan.changes
    paths = {f.path: f for f in change.fields}
    assert set(paths) == {"rootfs", "mountpoints.mp0"}
    assert paths["mountpoints.mp0"].effect is Effect.restart
    assert [b.code for b in change.blockers] == ["cannot-remove"]
    assert [w.code for w in change.warnings if w.code == "volume-detached"] == ["volume-detached"]


def test_sub_keys_of_a_key_carried_verbatim_that_becomes_typed_are_removed() -> None:
    carried = "  extraConfig: {hostpci0: 'mapping=gpu,device-id=0x56a5,pcie=1'}\n"
    typed = "  hostpci:\n    hostpci0: {mapping: gpu, pcie: true}\n"
    config = {**LIVE, "hostpci0": "mapping=gpu,device-id=0x56a5,pcie=1"}
    plan = build_plan(_doc(typed), _live(config), base=_doc(carried))
    (change,) = plan.changes
    assert [(f.path, f.before, f.removed) for f in change.fields] == [
        ("hostpci.hostpci0.device-id", "0x56a5", True)
    ]
    assert not [w for w in change.warnings if w.code == "root-only-key"]  # a mapping
    deletes, params = removal_params("qemu", change.fields, config, {})
    assert deletes == [] and params == {"hostpci0": "mapping=gpu,pcie=1"}


def test_changing_any_option_of_a_raw_pci_device_is_root_only() -> None:
    raw = "  hostpci:\n    hostpci0: {host: '0000:01:00', pcie: true}\n"
    config = {**LIVE, "hostpci0": "0000:01:00,pcie=1,rombar=0"}
    plan = build_plan(_doc(raw), _live(config))
    (change,) = plan.changes
    assert [f.path for f in change.fields] == []  # rombar is not declared: left alone
    changed = raw.replace("pcie: true", "pcie: false")
    plan = build_plan(_doc(changed), _live(config))
    (change,) = plan.changes
    assert [f.path for f in change.fields] == ["hostpci.hostpci0.pcie"]
    assert "root-only-key" in [w.code for w in change.warnings]
