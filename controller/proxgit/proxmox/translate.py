"""Desired specs as Proxmox API parameters (the reverse of ``normalize``).

Used to create guests and to write changed keys. Secrets are passed in by the
caller, resolved at apply time; nothing here reads the environment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from proxgit.models.base import normalize_tags
from proxgit.models.guests import (
    Container,
    ContainerNetwork,
    ContainerSpec,
    Disk,
    GuestSpec,
    VirtualMachine,
    VirtualMachineSpec,
    VmNetwork,
)

_GIB = 1 << 30


def _flag(value: bool) -> int:
    return 1 if value else 0


def _alloc(storage: str, size: int) -> str:
    """``storage:SIZE_IN_GiB``, Proxmox's syntax for allocating a new volume."""
    gib = size / _GIB
    return f"{storage}:{int(gib) if gib.is_integer() else round(gib, 3)}"


def _join(parts: list[str]) -> str:
    return ",".join(p for p in parts if p)


def disk_options(disk: Disk) -> list[str]:
    options: list[str] = []
    if disk.format:
        options.append(f"format={disk.format}")
    if disk.ssd is not None:
        options.append(f"ssd={_flag(disk.ssd)}")
    if disk.discard is not None:
        options.append(f"discard={'on' if disk.discard else 'ignore'}")
    if disk.iothread is not None:
        options.append(f"iothread={_flag(disk.iothread)}")
    if disk.cache is not None:
        options.append(f"cache={disk.cache}")
    if disk.backup is not None:
        options.append(f"backup={_flag(disk.backup)}")
    return options


def qemu_nic(nic: VmNetwork) -> str:
    model = str(nic.model)
    parts = [f"{model}={nic.macaddr.upper()}" if nic.macaddr else model, f"bridge={nic.bridge}"]
    if nic.tag is not None:
        parts.append(f"tag={nic.tag}")
    if nic.firewall is not None:
        parts.append(f"firewall={_flag(nic.firewall)}")
    if nic.rate is not None:
        parts.append(f"rate={nic.rate:g}")
    if nic.mtu is not None:
        parts.append(f"mtu={nic.mtu}")
    if nic.queues is not None:
        parts.append(f"queues={nic.queues}")
    if nic.link_down is not None:
        parts.append(f"link_down={_flag(nic.link_down)}")
    return _join(parts)


def lxc_nic(nic: ContainerNetwork) -> str:
    parts = [f"name={nic.name}", f"bridge={nic.bridge}"]
    for key in ("ip", "gw", "ip6", "gw6"):
        value = getattr(nic, key)
        if value is not None:
            parts.append(f"{key}={value}")
    if nic.tag is not None:
        parts.append(f"tag={nic.tag}")
    if nic.firewall is not None:
        parts.append(f"firewall={_flag(nic.firewall)}")
    if nic.hwaddr is not None:
        parts.append(f"hwaddr={nic.hwaddr.upper()}")
    if nic.mtu is not None:
        parts.append(f"mtu={nic.mtu}")
    if nic.rate is not None:
        parts.append(f"rate={nic.rate:g}")
    return _join(parts)


def _common(spec: GuestSpec) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in ("cores", "memory"):
        value = getattr(spec, key)
        if value is not None:
            params[key] = value
    for key in ("onboot", "protection"):
        value = getattr(spec, key)
        if value is not None:
            params[key] = _flag(value)
    if spec.tags is not None:
        params["tags"] = ";".join(normalize_tags(spec.tags))
    if spec.description is not None:
        params["description"] = spec.description
    if spec.startup is not None:
        params["startup"] = _join(
            [
                f"{k}={v}"
                for k in ("order", "up", "down")
                if (v := getattr(spec.startup, k)) is not None
            ]
        )
    return params


def qemu_config_params(vm: VirtualMachine, *, password: str | None = None) -> dict[str, Any]:
    """Every config key the spec sets, as ``POST /qemu`` or ``PUT /config`` parameters.

    Disks are given in allocation syntax (``storage:GiB``); callers writing to
    an existing guest handle disks themselves (resize, never re-allocate).
    """
    spec: VirtualMachineSpec = vm.spec
    params = _common(spec)
    params["name"] = vm.metadata.name
    for key in (
        "sockets",
        "cpu",
        "balloon",
        "hotplug",
        "bios",
        "machine",
        "ostype",
        "scsihw",
        "boot",
    ):
        value = getattr(spec, key)
        if value is not None:
            params[key] = str(value) if not isinstance(value, int) else value
    if spec.numa is not None:
        params["numa"] = _flag(spec.numa)
    if spec.agent is not None:
        agent = [f"enabled={_flag(spec.agent.enabled)}"]
        if spec.agent.fstrim is not None:
            agent.append(f"fstrim_cloned_disks={_flag(spec.agent.fstrim)}")
        params["agent"] = _join(agent)
    for slot, disk in (spec.disks or {}).items():
        params[slot] = _join([_alloc(disk.storage, disk.size), *disk_options(disk)])
    for slot, nic in (spec.networks or {}).items():
        params[slot] = qemu_nic(nic)
    ci = spec.cloud_init
    if ci is not None:
        if ci.user is not None:
            params["ciuser"] = ci.user
        if ci.ssh_keys is not None:
            params["sshkeys"] = quote("\n".join(ci.ssh_keys) + "\n", safe="")
        for key in ("nameserver", "searchdomain", "cicustom", "citype"):
            value = getattr(ci, key)
            if value is not None:
                params[key] = value
        if ci.upgrade is not None:
            params["ciupgrade"] = _flag(ci.upgrade)
        for index, text in sorted(ci.ipconfig.items()):
            params[f"ipconfig{index}"] = text
        if password is not None:
            params["cipassword"] = password
    return params


def lxc_create_params(ct: Container, *, password: str | None = None) -> dict[str, Any]:
    """``POST /nodes/{node}/lxc`` parameters for a new container."""
    spec: ContainerSpec = ct.spec
    params = _common(spec)
    params["vmid"] = spec.vmid
    params["hostname"] = spec.hostname or ct.metadata.name
    if spec.ostemplate:
        params["ostemplate"] = spec.ostemplate
    if spec.swap is not None:
        params["swap"] = spec.swap
    if spec.rootfs is not None:
        params["rootfs"] = _alloc(spec.rootfs.storage, spec.rootfs.size)
    for slot, mount in (spec.mountpoints or {}).items():
        parts = [_alloc(mount.storage, mount.size), f"mp={mount.path}"]
        if mount.backup is not None:
            parts.append(f"backup={_flag(mount.backup)}")
        if mount.readonly is not None:
            parts.append(f"ro={_flag(mount.readonly)}")
        params[slot] = _join(parts)
    for slot, nic in (spec.networks or {}).items():
        params[slot] = lxc_nic(nic)
    if spec.unprivileged is not None:
        params["unprivileged"] = _flag(spec.unprivileged)
    if spec.features is not None:
        features = [
            f"{k}={_flag(v)}"
            for k in ("nesting", "keyctl", "fuse")
            if (v := getattr(spec.features, k)) is not None
        ]
        if features:
            params["features"] = _join(features)
    for key in ("nameserver", "searchdomain", "ostype"):
        value = getattr(spec, key)
        if value is not None:
            params[key] = value
    if spec.ssh_keys:
        params["ssh-public-keys"] = "\n".join(spec.ssh_keys)
    if password is not None:
        params["password"] = password
    if spec.pool is not None:
        params["pool"] = spec.pool
    return params
