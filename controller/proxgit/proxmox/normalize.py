"""One layer that turns Proxmox config into the values desired specs use.

Proxmox answers in property strings (``virtio=BC:24:11:..,bridge=vmbr0,tag=20``,
``local-lvm:vm-101-disk-0,size=32G,ssd=1``), sizes in any unit, ``;``-joined
tags, 0/1 booleans, URL-encoded ssh keys and, after a config PUT, integers as
strings. Desired specs are typed. Both are turned into the same *flat view*,
``{"disks.scsi0.size": 34359738368, "networks.net0.tag": 20, ...}``, keyed by
the desired spec's own paths, so that comparing them is a dict lookup and a
converged guest compares equal: no perpetual diffs.

Every key is read through the field table (``fields.py``): its row says the
spec path, the format and how to parse it. Only paths the desired spec sets
are ever compared (see :func:`desired_view`); what Proxmox fills in by itself
(MAC addresses, volume names, defaults) is never a difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from proxgit.models.guests import (
    Container,
    ContainerSpec,
    VirtualMachine,
    VirtualMachineSpec,
)
from proxgit.proxmox.fields import (
    EXTRA,
    PENDING_DELETION_TAG,
    FlatView,
    canonical_property_string,
    extra_text,
    holds_volume,
    key_for,
    nic_mac,
    parse_property_string,
    resolve,
    split_ssh_keys,
    split_tags,
    to_bool,
    to_int,
    untyped_subkeys,
    visible_tags,
)

__all__ = [
    "PENDING_DELETION_TAG",
    "SECRET_CONFIG_KEYS",
    "ConfigValueError",
    "FlatView",
    "desired_view",
    "nic_mac",
    "normalize_config",
    "normalize_lxc_config",
    "normalize_qemu_config",
    "parse_property_string",
    "split_ssh_keys",
    "split_tags",
    "to_bool",
    "to_int",
    "visible_tags",
]

SECRET_CONFIG_KEYS = frozenset({"cipassword", "password"})


class ConfigValueError(ValueError):
    """A value in a guest's live config that proxgit can't read: which key, what it held."""

    def __init__(self, key: str, raw: Any, reason: str) -> None:
        self.key = key
        self.raw = raw
        self.reason = reason
        super().__init__(f"{key}: malformed value {_shown(key, raw)} ({reason})")


def _shown(key: str, raw: Any) -> str:
    if key in SECRET_CONFIG_KEYS:
        return "(secret)"
    text = repr(str(raw))
    return text if len(text) <= 80 else text[:77] + "...'"


# --- live config -> flat view --------------------------------------------------


def normalize_config(
    kind: str,
    config: Mapping[str, Any],
    *,
    status: str | None = None,
    pool: str | None = None,
) -> FlatView:
    """A guest's ``/config`` answer as a flat view in desired-spec paths, read
    through the field table of ``kind`` (``qemu`` or ``lxc``).

    A value that can't be read raises :class:`ConfigValueError` (key and value).
    """
    view: FlatView = {}
    for key, raw in config.items():
        if raw is None:
            continue
        key = str(key)
        row = key_for(kind, key)
        if row is None or row.role in ("owned", "secret"):
            continue
        if row.role == "carried":
            view[f"{EXTRA}.{key}"] = str(raw)
            continue
        try:
            values = row.parse(key, raw)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
            raise ConfigValueError(key, raw, str(err) or type(err).__name__) from None
        if values is None:
            # a value the row does not type (a cdrom, a bind mount): carried
            view[f"{EXTRA}.{key}"] = canonical_property_string(kind, key, str(raw))
        else:
            view.update(values)
            if row.subs:  # for a document that carries this key verbatim
                view[f"{EXTRA}.{key}"] = canonical_property_string(kind, key, str(raw))
    if status is not None:
        view["power"] = "running" if status == "running" else "stopped"
    if pool:
        view["pool"] = pool
    return view


def document_view(kind: str, config: Mapping[str, Any], view: FlatView) -> FlatView:
    """``view`` as a document holds it: each typed property string once, typed when
    every sub-key it has is a spec field, else verbatim under ``extraConfig`` (so a
    sub-key proxgit does not type, ``hidden=1`` in ``cpu``, is not dropped)."""
    whole = set()
    for key, raw in config.items():
        row = key_for(kind, str(key))
        if raw is None or row is None or holds_volume(row):
            continue  # a volume's untyped sub-keys are reported by import, never copied
        if untyped_subkeys(kind, str(key), raw):
            whole.add(str(key))
    out: FlatView = {}
    for path, value in view.items():
        if path.startswith(EXTRA + "."):
            key = path[len(EXTRA) + 1 :]
            row = key_for(kind, key)
            typed_whole = row is not None and row.role == "typed" and row.subs
            if typed_whole and key not in whole and _typed_reading(kind, key, config):
                continue
            out[path] = value
            continue
        found = resolve(kind, path)
        if found is not None and found.config_key in whole:
            continue
        out[path] = value
    return out


def _typed_reading(kind: str, key: str, config: Mapping[str, Any]) -> bool:
    """Whether ``key``'s live value is read as typed fields (not a carried cdrom...)."""
    row = key_for(kind, key)
    raw = config.get(key)
    return row is not None and raw is not None and row.parse(key, raw) is not None


def normalize_qemu_config(
    config: Mapping[str, Any], *, status: str | None = None, pool: str | None = None
) -> FlatView:
    """A QEMU guest's config as a flat view (see :func:`normalize_config`)."""
    return normalize_config("qemu", config, status=status, pool=pool)


def normalize_lxc_config(
    config: Mapping[str, Any], *, status: str | None = None, pool: str | None = None
) -> FlatView:
    """An LXC guest's config as a flat view (see :func:`normalize_config`)."""
    return normalize_config("lxc", config, status=status, pool=pool)


# --- desired spec -> flat view --------------------------------------------------

# Fields that shape a guest's creation only, or are proxgit's own: never compared.
_NOT_COMPARED = {
    "vmid",
    "node",
    "clone",
    "restartPolicy",
    "syncPolicy",
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
    return _canonical(_kind_of(document), view)


def spec_view(document: VirtualMachine | Container) -> FlatView:
    """Every field of the spec, defaults included (what a create writes)."""
    spec = document.spec
    data = spec.model_dump(by_alias=True, exclude_none=True, mode="python")
    view: FlatView = {}
    _flatten(data, "", view)
    if isinstance(spec, VirtualMachineSpec):
        view["name"] = document.metadata.name
    elif isinstance(spec, ContainerSpec):
        view["hostname"] = spec.hostname or document.metadata.name
    return _canonical(_kind_of(document), view)


def _kind_of(document: VirtualMachine | Container) -> str:
    return "qemu" if isinstance(document, VirtualMachine) else "lxc"


def _canonical(kind: str, view: FlatView) -> FlatView:
    """Desired values in the form live values are read in, by each row's codec."""
    for path, value in list(view.items()):
        if path.startswith(EXTRA + "."):
            key = path[len(EXTRA) + 1 :]
            view[path] = canonical_property_string(kind, key, extra_text(value))
            continue
        found = resolve(kind, path)
        if found is None:
            continue
        row = found.key
        sub = row.sub_for_path(found.subpath) if row.subs else None
        codec = sub.codec if sub is not None else row.codec
        if codec is not None and (row.subs == () or sub is not None):
            view[path] = codec.canon(value)
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
