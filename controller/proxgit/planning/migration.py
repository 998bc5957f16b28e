"""Moving an existing guest to the node its file names: a planned migration.

A guest's ``node`` is where it runs. When a change edits ``spec.node`` of a
guest that exists, the plan's action is ``migrate``, with how Proxmox moves it:

- a running VM: **online** (it keeps running; disks on storage the nodes do not
  share are copied live with ``with-local-disks``);
- a running container: **restart** (Proxmox shuts it down, moves it and starts
  it on the target). That stops a running guest, so it is gated like a restart:
  only ``restartPolicy: IfRequired`` allows it, else the plan is blocked;
- a stopped guest: **offline**.

What cannot move is a blocker, read from the guest's live config: host devices
passed through by id (``hostpciN``, ``usbN: host=``, a container's ``devN``;
a cluster resource ``mapping=`` moves), serial and parallel ports on host
devices, physical disks and bind mounts (host paths; a container mount point
marked ``shared=1`` moves), an ISO on a storage only the source node has,
snapshots of a running VM whose disks would be copied live; a target node
that does not exist or is not online; a storage the guest uses that the
target node lacks. The volumes a move copies (:func:`copied_volumes`) count
against the target's storage in the plan's capacity rows.

A guest whose ``node`` differs from its file although the file's ``node`` did
not change (HA or an operator moved it) is left where it runs, and the plan
says so: proxgit does not fight HA. Without a base revision (a full plan, the
first apply of a cluster) there is no telling whether the file changed, so no
guest is migrated and each difference is reported the same way.

Pure: no I/O; it reads the live config and the cluster listing it is given.
"""

from __future__ import annotations

from proxgit.models.base import parse_size
from proxgit.planning.plan import Finding, Migration, MigrationMode
from proxgit.proxmox.fields import holds_volume, key_for, parse_property_string
from proxgit.proxmox.live import ClusterLive, LiveGuest

_USABLE_STORAGE = ("available", "active")
SMALL_VOLUME = 4 << 20  # EFI vars, TPM state, cloud-init: Proxmox allocates a few MiB


def plan_migration(
    live: LiveGuest, target: str, cluster: ClusterLive, *, restart_policy: str
) -> tuple[Migration, list[Finding]]:
    """How ``live`` moves to ``target``, and what stands in the way (blockers)."""
    running = live.status == "running"
    if live.type == "lxc":
        mode = MigrationMode.restart if running else MigrationMode.offline
    else:
        mode = MigrationMode.online if running else MigrationMode.offline
    blockers: list[Finding] = []
    where = f"{live.node} -> {target}"
    node = cluster.nodes.get(target)
    if node is None:
        known = ", ".join(sorted(cluster.nodes)) or "none"
        blockers.append(
            Finding(
                code="migrate-target-missing",
                message=f"node {where}: node '{target}' does not exist in cluster "
                f"'{cluster.name}' (nodes: {known}); nothing moves",
            )
        )
    elif node.status != "online":
        blockers.append(
            Finding(
                code="migrate-target-offline",
                message=f"node {where}: node '{target}' is {node.status}; a guest can only "
                "move to an online node",
            )
        )
    source = cluster.nodes.get(live.node)
    if source is not None and source.status != "online":
        blockers.append(
            Finding(
                code="migrate-source-offline",
                message=f"node {where}: node '{live.node}' is {source.status}; Proxmox can "
                "only migrate from an online node (HA recovers guests of a failed node)",
            )
        )
    if mode == MigrationMode.restart and restart_policy != "IfRequired":
        blockers.append(
            Finding(
                code="migrate-restart-not-allowed",
                message=f"node {where}: moving a running container restarts it, and its "
                f"restartPolicy is {restart_policy}; set restartPolicy: IfRequired, or stop "
                "it first (power: stopped)",
            )
        )
    local_disks = False
    for key, raw in sorted((live.config or {}).items()):
        problem, storage = _resource(live.type, key, str(raw))
        if problem is not None:
            blockers.append(
                Finding(
                    code="migrate-local-resource",
                    message=f"node {where}: {key} {problem}; it can't move with the guest",
                    key=key,
                    value=_shown(str(raw)),
                )
            )
        if storage is None:
            continue
        storage_id, cdrom = storage
        here = cluster.storage_on(live.node, storage_id)
        there = cluster.storage_on(target, storage_id)
        shared = bool((here and here.shared) or (there and there.shared))
        if cdrom and not shared:
            blockers.append(
                Finding(
                    code="migrate-local-resource",
                    message=f"node {where}: {key} is an ISO on storage '{storage_id}', which "
                    "the nodes do not share; eject it or use a shared ISO storage",
                    key=key,
                    value=_shown(str(raw)),
                )
            )
            continue
        online = node is not None and node.status == "online"
        if online and (there is None or there.status not in _USABLE_STORAGE):
            state = "missing" if there is None else there.status
            blockers.append(
                Finding(
                    code="migrate-storage-missing",
                    message=f"node {where}: {key} is on storage '{storage_id}', which is "
                    f"{state} on node '{target}'",
                    key=key,
                )
            )
        if not shared and not cdrom:
            local_disks = True
    config = live.config or {}
    if local_disks and mode == MigrationMode.online and config.get("parent"):
        blockers.append(
            Finding(
                code="migrate-local-resource",
                message=f"node {where}: the running VM has snapshots (current: "
                f"{config['parent']}) and disks on storage the nodes do not share; Proxmox "
                "can't copy those disks live: stop it for an offline move, or remove the "
                "snapshots",
                key="parent",
            )
        )
    migration = Migration(
        source=live.node,
        target=target,
        mode=mode,
        with_local_disks=local_disks and mode == MigrationMode.online,
    )
    return migration, blockers


def copied_volumes(live: LiveGuest, target: str, cluster: ClusterLive) -> list[tuple[str, int]]:
    """(storage, bytes) of each volume a move of ``live`` to ``target`` copies: those on
    storage the nodes do not share (online with ``with-local-disks``, or offline), kept on
    the storage of the same name there. A cloud-init drive is regenerated, a few MiB; a
    volume whose size the config does not say counts nothing."""
    copied: list[tuple[str, int]] = []
    for key, raw in sorted((live.config or {}).items()):
        problem, storage = _resource(live.type, key, str(raw))
        if problem is not None or storage is None or storage[1]:
            continue
        storage_id = storage[0]
        here = cluster.storage_on(live.node, storage_id)
        there = cluster.storage_on(target, storage_id)
        if (here and here.shared) or (there and there.shared):
            continue
        size_text = parse_property_string(str(raw), "volume").get("size")
        if "cloudinit" in str(raw).split(",", 1)[0]:
            copied.append((storage_id, SMALL_VOLUME))
            continue
        try:
            size = parse_size(size_text, bare_unit="B") if size_text else 0
        except ValueError:
            size = 0
        if size > 0:
            copied.append((storage_id, size))
    return copied


def migration_note(migration: Migration, *, more: bool) -> Finding:
    """The plan's one line on how the guest moves (and that its other changes follow)."""
    how = {
        MigrationMode.online: "online (the VM keeps running"
        + ("; disks on unshared storage are copied live)" if migration.with_local_disks else ")"),
        MigrationMode.restart: "in restart mode (the container is shut down, moved and "
        "started again: restartPolicy: IfRequired)",
        MigrationMode.offline: "offline (the guest is stopped)",
    }[migration.mode]
    rest = f"; then the other changes are made on {migration.target}" if more else ""
    return Finding(
        code="migrate",
        message=f"proxgit migrates it from {migration.source} to {migration.target} {how}{rest}",
    )


def node_moved_warning(live: LiveGuest, declared: str, *, base: bool) -> Finding:
    """The note for a guest that runs elsewhere than its file says, left where it runs."""
    what = "vm" if live.type == "qemu" else "ct"
    why = (
        "its file's node did not change in this change (HA or an operator moved it)"
        if base
        else "without a base revision proxgit can't tell whether its file's node changed"
    )
    return Finding(
        code="node-moved",
        message=f"{what} {live.vmid} runs on {live.node}, its file says {declared}; not "
        f"migrated back because {why}. Set spec.node: {live.node} to record where it "
        f"runs, or migrate it back in Proxmox",
    )


def _resource(kind: str, key: str, raw: str) -> tuple[str | None, tuple[str, bool] | None]:
    """What ``key: raw`` pins to its node (a reason, or None), and the storage it uses
    (``(storage id, is an ISO)``, or None)."""
    row = key_for(kind, key)
    if row is None:
        return None, None
    if row.name == "unused":
        return None, _storage_of(raw)
    if row.name in ("hostpci", "usb"):
        props = parse_property_string(raw, "host")
        if "mapping" in props:
            return None, None
        host = props.get("host", "")
        if row.name == "usb" and host == "spice":
            return None, None
        return f"passes host device '{host}' through (use a cluster resource mapping)", None
    if row.name == "dev":
        path = parse_property_string(raw, "path").get("path", raw)
        return f"passes host device '{path}' through", None
    if row.name == "serial" and raw.startswith("/dev/"):
        return f"uses the host's serial device '{raw}'", None
    if row.name == "parallel":
        return f"uses the host's parallel port '{raw}'", None
    if not holds_volume(row):
        return None, None
    default = row.default_sub
    props = parse_property_string(raw, default.name if default else None)
    volume = props.get(default.name if default else "", "")
    if volume.startswith("/"):
        if kind == "lxc" and props.get("shared") in ("1", "true", "yes", "on"):
            return None, None  # marked as present on every node
        what = "bind-mounts host path" if kind == "lxc" else "passes physical disk"
        return f"{what} '{volume}'", None
    if volume == "cdrom":
        return "uses the host's physical CD drive", None
    if ":" not in volume:
        return None, None
    cdrom = props.get("media") == "cdrom" and "cloudinit" not in volume
    return None, (volume.split(":", 1)[0], cdrom)


def _storage_of(raw: str) -> tuple[str, bool] | None:
    volume = raw.split(",", 1)[0]
    return (volume.split(":", 1)[0], False) if ":" in volume else None


def _shown(raw: str) -> str:
    return raw if len(raw) <= 200 else raw[:200] + "..."
