"""A cluster's snapshot as files: what ``snapshot/<cluster>/`` holds, built from one reading.

Layout (paths relative to ``snapshot/<cluster>/``)::

    index.yaml                 counts, drift counts, node list, guest list
    cluster.yaml               name, quorum, members, API version
    nodes/<node>.yaml          status, version, CPU and memory totals
    storage.yaml               every storage: type, content types, usage per node
    guests/<vmid>-<name>.yaml  one per guest, managed or not
    ha.yaml                    HA resources and groups (or rules)

Every file is a pure function of the reading: keys and lists sorted, sizes in
one notation, no clock. Usage figures that move all the time (CPU load,
memory in use, uptime, I/O counters) are left out; storage usage is rounded to
0.1 GiB. So an unchanged cluster gives byte-identical files and no commit.
Every value passes through the :class:`~proxgit.secrets.Scrubber`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from proxgit.loading import DesiredState
from proxgit.planning.drift import DriftKind, DriftReport
from proxgit.proxmox.live import LiveGuest
from proxgit.reflecting.reading import ClusterReading, GuestExtras
from proxgit.reflecting.yamlwrite import dump, size_text, usage_text
from proxgit.secrets import Scrubber

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_GUEST_FILE = re.compile(r"^guests/(\d+)-[^/]*\.yaml$")


def guest_file(vmid: int, name: str) -> str:
    """``guests/<vmid>-<name>.yaml``, the name made safe for a file name."""
    safe = _UNSAFE.sub("-", name).strip("-.") or "unnamed"
    return f"guests/{vmid}-{safe}.yaml"


def vmid_of(path: str) -> int | None:
    """The vmid of a guest file path (relative to the cluster's folder), else None."""
    match = _GUEST_FILE.match(path)
    return int(match.group(1)) if match else None


def build_cluster_snapshot(
    reading: ClusterReading, desired: DesiredState, drift: DriftReport
) -> dict[str, bytes]:
    """Every file of ``snapshot/<cluster>/`` for this reading, as bytes by relative path."""
    scrub = Scrubber(reading.secrets)
    name = reading.name
    declared = {g.document.spec.vmid: g.path for g in desired.guests_in(name)}
    files: dict[str, bytes] = {}
    index_guests: list[dict[str, Any]] = []
    for vmid, guest in sorted(reading.live.guests.items()):
        extras = reading.extras.get(vmid) or GuestExtras(resource={})
        path = guest_file(vmid, guest.name)
        document = guest_document(guest, extras, declared.get(vmid), scrub)
        files[path] = dump(document)
        index_guests.append(
            _compact(
                {
                    "vmid": vmid,
                    "name": guest.name,
                    "kind": guest.kind,
                    "node": guest.node,
                    "status": guest.status,
                    "template": guest.template or None,
                    "managed": vmid in declared,
                    "file": path,
                }
            )
        )
    nodes = _nodes(reading)
    for node in nodes:
        files[f"nodes/{_UNSAFE.sub('-', node['name'])}.yaml"] = dump(scrub.any(node))
    files["cluster.yaml"] = dump(scrub.any(_cluster(reading)))
    files["storage.yaml"] = dump(scrub.any(_storage(reading)))
    files["ha.yaml"] = dump(scrub.any(_ha(reading)))
    guests = reading.live.guests.values()
    templates = sum(1 for g in guests if g.template)
    managed = sum(1 for g in guests if g.vmid in declared)
    index = {
        "cluster": name,
        "apiVersion": reading.version,
        "counts": {
            "guests": len(reading.live.guests),
            "virtualMachines": sum(1 for g in guests if g.type == "qemu" and not g.template),
            "containers": sum(1 for g in guests if g.type == "lxc" and not g.template),
            "templates": templates,
            "running": sum(1 for g in guests if g.status == "running"),
            "managed": managed,
            "unmanaged": len(reading.live.guests) - managed - templates,
            "nodes": len(nodes),
            "storages": len({s.storage for s in reading.live.storages}),
        },
        "drift": {
            "changed": drift.count(DriftKind.changed, name),
            "missing": drift.count(DriftKind.missing, name),
            "unmanaged": drift.count(DriftKind.unmanaged, name),
        },
        "nodes": [n["name"] for n in nodes],
        "guests": index_guests,
        "warnings": sorted(reading.warnings) or None,
    }
    files["index.yaml"] = dump(scrub.any(_compact(index)))
    return files


def guest_document(
    guest: LiveGuest, extras: GuestExtras, desired_file: str | None, scrub: Scrubber
) -> dict[str, Any]:
    """One guest's snapshot document (scrubbed, compact, sortable)."""
    resource = extras.resource
    document: dict[str, Any] = {
        "vmid": guest.vmid,
        "name": guest.name,
        "kind": guest.kind,
        "node": guest.node,
        "status": guest.status,
        "template": guest.template,
        "managed": desired_file is not None,
        "desired": desired_file,
        "tags": sorted(guest.tags) or None,
        "pool": guest.pool,
        "lock": guest.lock,
        "ha": {"state": str(resource["hastate"])} if resource.get("hastate") else None,
        "error": extras.error,
    }
    if guest.config is not None:
        document["spec"] = _nest(
            {
                path: scrub.value(path.rsplit(".", 1)[-1], v)
                for path, v in guest.document_view().items()
            }
        )
        document["config"] = {
            key: scrub.value(key, _text(value))
            for key, value in guest.config.items()
            if key != "digest"
        }
        document["pending"] = [
            _compact(
                {
                    "key": str(item["key"]),
                    "value": scrub.value(str(item["key"]), _text(item.get("value"))),
                    "pending": scrub.value(str(item["key"]), _text(item.get("pending"))),
                    "delete": True if item.get("delete") else None,
                }
            )
            for item in sorted(guest.pending or [], key=lambda i: str(i.get("key")))
        ] or None
    if extras.interfaces is not None:
        document["agent"] = {
            "interfaces": [
                _compact({"name": i.name, "mac": i.mac, "addresses": list(i.addresses) or None})
                for i in extras.interfaces
            ]
        }
    if extras.snapshots:
        document["snapshots"] = [
            _compact({**s, "time": _time(s["time"]) if "time" in s else None})
            for s in extras.snapshots
        ]
    if extras.last_backup is not None:
        backup = extras.last_backup
        document["lastBackup"] = _compact(
            {
                "volid": backup["volid"],
                "time": _time(backup["time"]) if backup.get("time") else None,
                "size": size_text(backup.get("size")),
            }
        )
    return scrub.any(_compact(document))  # type: ignore[no-any-return]


def _nodes(reading: ClusterReading) -> list[dict[str, Any]]:
    raw = {str(i.get("node")): i for i in reading.resources if i.get("type") == "node"}
    nodes: list[dict[str, Any]] = []
    for name, node in sorted(reading.live.nodes.items()):
        item = raw.get(name, {})
        nodes.append(
            _compact(
                {
                    "name": name,
                    "status": node.status,
                    "version": reading.node_versions.get(name),
                    "cpus": node.maxcpu,
                    "memory": size_text(node.maxmem),
                    "disk": size_text(item.get("maxdisk")),
                    "subscription": item.get("level") or None,
                }
            )
        )
    return nodes


def _cluster(reading: ClusterReading) -> dict[str, Any]:
    cluster = next((i for i in reading.status if i.get("type") == "cluster"), None)
    members = sorted(
        (
            _compact(
                {
                    "name": str(i.get("name")),
                    "nodeid": i.get("nodeid"),
                    "ip": i.get("ip"),
                    "online": bool(i.get("online")),
                }
            )
            for i in reading.status
            if i.get("type") == "node"
        ),
        key=lambda m: str(m["name"]),
    )
    online = sum(1 for n in reading.live.nodes.values() if n.status == "online")
    return _compact(
        {
            "name": cluster.get("name") if cluster else None,
            "standalone": cluster is None,
            # a standalone node has no quorum to lose
            "quorate": bool(cluster.get("quorate")) if cluster else True,
            "configVersion": cluster.get("version") if cluster else None,
            "apiVersion": reading.version,
            "nodes": len(reading.live.nodes),
            "nodesOnline": online,
            "members": members or None,
        }
    )


def _storage(reading: ClusterReading) -> dict[str, Any]:
    raw = {
        (str(i.get("storage")), str(i.get("node"))): i
        for i in reading.resources
        if i.get("type") == "storage"
    }
    grouped: dict[str, dict[str, Any]] = {}
    for storage in sorted(reading.live.storages, key=lambda s: (s.storage, s.node)):
        item = raw.get((storage.storage, storage.node), {})
        entry = grouped.setdefault(
            storage.storage,
            _compact(
                {
                    "type": storage.plugintype,
                    "content": sorted(storage.content),
                    "shared": storage.shared,
                    "nodes": {},
                }
            ),
        )
        entry["nodes"][storage.node] = _compact(
            {
                "status": storage.status,
                "used": usage_text(item.get("disk")),
                "total": usage_text(item.get("maxdisk")),
            }
        )
    return {"storages": grouped}


def _ha(reading: ClusterReading) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, items in sorted(reading.ha.items()):
        cleaned = [
            {k: _text(v) for k, v in item.items() if k != "digest"}
            for item in items
            if isinstance(item, dict)
        ]
        out[key] = sorted(cleaned, key=lambda i: json.dumps(i, sort_keys=True))
    guests = {
        str(g.vmid): str(reading.extras[g.vmid].resource.get("hastate"))
        for g in reading.live.guests.values()
        if g.vmid in reading.extras and reading.extras[g.vmid].resource.get("hastate")
    }
    if guests:
        out["guestStates"] = dict(sorted(guests.items(), key=lambda kv: int(kv[0])))
    return out


def _nest(view: dict[str, Any]) -> dict[str, Any]:
    """A flat view (``disks.scsi0.size``) as nested mappings, sizes as ``32G``."""
    nested: dict[str, Any] = {}
    for path, value in sorted(view.items()):
        parts = path.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts[-1] == "size" and isinstance(value, int):
            value = size_text(value)
        node[parts[-1]] = value
    return nested


def _text(value: Any) -> Any:
    """A raw Proxmox value as text; ``2``, ``"2"`` and ``True`` come back in turns after PUTs."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _time(epoch: int) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys whose value is None."""
    return {k: v for k, v in data.items() if v is not None}
