"""The planner's part of a node change, without I/O: desired documents from text, live
state as data. Through the CLI and fakepve: tests/applying/test_migrate.py."""

from __future__ import annotations

from typing import Any

from proxgit.loading import DesiredState, load_files
from proxgit.planning import Action, MigrationMode, Plan, build_plan
from proxgit.proxmox.live import ClusterLive, LiveGuest, LiveNode, LiveState, LiveStorage
from proxgit.rendering import render_markdown, render_text

CONFIG = """\
apiVersion: proxgit/v1
kind: Config
spec:
  clusters:
    lab:
      url: https://127.0.0.1:8006
      tokenId: proxgit@pve!ci
      tokenSecretFrom: {env: PROXGIT_LAB_TOKEN}
      allowWrites: true
  apply:
    enabled: true
    confirm: allow-edit-and-add-actions
"""
POLICY = """\
  policy:
    roles:
      movers:
        members: [alice@example.com]
        permissions: [update_vm, update_container]
      creators:
        members: [carol@example.com]
        permissions: [create_vm, create_container]
"""
VM_CONFIG = {
    "name": "web-01",
    "cores": 2,
    "memory": 2048,
    "scsi0": "local-lvm:vm-101-disk-0,size=32G",
}
CT_CONFIG = {
    "hostname": "dns-01",
    "cores": 1,
    "memory": 512,
    "rootfs": "local-lvm:subvol-201-disk-0,size=8G",
}


def vm(node: str = "pve1", extra: str = "", disk: str = "local-lvm") -> str:
    return (
        "apiVersion: proxgit/v1\nkind: VirtualMachine\nmetadata: {name: web-01, cluster: lab}\n"
        f"spec:\n  vmid: 101\n  node: {node}\n  cores: 2\n  memory: 2048\n"
        f"  disks:\n    scsi0: {{storage: {disk}, size: 32G}}\n{extra}"
    )


def ct(node: str = "pve1", extra: str = "") -> str:
    return (
        "apiVersion: proxgit/v1\nkind: Container\nmetadata: {name: dns-01, cluster: lab}\n"
        f"spec:\n  vmid: 201\n  node: {node}\n  cores: 1\n  memory: 512\n"
        f"  rootfs: {{storage: local-lvm, size: 8G}}\n{extra}"
    )


def desired(*docs: tuple[str, str], config: str = CONFIG) -> DesiredState:
    return load_files([("proxgit.yaml", config), *docs])


def vm_doc(text: str) -> tuple[str, str]:
    return ("clusters/lab/vms/web-01.yaml", text)


def ct_doc(text: str) -> tuple[str, str]:
    return ("clusters/lab/containers/dns-01.yaml", text)


def live(
    *guests: LiveGuest, offline: tuple[str, ...] = ("pve3",), shared: bool = False
) -> LiveState:
    nodes = {n: LiveNode(n, "offline" if n in offline else "online") for n in ("pve1", "pve2")}
    nodes["pve3"] = LiveNode("pve3", "offline" if "pve3" in offline else "online")
    storages = [
        LiveStorage("local-lvm", n, "available", frozenset({"images", "rootdir"}))
        for n in ("pve1", "pve2", "pve3")
    ] + [LiveStorage("local", n, "available", frozenset({"iso", "vztmpl"})) for n in nodes]
    storages += [
        LiveStorage("ceph", n, "available", frozenset({"images"}), shared=True)
        for n in ("pve1", "pve2")
    ]
    if shared:  # a storage only pve1 has
        storages.append(LiveStorage("fast", "pve1", "available", frozenset({"images"})))
    cluster = ClusterLive(name="lab", nodes=nodes, storages=storages)
    cluster.guests = {g.vmid: g for g in guests}
    return LiveState(clusters={"lab": cluster})


def live_vm(node: str = "pve1", status: str = "running", **config: Any) -> LiveGuest:
    return LiveGuest(
        vmid=101,
        type="qemu",
        name="web-01",
        node=node,
        status=status,
        config={**VM_CONFIG, **config},
    )


def live_ct(node: str = "pve1", status: str = "running", **config: Any) -> LiveGuest:
    return LiveGuest(
        vmid=201,
        type="lxc",
        name="dns-01",
        node=node,
        status=status,
        config={**CT_CONFIG, **config},
    )


def moved(head_text: str, guest: LiveGuest, base_text: str | None = None, **kw: Any) -> Any:
    """The plan's change for a guest whose file went from ``base_text`` (node pve1 by
    default) to ``head_text``."""
    doc = vm_doc if guest.type == "qemu" else ct_doc
    base_text = base_text or (vm() if guest.type == "qemu" else ct())
    plan = build_plan(
        desired(doc(head_text)), live(guest, **kw), base=desired(doc(base_text)), clusters=["lab"]
    )
    return plan.changes[0]


def codes(change: Any) -> set[str]:
    return {b.code for b in change.blockers}


# --- how it moves -----------------------------------------------------------------


def test_running_vm_with_local_disks_moves_online_copying_its_disks() -> None:
    change = moved(vm("pve2"), live_vm())
    assert change.action == Action.migrate and not change.blockers
    assert change.migration.model_dump(mode="json") == {
        "source": "pve1",
        "target": "pve2",
        "mode": "online",
        "with_local_disks": True,
    }
    node = change.fields[0]
    assert (node.path, node.before, node.after, node.effect) == ("node", "pve1", "pve2", "live")
    assert [f.path for f in change.fields] == ["node"]  # nothing else differs


def test_running_vm_on_shared_storage_moves_online_without_copying() -> None:
    change = moved(
        vm("pve2", disk="ceph"),
        live_vm(scsi0="ceph:vm-101-disk-0,size=32G"),
        base_text=vm(disk="ceph"),
    )
    assert change.migration.mode == MigrationMode.online
    assert change.migration.with_local_disks is False


def test_stopped_vm_moves_offline() -> None:
    change = moved(vm("pve2", "  power: stopped\n"), live_vm(status="stopped"))
    assert change.action == Action.migrate and not change.blockers
    assert change.migration.mode == MigrationMode.offline
    assert change.migration.with_local_disks is False  # offline: Proxmox copies them anyway


def test_running_container_moves_in_restart_mode_only_when_its_policy_allows() -> None:
    allowed = moved(ct("pve2", "  restartPolicy: IfRequired\n"), live_ct())
    assert allowed.action == Action.migrate and not allowed.blockers
    assert allowed.migration.mode == MigrationMode.restart
    assert allowed.fields[0].effect == "restart"
    refused = moved(ct("pve2"), live_ct())
    assert refused.action == Action.migrate
    assert codes(refused) == {"migrate-restart-not-allowed"}
    assert "restartPolicy is Never" in refused.blockers[0].message


def test_stopped_container_moves_offline_whatever_its_policy() -> None:
    change = moved(ct("pve2", "  power: stopped\n"), live_ct(status="stopped"))
    assert change.migration.mode == MigrationMode.offline and not change.blockers


def test_node_and_memory_change_together_is_one_migrate_with_both_fields() -> None:
    change = moved(vm("pve2").replace("memory: 2048", "memory: 4096"), live_vm())
    assert change.action == Action.migrate
    assert [f.path for f in change.fields] == ["node", "memory"]
    assert change.fields[1].before == 2048 and change.fields[1].after == 4096
    assert any(
        w.code == "migrate" and "then the other changes" in w.message for w in change.warnings
    )


# --- what cannot move ---------------------------------------------------------------


def test_passed_through_host_devices_block_the_move() -> None:
    pci = moved(vm("pve2"), live_vm(hostpci0="0000:01:00.0,pcie=1"))
    assert codes(pci) == {"migrate-local-resource"}
    assert pci.blockers[0].key == "hostpci0" and "0000:01:00.0" in pci.blockers[0].message
    usb = moved(vm("pve2"), live_vm(usb0="host=1234:5678"))
    assert codes(usb) == {"migrate-local-resource"} and "1234:5678" in usb.blockers[0].message
    serial = moved(vm("pve2"), live_vm(serial0="/dev/ttyS0"))
    assert codes(serial) == {"migrate-local-resource"}
    disk = moved(vm("pve2"), live_vm(scsi1="/dev/disk/by-id/ata-WDC_WD40,size=4T"))
    assert codes(disk) == {"migrate-local-resource"} and "physical disk" in disk.blockers[0].message


def test_mapped_devices_spice_usb_and_a_socket_serial_move() -> None:
    change = moved(
        vm("pve2"),
        live_vm(
            hostpci0="mapping=gpu,pcie=1", usb0="spice", usb1="mapping=dongle", serial0="socket"
        ),
    )
    assert change.action == Action.migrate and not change.blockers


def test_an_iso_on_storage_only_the_source_has_blocks_but_on_shared_storage_moves() -> None:
    local = moved(vm("pve2"), live_vm(ide2="local:iso/debian.iso,media=cdrom"))
    assert codes(local) == {"migrate-local-resource"} and "ISO" in local.blockers[0].message
    assert not moved(vm("pve2"), live_vm(ide2="none,media=cdrom")).blockers
    assert not moved(vm("pve2"), live_vm(ide2="ceph:iso/x.iso,media=cdrom")).blockers
    # the cloud-init drive is regenerated on the target
    assert not moved(vm("pve2"), live_vm(ide2="local-lvm:vm-101-cloudinit,media=cdrom")).blockers


def test_container_bind_mounts_and_devices_block_unless_marked_shared() -> None:
    bind = moved(
        ct("pve2", "  power: stopped\n"), live_ct("pve1", "stopped", mp0="/srv/data,mp=/data")
    )
    assert codes(bind) == {"migrate-local-resource"} and "/srv/data" in bind.blockers[0].message
    shared = moved(
        ct("pve2", "  power: stopped\n"),
        live_ct("pve1", "stopped", mp0="/mnt/nfs,mp=/data,shared=1"),
    )
    assert not shared.blockers
    device = moved(
        ct("pve2", "  power: stopped\n"), live_ct("pve1", "stopped", dev0="/dev/ttyUSB0")
    )
    assert codes(device) == {"migrate-local-resource"}


def test_unknown_or_offline_target_node_blocks() -> None:
    unknown = moved(vm("pve9"), live_vm())
    assert codes(unknown) == {"migrate-target-missing"}
    assert (
        "pve9" in unknown.blockers[0].message and "pve1, pve2, pve3" in unknown.blockers[0].message
    )
    offline = moved(vm("pve3"), live_vm())
    assert codes(offline) == {"migrate-target-offline"}


def test_a_storage_the_target_lacks_blocks() -> None:
    change = moved(
        vm("pve2", disk="fast"),
        live_vm(scsi0="fast:vm-101-disk-0,size=32G"),
        base_text=vm(disk="fast"),
        shared=True,
    )
    assert codes(change) == {"migrate-storage-missing"}
    assert "'fast'" in change.blockers[0].message and "pve2" in change.blockers[0].message
    # an unused volume counts too
    unused = moved(vm("pve2"), live_vm(unused0="fast:vm-101-disk-9"), shared=True)
    assert codes(unused) == {"migrate-storage-missing"} and unused.blockers[0].key == "unused0"


def test_every_blocker_is_listed_at_once() -> None:
    change = moved(ct("pve3"), live_ct(mp0="/srv/data,mp=/data", dev0="/dev/fuse"))
    assert codes(change) == {
        "migrate-target-offline",
        "migrate-restart-not-allowed",
        "migrate-local-resource",
    }
    assert len(change.blockers) == 4


# --- a guest HA or an operator moved -------------------------------------------------


def test_a_guest_moved_elsewhere_is_not_migrated_back_when_its_file_did_not_change() -> None:
    head = desired(vm_doc(vm("pve1")))
    plan = build_plan(head, live(live_vm("pve2")), base=desired(vm_doc(vm("pve1"))))
    change = plan.changes[0]
    assert change.action == Action.noop and change.migration is None
    (note,) = change.warnings
    assert note.code == "node-moved"
    assert note.message.startswith("vm 101 runs on pve2, its file says pve1; not migrated back")
    assert "did not change" in note.message
    assert plan.summary.migrate == 0 and not plan.has_changes
    assert "vm 101 runs on pve2, its file says pve1" in render_text(plan)
    assert "vm 101 runs on pve2, its file says pve1" in render_markdown(plan)


def test_an_other_edit_of_a_moved_guest_updates_it_where_it_runs() -> None:
    head = desired(vm_doc(vm("pve1").replace("cores: 2", "cores: 4")))
    plan = build_plan(head, live(live_vm("pve2")), base=desired(vm_doc(vm("pve1"))))
    change = plan.changes[0]
    assert change.action == Action.update and change.node == "pve2"
    assert [f.path for f in change.fields] == ["cores"]
    assert any(w.code == "node-moved" for w in change.warnings)


def test_without_a_base_no_guest_is_migrated_and_each_difference_is_said() -> None:
    plan = build_plan(desired(vm_doc(vm("pve2"))), live(live_vm("pve1")))
    change = plan.changes[0]
    assert change.action == Action.noop and change.migration is None
    assert [w.code for w in change.warnings] == ["node-moved"]
    assert "without a base revision" in change.warnings[0].message


def test_a_file_new_in_this_change_for_a_guest_elsewhere_is_a_migration() -> None:
    base = desired()  # no guest file yet
    plan = build_plan(desired(vm_doc(vm("pve2"))), live(live_vm("pve1")), base=base)
    assert plan.changes[0].action == Action.migrate


def test_a_guest_already_where_its_changed_file_says_is_left_alone() -> None:
    change = moved(vm("pve2"), live_vm("pve2"))
    assert change.action == Action.noop and not change.warnings


def test_ha_moved_guest_whose_node_changes_to_a_third_node_moves_from_where_it_runs() -> None:
    change = moved(vm("pve3"), live_vm("pve2"), offline=())
    assert change.action == Action.migrate
    assert (change.migration.source, change.migration.target) == ("pve2", "pve3")


# --- views, summary, policy -----------------------------------------------------------


def test_views_and_summary_carry_the_migration() -> None:
    plan: Plan = build_plan(
        desired(vm_doc(vm("pve2"))), live(live_vm()), base=desired(vm_doc(vm()))
    )
    data = plan.model_dump(mode="json")
    assert data["summary"]["migrate"] == 1 and data["summary"]["update"] == 0
    assert data["changes"][0]["action"] == "migrate"
    assert data["changes"][0]["migration"]["mode"] == "online"
    text = render_text(plan)
    assert "> VirtualMachine web-01 (vmid 101, lab/pve1) will be migrated to pve2 (online)" in text
    assert '~ node: "pve1" -> "pve2"' in text and "1 to migrate" in text
    assert "cluster lab: create 0, update 0, migrate 1 guest(s)" in text
    markdown = render_markdown(plan)
    assert "<b>migrate</b>" in markdown and "pve1 → pve2 (online, with local disks)" in markdown
    assert "| create | update | delete | migrate |" in markdown


def test_moving_a_guest_needs_the_update_permission() -> None:
    config = CONFIG + POLICY
    head = desired(vm_doc(vm("pve2")), config=config)
    base = desired(vm_doc(vm()), config=config)
    allowed = build_plan(head, live(live_vm()), base=base, actor=["alice@example.com"])
    assert not allowed.changes[0].blockers
    refused = build_plan(head, live(live_vm()), base=base, actor=["carol@example.com"])
    (blocker,) = refused.changes[0].blockers
    assert blocker.code == "permission-denied" and "update_vm" in blocker.message


def test_a_vmid_used_by_another_guest_or_an_unreadable_config_is_never_migrated() -> None:
    other = LiveGuest(vmid=101, type="lxc", name="web-01", node="pve1", status="running")
    other.config = dict(CT_CONFIG)
    plan = build_plan(
        desired(vm_doc(vm("pve2"))), live(other), base=desired(vm_doc(vm())), clusters=["lab"]
    )
    change = plan.changes[0]
    assert change.action == Action.noop and change.migration is None
    assert codes(change) == {"vmid-in-use"}
    unread = live_vm()
    unread.config = None
    change = moved(vm("pve2"), unread)
    assert change.migration is None and codes(change) == {"config-unread"}


def test_a_template_is_never_migrated() -> None:
    template = live_vm()
    template.template = True
    change = moved(vm("pve2"), template)
    assert change.migration is None and codes(change) == {"vmid-in-use"}


def test_a_running_vm_with_snapshots_and_local_disks_cannot_copy_them_live() -> None:
    change = moved(vm("pve2"), live_vm(parent="before-upgrade"))
    assert codes(change) == {"migrate-local-resource"}
    assert "snapshots" in change.blockers[0].message
    # stopped: offline migration copies them; on shared storage nothing is copied
    stopped = moved(
        vm("pve2", "  power: stopped\n"), live_vm(status="stopped", parent="before-upgrade")
    )
    assert not stopped.blockers
    shared = moved(
        vm("pve2", disk="ceph"),
        live_vm(scsi0="ceph:vm-101-disk-0,size=32G", parent="before-upgrade"),
        base_text=vm(disk="ceph"),
    )
    assert not shared.blockers
