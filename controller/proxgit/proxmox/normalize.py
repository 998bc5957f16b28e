"""One layer that turns Proxmox config into the values desired specs use.

Proxmox answers in property strings (``virtio=BC:24:11:..,bridge=vmbr0,tag=20``,
``local-lvm:vm-101-disk-0,size=32G,ssd=1``), sizes in any unit, ``;``-joined
tags, 0/1 booleans, URL-encoded ssh keys and, after a config PUT, integers as
strings. Desired specs are typed. Both are turned into the same *flat view*,
``{"disks.scsi0.size": 34359738368, "networks.net0.tag": 20, ...}``, keyed by
the desired spec's own paths, so that comparing them is a dict lookup and a
converged guest compares equal: no perpetual diffs.

Only paths the desired spec sets are ever compared (see :func:`desired_view`);
what Proxmox fills in by itself (MAC addresses, volume names, defaults) is
never a difference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import unquote

from proxgit.models.base import normalize_tags, parse_size
from proxgit.models.guests import (
    Container,
    ContainerSpec,
    NicModel,
    VirtualMachine,
    VirtualMachineSpec,
)

FlatView = dict[str, Any]

PENDING_DELETION_TAG = "proxgit-pending-deletion"
_NIC_MODELS = {model.value for model in NicModel}
_DISK_KEY = re.compile(r"^(scsi|virtio|sata|ide)\d+$")
_TRUE = {"1", "on", "yes", "true"}


def parse_property_string(value: str, default_key: str | None = None) -> dict[str, str]:
    """``a=1,b=2`` to a dict; a first item without ``=`` goes under ``default_key``."""
    result: dict[str, str] = {}
    for index, item in enumerate(str(value).split(",")):
        if not item:
            continue
        key, sep, val = item.partition("=")
        if not sep:
            if index == 0 and default_key:
                result[default_key] = key
            else:
                result[key] = "1"
            continue
        result[key.strip()] = val.strip()
    return result


def nic_mac(props: dict[str, str]) -> str | None:
    """The MAC of a parsed ``netN`` value: ``virtio=BC:24:..`` (QEMU) or ``hwaddr=`` (LXC)."""
    mac = props.get("hwaddr") or next(
        (v for k, v in props.items() if k in _NIC_MODELS and v not in ("", "1")), None
    )
    return mac.upper() if mac else None


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def to_int(value: Any) -> int:
    return int(float(value))


def split_tags(value: Any) -> list[str]:
    """Proxmox tags (``a;b``, ``a,b`` or ``a b``) as the sorted, lower-cased list it stores."""
    if isinstance(value, list | tuple):
        return normalize_tags([str(t) for t in value])
    text = str(value or "")
    for sep in (",", " "):
        text = text.replace(sep, ";")
    return normalize_tags([t for t in text.split(";") if t])


def visible_tags(tags: list[str]) -> list[str]:
    """Tags a user manages: proxgit's own marker tag is not part of the spec."""
    return [t for t in tags if t != PENDING_DELETION_TAG]


class ConfigValueError(ValueError):
    """A value in a guest's live config that proxgit can't read: which key, what it held."""

    def __init__(self, key: str, raw: Any, reason: str) -> None:
        self.key = key
        self.raw = raw
        self.reason = reason
        super().__init__(f"{key}: malformed value {_shown(key, raw)} ({reason})")


SECRET_CONFIG_KEYS = frozenset({"cipassword", "password"})


def _shown(key: str, raw: Any) -> str:
    if key in SECRET_CONFIG_KEYS:
        return "(secret)"
    text = repr(str(raw))
    return text if len(text) <= 80 else text[:77] + "...'"


def _size(value: str) -> int:
    """A ``size=`` Proxmox stores: ``32G``, ``512M`` or a bare number of *bytes*."""
    return parse_size(value, bare_unit="B")


def _startup(value: Any) -> dict[str, int]:
    props = parse_property_string(str(value))
    return {k: to_int(v) for k, v in props.items() if k in ("order", "up", "down")}


def _qemu_memory(value: Any) -> int:
    """``2048`` or, since PVE 8.1, ``current=2048``."""
    props = parse_property_string(str(value), "current")
    if "current" not in props:
        raise ValueError("no current memory size")
    return to_int(props["current"])


def _put(view: FlatView, prefix: str, key: str, value: Any) -> None:
    view[f"{prefix}.{key}" if prefix else key] = value


# --- live config -> flat view --------------------------------------------------


def _guest_key(view: FlatView, key: str, raw: Any) -> bool:
    """What QEMU and LXC guests share: tags, description, startup. True when handled."""
    if key == "tags":
        view["tags"] = visible_tags(split_tags(raw))
    elif key == "description":
        view["description"] = str(raw).rstrip()
    elif key == "startup":
        for name, val in _startup(raw).items():
            view[f"startup.{name}"] = val
    else:
        return False
    return True


def _status_pool(view: FlatView, status: str | None, pool: str | None) -> None:
    if status is not None:
        view["power"] = "running" if status == "running" else "stopped"
    if pool:
        view["pool"] = pool


def _each_key(config: Mapping[str, Any], view: FlatView, handle: Any) -> None:
    """Run ``handle(view, key, raw)`` on every key; a value it can't read raises
    :class:`ConfigValueError` naming the key and the value."""
    for key, raw in config.items():
        if raw is None:
            continue
        try:
            handle(view, str(key), raw)
        except ConfigValueError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
            raise ConfigValueError(str(key), raw, str(err) or type(err).__name__) from None


_CI_KEYS = {
    "ciuser": "user",
    "nameserver": "nameserver",
    "searchdomain": "searchdomain",
    "cicustom": "cicustom",
    "citype": "citype",
}


def _qemu_key(view: FlatView, key: str, raw: Any) -> None:
    if _guest_key(view, key, raw):
        return
    if key == "memory":
        view["memory"] = _qemu_memory(raw)
    elif key in ("cores", "sockets", "balloon"):
        view[key] = to_int(raw)
    elif key in ("onboot", "protection", "numa"):
        view[key] = to_bool(raw)
    elif key in ("bios", "machine", "ostype", "scsihw", "boot", "hotplug", "name"):
        view[key] = str(raw)
    elif key == "cpu":
        view["cpu"] = parse_property_string(str(raw), "cputype").get("cputype")
    elif key == "agent":
        agent = parse_property_string(str(raw), "enabled")
        view["agent.enabled"] = to_bool(agent.get("enabled", "0"))
        if "fstrim_cloned_disks" in agent:
            view["agent.fstrim"] = to_bool(agent["fstrim_cloned_disks"])
    elif _DISK_KEY.match(key):
        disk = _qemu_disk(str(raw))
        if disk is not None:
            for field, val in disk.items():
                view[f"disks.{key}.{field}"] = val
    elif key.startswith("net") and key[3:].isdigit():
        for field, val in _qemu_nic(str(raw)).items():
            view[f"networks.{key}.{field}"] = val
    elif key.startswith("ipconfig") and key[8:].isdigit():
        view[f"cloudInit.{key}"] = str(raw)
    elif key in _CI_KEYS:
        view[f"cloudInit.{_CI_KEYS[key]}"] = str(raw)
    elif key == "ciupgrade":
        view["cloudInit.upgrade"] = to_bool(raw)
    elif key == "sshkeys":
        view["cloudInit.sshKeys"] = split_ssh_keys(str(raw))


def normalize_qemu_config(
    config: Mapping[str, Any], *, status: str | None = None, pool: str | None = None
) -> FlatView:
    """A QEMU guest's ``/config`` answer as a flat view in desired-spec paths.

    A value that can't be read raises :class:`ConfigValueError` (key and value).
    """
    view: FlatView = {}
    _each_key(config, view, _qemu_key)
    _status_pool(view, status, pool)
    return view


def split_ssh_keys(value: str) -> list[str]:
    """Proxmox stores ``sshkeys`` URL-encoded, one key per line."""
    return [line.strip() for line in unquote(value).splitlines() if line.strip()]


def _qemu_disk(raw: str) -> dict[str, Any] | None:
    props = parse_property_string(raw, "file")
    volume = props.get("file", "")
    if props.get("media") == "cdrom" or volume in ("none", "cdrom") or "cloudinit" in volume:
        return None
    disk: dict[str, Any] = {"storage": volume.split(":", 1)[0]}
    if "size" in props:
        disk["size"] = _size(props["size"])
    for key in ("ssd", "iothread", "backup"):
        if key in props:
            disk[key] = to_bool(props[key])
    if "discard" in props:
        disk["discard"] = props["discard"] == "on"
    for key in ("cache", "format"):
        if key in props:
            disk[key] = props[key]
    return disk


def _qemu_nic(raw: str) -> dict[str, Any]:
    props = parse_property_string(raw)
    nic: dict[str, Any] = {}
    for key, val in props.items():
        if key in _NIC_MODELS:
            nic["model"] = key
            if val and val != "1":
                nic["macaddr"] = val.upper()
        elif key == "model":
            nic["model"] = val
        elif key == "macaddr":
            nic["macaddr"] = val.upper()
        elif key == "bridge":
            nic["bridge"] = val
        elif key in ("tag", "mtu", "queues"):
            nic[key] = to_int(val)
        elif key == "rate":
            nic["rate"] = float(val)
        elif key == "firewall":
            nic["firewall"] = to_bool(val)
        elif key == "link_down":
            nic["linkDown"] = to_bool(val)
    return nic


def _lxc_key(view: FlatView, key: str, raw: Any) -> None:
    if _guest_key(view, key, raw):
        return
    if key in ("cores", "memory", "swap"):
        view[key] = to_int(raw)
    elif key in ("onboot", "protection", "unprivileged"):
        view[key] = to_bool(raw)
    elif key in ("hostname", "nameserver", "searchdomain", "ostype"):
        view[key] = str(raw)
    elif key == "features":
        for name, flag in parse_property_string(str(raw)).items():
            if name in ("nesting", "keyctl", "fuse"):
                view[f"features.{name}"] = to_bool(flag)
    elif key == "rootfs":
        props = parse_property_string(str(raw), "volume")
        view["rootfs.storage"] = props.get("volume", "").split(":", 1)[0]
        if "size" in props:
            view["rootfs.size"] = _size(props["size"])
    elif key.startswith("mp") and key[2:].isdigit():
        props = parse_property_string(str(raw), "volume")
        view[f"mountpoints.{key}.storage"] = props.get("volume", "").split(":", 1)[0]
        if "size" in props:
            view[f"mountpoints.{key}.size"] = _size(props["size"])
        if "mp" in props:
            view[f"mountpoints.{key}.path"] = props["mp"]
        if "backup" in props:
            view[f"mountpoints.{key}.backup"] = to_bool(props["backup"])
        if "ro" in props:
            view[f"mountpoints.{key}.ro"] = to_bool(props["ro"])
    elif key.startswith("net") and key[3:].isdigit():
        props = parse_property_string(str(raw))
        for field, text in props.items():
            if field in ("name", "bridge", "ip", "gw", "ip6", "gw6"):
                view[f"networks.{key}.{field}"] = text
            elif field == "hwaddr":
                view[f"networks.{key}.hwaddr"] = text.upper()
            elif field in ("tag", "mtu"):
                view[f"networks.{key}.{field}"] = to_int(text)
            elif field == "rate":
                view[f"networks.{key}.rate"] = float(text)
            elif field == "firewall":
                view[f"networks.{key}.firewall"] = to_bool(text)


def normalize_lxc_config(
    config: Mapping[str, Any], *, status: str | None = None, pool: str | None = None
) -> FlatView:
    """An LXC guest's ``/config`` answer as a flat view in desired-spec paths.

    A value that can't be read raises :class:`ConfigValueError` (key and value).
    """
    view: FlatView = {}
    _each_key(config, view, _lxc_key)
    _status_pool(view, status, pool)
    return view


# --- desired spec -> flat view --------------------------------------------------

# Fields that shape a guest's creation only, or are proxgit's own: never compared.
_NOT_COMPARED = {
    "vmid",
    "node",
    "clone",
    "restartPolicy",
    "ostemplate",
    "passwordFrom",
    "cloudInit.passwordFrom",
    "sshKeys",
}


def desired_view(document: VirtualMachine | Container) -> FlatView:
    """The desired spec's *set* fields as a flat view; left-out fields are absent."""
    spec = document.spec
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="python")
    view: FlatView = {}
    _flatten(data, "", view)
    # power has a default that always applies; the name is the metadata name.
    view["power"] = str(spec.power)
    if isinstance(spec, VirtualMachineSpec):
        view["name"] = document.metadata.name
    elif isinstance(spec, ContainerSpec):
        view["hostname"] = spec.hostname or document.metadata.name
    if "tags" in view:
        view["tags"] = split_tags(view["tags"])
    if "description" in view:
        view["description"] = str(view["description"]).rstrip()
    for key in [k for k in view if k.endswith((".macaddr", ".hwaddr"))]:
        view[key] = str(view[key]).upper()
    for key in [k for k in view if k.endswith(".size") and isinstance(view[k], str)]:
        view[key] = parse_size(view[key])  # the model serializes sizes as text
    return view


def _flatten(data: Mapping[str, Any], prefix: str, out: FlatView) -> None:
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if path in _NOT_COMPARED or key in ("passwordFrom",):
            continue
        if key == "ipconfig" and isinstance(value, dict):
            for index, text in value.items():
                out[f"{prefix}.ipconfig{index}"] = text
            continue
        if isinstance(value, dict):
            _flatten(value, path, out)
        elif isinstance(value, Enum):
            out[path] = str(value.value)
        else:
            out[path] = list(value) if isinstance(value, tuple) else value
