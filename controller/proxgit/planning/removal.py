"""Fields a document no longer declares, removed from Proxmox the way Terraform removes
an attribute that left its configuration.

Only what the previous applied revision (the plan's base) declared is removed: a key
proxgit never managed is never deleted. Without a base (a full plan, ``plan --drift``)
nothing is removed. A whole config key the new document no longer names at all
(``description``, ``networks.net1``, ``mountpoints.mp0``, ``extraConfig.localtime``) is
deleted (``delete=<key>`` in the config write); a sub-key of a key still declared
(``networks.net0.tag``, ``cpuFlags``) is taken out of that key's property string. Either
way Proxmox takes its default again. A disk or mount point volume removed this way is
detached (Proxmox keeps it as ``unusedN``), never destroyed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from proxgit.planning.effects import effect_of
from proxgit.planning.fieldchange import Effect, FieldChange
from proxgit.proxmox.fields import (
    EXTRA,
    NIC_MODELS,
    FlatView,
    key_for,
    parse_property_string,
    resolve,
)

# Not config keys of their own, or always declared: never removed.
_NEVER = frozenset({"power", "pool", "name", "hostname"})
# Keys Proxmox can't do without: a removal is refused by the planner (see `required`).
_REQUIRED = {"lxc": frozenset({"rootfs"}), "qemu": frozenset()}


def config_key_of(kind: str, path: str) -> tuple[str, str] | None:
    """(config key, sub-path) a flat-view path is written to; sub-path ``""`` for the
    key itself, ``None`` for paths that are not config keys (``power``)."""
    if path in _NEVER:
        return None
    if path.startswith(EXTRA + "."):
        return path[len(EXTRA) + 1 :], ""
    found = resolve(kind, path)
    if found is None:
        return None
    return found.config_key, found.subpath


def _declared(kind: str, view: FlatView) -> dict[str, list[str]]:
    """config key -> the paths of ``view`` written to it."""
    out: dict[str, list[str]] = {}
    for path in view:
        where = config_key_of(kind, path)
        if where is not None:
            out.setdefault(where[0], []).append(path)
    return out


def _key_path(kind: str, config_key: str, paths: list[str]) -> str:
    """The path a removed key is shown at: its spec base path, or ``extraConfig.<key>``."""
    if any(p.startswith(EXTRA + ".") for p in paths):
        return f"{EXTRA}.{config_key}"
    found = resolve(kind, paths[0])
    return found.base if found is not None else paths[0]


def removal_effect(
    kind: str, config_key: str, path: str, *, hotplug: frozenset[str], numa: bool
) -> Effect:
    """When removing ``config_key`` takes effect on a running guest: QEMU unplugs what
    its ``hotplug`` option allows (NICs, disks, USB, memory, CPUs); a container drops a
    NIC at once, while mount points and devices stay pending until it restarts."""
    row = key_for(kind, config_key)
    if kind == "lxc" and row is not None and row.name in ("mp", "dev"):
        return Effect.restart
    new_slot = row is not None and row.count > 0
    return effect_of(kind, path, new_slot=new_slot, hotplug=hotplug, numa=numa)


def removed_fields(
    kind: str,
    old: FlatView,
    new: FlatView,
    live_config: Mapping[str, Any],
    live_view: FlatView,
    *,
    hotplug: frozenset[str],
    numa: bool,
) -> list[FieldChange]:
    """The removals from base view ``old`` to head view ``new`` that live still holds."""
    before, after = _declared(kind, old), _declared(kind, new)
    changes: list[FieldChange] = []
    for config_key, paths in sorted(before.items()):
        if live_config.get(config_key) is None:
            continue  # already absent in Proxmox
        row = key_for(kind, config_key)
        if row is None or row.role not in ("typed", "carried"):
            continue
        if config_key not in after:
            path = _key_path(kind, config_key, paths)
            changes.append(
                FieldChange(
                    path=path,
                    before=str(live_config[config_key]),
                    after=None,
                    effect=removal_effect(kind, config_key, path, hotplug=hotplug, numa=numa),
                    removed=True,
                )
            )
            continue
        changes.extend(_left_verbatim(kind, config_key, old, after[config_key], live_config))
        for path in sorted(set(paths) - set(new)):
            where = config_key_of(kind, path)
            if where is None or not where[1] or path.startswith(EXTRA + "."):
                continue  # the key's own value: still declared, so it is a change
            sub = row.sub_for_path(where[1])
            if sub is None or sub.virtual or sub.default_key or live_view.get(path) is None:
                continue
            changes.append(
                FieldChange(
                    path=path,
                    before=live_view[path],
                    after=None,
                    effect=effect_of(kind, path, new_slot=False, hotplug=hotplug, numa=numa),
                    removed=True,
                )
            )
    return changes


def _left_verbatim(
    kind: str,
    config_key: str,
    old: FlatView,
    head_paths: list[str],
    live_config: Mapping[str, Any],
) -> list[FieldChange]:
    """Sub-keys of a key the base carried verbatim (``extraConfig.hostpci0``) that head,
    now declaring the key as typed fields, no longer names (``vendor-id``): removed.
    Each is shown at ``<key's path>.<sub-key>`` (``hostpci.hostpci0.vendor-id``)."""
    carried = f"{EXTRA}.{config_key}"
    row = key_for(kind, config_key)
    if carried not in old or carried in head_paths or row is None or not row.subs:
        return []
    default = row.default_sub.name if row.default_sub else None
    declared = set()
    for path in head_paths:
        found = resolve(kind, path)
        sub = row.sub_for_path(found.subpath) if found is not None else None
        if sub is not None:
            declared.add(sub.name)
    base = row.spec_path(config_key) or config_key
    live = parse_property_string(str(live_config[config_key]), default)
    out = []
    for name in parse_property_string(str(old[carried]), default):
        sub = row.sub(name)
        if name == default or name in declared or name not in live or name in NIC_MODELS:
            continue
        if sub is not None and (sub.generated or sub.virtual or sub.default_key):
            continue
        path = f"{base}.{sub.path}" if sub is not None and sub.path else f"{base}.{name}"
        out.append(
            FieldChange(
                path=path,
                before=live[name],
                after=None,
                effect=effect_of(kind, path, new_slot=False, hotplug=frozenset(), numa=False),
                removed=True,
            )
        )
    return out


def required(kind: str, config_key: str) -> bool:
    """Whether Proxmox refuses to delete ``config_key`` (a container's rootfs)."""
    return config_key in _REQUIRED.get(kind, frozenset())


def removal_params(
    kind: str,
    fields: Iterable[FieldChange],
    live_config: Mapping[str, Any],
    params: Mapping[str, Any],
) -> tuple[list[str], dict[str, Any]]:
    """What a config write does for the removed ``fields``: the keys to delete, and
    ``params`` with each key that loses a sub-key rewritten without it (over the value
    ``params`` already writes for that key, else over its live value)."""
    deletes: list[str] = []
    subs: dict[str, list[str]] = {}
    for item in fields:
        if not item.removed:
            continue
        where = config_key_of(kind, item.path)
        if where is None or live_config.get(where[0]) is None:
            continue
        config_key, subpath = where
        row = key_for(kind, config_key)
        whole = item.path.startswith(EXTRA + ".") or (
            row is not None and item.path == row.spec_path(config_key)
        )
        if whole or not subpath:
            if config_key not in deletes:
                deletes.append(config_key)
        else:
            subs.setdefault(config_key, []).append(subpath)
    out = {k: v for k, v in params.items() if k not in deletes}
    for config_key, subpaths in subs.items():
        row = key_for(kind, config_key)
        if row is None or config_key in deletes:
            continue
        current = out.get(config_key, live_config[config_key])
        out[config_key] = row.without(str(current), subpaths)
    return deletes, out


__all__ = ["config_key_of", "removal_effect", "removal_params", "removed_fields", "required"]
