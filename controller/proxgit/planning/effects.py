"""When a change takes effect: at once (``live``) or at the guest's next restart.

Each config key's row in the field table (``proxmox/fields.py``) names its
effect: ``live``, ``restart``, ``hotplug:<feature>`` (live when QEMU's
``hotplug`` option, default ``network,disk,usb``, holds the feature; memory
also needs NUMA) or ``create-only``; a sub-key (a disk's size, a NIC's model)
or a new slot can have its own.
"""

from __future__ import annotations

from proxgit.planning.fieldchange import Effect
from proxgit.proxmox.fields import EXTRA, key_for, resolve

DEFAULT_HOTPLUG = frozenset({"network", "disk", "usb"})
_ALWAYS_LIVE = frozenset({"power", "pool"})  # not config keys: their own API calls


def parse_hotplug(value: str | None) -> frozenset[str]:
    if value is None:
        return DEFAULT_HOTPLUG
    if value.strip() == "1":
        return frozenset({"network", "disk", "cpu", "memory", "usb", "cloudinit"})
    if value.strip() == "0":
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def rule_of(kind: str, path: str, *, new_slot: bool) -> str:
    """The table's effect rule for changing ``path`` (``live``, ``hotplug:disk``...)."""
    top, _, rest = path.partition(".")
    if top in _ALWAYS_LIVE:
        return "live"
    if top == EXTRA:
        row = key_for(kind, rest)
        if row is None:
            return "restart"
        return (row.new_effect or row.effect) if new_slot else row.effect
    found = resolve(kind, path)
    if found is None:
        return "restart"
    row = found.key
    if new_slot and row.new_effect:
        return row.new_effect
    sub = row.sub_for_path(found.subpath) if found.subpath else None
    if sub is not None and sub.effect:
        return sub.effect
    return row.effect


def effect_of(
    kind: str, path: str, *, new_slot: bool, hotplug: frozenset[str], numa: bool
) -> Effect:
    rule = rule_of(kind, path, new_slot=new_slot)
    if rule == "live":
        return Effect.live
    if rule.startswith("hotplug:"):
        feature = rule.split(":", 1)[1]
        if feature == "memory":
            return Effect.live if "memory" in hotplug and numa else Effect.restart
        return Effect.live if feature in hotplug else Effect.restart
    return Effect.restart


def qemu_effect(path: str, *, new_slot: bool, hotplug: frozenset[str], numa: bool) -> Effect:
    """Effect of changing ``path`` on a running QEMU guest."""
    return effect_of("qemu", path, new_slot=new_slot, hotplug=hotplug, numa=numa)


def lxc_effect(path: str, *, new_slot: bool) -> Effect:
    """Effect of changing ``path`` on a running container."""
    return effect_of("lxc", path, new_slot=new_slot, hotplug=frozenset(), numa=False)
