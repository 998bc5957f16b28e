"""Capacity: whether a change fits its nodes and storages, said before anything is created.

Everything comes from what the plan has read already: ``/cluster/resources``
(each node's RAM and CPUs, each storage's size, use, type and ``shared`` flag,
each guest's memory, vCPUs and boot disk) and the configs of the declared
guests. Capacity costs no request of its own.

The rules, each finding one line:

- **Storage (blocker ``storage-full``).** What the change allocates on each
  storage is summed: new disks, root file systems and mount points at their
  size, EFI, TPM and cloud-init volumes at 4 MiB, disk growth by the
  difference, a full clone by its template's boot disk (the listing's
  ``maxdisk``) or its declared disks when they are larger, on ``clone.storage``
  or the first declared disk's storage. A linked clone allocates nothing up
  front. A migration copies the volumes on storage the nodes do not share
  (online with ``with-local-disks``, or offline) to the same storage on the
  target: each at the size its config says. When the sum exceeds what is free,
  the plan is blocked. A shared storage (``shared: 1``: Ceph, NFS) is counted
  once for the cluster, not once per node. A thin-provisioned storage
  (``lvmthin``, ``rbd``, and those named in ``capacity.thinStorages``) allocates
  as guests write: it gets a warning (``storage-thin``) with the commitment
  instead of a blocker.
- **Memory and vCPUs per node (warnings ``memory-overcommit``,
  ``vcpu-overcommit``; blockers with ``capacity.block: true``).** After the
  change, the guests that will run on each node are summed: the guests the
  plan creates, updates or migrates (on their target) as declared (``power``,
  ``memory``, ``balloon``, cores, sockets, ``vcpus``; what they leave out as
  live), every other guest as it is live, undeclared guests included. A guest
  that will be stopped counts nothing; a guest whose file was removed keeps
  running until its deletion is approved, and counts. A VM with a balloon
  minimum counts at that minimum, and the finding says so. A container without
  ``cores`` may use every CPU of its node and counts so, as Proxmox reports it.
  The plan warns when a sum passes ``capacity.memoryPercent`` (default 100) of
  the node's RAM or ``capacity.vcpuPercent`` (400) of its CPUs, and the change
  adds to it: a change that adds nothing to an already full node says nothing.

Only what the change moves is listed in ``Plan.capacity`` (before, after,
limit), for the views' "Capacity" table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from proxgit.loading import DesiredState
from proxgit.models.base import parse_size
from proxgit.models.config import Capacity
from proxgit.models.guests import ContainerSpec, Power, RestartPolicy, VirtualMachineSpec
from proxgit.planning.migration import SMALL_VOLUME, copied_volumes
from proxgit.planning.plan import Action, CapacityUse, Finding, GuestChange, Plan
from proxgit.proxmox.live import ClusterLive, LiveGuest
from proxgit.proxmox.translate import auto_efidisk, cloudinit_drive

MIB = 1 << 20
DEFAULT_MEMORY_MIB = 512  # Proxmox's default for both kinds
THIN_TYPES = frozenset({"lvmthin", "rbd"})

NEW_DISK = "new disk"
GROWTH = "disk growth"
CLONE = "full clone"
SMALL = "EFI/TPM/cloud-init volume"
COPY = "disk copied by migration"
_PLURAL = {
    NEW_DISK: "new disks",
    GROWTH: "disk growths",
    CLONE: "full clones",
    SMALL: "EFI/TPM/cloud-init volumes",
    COPY: "disks copied by migration",
}

Spec = VirtualMachineSpec | ContainerSpec


@dataclass(frozen=True)
class StorageNeed:
    """Bytes one change allocates on one storage of one node."""

    node: str
    storage: str
    size: int
    what: str  # NEW_DISK, GROWTH, CLONE, SMALL or COPY


@dataclass(frozen=True)
class Footprint:
    """What one guest takes of its node: memory in bytes, vCPUs, and whether it runs."""

    name: str
    node: str
    running: bool
    memory: int
    vcpus: int
    balloon: int | None = None  # the balloon minimum in bytes, when one is set

    @property
    def ballooned(self) -> bool:
        """A minimum below the maximum; at or above it, it is no minimum."""
        return bool(self.balloon) and (self.balloon or 0) < self.memory

    @property
    def counted_memory(self) -> int:
        return self.balloon if self.ballooned and self.balloon else self.memory


def check_capacity(plan: Plan, cluster: ClusterLive, head: DesiredState) -> None:
    """Add ``cluster``'s capacity rows and findings to ``plan`` (see the module docstring)."""
    settings = head.config.spec.capacity
    specs: dict[int, Spec] = {
        vmid: guest.document.spec
        for (name, vmid), guest in head.guests.items()
        if name == cluster.name
    }
    moving = [
        c
        for c in plan.changes
        if c.cluster == cluster.name
        and c.action in (Action.create, Action.update, Action.migrate)
        and c.vmid in specs
    ]
    suffix = f", cluster {cluster.name}" if len(head.config.spec.clusters) > 1 else ""
    _check_nodes(plan, cluster, moving, specs, settings, suffix)
    _check_storages(plan, cluster, moving, specs, settings, suffix)


# --- storage ---------------------------------------------------------------------


def storage_needs(change: GuestChange, spec: Spec, cluster: ClusterLive) -> list[StorageNeed]:
    """What ``change`` allocates, storage by storage, on the node it will run on."""
    node = _node_after(change, spec)
    if change.action == Action.create:
        return _create_needs(node, spec, cluster)
    needs = _update_needs(node, change, spec)
    live = cluster.guests.get(change.vmid)
    if change.migration is not None and live is not None:
        # a move copies the volumes on storage the nodes do not share (online with
        # with-local-disks, or offline) to the storage of the same name on the target
        needs.extend(
            StorageNeed(node, storage, size, COPY)
            for storage, size in copied_volumes(live, change.migration.target, cluster)
        )
    return needs


def _create_needs(node: str, spec: Spec, cluster: ClusterLive) -> list[StorageNeed]:
    needs: list[StorageNeed] = []
    if isinstance(spec, ContainerSpec):
        if spec.rootfs is not None:
            needs.append(StorageNeed(node, spec.rootfs.storage, spec.rootfs.size, NEW_DISK))
        for mount in (spec.mountpoints or {}).values():
            if mount.storage is not None and mount.size is not None:
                needs.append(StorageNeed(node, mount.storage, mount.size, NEW_DISK))
        return needs
    disks = list((spec.disks or {}).values())
    if spec.clone is not None:
        if not spec.clone.full:
            return needs  # a linked clone shares its template's volumes
        template = _template(cluster, spec.clone.vmid, spec.clone.name)
        size = max(sum(d.size for d in disks), (template.maxdisk or 0) if template else 0)
        storage = spec.clone.storage or (disks[0].storage if disks else None)
        if storage is not None and size > 0:
            needs.append(StorageNeed(node, storage, size, CLONE))
        return needs
    needs.extend(StorageNeed(node, d.storage, d.size, NEW_DISK) for d in disks)
    small: list[str] = []
    if spec.efi_disk is not None:
        small.append(spec.efi_disk.storage)
    auto = auto_efidisk(spec)
    if auto is not None:
        small.append(auto.split(":", 1)[0])
    if spec.tpm_state is not None:
        small.append(spec.tpm_state.storage)
    drive = cloudinit_drive(spec)
    if drive is not None:
        small.append(drive[1].split(":", 1)[0])
    needs.extend(StorageNeed(node, storage, SMALL_VOLUME, SMALL) for storage in small)
    return needs


def _update_needs(node: str, change: GuestChange, spec: Spec) -> list[StorageNeed]:
    needs: list[StorageNeed] = []
    for item in change.fields:
        if item.path.endswith(".size") and item.after is not None:
            after = _size(item.after)
            before = _size(item.before) if item.before is not None else 0
            storage = _volume_storage(spec, item.path)
            if after is None or before is None or after <= before or storage is None:
                continue
            what = NEW_DISK if item.before is None else GROWTH
            needs.append(StorageNeed(node, storage, after - before, what))
        elif (
            item.path in ("efiDisk.storage", "tpmState.storage")
            and item.before is None
            and item.after
        ):
            needs.append(StorageNeed(node, str(item.after), SMALL_VOLUME, SMALL))
    return needs


def _volume_storage(spec: Spec, path: str) -> str | None:
    """The declared storage of the volume whose size ``path`` names."""
    parts = path.split(".")
    if isinstance(spec, VirtualMachineSpec):
        if parts[0] == "disks" and len(parts) == 3:
            disk = (spec.disks or {}).get(parts[1])
            return disk.storage if disk else None
        return None
    if parts[0] == "rootfs":
        return spec.rootfs.storage if spec.rootfs else None
    if parts[0] == "mountpoints" and len(parts) == 3:
        mount = (spec.mountpoints or {}).get(parts[1])
        return mount.storage if mount else None
    return None


def _check_storages(
    plan: Plan,
    cluster: ClusterLive,
    moving: list[GuestChange],
    specs: dict[int, Spec],
    settings: Capacity,
    suffix: str,
) -> None:
    totals: dict[tuple[str, str | None], list[StorageNeed]] = {}
    for change in moving:
        for need in storage_needs(change, specs[change.vmid], cluster):
            entry = cluster.storage_on(need.node, need.storage)
            if entry is None or not entry.maxdisk or need.size <= 0:
                continue  # storage-missing says so; a storage without a size is not judged
            key = (need.storage, None if entry.shared else need.node)
            totals.setdefault(key, []).append(need)
    for (storage, node), needs in sorted(totals.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        entry = cluster.storage_on(node or needs[0].node, storage)
        assert entry is not None and entry.maxdisk is not None and entry.free is not None
        size = sum(n.size for n in needs)
        before = entry.disk or 0
        free = entry.free
        thin = entry.plugintype in THIN_TYPES or storage in settings.thin_storages
        what = describe_needs(needs)
        plan.capacity.append(
            CapacityUse(
                cluster=cluster.name,
                node=node,
                resource="storage",
                storage=storage,
                before=before,
                after=before + size,
                limit=entry.maxdisk,
                percent=_percent(before + size, entry.maxdisk),
                thin=thin,
                over=size > free,
                detail=what,
            )
        )
        if size <= free:
            continue
        where = f"{storage} on {node}{suffix}" if node else f"{storage} (shared{suffix})"
        if thin:
            plan.warnings.append(
                Finding(
                    code="storage-thin",
                    message=f"{where} is thin-provisioned and this change commits "
                    f"{human_size(size)} for {what}, {human_size(free)} free "
                    f"({_percent(size, max(free, 1)):g} % of it); guests fail to write once "
                    "it fills",
                )
            )
        else:
            plan.blockers.append(
                Finding(
                    code="storage-full",
                    message=f"{where} needs {human_size(size)} for {what}, {human_size(free)} free",
                )
            )


def describe_needs(needs: Iterable[StorageNeed]) -> str:
    """``3 new disks and 1 disk growth``: the needs counted by kind."""
    counts: dict[str, int] = {}
    for need in needs:
        counts[need.what] = counts.get(need.what, 0) + 1
    parts = [
        f"{n} {what if n == 1 else _PLURAL[what]}"
        for what in (NEW_DISK, GROWTH, CLONE, SMALL, COPY)
        if (n := counts.get(what, 0))
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --- memory and vCPUs --------------------------------------------------------------


def live_footprint(guest: LiveGuest) -> Footprint:
    """A guest as it is now: the listing's memory and vCPUs, the balloon from its config."""
    config = guest.config or {}
    memory = guest.maxmem
    if memory is None:
        memory = (_mib(config.get("memory")) or DEFAULT_MEMORY_MIB) * MIB
    balloon = _mib(config.get("balloon")) if guest.type == "qemu" else None
    return Footprint(
        name=guest.name,
        node=guest.node,
        running=guest.status == "running",
        memory=memory,
        vcpus=guest.maxcpu if guest.maxcpu is not None else _live_vcpus(guest),
        balloon=balloon * MIB if balloon else None,
    )


def desired_footprint(
    change: GuestChange, spec: Spec, live: LiveGuest | None, cluster: ClusterLive
) -> Footprint:
    """A created or updated guest after the change: the spec over its live values."""
    now = live_footprint(live) if live is not None else None
    node = _node_after(change, spec)
    running = spec.power == Power.running or (
        # power: stopped on a running guest is applied only with IfRequired
        now is not None and now.running and spec.restart_policy != RestartPolicy.if_required
    )
    template = None
    if isinstance(spec, VirtualMachineSpec) and spec.clone is not None and live is None:
        template = _template(cluster, spec.clone.vmid, spec.clone.name)
    if spec.memory is not None:
        memory = spec.memory * MIB
    elif now is not None:
        memory = now.memory
    elif template is not None and template.maxmem:
        memory = template.maxmem
    else:
        memory = DEFAULT_MEMORY_MIB * MIB
    balloon: int | None = None
    if isinstance(spec, VirtualMachineSpec):
        if spec.balloon is not None:
            balloon = spec.balloon * MIB if spec.balloon else None
        elif now is not None:
            balloon = now.balloon
    return Footprint(
        name=change.name,
        node=node,
        running=running,
        memory=memory,
        vcpus=_desired_vcpus(spec, live, now, template, cluster, node),
        balloon=balloon,
    )


def _desired_vcpus(
    spec: Spec,
    live: LiveGuest | None,
    now: Footprint | None,
    template: LiveGuest | None,
    cluster: ClusterLive,
    node: str,
) -> int:
    config = (live.config or {}) if live is not None else {}
    if isinstance(spec, ContainerSpec):
        if spec.cores is not None:
            return spec.cores
        if now is not None:
            return now.vcpus
        host = cluster.nodes.get(node)
        return host.maxcpu if host is not None and host.maxcpu else 1
    if spec.vcpus is not None:
        return spec.vcpus
    plugged = _count(config.get("vcpus"))
    if plugged:
        return plugged  # the live vcpus the spec leaves alone cap cores x sockets
    if spec.cores is None and spec.sockets is None:
        if now is not None:
            return now.vcpus
        return template.maxcpu if template is not None and template.maxcpu else 1
    from_template = template.maxcpu if template is not None else None
    cores = spec.cores or _count(config.get("cores")) or from_template or 1
    sockets = spec.sockets or _count(config.get("sockets")) or 1
    return cores * sockets


def _check_nodes(
    plan: Plan,
    cluster: ClusterLive,
    moving: list[GuestChange],
    specs: dict[int, Spec],
    settings: Capacity,
    suffix: str,
) -> None:
    before = {vmid: live_footprint(g) for vmid, g in cluster.guests.items() if not g.template}
    after = dict(before)
    for change in moving:
        live = cluster.guests.get(change.vmid)
        if live is not None and live.template:
            continue  # vmid-in-use says so
        after[change.vmid] = desired_footprint(change, specs[change.vmid], live, cluster)
    code_kind = "blocker" if settings.block else "warning"
    for name, node in sorted(cluster.nodes.items()):
        if node.status != "online":
            continue
        was = [f for f in before.values() if f.node == name and f.running]
        will = [f for f in after.values() if f.node == name and f.running]
        if node.maxmem:
            mem_before = sum(f.counted_memory for f in was)
            mem_after = sum(f.counted_memory for f in will)
            ballooned = sorted(f.name for f in will if f.ballooned)
            detail = f"balloon minimum used for {_names(ballooned)}" if ballooned else None
            use = _node_use(
                plan,
                cluster,
                name,
                "memory",
                mem_before,
                mem_after,
                node.maxmem,
                settings.memory_percent,
                detail,
            )
            if use is not None and use.over and mem_after > mem_before:
                _finding(
                    plan,
                    code_kind,
                    "memory-overcommit",
                    f"node {name}{suffix}: the guests that will run need "
                    f"{human_size(mem_after)} of memory, {use.percent:g} % of its "
                    f"{human_size(node.maxmem)} (threshold {settings.memory_percent} %)"
                    + (f"; {detail}" if detail else ""),
                )
        if node.maxcpu:
            cpu_before = sum(f.vcpus for f in was)
            cpu_after = sum(f.vcpus for f in will)
            use = _node_use(
                plan,
                cluster,
                name,
                "vcpus",
                cpu_before,
                cpu_after,
                node.maxcpu,
                settings.vcpu_percent,
                None,
            )
            if use is not None and use.over and cpu_after > cpu_before:
                _finding(
                    plan,
                    code_kind,
                    "vcpu-overcommit",
                    f"node {name}{suffix}: the guests that will run have {cpu_after} vCPUs "
                    f"on {node.maxcpu} CPUs, {use.percent:g} % "
                    f"(threshold {settings.vcpu_percent} %)",
                )


def _node_use(
    plan: Plan,
    cluster: ClusterLive,
    node: str,
    resource: Literal["memory", "vcpus"],
    before: int,
    after: int,
    limit: int,
    threshold: int,
    detail: str | None,
) -> CapacityUse | None:
    """One node resource's row in the plan's capacity section, when the change moves it."""
    if before == after:
        return None
    use = CapacityUse(
        cluster=cluster.name,
        node=node,
        resource=resource,
        before=before,
        after=after,
        limit=limit,
        percent=_percent(after, limit),
        threshold=threshold,
        over=after * 100 > threshold * limit,
        detail=detail,
    )
    plan.capacity.append(use)
    return use


def _node_after(change: GuestChange, spec: Spec) -> str:
    """Where the guest runs after the change: a migration's target, else where it is."""
    if change.migration is not None:
        return change.migration.target
    return change.node or spec.node


def _finding(plan: Plan, kind: str, code: str, message: str) -> None:
    target = plan.blockers if kind == "blocker" else plan.warnings
    target.append(Finding(code=code, message=message))


# --- small helpers -----------------------------------------------------------------


def human_size(size: int) -> str:
    """Bytes for a reader: ``41G``, ``40.5G``, ``512M`` (binary units, one decimal)."""
    if size == 0:
        return "0"
    for unit, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor:
            text = f"{size / factor:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{size}B"


def _percent(part: int, whole: int) -> float:
    return round(part * 100 / whole, 1)


def _names(names: list[str], shown: int = 3) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _template(cluster: ClusterLive, vmid: int | None, name: str | None) -> LiveGuest | None:
    return next(
        (
            g
            for g in cluster.guests.values()
            if g.template
            and g.type == "qemu"
            and ((vmid is not None and g.vmid == vmid) or (name is not None and g.name == name))
        ),
        None,
    )


def _size(value: object) -> int | None:
    try:
        return parse_size(value)
    except ValueError:
        return None


def _mib(value: object) -> int | None:
    """A memory value as Proxmox keeps it (``2048`` or ``current=2048``), in MiB."""
    if value is None:
        return None
    text = str(value).split(",")[0].rpartition("=")[2]
    return _count(text)


def _count(value: object) -> int | None:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return None


def _live_vcpus(guest: LiveGuest) -> int:
    config = guest.config or {}
    if _count(config.get("vcpus")):
        return _count(config.get("vcpus")) or 1
    return (_count(config.get("cores")) or 1) * (_count(config.get("sockets")) or 1)
