"""Carrying out one guest's change against Proxmox, and saying exactly what happened.

Create: QEMU create or clone (full or linked), LXC create, then the config the
spec asks for, then start when ``power: running``. Update: only the changed
keys, written with the config's ``digest`` so a change made by someone else in
between is caught (re-read, re-planned, retried), never overwritten blindly;
disks grow through ``resize`` and never shrink; a change that needs a restart
stays pending unless the spec says ``restartPolicy: IfRequired``. Every task's
UPID is awaited, and its exit status and last log lines go into the result.
"""

from __future__ import annotations

from typing import Any

from proxgit.applying.results import GuestResult, GuestState, TaskRecord
from proxgit.applying.secrets import SecretBox
from proxgit.errors import ProxgitError, ProxmoxError
from proxgit.models import Container, VirtualMachine, format_size
from proxgit.models.base import parse_size
from proxgit.models.guests import ContainerSpec, VirtualMachineSpec
from proxgit.planning.plan import Action, Effect, FieldChange, GuestChange
from proxgit.planning.planner import diff_guest
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.live import LiveGuest
from proxgit.proxmox.normalize import nic_mac, parse_property_string
from proxgit.proxmox.translate import (
    disk_options,
    lxc_create_params,
    lxc_nic,
    qemu_config_params,
    qemu_nic,
)

CONFLICT_MARKERS = ("checksum mismatch", "file changed by other user", "digest")
DIGEST_RETRIES = 3
_CI_KEYS = {"user": "ciuser", "sshKeys": "sshkeys", "upgrade": "ciupgrade"}


class GuestFailed(ProxgitError):
    """One guest's change failed; the run goes on with the others."""


class GuestExecutor:
    def __init__(self, client: ProxmoxClient, secrets: SecretBox) -> None:
        self.api = client
        self.secrets = secrets
        self.tasks: list[TaskRecord] = []

    # --- helpers -------------------------------------------------------------------

    def _wait(self, node: str, upid: Any, what: str) -> None:
        if not isinstance(upid, str) or not upid.startswith("UPID:"):
            return  # synchronous call
        result = self.api.wait_task(node, upid)
        log = [self.secrets.scrub(line) for line in result.log]
        self.tasks.append(TaskRecord(upid=upid, exitstatus=result.exitstatus, log=log))
        if not result.ok:
            raise GuestFailed(f"{what}: task {result.exitstatus}")

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
            assert isinstance(spec, VirtualMachineSpec)
            kind = "qemu"
            params = qemu_config_params(document, password=password)
            if spec.clone is not None:
                self._clone(document, live_templates)
                self._configure_clone(document, params)
            else:
                if spec.pool:
                    params["pool"] = spec.pool
                if spec.cloud_init is not None and spec.disks:
                    first = next(iter(spec.disks.values()))
                    params.setdefault("ide2", f"{first.storage}:cloudinit")
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
        config = self.api.get(f"{path}/config")
        resizes: list[tuple[str, int]] = []
        for slot, disk in (spec.disks or {}).items():
            if slot in config:
                params.pop(slot, None)
                resizes.append((slot, disk.size))
        params.pop("name", None)
        if params:
            self.api.put(f"{path}/config", digest=config.get("digest"), **params)
        for slot, size in resizes:
            self._grow(spec.node, "qemu", spec.vmid, slot, size)

    def _grow(self, node: str, kind: str, vmid: int, slot: str, size: int) -> None:
        config = self.api.get(f"nodes/{node}/{kind}/{vmid}/config")
        props = parse_property_string(str(config.get(slot, "")), "file")
        current = parse_size(props["size"]) if "size" in props else 0
        if size > current:
            upid = self.api.put(
                f"nodes/{node}/{kind}/{vmid}/resize", disk=slot, size=format_size(size)
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
            config = self.api.get(f"{path}/config")
            status = self.api.get(f"{path}/status/current").get("status", live.status)
            running = status == "running"
            if attempt:  # someone changed the guest under us: plan it again
                fresh = LiveGuest(
                    vmid=live.vmid,
                    type=live.type,
                    name=live.name,
                    node=live.node,
                    status=status,
                    pool=live.pool,
                )
                fresh.config = {k: v for k, v in config.items() if k != "digest"}
                fields = diff_guest(document, fresh)
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
                    config = self.api.get(f"{path}/config")
                if params:
                    self.api.put(f"{path}/config", digest=config.get("digest"), **params)
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
        """Proxmox keys for the changed fields only; disk growth and power apart."""
        is_vm = isinstance(document, VirtualMachine)
        full = (
            qemu_config_params(document)
            if isinstance(document, VirtualMachine)
            else lxc_create_params(document)
        )  # type: ignore[arg-type]
        spec = document.spec
        params: dict[str, Any] = {}
        resizes: list[tuple[str, int]] = []
        power: str | None = None
        for change in fields:
            parts = change.path.split(".")
            top = parts[0]
            if top == "power":
                power = str(change.after)
            elif top == "pool":
                self._set_pool(document.spec.vmid, str(change.after))
            elif top in ("disks", "rootfs", "mountpoints"):
                slot = parts[1] if top != "rootfs" else "rootfs"
                field = parts[-1]
                if slot not in config:
                    params[slot] = full[slot]
                elif field == "size":
                    resizes.append((slot, parse_size(str(change.after))))
                elif is_vm and isinstance(spec, VirtualMachineSpec) and spec.disks:
                    volume = parse_property_string(str(config[slot]), "file")
                    disk = spec.disks[slot]
                    keep = [f"{volume['file']}"] + (
                        [f"size={volume['size']}"] if "size" in volume else []
                    )
                    params[slot] = ",".join(keep + disk_options(disk))
            elif top == "networks":
                slot = parts[1]
                params[slot] = self._nic(document, slot, config.get(slot))
            elif top == "cloudInit":
                key = _CI_KEYS.get(parts[1], parts[1])
                if key in full:
                    params[key] = full[key]
            elif top in ("startup", "agent", "features"):
                if top in full:
                    params[top] = full[top]
            elif top in full:
                params[top] = full[top]
        return params, resizes, power

    def _nic(self, document: VirtualMachine | Container, slot: str, live_raw: Any) -> str:
        """The NIC as desired, keeping the MAC Proxmox gave it unless the spec sets one."""
        live_props = parse_property_string(str(live_raw or ""))
        if isinstance(document, VirtualMachine):
            nic = (document.spec.networks or {})[slot]
            if nic.macaddr is None:
                mac = nic_mac(live_props)
                if mac:
                    nic = nic.model_copy(update={"macaddr": mac})
            return qemu_nic(nic)
        assert isinstance(document, Container)
        ct_nic = (document.spec.networks or {})[slot]
        if ct_nic.hwaddr is None and live_props.get("hwaddr"):
            ct_nic = ct_nic.model_copy(update={"hwaddr": live_props["hwaddr"]})
        return lxc_nic(ct_nic)

    def _set_pool(self, vmid: int, pool: str) -> None:
        self.api.put(f"pools/{pool}", vms=str(vmid))


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
    try:
        if change.blockers:
            raise GuestFailed("blocked: " + "; ".join(b.message for b in change.blockers))
        if change.action == Action.create:
            assert document is not None
            result.state = executor.create(document, templates)
        elif change.action == Action.update:
            assert document is not None and live is not None
            result.state, result.message = executor.update(document, live, change.fields)
    except ProxgitError as err:
        result.state = GuestState.failed
        result.message = err.message
    except Exception as err:  # a bug must not stop the other guests
        result.state = GuestState.failed
        result.message = f"internal error: {type(err).__name__}: {err}"
    result.message = executor.secrets.scrub(result.message)
    result.tasks = list(executor.tasks)
    return result
