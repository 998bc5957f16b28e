"""Live state as plain data: what one read of each cluster found.

The reader (``reading.py``) fills these; the planner, drift and reflect read
them. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxgit.proxmox.fields import to_bool
from proxgit.proxmox.normalize import (
    PENDING_DELETION_TAG,
    FlatView,
    document_view,
    normalize_lxc_config,
    normalize_qemu_config,
    split_tags,
)

KIND_BY_TYPE = {"qemu": "VirtualMachine", "lxc": "Container"}
TYPE_BY_KIND = {kind: type_ for type_, kind in KIND_BY_TYPE.items()}


@dataclass
class LiveNode:
    name: str
    status: str  # online | offline | unknown
    maxcpu: int | None = None
    maxmem: int | None = None
    mem: int | None = None  # bytes in use now (host and guests), as the listing reports


@dataclass
class LiveStorage:
    storage: str
    node: str
    status: str  # available | ...
    content: frozenset[str] = frozenset()
    shared: bool = False
    plugintype: str | None = None
    disk: int | None = None  # bytes used
    maxdisk: int | None = None  # bytes in all

    @property
    def free(self) -> int | None:
        if self.maxdisk is None:
            return None
        return max(0, self.maxdisk - (self.disk or 0))


@dataclass
class LiveGuest:
    """One guest as ``/cluster/resources`` lists it, plus its config when it was read."""

    vmid: int
    type: str  # qemu | lxc
    name: str
    node: str
    status: str
    template: bool = False
    tags: list[str] = field(default_factory=list)
    pool: str | None = None
    lock: str | None = None
    # sizes the listing reports: memory in bytes, vCPUs, the boot disk in bytes
    maxmem: int | None = None
    maxcpu: int | None = None
    maxdisk: int | None = None
    config: dict[str, Any] | None = None
    pending: list[dict[str, Any]] | None = None
    # why ``config`` is None although it was read (a malformed value): this guest only
    error: str | None = None
    # the config key whose value could not be read, and that value (scrubbed of secrets)
    bad_key: str | None = None
    bad_value: str | None = None

    @property
    def kind(self) -> str:
        return KIND_BY_TYPE.get(self.type, self.type)

    @property
    def digest(self) -> str | None:
        return None if self.config is None else self.config.get("digest")

    @property
    def pending_deletion(self) -> bool:
        return any(t.lower() == PENDING_DELETION_TAG for t in self.tags)

    @property
    def protected(self) -> bool:
        """Proxmox's ``protection`` flag, read with the field table's boolean codec
        (false when the config was not read)."""
        return to_bool((self.config or {}).get("protection", False))

    def view(self) -> FlatView:
        """The guest's config as a flat view in desired-spec paths (config must be read)."""
        config = self.config or {}
        if self.type == "lxc":
            return normalize_lxc_config(config, status=self.status, pool=self.pool)
        return normalize_qemu_config(config, status=self.status, pool=self.pool)

    def document_view(self) -> FlatView:
        """:meth:`view` as a document holds it: each key once, typed or verbatim."""
        return document_view(self.type, self.config or {}, self.view())

    @classmethod
    def from_resource(cls, item: dict[str, Any]) -> LiveGuest:
        return cls(
            vmid=int(item["vmid"]),
            type=str(item.get("type", "qemu")),
            name=str(item.get("name") or ""),
            node=str(item.get("node") or ""),
            status=str(item.get("status") or "unknown"),
            template=bool(int(item.get("template") or 0)),
            tags=split_tags(item.get("tags") or ""),
            pool=item.get("pool") or None,
            lock=item.get("lock") or None,
            maxmem=_count(item.get("maxmem")),
            maxcpu=_count(item.get("maxcpu")),
            maxdisk=_count(item.get("maxdisk")),
        )


@dataclass
class ClusterLive:
    """Everything read from one cluster; ``error`` set when it could not be read."""

    name: str
    error: str | None = None  # one line, starting with "cluster '<name>'"
    # unauthorized | forbidden | unreachable | server-error | client-error | bad-answer | config
    error_kind: str | None = None
    nodes: dict[str, LiveNode] = field(default_factory=dict)
    storages: list[LiveStorage] = field(default_factory=list)
    guests: dict[int, LiveGuest] = field(default_factory=dict)
    # (node, storage) -> volume ids of container templates found there
    templates: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    requests: int = 0

    @property
    def reachable(self) -> bool:
        return self.error is None

    def storage_on(self, node: str, storage: str) -> LiveStorage | None:
        for candidate in self.storages:
            if candidate.storage == storage and candidate.node == node:
                return candidate
        return None


@dataclass
class LiveState:
    clusters: dict[str, ClusterLive] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.clusters.values())


def _count(value: Any) -> int | None:
    """A size or count from the listing; None when absent or not a number."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
