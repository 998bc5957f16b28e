"""When a change takes effect: at once (``live``) or at the guest's next restart.

Proxmox applies a config change to a running guest at once when it can
hot-plug it, and keeps it as a *pending* change otherwise. These rules follow
``qm.conf``'s ``hotplug`` option (default ``network,disk,usb``) and the pct
documentation for containers.
"""

from __future__ import annotations

from proxgit.planning.plan import Effect

DEFAULT_HOTPLUG = frozenset({"network", "disk", "usb"})

_QEMU_LIVE = {
    "name",
    "tags",
    "description",
    "onboot",
    "protection",
    "startup",
    "pool",
    "power",
    "cloudInit",
}
_LXC_LIVE = {
    "cores",
    "memory",
    "swap",
    "tags",
    "description",
    "onboot",
    "protection",
    "startup",
    "pool",
    "power",
}


def parse_hotplug(value: str | None) -> frozenset[str]:
    if value is None:
        return DEFAULT_HOTPLUG
    if value.strip() == "1":
        return frozenset({"network", "disk", "cpu", "memory", "usb", "cloudinit"})
    if value.strip() == "0":
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def qemu_effect(path: str, *, new_slot: bool, hotplug: frozenset[str], numa: bool) -> Effect:
    """Effect of changing ``path`` on a running QEMU guest."""
    top = path.split(".", 1)[0]
    if top in _QEMU_LIVE:
        return Effect.live
    if top in ("memory", "balloon"):
        return Effect.live if "memory" in hotplug and numa else Effect.restart
    if top == "disks":
        if new_slot:
            return Effect.live if "disk" in hotplug else Effect.restart
        return Effect.live if path.endswith(".size") else Effect.restart
    if top == "networks":
        if path.endswith((".model", ".macaddr")) and not new_slot:
            return Effect.restart
        return Effect.live if "network" in hotplug else Effect.restart
    return Effect.restart


def lxc_effect(path: str, *, new_slot: bool) -> Effect:
    """Effect of changing ``path`` on a running container."""
    top = path.split(".", 1)[0]
    if top in _LXC_LIVE or top == "networks":
        return Effect.live
    if top in ("rootfs", "mountpoints"):
        return Effect.live if new_slot or path.endswith(".size") else Effect.restart
    return Effect.restart
