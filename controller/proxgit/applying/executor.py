"""Carrying out one guest's change against Proxmox, and saying exactly what happened.

Create: QEMU create or clone (full or linked), LXC create, then the config the
spec asks for, then start when ``power: running``. Update: only the changed
keys, written with the config's ``digest`` so a change made by someone else in
between is caught (re-read, re-planned, retried), never overwritten blindly;
disks grow through ``resize`` and never shrink; a change that needs a restart
stays pending unless the spec says ``restartPolicy: IfRequired``. Every task's
UPID is awaited, and its exit status and last log lines go into the result.

Migrate: the guest moves first (``POST /nodes/{source}/{kind}/{vmid}/migrate``:
online for a running VM, restart mode for a running container, offline for a
stopped guest), is confirmed on the target node, and only then are the other
changes of the same plan written there. Moving first means a failed migration
writes nothing else (the next apply plans the same change again), and what the
guest gets (new disks, a restart) happens on the node it is meant to run on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from proxgit import observe
from proxgit.applying.results import GuestResult, GuestState, TaskRecord
from proxgit.errors import ProxgitError, ProxmoxError
from proxgit.models import Container, VirtualMachine
from proxgit.models.base import parse_size, proxmox_size
from proxgit.models.guests import ContainerSpec, VirtualMachineSpec
from proxgit.planning.fieldchange import Effect, FieldChange
from proxgit.planning.plan import Action, GuestChange, MigrationMode
from proxgit.planning.planner import diff_guest
from proxgit.planning.removal import removal_params
from proxgit.proxmox.client import ProxmoxClient, excerpt
from proxgit.proxmox.live import LiveGuest
from proxgit.proxmox.normalize import desired_view, parse_property_string, spec_view
from proxgit.proxmox.translate import (
    auto_efidisk,
    cloudinit_drive,
    extra_params,
    group_by_key,
    lxc_create_params,
    qemu_config_params,
)
from proxgit.secrets import SecretBox, is_secret_key

CONFLICT_MARKERS = ("checksum mismatch", "file changed by other user", "digest")
DIGEST_RETRIES = 3


class GuestFailed(ProxgitError):
    """One guest's change failed; the run goes on with the others."""


class GuestExecutor:
    def __init__(
        self,
        client: ProxmoxClient,
        secrets: SecretBox,
        *,
        progress: Callable[[str], None] | None = None,
        lock_poll: float = 2.0,
    ) -> None:
        self.api = client
        self.secrets = secrets
        self.tasks: list[TaskRecord] = []
        self.progress = progress or (lambda _line: None)
        self.lock_poll = lock_poll
        # (cluster, name, vmid) of the guest being changed, for progress reports
        self.guest: tuple[str, str, int] | None = None

    # --- helpers -------------------------------------------------------------------

    def _wait(self, node: str, upid: Any, what: str) -> None:
        """Wait for the task a call started; its answer must be a task id (UPID)."""
        if not isinstance(upid, str) or not upid.startswith("UPID:"):
            raise GuestFailed(
                f"{what}: Proxmox answered {excerpt(upid)} where a task id (UPID) was "
                "expected; not counted as done"
            )
        if self.guest is not None:
            observe.guest(*self.guest, "task", what)
        try:
            result = self.api.wait_task(node, upid)
        except ProxmoxError as err:
            # the task was started: the journal names it even when its end is unknown
            note = self.secrets.scrub(err.message)
            self.tasks.append(TaskRecord(upid=upid, exitstatus="unknown", log=[note]))
            raise GuestFailed(
                f"{what}: task {upid} was started, but its status could not be read "
                f"({note}); the next apply sees what it did"
            ) from None
        if self.guest is not None:
            observe.guest(*self.guest, "running", f"{what} task {result.exitstatus}")
        log = [self.secrets.scrub(line) for line in result.log]
        self.tasks.append(TaskRecord(upid=upid, exitstatus=result.exitstatus, log=log))
        if result.exitstatus == "abandoned":
            raise GuestFailed(f"{what}: apply interrupted; task {upid} goes on in Proxmox")
        if not result.ok:
            raise GuestFailed(f"{what}: task {result.exitstatus}")

    def _read_config(self, path: str) -> dict[str, Any]:
        """The current config with its digest; without a digest nothing may be written."""
        config: dict[str, Any] = self.api.get(f"{path}/config", expect=dict)
        if not config.get("digest"):
            raise GuestFailed(
                f"GET /{path}/config answered without a digest ({excerpt(config)}); nothing written"
            )
        return config

    def _wait_unlocked(self, path: str, config: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Wait while a task (a clone, a backup, ...) holds the guest's lock.

        Waits up to ``timeouts.lock`` with a progress line, then refuses naming the
        lock. Returns the config read once the lock cleared, and whether it waited.
        """
        lock = self._lock_of(path, config)
        if not lock:
            return config, False
        limit = float(self.api.cluster.timeouts.lock)
        start = time.monotonic()
        said = -1.0
        while lock:
            waited = time.monotonic() - start
            if waited >= limit:
                raise GuestFailed(
                    f"the guest is locked ({lock}) by a task that did not finish within "
                    f"{limit:g}s (timeouts.lock); nothing written"
                )
            if said < 0 or waited - said >= 30:
                said = waited
                self.progress(
                    f"{path}: waiting for the guest's lock ({lock}) to clear: "
                    f"{waited:.0f}s of {limit:g}s"
                )
            if self.api.cancel.wait(self.lock_poll):
                raise GuestFailed(f"apply interrupted while the guest was locked ({lock})")
            config = self._read_config(path)
            lock = self._lock_of(path, config)
        return config, True

    def _lock_of(self, path: str, config: dict[str, Any]) -> str | None:
        """The guest's lock (clone, backup, migrate, ...): in its config, or its status."""
        if config.get("lock"):
            return str(config["lock"])
        status = self.api.get(f"{path}/status/current", expect=dict)
        return str(status["lock"]) if status.get("lock") else None

    def _write_config(self, path: str, config: dict[str, Any], params: dict[str, Any]) -> None:
        """PUT ``params`` with the digest of ``config``, then read the guest back and
        confirm every written value and a changed digest before calling it done."""
        digest = config.get("digest")
        if not digest:
            raise GuestFailed(f"no digest for {path}; nothing written")
        self.api.put(f"{path}/config", digest=digest, **params)
        after = self.api.get(f"{path}/config", expect=dict)
        unconfirmed = [k for k in params if not _confirmed(k, params[k], after)]
        unconfirmed += [k for k in _deleted(params) if k in after]
        if unconfirmed:
            # A running guest keeps some changes pending until it restarts.
            items = self.api.get(f"{path}/pending", expect=list)
            pending = {
                str(i.get("key")): i.get("pending")
                for i in items
                if isinstance(i, dict) and "pending" in i
            }
            deleting = {str(i.get("key")) for i in items if isinstance(i, dict) and i.get("delete")}
            unconfirmed = [
                k
                for k in unconfirmed
                if not (k in params and _confirmed(k, params[k], pending)) and k not in deleting
            ]
            if unconfirmed:
                key = unconfirmed[0]
                if key not in params:
                    raise GuestFailed(
                        f"config write not confirmed: {key} is still set after deleting it"
                    )
                raise GuestFailed(
                    f"config write not confirmed: {key} reads back "
                    f"{excerpt(after.get(key, pending.get(key)))} after writing "
                    f"{excerpt(params[key])}"
                )
            went_pending = True
        else:
            went_pending = False
        if after.get("digest") == digest and not went_pending:
            raise GuestFailed(
                "config write not confirmed: the config digest did not change after the write"
            )

    def _password(self, document: VirtualMachine | Container) -> str | None:
        spec = document.spec
        ref = (
            spec.cloud_init.password_from
            if isinstance(spec, VirtualMachineSpec) and spec.cloud_init
            else spec.password_from
            if isinstance(spec, ContainerSpec)
            else None
        )
        if ref is None:
            return None
        return self.secrets.resolve(ref, what=f"{document.metadata.name} passwordFrom")

    # --- create --------------------------------------------------------------------

    def create(
        self, document: VirtualMachine | Container, live_templates: list[LiveGuest]
    ) -> GuestState:
        spec = document.spec
        node = spec.node
        password = self._password(document)
        if isinstance(document, VirtualMachine):
            vm = document.spec
            kind = "qemu"
            params = qemu_config_params(document, password=password)
            if vm.clone is not None:
                self._clone(document, live_templates)
                self._configure_clone(document, params)
            else:
                if vm.pool:
                    params["pool"] = vm.pool
                drive = cloudinit_drive(vm)
                if drive is not None:
                    params.setdefault(*drive)
                efidisk = auto_efidisk(vm)
                if efidisk is not None:
                    params.setdefault("efidisk0", efidisk)
                self._wait(
                    node, self.api.post(f"nodes/{node}/qemu", vmid=spec.vmid, **params), "create"
                )
        else:
            kind = "lxc"
            params = lxc_create_params(document, password=password)
            self._wait(node, self.api.post(f"nodes/{node}/lxc", **params), "create")
        if str(spec.power) == "running":
            self._wait(
                node, self.api.post(f"nodes/{node}/{kind}/{spec.vmid}/status/start"), "start"
            )
        return GuestState.succeeded

    def _clone(self, vm: VirtualMachine, templates: list[LiveGuest]) -> None:
        spec = vm.spec
        clone = spec.clone
        assert clone is not None
        source = next(
            (
                t
                for t in templates
                if (clone.vmid is not None and t.vmid == clone.vmid)
                or (clone.name is not None and t.name == clone.name)
            ),
            None,
        )
        if source is None:
            raise GuestFailed("clone source template not found")
        params: dict[str, Any] = {
            "newid": spec.vmid,
            "name": vm.metadata.name,
            "full": 1 if clone.full else 0,
        }
        if source.node != spec.node:
            params["target"] = spec.node
        if clone.storage and clone.full:
            params["storage"] = clone.storage
        if spec.pool:
            params["pool"] = spec.pool
        upid = self.api.post(f"nodes/{source.node}/qemu/{source.vmid}/clone", **params)
        self._wait(source.node, upid, "clone")

    def _configure_clone(self, vm: VirtualMachine, params: dict[str, Any]) -> None:
        """After a clone: the spec's config, with template disks grown instead of re-made."""
        spec = vm.spec
        path = f"nodes/{spec.node}/qemu/{spec.vmid}"
        config, _ = self._wait_unlocked(path, self._read_config(path))
        resizes: list[tuple[str, int]] = []
        declared = group_by_key("qemu", spec_view(vm))
        for slot, disk in (spec.disks or {}).items():
            if slot in config:
                # the template's disk: its declared options over the cloned volume,
                # the size through resize
                params.pop(slot, None)
                found, values = declared[slot]
                options = {k: v for k, v in values.items() if k not in ("storage", "size")}
                if options:
                    params[slot] = found.key.write(options, str(config[slot]))
                resizes.append((slot, disk.size))
        params.pop("name", None)
        if params:
            self._write_config(path, config, params)
        for slot, size in resizes:
            self._grow(spec.node, "qemu", spec.vmid, slot, size)

    def _grow(self, node: str, kind: str, vmid: int, slot: str, size: int) -> None:
        config = self.api.get(f"nodes/{node}/{kind}/{vmid}/config", expect=dict)
        props = parse_property_string(str(config.get(slot, "")), "file")
        try:
            current = parse_size(props["size"], bare_unit="B") if "size" in props else 0
        except ValueError:
            raise GuestFailed(
                f"{slot}: size {excerpt(props['size'])} is malformed; not resized"
            ) from None
        if size > current:
            upid = self.api.put(
                f"nodes/{node}/{kind}/{vmid}/resize", disk=slot, size=proxmox_size(size)
            )
            self._wait(node, upid, f"resize {slot}")

    # --- update --------------------------------------------------------------------

    def update(
        self, document: VirtualMachine | Container, live: LiveGuest, fields: list[FieldChange]
    ) -> tuple[GuestState, str]:
        kind = "qemu" if isinstance(document, VirtualMachine) else "lxc"
        path = f"nodes/{live.node}/{kind}/{live.vmid}"
        policy = str(document.spec.restart_policy)
        for attempt in range(DIGEST_RETRIES):
            config, waited = self._wait_unlocked(path, self._read_config(path))
            status = self.api.get(f"{path}/status/current", expect=dict).get("status", live.status)
            running = status == "running"
            fresh = LiveGuest(
                vmid=live.vmid,
                type=live.type,
                name=live.name,
                node=live.node,
                status=str(status),
                pool=live.pool,
            )
            fresh.config = {k: v for k, v in config.items() if k != "digest"}
            try:
                fresh.view()
            except (TypeError, ValueError, KeyError, AttributeError) as err:
                raise GuestFailed(
                    f"a config value Proxmox returned is malformed ({err}); nothing written"
                ) from None
            params, resizes, power = self._update_params(document, config, fields)
            if attempt or waited or _changed_since_plan(live, config, params):
                # someone changed the guest since the plan: plan it again against
                # the config whose digest the write carries (removals as planned, of
                # what the config still holds)
                removals = [f for f in fields if f.removed]
                fields = diff_guest(document, fresh)
                fields += [f for f in removals if removal_params(kind, [f], config, {}) != ([], {})]
                if not fields:
                    return GuestState.succeeded, "already converged after a concurrent change"
                params, resizes, power = self._update_params(document, config, fields)
            restart_needed = running and any(
                f.effect == Effect.restart and f.path != "power" for f in fields
            )
            stop_first = restart_needed and policy == "IfRequired"
            try:
                if stop_first:
                    self._shutdown(live.node, kind, live.vmid)
                    config = self._read_config(path)
                if params:
                    self._write_config(path, config, params)
            except ProxmoxError as err:
                if any(m in err.message for m in CONFLICT_MARKERS) and attempt + 1 < DIGEST_RETRIES:
                    continue
                raise
            for slot, size in resizes:
                self._grow(live.node, kind, live.vmid, slot, size)
            return self._finish_power(
                document, live, kind, power, running, stop_first, restart_needed
            )
        raise GuestFailed("config kept changing under us (digest mismatch); not overwritten")

    def _finish_power(
        self,
        document: VirtualMachine | Container,
        live: LiveGuest,
        kind: str,
        power: str | None,
        running: bool,
        stopped_by_us: bool,
        restart_needed: bool,
    ) -> tuple[GuestState, str]:
        policy = str(document.spec.restart_policy)
        want_running = str(document.spec.power) == "running"
        if stopped_by_us and want_running:
            self._start(live.node, kind, live.vmid)
            return GuestState.succeeded, "restarted to apply changes (restartPolicy: IfRequired)"
        if power == "running" and not running:
            self._start(live.node, kind, live.vmid)
        elif power == "stopped" and running and not stopped_by_us:
            if policy != "IfRequired":
                return GuestState.skipped, (
                    "power: stopped not applied: the guest is running and restartPolicy is Never"
                )
            self._shutdown(live.node, kind, live.vmid)
        if restart_needed and not stopped_by_us:
            return GuestState.pending_restart, (
                "changes that need a restart stay pending in Proxmox until the guest restarts"
            )
        return GuestState.succeeded, ""

    def _start(self, node: str, kind: str, vmid: int) -> None:
        self._wait(node, self.api.post(f"nodes/{node}/{kind}/{vmid}/status/start"), "start")

    def _shutdown(self, node: str, kind: str, vmid: int) -> None:
        timeout = int(self.api.cluster.timeouts.shutdown)
        upid = self.api.post(f"nodes/{node}/{kind}/{vmid}/status/shutdown", timeout=timeout)
        self._wait(node, upid, "shutdown")

    def _update_params(
        self,
        document: VirtualMachine | Container,
        config: dict[str, Any],
        fields: list[FieldChange],
    ) -> tuple[dict[str, Any], list[tuple[str, int]], str | None]:
        """Proxmox keys for the changed fields only; disk growth and power apart.

        Each changed path resolves to its config key through the field table.
        An existing key is written over its live value with only the changed
        sub-keys replaced: sub-keys proxgit does not type (``replicate``,
        ``aio``, ``mount=nfs;cifs``...) and the volume are kept as live has
        them. A new slot is written whole, from the spec.
        """
        kind = "qemu" if isinstance(document, VirtualMachine) else "lxc"
        desired = desired_view(document)
        params: dict[str, Any] = {}
        resizes: list[tuple[str, int]] = []
        power: str | None = None
        changed: list[str] = []
        for change in fields:
            top = change.path.split(".", 1)[0]
            if top == "power":
                power = str(change.after)
            elif top == "pool":
                self._set_pool(document.spec.vmid, str(change.after))
            else:
                changed.append(change.path)
        params.update(extra_params(desired, changed))
        if any(p.startswith("cloudInit.drive.") for p in changed) and isinstance(
            document, VirtualMachine
        ):
            drive = cloudinit_drive(document.spec)
            if drive is not None and drive[0] not in config:
                params[drive[0]] = drive[1]  # a new cloud-init drive (moves are blocked)
        whole: dict[str, Any] | None = None
        for config_key, (found, values) in group_by_key(kind, desired, changed).items():
            row = found.key
            live_raw = config.get(config_key)
            if live_raw is None:
                if whole is None:
                    whole = group_by_key(kind, spec_view(document))
                params[config_key] = row.write(whole[config_key][1], None)
                continue
            size_sub = row.sub_for_path("size")
            if size_sub is not None and size_sub.virtual is False and "size" in values:
                resizes.append((config_key, int(values.pop("size"))))
            values.pop("storage", None)  # a move is blocked by the planner
            if values:
                params[config_key] = row.write(values, str(live_raw))
        deletes, params = removal_params(kind, fields, config, params)
        if deletes:
            params["delete"] = ",".join(deletes)
        return params, resizes, power

    # --- migrate -------------------------------------------------------------------

    def migrate(
        self, document: VirtualMachine | Container, live: LiveGuest, change: GuestChange
    ) -> tuple[GuestState, str]:
        """Move the guest as planned, confirm it on the target, then the other changes."""
        migration = change.migration
        if migration is None:
            raise GuestFailed("migrate planned without a migration; nothing moved")
        kind = "qemu" if isinstance(document, VirtualMachine) else "lxc"
        source, target, vmid = migration.source, migration.target, live.vmid
        path = f"nodes/{source}/{kind}/{vmid}"
        try:
            self._wait_unlocked(path, self._read_config(path))
        except ProxmoxError:
            # a migration that outlasted an earlier apply's wait finished since the plan
            if self._node_of(vmid)[0] != target:
                raise
            self.progress(f"{path}: already on {target}")
            return self._after_move(document, live, change, f"already on {target}")
        status = str(self.api.get(f"{path}/status/current", expect=dict).get("status", ""))
        running = status == "running"
        if running != (migration.mode != MigrationMode.offline):
            raise GuestFailed(
                f"the guest is {status or 'in an unknown state'} now, not as planned for a "
                f"{migration.mode.value} migration; nothing moved (apply again to re-plan)"
            )
        params: dict[str, Any] = {"target": target}
        if migration.mode == MigrationMode.online:
            params["online"] = 1
            if migration.with_local_disks:
                params["with-local-disks"] = 1
        elif migration.mode == MigrationMode.restart:
            if str(document.spec.restart_policy) != "IfRequired":
                raise GuestFailed(
                    "moving the running container restarts it and restartPolicy is not "
                    "IfRequired; nothing moved"
                )
            params["restart"] = 1
            params["timeout"] = int(self.api.cluster.timeouts.shutdown)
        self.progress(f"{path}: migrating to {target} ({migration.mode.value})")
        self._wait(source, self.api.post(f"{path}/migrate", **params), f"migrate to {target}")
        self._confirm_on(kind, vmid, target)
        done = f"migrated from {source} to {target} ({migration.mode.value})"
        return self._after_move(document, live, change, done)

    def _after_move(
        self, document: VirtualMachine | Container, live: LiveGuest, change: GuestChange, done: str
    ) -> tuple[GuestState, str]:
        """The plan's other changes, written on the node the guest now runs on."""
        assert change.migration is not None
        rest = [f for f in change.fields if f.path != "node"]
        if not rest:
            return GuestState.succeeded, done
        moved = LiveGuest(
            vmid=live.vmid,
            type=live.type,
            name=live.name,
            node=change.migration.target,
            status=live.status,
            pool=live.pool,
            config=live.config,
            pending=live.pending,
        )
        state, note = self.update(document, moved, rest)
        return state, f"{done}; {note}" if note else done

    def _node_of(self, vmid: int) -> tuple[str | None, bool]:
        """Where ``/cluster/resources`` lists the guest, and whether HA manages it."""
        listing = self.api.get("cluster/resources", expect=list, type="vm")
        item = next(
            (i for i in listing if isinstance(i, dict) and str(i.get("vmid")) == str(vmid)), {}
        )
        return (str(item.get("node") or "") or None), bool(item.get("hastate"))

    def _confirm_on(self, kind: str, vmid: int, target: str) -> None:
        """Confirm Proxmox lists the guest on ``target``: a task that said OK is not
        taken for a move. An HA-managed guest's task only queues the move for the HA
        manager, so for one of those the listing is polled up to ``timeouts.task``."""
        limit = float(self.api.cluster.timeouts.task)
        start = time.monotonic()
        while True:
            node, ha = self._node_of(vmid)
            if node == target:
                return
            waiting = ha and time.monotonic() - start < limit
            if not waiting or self.api.cancel.wait(self.lock_poll):
                raise GuestFailed(
                    f"the migration task ended, but Proxmox lists {kind} {vmid} on "
                    f"{node or 'no node'}, not {target}; the other changes were not written"
                )

    def _set_pool(self, vmid: int, pool: str) -> None:
        self.api.put(f"pools/{pool}", vms=str(vmid), **{"allow-move": 1})


def execute_change(
    executor: GuestExecutor,
    change: GuestChange,
    document: VirtualMachine | Container | None,
    live: LiveGuest | None,
    templates: list[LiveGuest],
) -> GuestResult:
    """Run one planned change; failures become a ``failed`` result, never an exception."""
    result = GuestResult(
        cluster=change.cluster,
        vmid=change.vmid,
        name=change.name,
        kind=change.kind,
        action=change.action.value,
        state=GuestState.succeeded,
    )
    executor.guest = (change.cluster, change.name, change.vmid)
    observe.guest(change.cluster, change.name, change.vmid, "running", change.action.value)
    try:
        if executor.api.cancel.is_set():
            result.state = GuestState.skipped
            result.message = "not started: the apply was interrupted"
            return result
        if change.blockers:
            raise GuestFailed("blocked: " + "; ".join(b.message for b in change.blockers))
        if change.action == Action.create:
            assert document is not None
            result.state = executor.create(document, templates)
        elif change.action == Action.update:
            assert document is not None and live is not None
            result.state, result.message = executor.update(document, live, change.fields)
        elif change.action == Action.migrate:
            assert document is not None and live is not None
            result.state, result.message = executor.migrate(document, live, change)
    except ProxgitError as err:
        result.state = GuestState.failed
        result.message = err.message
    except Exception as err:  # a bug must not stop the other guests
        result.state = GuestState.failed
        result.message = f"internal error: {type(err).__name__}: {err}"
    result.message = executor.secrets.scrub(result.message)
    result.tasks = list(executor.tasks)
    observe.guest(change.cluster, change.name, change.vmid, result.state.value, result.message)
    return result


def _same(sent: Any, got: Any) -> bool:
    if got is None:
        return False
    a, b = unquote(str(sent)).strip(), unquote(str(got)).strip()
    if a == b or a.lower() == b.lower():
        return True
    if "," in a or "=" in a:  # a property string: sub-keys in any order
        return _props(a) == _props(b)
    if ";" in a or ";" in b:  # tags
        return sorted(a.split(";")) == sorted(b.split(";"))
    return False


def _props(text: str) -> dict[str, str]:
    return {k.lower(): v.lower() for k, v in parse_property_string(text, "_").items()}


def _deleted(params: dict[str, Any]) -> list[str]:
    """The keys a config write deletes (``delete=net1,description``)."""
    return [k for k in str(params.get("delete", "")).split(",") if k]


def _confirmed(key: str, sent: Any, config: dict[str, Any]) -> bool:
    """Whether ``config`` shows ``key`` as written (secrets read back masked: skipped)."""
    if is_secret_key(key) or key in ("digest", "delete"):
        return True
    return _same(sent, config.get(key))


def _changed_since_plan(live: LiveGuest, config: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a key about to be written has another current value than the plan read."""
    current = dict(live.config or {})
    for item in live.pending or []:
        key = str(item.get("key"))
        if "value" in item:
            current[key] = item["value"]
        else:
            current.pop(key, None)
    return any(
        str(config.get(key)) != str(current.get(key))
        for key in params
        if not is_secret_key(key) and (key in config or key in current)
    )
