"""The planner: a pure function from (desired head, desired base, live, actor) to a Plan.

No network, no Git, no clock. Deletions come only from documents removed
between base and head, never from live state; live guests that nothing
declares are reported as unmanaged and never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from proxgit.layout import deletion_request_path
from proxgit.loading import DesiredGuest, DesiredState
from proxgit.models import Config, Container, Permission, VirtualMachine, format_size
from proxgit.models.deletion import DeletionState
from proxgit.models.guests import ContainerSpec, VirtualMachineSpec
from proxgit.models.people import resolve, roles_granting
from proxgit.pauses import gc_paused
from proxgit.planning.capacity import check_capacity
from proxgit.planning.drift import (
    DriftKind,
    DriftReport,
    DriftSummary,
    declared_drift,
    undeclared_guest,
)
from proxgit.planning.effects import lxc_effect, parse_hotplug, qemu_effect, rule_of
from proxgit.planning.fieldchange import Effect, FieldChange
from proxgit.planning.migration import migration_note, node_moved_warning, plan_migration
from proxgit.planning.plan import (
    Action,
    Finding,
    GuestChange,
    MigrationMode,
    Plan,
)
from proxgit.planning.removal import config_key_of, removed_fields, required
from proxgit.proxmox.fields import EXTRA, absent_value, holds_volume, key_for, root_only
from proxgit.proxmox.fields import resolve as resolve_path
from proxgit.proxmox.live import TYPE_BY_KIND, ClusterLive, LiveGuest, LiveState
from proxgit.proxmox.normalize import FlatView, desired_view
from proxgit.secrets import SECRETISH_TEXT


@dataclass(frozen=True)
class LiveReads:
    """What the reader must fetch beyond ``/cluster/resources`` for a plan."""

    # cluster -> vmids whose config (and pending changes) the plan needs
    guests: dict[str, set[int]] = field(default_factory=dict)
    # cluster -> (node, storage) pairs whose container templates the plan checks
    template_storages: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    # the clusters to read at all; None: every cluster of proxgit.yaml
    clusters: set[str] | None = None


def reads_for(head: DesiredState, base: DesiredState | None, *, full: bool = False) -> LiveReads:
    """What a plan reads: the guests it plans, and the storages of containers' ostemplates.

    With a base (a pull request's plan, apply since the last applied revision)
    only the guests whose documents differ between base and head are read (created,
    updated, removed), in the clusters they are in: a change costs what it
    changes, not what the estate holds. Without a base, or with ``full``
    (``plan --drift``), every guest declared in head or base is read.
    """
    guests: dict[str, set[int]] = {}
    storages: dict[str, set[tuple[str, str]]] = {}
    changed = None if base is None or full else changed_guests(head, base)
    if changed is None:
        for state in (head, base):
            for cluster, vmid in state.guests if state else ():
                guests.setdefault(cluster, set()).add(vmid)
    else:
        for cluster, vmid in changed:
            guests.setdefault(cluster, set()).add(vmid)
    for key, guest in head.guests.items():
        spec = guest.document.spec
        if changed is not None and key not in changed:
            continue
        if isinstance(spec, ContainerSpec) and spec.ostemplate and ":" in spec.ostemplate:
            storages.setdefault(key[0], set()).add((spec.node, spec.ostemplate.split(":")[0]))
    return LiveReads(guests, storages, None if changed is None else set(guests))


def changed_guests(head: DesiredState, base: DesiredState) -> set[tuple[str, int]]:
    """(cluster, vmid) of the guests created, changed or removed between base and head."""
    keys = set(head.guests) | set(base.guests)
    return {
        key
        for key in keys
        if key not in head.guests
        or key not in base.guests
        or _spec_changed(base.guests[key], head.guests[key])
    }


def build_plan(
    head: DesiredState,
    live: LiveState,
    *,
    base: DesiredState | None = None,
    actor: Iterable[str] | None = None,
    clusters: Iterable[str] | None = None,
    heal: Callable[[DesiredGuest], bool] | None = None,
) -> Plan:
    """Diff desired ``head`` (and ``base``) against ``live``; see the module docstring.

    ``clusters`` restricts the plan to those clusters (apply plans one at a time).
    ``heal`` (``--sync``, self-heal) says which guests whose file did not change are put
    back when their live state drifted; without it such drift is reported, not planned.
    """
    with gc_paused():
        return _build_plan(head, live, base=base, actor=actor, clusters=clusters, heal=heal)


def _build_plan(
    head: DesiredState,
    live: LiveState,
    *,
    base: DesiredState | None,
    actor: Iterable[str] | None,
    clusters: Iterable[str] | None,
    heal: Callable[[DesiredGuest], bool] | None,
) -> Plan:
    identities = list(actor) if actor is not None else None
    config = head.config
    plan = Plan(
        revision=head.revision,
        base_revision=base.revision if base else None,
        actor=identities[0] if identities else None,
    )
    if identities is None and config.spec.policy is not None and clusters is None:
        plan.warnings.append(
            Finding(
                code="actor-unknown",
                message="no actor given (--actor or "
                "the forge's PR author): permissions were not checked",
            )
        )
    wanted = sorted(clusters) if clusters is not None else sorted(config.spec.clusters)
    changed = changed_guests(head, base) if base is not None else None
    for cluster_name in wanted:
        cluster = live.clusters.get(cluster_name)
        if cluster is None and changed is not None and all(c != cluster_name for c, _ in changed):
            # a pull request's plan reads only the clusters its change touches
            plan.unrefreshed += len(head.guests_in(cluster_name))
            continue
        if cluster is None or not cluster.reachable:
            kind = cluster.error_kind if cluster else None
            code = {"unauthorized": "cluster-unauthorized", "forbidden": "cluster-forbidden"}
            plan.blockers.append(
                Finding(
                    code=code.get(kind or "", "cluster-unreachable"),
                    message=(cluster.error if cluster else None)
                    or f"cluster '{cluster_name}': not read",
                )
            )
            continue
        _plan_cluster(plan, cluster, head, base, identities, heal)
        check_capacity(plan, cluster, head)
    for (cluster_name, _vmid), guest in sorted(head.guests.items()):
        if cluster_name not in config.spec.clusters:  # pragma: no cover - loader refuses it
            plan.blockers.append(
                Finding(
                    code="cluster-unknown",
                    message=f"{guest.path}: cluster '{cluster_name}' is not in proxgit.yaml",
                )
            )
    _merge_effect(plan, config)
    return plan.summarize()


def _plan_cluster(
    plan: Plan,
    cluster: ClusterLive,
    head: DesiredState,
    base: DesiredState | None,
    actor: list[str] | None,
    heal: Callable[[DesiredGuest], bool] | None = None,
) -> None:
    config = head.config
    requested = {
        request.spec.guest.vmid
        for _path, request in head.deletion_requests.values()
        if request.status.state == DeletionState.open and request.spec.guest.cluster == cluster.name
    }
    declared = {vmid: g for (c, vmid), g in head.guests.items() if c == cluster.name}
    before = {
        vmid: g for (c, vmid), g in (base.guests.items() if base else ()) if c == cluster.name
    }
    declared_names = {(g.kind, g.name.lower()): vmid for vmid, g in declared.items()}
    for vmid in sorted(declared):
        guest = declared[vmid]
        live_guest = cluster.guests.get(vmid)
        old = before.get(vmid)
        in_scope = base is None or old is None or _spec_changed(old, guest)
        healing = False
        if not in_scope and heal is not None and live_guest is not None and heal(guest):
            healing = True
            in_scope = _healable(guest, live_guest, vmid in requested) is None
        if live_guest is None:
            change = _plan_create(guest, cluster, declared_names)
        elif not in_scope and _unread(live_guest):
            # a pull request's plan reads only what changed: this guest is left as it is
            change = GuestChange(
                cluster=cluster.name,
                vmid=vmid,
                name=guest.name,
                kind=guest.kind,
                node=live_guest.node,
                action=Action.noop,
                file=guest.path,
            )
            plan.unrefreshed += 1
            if guest.document.spec.node != live_guest.node:
                # the listing says where it runs: the note needs no config read
                change.warnings.append(
                    node_moved_warning(live_guest, guest.document.spec.node, base=True)
                )
        else:
            change = _plan_update(guest, live_guest, old, in_scope)
            if healing and change.action == Action.update:
                why = _healable(guest, live_guest, vmid in requested)
                if (
                    why is None
                    and change.needs_restart
                    and live_guest.status == "running"
                    and str(guest.document.spec.restart_policy) != "IfRequired"
                ):
                    why = "the fix needs a restart and restartPolicy is Never"
                if why is None:
                    change.warnings.append(
                        Finding(
                            code="drift-healed",
                            message="live state drifted from the file; sync puts it back",
                        )
                    )
                else:
                    in_scope = False
                    change.blockers = []
                    plan.warnings.append(
                        Finding(
                            code="drift-not-healed",
                            message=f"{cluster.name}/{guest.name} (vmid {vmid}): drift not "
                            f"healed: {why}",
                        )
                    )
            if change.action == Action.update and not in_scope:
                plan.drift.append(declared_drift(cluster.name, guest, live_guest, change.fields))
                change.action, change.fields = Action.noop, []
            node_changed = base is not None and (
                old is None or old.document.spec.node != guest.document.spec.node
            )
            _plan_node(change, guest, live_guest, cluster, node_changed, base is not None)
        _check_permission(change, config, actor)
        _secret_warnings(change, guest)
        _root_only_warnings(change, guest)
        plan.changes.append(change)
        if live_guest is None and base is not None and old is not None and not in_scope:
            plan.drift.append(declared_drift(cluster.name, guest, None))
    for vmid in sorted(set(before) - set(declared)):
        old = before[vmid]
        live_guest = cluster.guests.get(vmid)
        if live_guest is None:
            continue  # already gone: nothing to delete
        change = GuestChange(
            cluster=cluster.name,
            vmid=vmid,
            name=old.name,
            kind=old.kind,
            node=live_guest.node,
            action=Action.delete,
            file=old.path,
        )
        if live_guest.kind != old.kind or live_guest.name.lower() != old.name.lower():
            change.blockers.append(
                Finding(
                    code="vmid-reused",
                    message=f"vmid {vmid} is now "
                    f"{live_guest.type} '{live_guest.name}', not the "
                    f"removed {old.kind} '{old.name}'; nothing to delete",
                )
            )
        if live_guest.protected:
            change.blockers.append(
                Finding(
                    code="protected",
                    message=f"{old.name} has protection"
                    " enabled in Proxmox; clear it before deleting",
                )
            )
        change.warnings.append(
            Finding(
                code="deletion-needs-approval",
                message="merging opens a "
                f"deletion request ({deletion_request_path(cluster.name, vmid)}); "
                "a second person's approval commit destroys the guest",
            )
        )
        _check_permission(change, config, actor)
        plan.changes.append(change)
    deleted = {
        c.vmid for c in plan.changes if c.cluster == cluster.name and c.action == Action.delete
    }
    for vmid, live_guest in sorted(cluster.guests.items()):
        if vmid in declared or vmid in deleted:
            continue
        plan.unmanaged.append(undeclared_guest(cluster.name, live_guest))


def heal_all(_guest: DesiredGuest) -> bool:
    """``--sync``: every drifted guest is put back."""
    return True


def self_heal(config: Config) -> Callable[[DesiredGuest], bool]:
    """The watch pod's self-heal: a guest's own ``syncPolicy`` wins over its cluster's."""

    def wanted(guest: DesiredGuest) -> bool:
        own = guest.document.spec.sync_policy
        if own is not None:
            return own.self_heal
        cluster = config.spec.clusters.get(guest.document.metadata.cluster)
        return cluster is not None and cluster.sync_policy.self_heal

    return wanted


def self_heal_enabled(config: Config, guests: Iterable[DesiredGuest]) -> bool:
    """Whether any cluster or guest turned self-heal on (the pod skips it otherwise)."""
    wanted = self_heal(config)
    return any(wanted(g) for g in guests)


def _plan_node(
    change: GuestChange,
    guest: DesiredGuest,
    live: LiveGuest,
    cluster: ClusterLive,
    node_changed: bool,
    has_base: bool,
) -> None:
    """A guest that runs elsewhere than its file says: a migration when this change
    edited its ``node``, else a note that it stays where it runs (planning/migration.py)."""
    spec = guest.document.spec
    if spec.node == live.node or live.config is None:
        return
    if any(
        b.code in ("vmid-in-use", "config-unread", "config-unreadable") for b in change.blockers
    ):
        return
    if not node_changed:
        change.warnings.append(node_moved_warning(live, spec.node, base=has_base))
        return
    migration, blockers = plan_migration(
        live, spec.node, cluster, restart_policy=str(spec.restart_policy)
    )
    change.action = Action.migrate
    change.migration = migration
    effect = Effect.restart if migration.mode == MigrationMode.restart else Effect.live
    change.fields.insert(
        0, FieldChange(path="node", before=live.node, after=spec.node, effect=effect)
    )
    change.blockers.extend(blockers)
    if not blockers:
        change.warnings.append(migration_note(migration, more=len(change.fields) > 1))


def _spec_changed(old: DesiredGuest, new: DesiredGuest) -> bool:
    # a pull request's base shares head's objects for every file it did not change
    return old is not new and old.document != new.document


def _healable(guest: DesiredGuest, live: LiveGuest, requested: bool) -> str | None:
    """None when sync may put this drifted guest back, else why not."""
    if requested or live.pending_deletion:
        return "an open deletion request names it"
    if live.kind != guest.kind or live.template:
        return f"vmid {live.vmid} is live as another guest"
    return None


def _unread(live: LiveGuest) -> bool:
    """Its config was not asked for (not: asked for and found unusable)."""
    return live.config is None and live.error is None and live.bad_key is None


def _plan_create(
    guest: DesiredGuest, cluster: ClusterLive, declared_names: dict[tuple[str, str], int]
) -> GuestChange:
    document = guest.document
    spec = document.spec
    change = GuestChange(
        cluster=cluster.name,
        vmid=spec.vmid,
        name=guest.name,
        kind=guest.kind,
        node=spec.node,
        action=Action.create,
        file=guest.path,
    )
    view = desired_view(document)
    change.fields = [
        FieldChange(path=p, before=None, after=_show(p, v), effect=Effect.live)
        for p, v in sorted(view.items())
    ]
    node = cluster.nodes.get(spec.node)
    if node is None:
        known = ", ".join(sorted(cluster.nodes)) or "none"
        change.blockers.append(
            Finding(
                code="node-missing",
                message=f"node '{spec.node}' does "
                f"not exist in cluster '{cluster.name}' (nodes: {known})",
            )
        )
    elif node.status != "online":
        change.blockers.append(
            Finding(
                code="node-offline",
                message=f"node '{spec.node}' is {node.status}; guests can't be created there now",
            )
        )
    for storage, content, what in _storage_needs(spec):
        _check_storage(change, cluster, spec.node, storage, content, what)
    if isinstance(spec, VirtualMachineSpec) and spec.clone is not None:
        clone = spec.clone
        templates = [g for g in cluster.guests.values() if g.template and g.type == "qemu"]
        found = [
            t
            for t in templates
            if (clone.vmid is not None and t.vmid == clone.vmid)
            or (clone.name is not None and t.name == clone.name)
        ]
        if not found:
            which = f"vmid {clone.vmid}" if clone.vmid is not None else f"name '{clone.name}'"
            change.blockers.append(
                Finding(
                    code="template-missing",
                    message=f"clone source template {which} not found in cluster '{cluster.name}'",
                )
            )
    if isinstance(spec, ContainerSpec):
        if not spec.ostemplate:
            change.blockers.append(
                Finding(
                    code="ostemplate-missing", message="creating a container needs spec.ostemplate"
                )
            )
        elif ":" in spec.ostemplate:
            key = (spec.node, spec.ostemplate.split(":")[0])
            if key in cluster.templates and spec.ostemplate not in cluster.templates[key]:
                change.blockers.append(
                    Finding(
                        code="ostemplate-missing",
                        message=f"ostemplate '{spec.ostemplate}' not found on {spec.node}/{key[1]}",
                    )
                )
    return change


def _storage_needs(spec: VirtualMachineSpec | ContainerSpec) -> list[tuple[str, str, str]]:
    needs: list[tuple[str, str, str]] = []
    if isinstance(spec, VirtualMachineSpec):
        for slot, disk in (spec.disks or {}).items():
            needs.append((disk.storage, "images", f"disk {slot}"))
        if spec.clone and spec.clone.storage:
            needs.append((spec.clone.storage, "images", "clone target"))
    else:
        if spec.rootfs:
            needs.append((spec.rootfs.storage, "rootdir", "rootfs"))
        for slot, mount in (spec.mountpoints or {}).items():
            if mount.storage is not None:
                needs.append((mount.storage, "rootdir", f"mount point {slot}"))
    return needs


def _check_storage(
    change: GuestChange, cluster: ClusterLive, node: str, storage: str, content: str, what: str
) -> None:
    found = cluster.storage_on(node, storage)
    if found is None or found.status not in ("available", "active"):
        state = "missing" if found is None else found.status
        change.blockers.append(
            Finding(
                code="storage-missing",
                message=f"{what}: storage '{storage}' is {state} on node '{node}'",
            )
        )
    elif found.content and content not in found.content:
        change.blockers.append(
            Finding(
                code="storage-content",
                message=f"{what}: storage "
                f"'{storage}' does not hold '{content}' (it offers "
                f"{', '.join(sorted(found.content))})",
            )
        )


def _plan_update(
    guest: DesiredGuest, live: LiveGuest, old: DesiredGuest | None, in_scope: bool
) -> GuestChange:
    document = guest.document
    change = GuestChange(
        cluster=document.metadata.cluster,
        vmid=document.spec.vmid,
        name=guest.name,
        kind=guest.kind,
        node=live.node,
        action=Action.noop,
        file=guest.path,
    )
    same_guest = live.kind == guest.kind and (
        old is not None or live.name.lower() == guest.name.lower()
    )
    if live.template or not same_guest:
        what = "a template" if live.template else f"{live.type} '{live.name}'"
        change.blockers.append(
            Finding(
                code="vmid-in-use",
                message=f"vmid {live.vmid} is already "
                f"used by {what} on node {live.node}; pick a free vmid or "
                "import that guest",
            )
        )
        return change
    if live.config is None:
        if live.bad_key is not None:
            change.blockers.append(
                Finding(
                    code="config-unreadable",
                    message=live.error or f"vmid {live.vmid}: {live.bad_key} can't be read",
                    key=live.bad_key,
                    value=live.bad_value,
                )
            )
            return change
        change.blockers.append(
            Finding(
                code="config-unread",
                message=live.error or f"config of vmid {live.vmid} was not read",
            )
        )
        return change
    desired = desired_view(document)
    actual = live.view()
    change.fields = _diff(desired, actual, document, live)
    if old is not None and in_scope and old.kind == guest.kind:
        change.fields.extend(_removals(old, desired, actual, live))
    if change.fields:
        change.action = Action.update
    if in_scope:
        _update_findings(change, document, live)
    return change


def diff_guest(document: VirtualMachine | Container, live: LiveGuest) -> list[FieldChange]:
    """Field changes from ``live`` (its config read) to ``document``; used to re-plan at apply."""
    return _diff(desired_view(document), live.view(), document, live)


def _diff(
    desired: FlatView, actual: FlatView, document: VirtualMachine | Container, live: LiveGuest
) -> list[FieldChange]:
    is_vm = isinstance(document, VirtualMachine)
    hotplug = parse_hotplug(actual.get("hotplug")) if is_vm else frozenset()
    numa = bool(actual.get("numa", False))
    changes: list[FieldChange] = []
    for path in sorted(desired):
        want, have = desired[path], actual.get(path)
        if _same(live.type, path, want, have):
            continue
        parts = path.split(".")
        new_slot = len(parts) > 2 and not any(
            k.startswith(f"{parts[0]}.{parts[1]}.") for k in actual
        )
        if path == "power":
            effect = Effect.live
        elif is_vm:
            effect = qemu_effect(path, new_slot=new_slot, hotplug=hotplug, numa=numa)
        else:
            effect = lxc_effect(path, new_slot=new_slot)
        changes.append(
            FieldChange(path=path, before=_show(path, have), after=_show(path, want), effect=effect)
        )
    return changes


def _removals(
    old: DesiredGuest, desired: FlatView, actual: FlatView, live: LiveGuest
) -> list[FieldChange]:
    """Fields the base revision declared and head does not, still set in Proxmox
    (planning/removal.py)."""
    hotplug = parse_hotplug(actual.get("hotplug")) if live.type == "qemu" else frozenset()
    return removed_fields(
        live.type,
        desired_view(old.document),
        desired,
        live.config or {},
        actual,
        hotplug=hotplug,
        numa=bool(actual.get("numa", False)),
    )


def _same(kind: str, path: str, want: Any, have: Any) -> bool:
    if want == have:
        return True
    if have is None:
        # Proxmox leaves out keys at their defaults: false/0/empty, or the default the
        # field table records (a disk's backup is on when absent, so backup: false is a
        # change), mean the same.
        default = absent_value(kind, path)
        if default is not None:
            return bool(want == default)
        return want in (False, 0, "", [], None)
    if isinstance(want, float) or isinstance(have, float):
        try:
            return float(want) == float(have)
        except (TypeError, ValueError):
            return False
    return False


def _update_findings(
    change: GuestChange, document: VirtualMachine | Container, live: LiveGuest
) -> None:
    running = live.status == "running"
    kind = "qemu" if isinstance(document, VirtualMachine) else "lxc"
    for item in change.fields:
        if item.removed:
            _removal_findings(change, kind, item)
        if item.path.endswith(".size") and isinstance(item.before, str) and item.after:
            before = _bytes(item.before)
            after = _bytes(str(item.after))
            if after < before:
                change.blockers.append(
                    Finding(
                        code="disk-shrink",
                        message=f"{item.path}: "
                        f"{item.before} -> {item.after}; Proxmox can "
                        "only grow disks",
                    )
                )
        if item.path.endswith(".storage") and item.before is not None:
            change.blockers.append(
                Finding(
                    code="disk-move",
                    message=f"{item.path}: moving a "
                    f"disk from {item.before} to {item.after} is not "
                    "done by proxgit; move it with 'qm disk move' first",
                )
            )
        if item.path.startswith("cloudInit.drive.") and item.before is not None:
            change.blockers.append(
                Finding(
                    code="create-only",
                    message=f"{item.path}: {item.before} -> {item.after}; proxgit does not move "
                    "a cloud-init drive (remove it and add it in two changes, or move it in "
                    "Proxmox)",
                )
            )
        if (
            item.path != "unprivileged"
            and item.before is not None
            and rule_of(kind, item.path, new_slot=False) == "create-only"
        ):
            change.blockers.append(
                Finding(
                    code="create-only",
                    message=f"{item.path}: {item.before} -> {item.after}; Proxmox sets this "
                    "only when the volume or guest is created",
                )
            )
        if (
            kind == "lxc"
            and live.protected
            and item.path.startswith(("rootfs.", "mountpoints."))
            and not item.path.endswith(".size")
        ):
            change.blockers.append(
                Finding(
                    code="protected",
                    message=f"{item.path}: Proxmox refuses to change a mount point of a "
                    "protected container; set protection: false in one change, then "
                    "change the mount point",
                )
            )
        if item.path == "unprivileged":
            change.blockers.append(
                Finding(
                    code="unprivileged-change",
                    message="a container's unprivileged flag can't change after creation",
                )
            )
    restart = [f.path for f in change.fields if f.effect == Effect.restart]
    policy = str(document.spec.restart_policy)
    if running and restart:
        if policy == "IfRequired":
            change.warnings.append(
                Finding(
                    code="restart",
                    message="proxgit will shut the guest "
                    "down and start it again to apply: "
                    f"{', '.join(restart)}",
                )
            )
        else:
            change.warnings.append(
                Finding(
                    code="pending-restart",
                    message="stays pending until "
                    f"the next restart (restartPolicy: {policy}): "
                    f"{', '.join(restart)}",
                )
            )
    if (
        running
        and isinstance(document, VirtualMachine)
        and any(f.path.startswith("cloudInit.") for f in change.fields)
    ):
        change.warnings.append(
            Finding(
                code="cloud-init-running",
                message="cloud-init changes reach a running VM only when it boots again",
            )
        )
    power = next((f for f in change.fields if f.path == "power"), None)
    if power is not None and power.after == "stopped" and policy != "IfRequired":
        change.warnings.append(
            Finding(
                code="stop-not-allowed",
                message="power: stopped on a "
                "running guest is not applied unless restartPolicy: "
                "IfRequired allows proxgit to stop it",
            )
        )


def _removal_findings(change: GuestChange, kind: str, item: FieldChange) -> None:
    """A removed key Proxmox needs is refused; a removed volume is detached, not lost."""
    where = config_key_of(kind, item.path)
    if where is None:
        return
    config_key = where[0]
    row = key_for(kind, config_key)
    whole = row is not None and item.path == row.spec_path(config_key)
    if whole and required(kind, config_key):
        change.blockers.append(
            Finding(
                code="cannot-remove",
                message=f"{item.path}: a {'container' if kind == 'lxc' else 'VM'} can't be "
                f"without '{config_key}'; declare it again",
                key=config_key,
            )
        )
    elif whole and row is not None and holds_volume(row):
        change.warnings.append(
            Finding(
                code="volume-detached",
                message=f"{item.path}: no longer declared, so it is removed from the guest; "
                f"Proxmox keeps its volume as an unusedN entry (delete that in Proxmox)",
                key=config_key,
            )
        )


def _check_permission(change: GuestChange, config: Config, actor: list[str] | None) -> None:
    policy = config.spec.policy
    if policy is None or actor is None or change.action == Action.noop:
        return
    suffix = "vm" if change.kind == "VirtualMachine" else "container"
    needed = Permission(f"{change.action.permission_verb}_{suffix}")
    if any(
        roles_granting(config, resolve(policy, handle), needed, change.cluster) for handle in actor
    ):
        return
    change.blockers.append(
        Finding(
            code="permission-denied",
            message=f"{actor[0]} may not "
            f"{change.action.value} {suffix}s on cluster "
            f"'{change.cluster}' (policy needs '{needed.value}')",
        )
    )


def _secret_warnings(change: GuestChange, guest: DesiredGuest) -> None:
    description = guest.document.spec.description or ""
    if SECRETISH_TEXT.search(description):
        change.warnings.append(
            Finding(
                code="plaintext-secret",
                message="spec.description looks "
                "like it holds a secret; Proxmox shows descriptions to "
                "every user with VM.Audit",
            )
        )


def _root_only_warnings(change: GuestChange, guest: DesiredGuest) -> None:
    """Keys only ``root@pam`` may set (``args``, ``hookscript``, bind mounts, raw
    devices): the write fails for any other user, so the plan says so for each."""
    kind = TYPE_BY_KIND.get(guest.kind, "qemu")
    prefix = EXTRA + "."
    seen: set[str] = set()
    declared: FlatView | None = None
    for item in change.fields:
        shown = item.before if item.removed else item.after
        if item.path.startswith(prefix):
            key, value = item.path[len(prefix) :], shown
            if key in seen or not root_only(kind, key, value):
                continue
        else:
            found = resolve_path(kind, item.path)
            if found is None:
                continue
            key, value = found.config_key, shown
            if found.key.name in ("hostpci", "usb") and found.subpath:
                # any change to a raw device (not a mapping) is root's, whatever sub-key
                declared = declared if declared is not None else desired_view(guest.document)
                value = "mapping=" if f"{found.base}.mapping" in declared else "raw"
            elif found.key.name == "mp" and found.subpath:
                # so is any change to a bind mount (a host directory, not a volume)
                declared = declared if declared is not None else desired_view(guest.document)
                value = "/bind" if f"{found.base}.source" in declared else "volume"
            elif not (
                found.key.root_only
                or found.subpath == "source"
                or found.key.name in ("hostpci", "usb")
                or (item.removed and not found.subpath)
            ):
                continue
        if key in seen or not root_only(kind, key, value):
            continue
        seen.add(key)
        change.warnings.append(
            Finding(
                code="root-only-key",
                message=f"{item.path}: Proxmox lets only root@pam set '{key}' (this value); "
                "the write fails unless proxgit's token belongs to root@pam",
                key=key,
            )
        )


def _merge_effect(plan: Plan, config: Config) -> None:
    clusters_with_changes = sorted({c.cluster for c in plan.changes if c.action != Action.noop})
    if not config.spec.apply.gate_open:
        if clusters_with_changes:
            plan.warnings.append(
                Finding(
                    code="apply-disabled",
                    message="apply is not enabled "
                    "(apply.enabled and apply.confirm in proxgit.yaml): "
                    "merging changes nothing in Proxmox",
                )
            )
        plan.merge_effect.append("apply is not enabled: merging changes nothing in Proxmox")
        return
    for name in clusters_with_changes:
        cluster = config.spec.clusters[name]
        changes = [c for c in plan.changes if c.cluster == name and c.action != Action.noop]
        if not cluster.allow_writes:
            plan.warnings.append(
                Finding(
                    code="writes-disabled",
                    message=f"writes are disabled "
                    f"on cluster {name} (allowWrites: false): merging "
                    "applies nothing there",
                )
            )
            plan.merge_effect.append(f"writes are disabled on cluster {name}: nothing is applied")
            continue
        counts = {a: sum(1 for c in changes if c.action == a) for a in Action}
        parts = [f"create {counts[Action.create]}", f"update {counts[Action.update]}"]
        if counts[Action.migrate]:
            parts.append(f"migrate {counts[Action.migrate]}")
        line = f"cluster {name}: {', '.join(parts)} guest(s)"
        if counts[Action.delete]:
            line += (
                f"; open {counts[Action.delete]} deletion request(s) that need a second "
                "person's approval commit"
            )
        plan.merge_effect.append(line)


def _show(path: str, value: Any) -> Any:
    if value is None:
        return None
    if path.endswith(".size") and isinstance(value, int):
        return format_size(value)
    return value


def _bytes(size: str) -> int:
    from proxgit.models.base import parse_size

    return parse_size(size)


__all__ = ["TYPE_BY_KIND", "LiveReads", "build_plan", "changed_guests", "reads_for"]


def compute_drift(
    desired: DesiredState, live: LiveState, *, clusters: Iterable[str] | None = None
) -> DriftReport:
    """Compare ``live`` with ``desired`` for ``clusters`` (default: every cluster in ``live``)."""
    report = DriftReport(revision=desired.revision)
    in_sync = 0
    for name in sorted(clusters if clusters is not None else live.clusters):
        cluster = live.clusters.get(name)
        if cluster is None or not cluster.reachable:
            report.errors.append(
                f"{(cluster.error if cluster else None) or f'cluster {name!r}: not read'}; "
                "drift unknown"
            )
            continue
        declared = {g.document.spec.vmid: g for g in desired.guests_in(name)}
        for vmid, guest in sorted(declared.items()):
            found = cluster.guests.get(vmid)
            if found is None:
                report.guests.append(declared_drift(name, guest, None))
                continue
            if found.kind != guest.kind or found.template:
                live_is = "a template" if found.template else found.kind
                kind = FieldChange(path="kind", before=live_is, after=guest.kind)
                report.guests.append(declared_drift(name, guest, found, [kind]))
                continue
            if found.config is None:
                report.errors.append(f"cluster '{name}': config of vmid {vmid} was not read")
                continue
            fields = diff_guest(guest.document, found)
            if fields:
                report.guests.append(declared_drift(name, guest, found, fields))
            else:
                in_sync += 1
        for vmid, found in sorted(cluster.guests.items()):
            if vmid in declared:
                continue
            undeclared = undeclared_guest(name, found)
            if undeclared.counted:
                report.guests.append(undeclared.as_drift())
            else:
                report.ignored.append(undeclared)
    report.guests.sort(key=lambda g: (g.cluster, g.vmid))
    report.summary = DriftSummary(
        changed=report.count(DriftKind.changed),
        missing=report.count(DriftKind.missing),
        unmanaged=report.count(DriftKind.unmanaged),
        in_sync=in_sync,
        errors=len(report.errors),
    )
    return report
