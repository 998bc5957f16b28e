"""Capacity in the plan, straight through the pure planner on hand-built live states.

Each test builds what ``/cluster/resources`` (and the declared guests' configs)
would have given, a desired tree from YAML text, and reads the plan's findings
and ``capacity`` rows. No network, no Git.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from proxgit.loading import DesiredState, load_files
from proxgit.planning import build_plan
from proxgit.planning.capacity import human_size
from proxgit.planning.plan import CapacityUse, Plan
from proxgit.proxmox.live import ClusterLive, LiveGuest, LiveNode, LiveState, LiveStorage

GIB = 1 << 30
MIB = 1 << 20

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
  apply: {enabled: true, confirm: allow-edit-and-add-actions}
"""


def desired(guests: dict[str, str], capacity: str = "") -> DesiredState:
    config = CONFIG + (textwrap.indent(textwrap.dedent(capacity), "  ") if capacity else "")
    files = [("proxgit.yaml", config)]
    for name, spec in guests.items():
        folder = "containers" if spec.startswith("#ct") else "vms"
        kind = "Container" if folder == "containers" else "VirtualMachine"
        files.append(
            (
                f"clusters/lab/{folder}/{name}.yaml",
                f"apiVersion: proxgit/v1\nkind: {kind}\n"
                f"metadata: {{name: {name}, cluster: lab}}\nspec:\n"
                + textwrap.indent(textwrap.dedent(spec), "  "),
            )
        )
    return load_files(files)


def vm(vmid: int, node: str = "pve2", **fields: Any) -> str:
    lines = [f"vmid: {vmid}", f"node: {node}"]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def cluster(
    *,
    storages: list[LiveStorage] | None = None,
    guests: list[LiveGuest] | None = None,
    maxmem: int = 8 * GIB,
    maxcpu: int = 4,
) -> LiveState:
    live = ClusterLive(name="lab")
    for name in ("pve1", "pve2"):
        live.nodes[name] = LiveNode(name, "online", maxcpu=maxcpu, maxmem=maxmem, mem=2 * GIB)
    live.storages = (
        storages if storages is not None else [thick("data", node) for node in ("pve1", "pve2")]
    )
    for guest in guests or []:
        live.guests[guest.vmid] = guest
    return LiveState(clusters={"lab": live})


def thick(name: str, node: str, used: int = 0, size: int = 100 * GIB, **kw: Any) -> LiveStorage:
    return LiveStorage(
        storage=name,
        node=node,
        status="available",
        content=frozenset({"images", "rootdir"}),
        plugintype=kw.pop("plugintype", "lvm"),
        disk=used,
        maxdisk=size,
        **kw,
    )


def running(vmid: int, name: str, *, node: str = "pve2", mem_gib: float, cpus: int) -> LiveGuest:
    return LiveGuest(
        vmid=vmid,
        type="qemu",
        name=name,
        node=node,
        status="running",
        maxmem=int(mem_gib * GIB),
        maxcpu=cpus,
    )


def plan_of(state: DesiredState, live: LiveState, base: DesiredState | None = None) -> Plan:
    return build_plan(state, live, base=base)


def messages(plan: Plan, code: str) -> list[str]:
    found = plan.blockers + plan.warnings
    return [f.message for f in found if f.code == code]


def row(plan: Plan, resource: str, node: str | None = "pve2", storage: str | None = None) -> Any:
    for use in plan.capacity:
        if use.resource == resource and use.node == node and use.storage == storage:
            return use
    return None


DISK32 = "{scsi0: {storage: data, size: 32G}}"


# --- storage ---------------------------------------------------------------------


def test_creates_beyond_free_space_block_with_one_line() -> None:
    state = desired({f"web-0{i}": vm(100 + i, disks=DISK32) for i in (1, 2, 3)})
    live = cluster(storages=[thick("data", "pve2", used=59 * GIB)])
    plan = plan_of(state, live)
    assert messages(plan, "storage-full") == ["data on pve2 needs 96G for 3 new disks, 41G free"]
    assert [b.code for b in plan.blockers] == ["storage-full"]
    use = row(plan, "storage", storage="data")
    assert (use.before, use.after, use.limit) == (59 * GIB, 155 * GIB, 100 * GIB)
    assert use.percent == 155.0 and use.over and not use.thin
    assert use.detail == "3 new disks"


def test_creates_that_fit_pass_and_are_shown() -> None:
    state = desired({"web-01": vm(101, disks=DISK32)})
    plan = plan_of(state, cluster(storages=[thick("data", "pve2", used=59 * GIB)]))
    assert plan.blockers == [] and messages(plan, "storage-thin") == []
    use = row(plan, "storage", storage="data")
    assert (use.after, use.percent, use.over) == (91 * GIB, 91.0, False)


def test_disk_growth_counts_the_difference() -> None:
    live_vm = LiveGuest(
        vmid=101,
        type="qemu",
        name="db-01",
        node="pve2",
        status="running",
        maxmem=2 * GIB,
        maxcpu=2,
        config={"memory": "2048", "cores": "2", "scsi0": "data:vm-101-disk-0,size=32G"},
    )
    state = desired(
        {"db-01": vm(101, memory=2048, cores=2, disks="{scsi0: {storage: data, size: 64G}}")}
    )
    live = cluster(storages=[thick("data", "pve2", used=80 * GIB)], guests=[live_vm])
    plan = plan_of(state, live)
    assert messages(plan, "storage-full") == ["data on pve2 needs 32G for 1 disk growth, 20G free"]
    # memory and vCPUs did not move: only the storage row
    assert [u.resource for u in plan.capacity] == ["storage"]


def test_a_new_disk_and_a_growth_on_one_update_are_told_apart() -> None:
    live_vm = LiveGuest(
        vmid=101,
        type="qemu",
        name="db-01",
        node="pve2",
        status="stopped",
        config={"memory": "2048", "scsi0": "data:vm-101-disk-0,size=32G"},
    )
    disks = "{scsi0: {storage: data, size: 40G}, scsi1: {storage: data, size: 50G}}"
    state = desired({"db-01": vm(101, power="stopped", disks=disks)})
    plan = plan_of(
        state, cluster(storages=[thick("data", "pve2", used=50 * GIB)], guests=[live_vm])
    )
    assert messages(plan, "storage-full") == [
        "data on pve2 needs 58G for 1 new disk and 1 disk growth, 50G free"
    ]


def test_full_clone_copies_the_template_disk_and_linked_clone_does_not() -> None:
    template = LiveGuest(
        vmid=9000,
        type="qemu",
        name="tpl",
        node="pve2",
        status="stopped",
        template=True,
        maxmem=2 * GIB,
        maxcpu=2,
        maxdisk=40 * GIB,
    )
    storages = [thick("data", "pve2", used=70 * GIB)]
    full = desired({"app-01": vm(101, clone="{vmid: 9000, storage: data}")})
    plan = plan_of(full, cluster(storages=storages, guests=[template]))
    assert messages(plan, "storage-full") == ["data on pve2 needs 40G for 1 full clone, 30G free"]
    # declared disks larger than the template's are what the clone grows to
    grown = desired(
        {"app-01": vm(101, clone="{vmid: 9000}", disks="{scsi0: {storage: data, size: 60G}}")}
    )
    plan = plan_of(grown, cluster(storages=storages, guests=[template]))
    assert messages(plan, "storage-full") == ["data on pve2 needs 60G for 1 full clone, 30G free"]
    linked = desired({"app-01": vm(101, clone="{vmid: 9000, full: false}")})
    plan = plan_of(linked, cluster(storages=storages, guests=[template]))
    assert plan.blockers == [] and row(plan, "storage", storage="data") is None
    # the clone takes the template's memory and vCPUs when the spec leaves them out
    assert row(plan, "memory").after == 2 * GIB and row(plan, "vcpus").after == 2


def test_shared_storage_is_counted_once_for_the_cluster() -> None:
    nfs = [thick("nfs", n, used=50 * GIB, shared=True, plugintype="nfs") for n in ("pve1", "pve2")]
    local = [thick("data", n, used=50 * GIB) for n in ("pve1", "pve2")]
    both = "{scsi0: {storage: nfs, size: 30G}, scsi1: {storage: data, size: 30G}}"
    state = desired({"a": vm(101, node="pve1", disks=both), "b": vm(102, node="pve2", disks=both)})
    plan = plan_of(state, cluster(storages=nfs + local))
    # 60G on the one NFS export (50G free) does not fit; 30G on each node's own storage does
    assert messages(plan, "storage-full") == ["nfs (shared) needs 60G for 2 new disks, 50G free"]
    assert row(plan, "storage", node=None, storage="nfs").after == 110 * GIB
    assert row(plan, "storage", node="pve1", storage="data").after == 80 * GIB
    assert row(plan, "storage", node="pve2", storage="data").after == 80 * GIB


@pytest.mark.parametrize(
    ("plugintype", "capacity"),
    [("lvmthin", ""), ("rbd", ""), ("zfspool", "capacity: {thinStorages: [data]}")],
)
def test_thin_storage_warns_with_the_commitment_instead_of_blocking(
    plugintype: str, capacity: str
) -> None:
    state = desired({f"web-0{i}": vm(100 + i, disks=DISK32) for i in (1, 2, 3)}, capacity)
    live = cluster(storages=[thick("data", "pve2", used=59 * GIB, plugintype=plugintype)])
    plan = plan_of(state, live)
    assert plan.blockers == []
    assert messages(plan, "storage-thin") == [
        "data on pve2 is thin-provisioned and this change commits 96G for 3 new disks, "
        "41G free (234.1 % of it); guests fail to write once it fills"
    ]
    assert row(plan, "storage", storage="data").thin


def test_a_zfspool_not_named_thin_is_judged_thick() -> None:
    state = desired({f"web-0{i}": vm(100 + i, disks=DISK32) for i in (1, 2, 3)})
    live = cluster(storages=[thick("data", "pve2", used=59 * GIB, plugintype="zfspool")])
    assert messages(plan_of(state, live), "storage-full")


def test_container_rootfs_mount_points_and_small_volumes_count() -> None:
    ct = (
        "#ct\nvmid: 201\nnode: pve2\nostemplate: local:vztmpl/d.tar.zst\n"
        "rootfs: {storage: data, size: 8G}\n"
        "mountpoints: {mp0: {storage: data, size: 20G, path: /srv}, "
        "mp1: {source: /mnt/media, path: /media}}\n"
    )
    uefi = vm(101, bios="ovmf", tpmState="{storage: data}", disks=DISK32)
    plan = plan_of(
        desired({"dns": ct, "win": uefi}), cluster(storages=[thick("data", "pve2", used=90 * GIB)])
    )
    assert messages(plan, "storage-full") == [
        "data on pve2 needs 60G for 3 new disks and 2 EFI/TPM/cloud-init volumes, 10G free"
    ]


def test_a_missing_storage_is_left_to_storage_missing() -> None:
    state = desired({"web-01": vm(101, disks="{scsi0: {storage: nowhere, size: 900G}}")})
    plan = plan_of(state, cluster())
    assert [b.code for c in plan.changes for b in c.blockers] == ["storage-missing"]
    assert messages(plan, "storage-full") == [] and row(plan, "storage", storage="nowhere") is None


# --- memory and vCPUs --------------------------------------------------------------


def test_memory_overcommit_counts_undeclared_running_guests_not_stopped_ones() -> None:
    hand_made = running(150, "hand-made", mem_gib=4, cpus=2)
    stopped = LiveGuest(
        vmid=151,
        type="qemu",
        name="cold",
        node="pve2",
        status="stopped",
        maxmem=16 * GIB,
        maxcpu=16,
    )
    state = desired({"big": vm(101, memory="6G", cores=2)})
    plan = plan_of(state, cluster(guests=[hand_made, stopped]))
    assert messages(plan, "memory-overcommit") == [
        "node pve2: the guests that will run need 10G of memory, 125 % of its 8G (threshold 100 %)"
    ]
    assert plan.blockers == []
    use = row(plan, "memory")
    assert (use.before, use.after, use.threshold, use.over) == (4 * GIB, 10 * GIB, 100, True)
    assert (row(plan, "vcpus").before, row(plan, "vcpus").after) == (2, 4)


def test_a_guest_declared_stopped_counts_nothing() -> None:
    hand_made = running(150, "hand-made", mem_gib=4, cpus=2)
    state = desired({"big": vm(101, memory="6G", cores=2, power="stopped")})
    plan = plan_of(state, cluster(guests=[hand_made]))
    assert messages(plan, "memory-overcommit") == [] and plan.capacity == []


def test_stopping_a_running_guest_frees_its_memory_only_when_it_may_be_stopped() -> None:
    live_vm = running(101, "big", mem_gib=6, cpus=2)
    live_vm.config = {"memory": "6144", "cores": "2"}
    allowed = desired(
        {"big": vm(101, memory="6G", cores=2, power="stopped", restartPolicy="IfRequired")}
    )
    plan = plan_of(allowed, cluster(guests=[live_vm]))
    assert (row(plan, "memory").before, row(plan, "memory").after) == (6 * GIB, 0)
    refused = desired({"big": vm(101, memory="6G", cores=2, power="stopped")})
    plan = plan_of(refused, cluster(guests=[live_vm]))
    assert row(plan, "memory") is None  # stop-not-allowed: it keeps running


def test_balloon_minimum_is_counted_and_said() -> None:
    hand_made = running(150, "hand-made", mem_gib=4, cpus=2)
    state = desired({"big": vm(101, memory="6G", balloon="2G", cores=2)})
    plan = plan_of(state, cluster(guests=[hand_made]))
    assert messages(plan, "memory-overcommit") == []
    use = row(plan, "memory")
    assert use.after == 6 * GIB and use.detail == "balloon minimum used for big"
    # the same with a minimum of 5G passes the threshold and says why it counted 9G
    state = desired({"big": vm(101, memory="6G", balloon="5G", cores=2)})
    plan = plan_of(state, cluster(guests=[hand_made]))
    assert messages(plan, "memory-overcommit") == [
        "node pve2: the guests that will run need 9G of memory, 112.5 % of its 8G "
        "(threshold 100 %); balloon minimum used for big"
    ]


def test_live_balloon_of_a_declared_guest_is_used_when_the_spec_leaves_it_out() -> None:
    live_vm = running(101, "big", mem_gib=6, cpus=2)
    live_vm.config = {"memory": "6144", "balloon": "1024", "cores": "2"}
    state = desired({"big": vm(101, memory="7G", cores=2)})
    plan = plan_of(state, cluster(guests=[live_vm]))
    # 1G minimum before and after: growing the maximum moves nothing the plan counts
    assert row(plan, "memory") is None
    state = desired({"big": vm(101, memory="7G", balloon=0, cores=2)})
    plan = plan_of(state, cluster(guests=[live_vm]))
    assert (row(plan, "memory").before, row(plan, "memory").after) == (1 * GIB, 7 * GIB)


def test_vcpu_overcommit_against_the_threshold_and_capacity_block() -> None:
    busy = running(150, "busy", mem_gib=1, cpus=12)
    state = desired({"cpu": vm(101, memory=1024, cores=4, sockets=2)})
    plan = plan_of(state, cluster(guests=[busy]))
    assert messages(plan, "vcpu-overcommit") == [
        "node pve2: the guests that will run have 20 vCPUs on 4 CPUs, 500 % (threshold 400 %)"
    ]
    assert plan.blockers == []
    # vcpus caps cores x sockets; 16 of 4 is 400 %, not above the threshold
    state = desired({"cpu": vm(101, memory=1024, cores=4, sockets=2, vcpus=4)})
    assert messages(plan_of(state, cluster(guests=[busy])), "vcpu-overcommit") == []
    strict = "capacity: {vcpuPercent: 300, memoryPercent: 20, block: true}"
    state = desired({"cpu": vm(101, memory=1024, cores=4, sockets=2, vcpus=4)}, strict)
    plan = plan_of(state, cluster(guests=[busy]))
    assert sorted(b.code for b in plan.blockers) == ["memory-overcommit", "vcpu-overcommit"]
    assert plan.warnings == []


def test_a_container_without_cores_counts_every_cpu_of_its_node() -> None:
    ct = "#ct\nvmid: 201\nnode: pve2\nostemplate: local:vztmpl/d.tar.zst\nmemory: 512\n"
    plan = plan_of(desired({"dns": ct}), cluster())
    assert row(plan, "vcpus").after == 4


def test_a_change_adding_nothing_to_an_overcommitted_node_says_nothing() -> None:
    hog = running(150, "hog", mem_gib=12, cpus=40)
    live_vm = running(101, "web", mem_gib=1, cpus=1)
    live_vm.config = {"memory": "1024", "cores": "1", "tags": "old"}
    state = desired({"web": vm(101, memory=1024, cores=1, tags="[new]")})
    plan = plan_of(state, cluster(guests=[hog, live_vm]))
    assert [c.action.value for c in plan.changes] == ["update"]
    assert plan.capacity == [] and plan.warnings == [] and plan.blockers == []
    # shrinking on a full node is shown, and not warned about
    state = desired({"web": vm(101, memory=512, cores=1, tags="[old]")})
    plan = plan_of(state, cluster(guests=[hog, live_vm]))
    assert row(plan, "memory").over and messages(plan, "memory-overcommit") == []


def test_a_removed_guest_keeps_counting_until_its_deletion_is_approved() -> None:
    live_vm = running(101, "old", mem_gib=6, cpus=2)
    live_vm.config = {"memory": "6144", "cores": "2"}
    base = desired({"old": vm(101, memory="6G", cores=2)})
    head = desired({"new": vm(102, memory="4G", cores=2)})
    plan = plan_of(head, cluster(guests=[live_vm]), base=base)
    assert {c.action.value for c in plan.changes} == {"create", "delete"}
    assert messages(plan, "memory-overcommit") == [
        "node pve2: the guests that will run need 10G of memory, 125 % of its 8G (threshold 100 %)"
    ]


def test_an_offline_or_unknown_node_is_not_judged() -> None:
    live = cluster()
    live.clusters["lab"].nodes["pve2"] = LiveNode("pve2", "offline")
    plan = plan_of(desired({"big": vm(101, memory="64G", node="pve2")}), live)
    assert plan.capacity == [] or all(u.node != "pve2" for u in plan.capacity)
    assert messages(plan, "memory-overcommit") == []


def test_capacity_rows_are_plain_json() -> None:
    state = desired({"web-01": vm(101, memory=2048, disks=DISK32)})
    data = plan_of(state, cluster()).model_dump(mode="json")
    kinds = {(u["resource"], u["node"], u["storage"]) for u in data["capacity"]}
    assert kinds == {("storage", "pve2", "data"), ("memory", "pve2", None), ("vcpus", "pve2", None)}
    assert CapacityUse.model_validate(data["capacity"][0])


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0"),
        (1000, "1000B"),
        (41 * GIB, "41G"),
        (int(40.5 * GIB), "40.5G"),
        (512 * MIB, "512M"),
        (3 << 40, "3T"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_a_balloon_at_the_maximum_is_no_minimum() -> None:
    live_vm = running(101, "big", mem_gib=6, cpus=2)
    live_vm.config = {"memory": "6144", "balloon": "6144", "cores": "2"}
    state = desired({"big": vm(101, memory="7G", cores=2)})
    use = row(plan_of(state, cluster(guests=[live_vm])), "memory")
    # before 6G (a minimum at the maximum is no minimum); after, with 7G, the live 6G
    # minimum counts: 6G, nothing moved
    assert use is None
    state = desired({"big": vm(101, memory="5G", cores=2)})
    use = row(plan_of(state, cluster(guests=[live_vm])), "memory")
    assert (use.before, use.after, use.detail) == (6 * GIB, 5 * GIB, None)


def test_the_listing_keeps_sizes_and_a_malformed_size_only_goes_unjudged() -> None:
    from proxgit.proxmox.reading import parse_resources

    live = ClusterLive(name="lab")
    parse_resources(
        live,
        [
            {"type": "node", "node": "pve1", "status": "online", "maxcpu": 4,
             "maxmem": 8 * GIB, "mem": 2 * GIB},
            {"type": "node", "node": "pve2", "status": "online", "maxcpu": "many",
             "maxmem": None},
            {"type": "storage", "node": "pve1", "storage": "data", "status": "available",
             "content": "images", "shared": 0, "plugintype": "lvm", "disk": 59 * GIB,
             "maxdisk": 100 * GIB},
            {"type": "storage", "node": "pve2", "storage": "data", "status": "available",
             "content": "images", "plugintype": "lvm", "disk": "x", "maxdisk": "y"},
            {"type": "qemu", "vmid": 150, "node": "pve1", "name": "a", "status": "running",
             "maxmem": 4 * GIB, "maxcpu": 2, "maxdisk": "0.5"},
        ],
    )  # fmt: skip
    assert (live.nodes["pve1"].maxmem, live.nodes["pve1"].mem) == (8 * GIB, 2 * GIB)
    assert live.nodes["pve2"].maxcpu is None and live.nodes["pve2"].maxmem is None
    storage = live.storage_on("pve1", "data")
    assert storage is not None and storage.free == 41 * GIB
    assert live.guests[150].maxmem == 4 * GIB and live.guests[150].maxdisk == 0
    big = desired(
        {
            "a": vm(101, node="pve1", memory="6G", disks="{scsi0: {storage: data, size: 50G}}"),
            "b": vm(102, node="pve2", memory="64G", disks="{scsi0: {storage: data, size: 500G}}"),
        }
    )
    plan = build_plan(big, LiveState(clusters={"lab": live}))
    # pve1 is judged; pve2 and its storage report no sizes and are left alone
    assert messages(plan, "storage-full") == ["data on pve1 needs 50G for 1 new disk, 41G free"]
    assert messages(plan, "memory-overcommit") == [
        "node pve1: the guests that will run need 10G of memory, 125 % of its 8G (threshold 100 %)"
    ]
    assert {u.node for u in plan.capacity} == {"pve1"}


def test_a_migration_moves_memory_and_vcpus_to_its_target() -> None:
    app = running(101, "app", node="pve1", mem_gib=6, cpus=2)
    app.config = {"memory": "6144", "cores": "2", "scsi0": "nfs:vm-101-disk-0,size=32G"}
    big = running(150, "big", node="pve2", mem_gib=4, cpus=2)
    nfs = [thick("nfs", n, shared=True, plugintype="nfs") for n in ("pve1", "pve2")]
    base = desired({"app": vm(101, node="pve1", memory="6G", cores=2)})
    head = desired({"app": vm(101, node="pve2", memory="6G", cores=2)})
    plan = plan_of(head, cluster(storages=nfs, guests=[app, big]), base=base)
    assert [c.action.value for c in plan.changes] == ["migrate"]
    source, target = row(plan, "memory", node="pve1"), row(plan, "memory", node="pve2")
    assert (source.before, source.after) == (6 * GIB, 0)
    assert (target.before, target.after) == (4 * GIB, 10 * GIB)
    assert (row(plan, "vcpus", node="pve2").before, row(plan, "vcpus", node="pve2").after) == (
        2,
        4,
    )
    assert messages(plan, "memory-overcommit") == [
        "node pve2: the guests that will run need 10G of memory, 125 % of its 8G (threshold 100 %)"
    ]


# --- a migration copies what the nodes do not share ----------------------------------


def _local_vm(status: str, disk: str = "data:vm-101-disk-0,size=32G") -> LiveGuest:
    app = running(101, "app", node="pve1", mem_gib=1, cpus=1)
    app.status = status
    app.config = {
        "memory": "1024",
        "cores": "1",
        "scsi0": disk,
        "ide2": "data:vm-101-cloudinit,media=cdrom",
        "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
    }
    return app


@pytest.mark.parametrize("status", ["running", "stopped"], ids=["online", "offline"])
def test_a_migration_counts_the_disks_it_copies_against_the_target_storage(status: str) -> None:
    app = _local_vm(status)
    base = desired({"app": vm(101, node="pve1", memory=1024, cores=1)})
    head = desired({"app": vm(101, node="pve2", memory=1024, cores=1)})
    storages = [thick("data", "pve1", used=40 * GIB), thick("data", "pve2", used=10 * GIB)]
    plan = plan_of(head, cluster(storages=storages, guests=[app]), base=base)
    [change] = plan.changes
    assert change.action.value == "migrate"
    assert change.migration is not None
    assert change.migration.with_local_disks is (status == "running")
    use = row(plan, "storage", node="pve2", storage="data")
    assert use is not None, plan.capacity
    assert (use.before, use.after) == (10 * GIB, 10 * GIB + 32 * GIB + 4 * MIB)
    assert use.detail == "2 disks copied by migration"
    assert row(plan, "storage", node="pve1", storage="data") is None  # the source only frees


def test_a_migration_that_does_not_fit_the_target_storage_is_blocked() -> None:
    app = _local_vm("running", disk="data:vm-101-disk-0,size=80G")
    base = desired({"app": vm(101, node="pve1", memory=1024, cores=1)})
    head = desired({"app": vm(101, node="pve2", memory=1024, cores=1)})
    storages = [thick("data", "pve1"), thick("data", "pve2", used=50 * GIB)]
    plan = plan_of(head, cluster(storages=storages, guests=[app]), base=base)
    assert messages(plan, "storage-full") == [
        "data on pve2 needs 80G for 2 disks copied by migration, 50G free"
    ]
    assert row(plan, "storage", node="pve2", storage="data").over is True


def test_a_migration_on_shared_storage_copies_nothing() -> None:
    app = _local_vm("running", disk="nfs:vm-101-disk-0,size=32G")
    app.config.pop("ide2")
    base = desired({"app": vm(101, node="pve1", memory=1024, cores=1)})
    head = desired({"app": vm(101, node="pve2", memory=1024, cores=1)})
    nfs = [thick("nfs", n, shared=True, plugintype="nfs") for n in ("pve1", "pve2")]
    plan = plan_of(head, cluster(storages=nfs, guests=[app]), base=base)
    assert [u for u in plan.capacity if u.resource == "storage"] == []


def test_a_migration_with_a_disk_growth_counts_the_new_size_once() -> None:
    app = _local_vm("stopped")
    app.config.pop("ide2")
    base = desired(
        {"app": vm(101, node="pve1", memory=1024, cores=1, disks=DISK32, power="stopped")}
    )
    head = desired(
        {
            "app": vm(
                101,
                node="pve2",
                memory=1024,
                cores=1,
                disks=DISK32.replace("32G", "40G"),
                power="stopped",
            )
        }
    )
    plan = plan_of(head, cluster(guests=[app]), base=base)
    use = row(plan, "storage", node="pve2", storage="data")
    assert use is not None and use.after - use.before == 40 * GIB, plan.capacity
    assert use.detail == "1 disk growth and 1 disk copied by migration"


def test_a_stopped_container_on_local_storage_copies_its_rootfs() -> None:
    ct = LiveGuest(vmid=201, type="lxc", name="dns", node="pve1", status="stopped")
    ct.config = {"rootfs": "data:vm-201-disk-0,size=8G", "memory": "512"}
    base = desired({"dns": "#ct\n" + vm(201, node="pve1", memory=512, power="stopped")})
    head = desired({"dns": "#ct\n" + vm(201, node="pve2", memory=512, power="stopped")})
    plan = plan_of(head, cluster(guests=[ct]), base=base)
    use = row(plan, "storage", node="pve2", storage="data")
    assert use is not None and use.after - use.before == 8 * GIB, plan.capacity
