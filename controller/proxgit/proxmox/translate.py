"""Desired specs as Proxmox API parameters (the reverse of ``normalize``), through the
field table: each spec path resolves to its config key, whose row writes the value.

Used to create guests and to write changed keys. Secrets are passed in by the
caller, resolved at apply time; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from proxgit.models.guests import Container, ContainerSpec, VirtualMachine, VirtualMachineSpec
from proxgit.proxmox.fields import EXTRA, Resolved, extra_text, resolve
from proxgit.proxmox.normalize import FlatView, spec_view


def group_by_key(kind: str, view: FlatView, paths: Iterable[str] | None = None) -> dict[str, Any]:
    """``view``'s values (or only ``paths``) grouped by the config key they are written to:
    ``{"scsi0": (row, {"size": .., "ssd": ..})}``."""
    groups: dict[str, tuple[Resolved, dict[str, Any]]] = {}
    for path in view if paths is None else paths:
        if path not in view:
            continue
        found = resolve(kind, path)
        if found is None or found.key.role != "typed":
            continue
        entry = groups.setdefault(found.config_key, (found, {}))
        entry[1][found.subpath] = view[path]
    return groups


def key_params(
    kind: str,
    view: FlatView,
    paths: Iterable[str] | None = None,
    live: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The config keys ``view`` (or its ``paths``) sets, each written over its ``live``
    value: sub-keys the paths do not name are kept as live has them."""
    params: dict[str, str] = extra_params(view, paths)
    for config_key, (found, values) in group_by_key(kind, view, paths).items():
        current = (live or {}).get(config_key)
        params[config_key] = found.key.write(values, None if current is None else str(current))
    return params


def extra_params(view: FlatView, paths: Iterable[str] | None = None) -> dict[str, str]:
    """``extraConfig`` keys of ``view`` (or only ``paths``), verbatim."""
    prefix = EXTRA + "."
    return {
        path[len(prefix) :]: extra_text(view[path])
        for path in (view if paths is None else paths)
        if path.startswith(prefix) and path in view
    }


def auto_efidisk(spec: VirtualMachineSpec) -> str | None:
    """With ``bios: ovmf`` and no EFI disk declared (as ``efiDisk`` or in
    ``extraConfig``), the EFI vars disk a UEFI VM needs, on its first disk's
    storage: ``storage:1,efitype=4m`` (Proxmox sizes it)."""
    if str(spec.bios) != "ovmf" or spec.efi_disk is not None:
        return None
    if "efidisk0" in (spec.extra_config or {}) or not spec.disks:
        return None
    first = next(iter(spec.disks.values()))
    return f"{first.storage}:1,efitype=4m"


def cloudinit_drive(spec: VirtualMachineSpec) -> tuple[str, str] | None:
    """The cloud-init drive's slot and allocation (``storage:cloudinit``), if any."""
    ci = spec.cloud_init
    if ci is None:
        return None
    if ci.drive is not None:
        return ci.drive.slot, f"{ci.drive.storage}:cloudinit"
    if spec.disks:
        return "ide2", f"{next(iter(spec.disks.values())).storage}:cloudinit"
    return None


def qemu_config_params(vm: VirtualMachine, *, password: str | None = None) -> dict[str, Any]:
    """Every config key the spec sets, as ``POST /qemu`` or ``PUT /config`` parameters.

    Disks are given in allocation syntax (``storage:GiB``); callers writing to
    an existing guest handle disks themselves (resize, never re-allocate).
    """
    params: dict[str, Any] = key_params("qemu", spec_view(vm))
    if password is not None and vm.spec.cloud_init is not None:
        params["cipassword"] = password
    return params


def lxc_create_params(ct: Container, *, password: str | None = None) -> dict[str, Any]:
    """``POST /nodes/{node}/lxc`` parameters for a new container."""
    spec: ContainerSpec = ct.spec
    params: dict[str, Any] = key_params("lxc", spec_view(ct))
    params["vmid"] = spec.vmid
    if spec.ostemplate:
        params["ostemplate"] = spec.ostemplate
    if spec.ssh_keys:
        params["ssh-public-keys"] = "\n".join(spec.ssh_keys)
    if password is not None:
        params["password"] = password
    if spec.pool is not None:
        params["pool"] = spec.pool
    return params
