"""Reading a whole cluster for its snapshot: one listing, then only the cheap per-guest reads.

``/cluster/resources`` gives every guest, node and storage with status, tags,
pool, lock and HA state in one answer. Then, through the cluster's bounded
pool (``concurrency``, as for plan), each guest costs:

* one ``/pending`` read: the config with pending changes, and the pending list;
* one guest-agent ``network-get-interfaces`` call, only for a running QEMU
  guest whose config enables the agent; it is tried once, never retried, and a
  guest whose agent does not answer simply has no addresses in its snapshot;
* one ``/snapshot`` listing, only when the config names a ``parent``, which
  Proxmox sets exactly when the guest has snapshots.

Per cluster (not per guest) come ``/version``, ``/cluster/status``, the HA
resources and groups (or rules on PVE 9), each online node's version, and one
backup listing per storage that holds backups (a shared storage once), from
which every guest's last backup is taken. A guest whose config can't be read
(its node is offline, say) is recorded with the error; it does not fail the
cluster.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from proxgit import observe
from proxgit.errors import ProxgitError, ProxmoxError
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.live import ClusterLive, LiveGuest
from proxgit.proxmox.normalize import parse_property_string, to_bool
from proxgit.proxmox.reading import ClientFactory, parse_resources, read_checked_config

_BACKUP_VMID = re.compile(r"vzdump-(?:qemu|lxc|openvz)-(\d+)-")


@dataclass(frozen=True)
class AgentInterface:
    """One network interface as the QEMU guest agent reports it (loopback left out)."""

    name: str
    mac: str | None
    addresses: tuple[str, ...]


@dataclass
class GuestExtras:
    """What the snapshot knows about a guest beyond :class:`LiveGuest`."""

    resource: dict[str, Any]
    error: str | None = None
    interfaces: list[AgentInterface] | None = None
    snapshots: list[dict[str, Any]] | None = None
    last_backup: dict[str, Any] | None = None


@dataclass
class ClusterReading:
    """One cluster as read for its snapshot."""

    name: str
    live: ClusterLive
    resources: list[dict[str, Any]] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = None
    node_versions: dict[str, str] = field(default_factory=dict)
    ha: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    extras: dict[int, GuestExtras] = field(default_factory=dict)
    # reads that failed without failing the cluster (HA, a node's version, ...)
    warnings: list[str] = field(default_factory=list)
    # values the scrubber masks wherever they turn up (the API token secret)
    secrets: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return self.live.error

    @property
    def requests(self) -> int:
        return self.live.requests


def read_cluster_snapshot(
    name: str, clients: ClientFactory, *, agent_addresses: bool = True
) -> ClusterReading:
    """Everything the snapshot of cluster ``name`` shows; see the module docstring."""
    with observe.step(name, "reflect") as step:
        reading = _read_snapshot(name, clients, agent_addresses)
        step.error = reading.live.error_kind if reading.live.error else None
    return reading


def _read_snapshot(name: str, clients: ClientFactory, agent_addresses: bool) -> ClusterReading:
    reading = ClusterReading(name=name, live=ClusterLive(name=name))
    client: ProxmoxClient | None = None
    try:
        client = clients(name)
        reading.secrets.append(client.token_secret)
        answer = client.get("cluster/resources", expect=list)
        # An empty, null or malformed listing is an error (the previous snapshot
        # stays): only a listing Proxmox positively gave can say a guest is gone.
        parse_resources(reading.live, answer, call=f"cluster '{name}': GET /cluster/resources")
        reading.resources = list(answer)
        for item in reading.resources:
            if item.get("type") in ("qemu", "lxc") and item.get("vmid") is not None:
                reading.extras[int(item["vmid"])] = GuestExtras(resource=dict(item))
        online = {n for n, node in reading.live.nodes.items() if node.status == "online"}
        guests = [g for _, g in sorted(reading.live.guests.items())]
        for g in guests:
            observe.guest(name, g.name, g.vmid, "queued", "read")
        with ThreadPoolExecutor(max_workers=client.cluster.concurrency) as pool:
            api = client
            cluster_level = pool.submit(_read_cluster_level, api, reading, online)
            backups = pool.submit(_read_backups, api, reading, online)
            list(
                pool.map(
                    lambda g: _read_guest(api, g, reading.extras[g.vmid], online, agent_addresses),
                    guests,
                )
            )
            cluster_level.result()
            for vmid, backup in backups.result().items():
                if vmid in reading.extras:
                    reading.extras[vmid].last_backup = backup
    except ProxgitError as err:
        prefix = f"cluster '{name}'"
        reading.live.error = (
            err.message if err.message.startswith(prefix) else f"{prefix}: {err.message}"
        )
        reading.live.error_kind = err.kind if isinstance(err, ProxmoxError) else "config"
    finally:
        reading.live.requests = client.request_count if client is not None else 0
    return reading


def _read_guest(
    client: ProxmoxClient,
    guest: LiveGuest,
    extras: GuestExtras,
    online: set[str],
    agent_addresses: bool,
) -> None:
    observe.guest(client.name, guest.name, guest.vmid, "running", "read")
    _read_guest_once(client, guest, extras, online, agent_addresses)
    state = "not-read" if extras.error else "read"
    observe.guest(client.name, guest.name, guest.vmid, state, extras.error or "")


def _read_guest_once(
    client: ProxmoxClient,
    guest: LiveGuest,
    extras: GuestExtras,
    online: set[str],
    agent_addresses: bool,
) -> None:
    if guest.node not in online:
        status = "offline" if guest.node else "unknown"
        extras.error = f"node {guest.node or '?'} is {status}; config not read"
        return
    base = f"nodes/{guest.node}/{guest.type}/{guest.vmid}"
    try:
        read_checked_config(client, guest)
    except ProxmoxError as err:
        extras.error = err.message
        return
    if guest.config is None:
        extras.error = guest.error or "config not read"
        return
    config = guest.config
    if agent_addresses and guest.type == "qemu" and guest.status == "running":
        agent = parse_property_string(str(config.get("agent", "0")), "enabled")
        if to_bool(agent.get("enabled", "0")):
            extras.interfaces = _read_agent_interfaces(client, base)
    if config.get("parent"):
        try:
            extras.snapshots = _snapshots(client.get(f"{base}/snapshot") or [])
        except ProxmoxError as err:
            extras.error = f"snapshots not read: {err.message}"


def _read_agent_interfaces(client: ProxmoxClient, base: str) -> list[AgentInterface] | None:
    """The agent's interfaces, or None when it does not answer.

    Called once, without the client's retries: an agent that is not running
    answers 500, which is a normal state of a guest, not a failing API. (A
    ``retries`` argument on ``ProxmoxClient.get`` would say this better than
    calling ``_call``.)
    """
    try:
        answer = client.get(f"{base}/agent/network-get-interfaces", retries=0)
    except ProxmoxError:
        return None
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, list):
        return None
    interfaces: list[AgentInterface] = []
    for item in result:
        name = str(item.get("name") or "")
        addresses = tuple(
            sorted(
                f"{a.get('ip-address')}/{a.get('prefix')}"
                if a.get("prefix") is not None
                else str(a.get("ip-address"))
                for a in item.get("ip-addresses") or []
                if a.get("ip-address")
            )
        )
        loopback = bool(addresses) and all(a.startswith(("127.", "::1/")) for a in addresses)
        if name == "lo" or loopback:
            continue
        mac = item.get("hardware-address")
        interfaces.append(
            AgentInterface(name=name, mac=str(mac).upper() if mac else None, addresses=addresses)
        )
    return sorted(interfaces, key=lambda i: i.name)


def _snapshots(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    snapshots: list[dict[str, Any]] = []
    for item in items:
        name = str(item.get("name") or "")
        if not name or name == "current":
            continue
        snapshot: dict[str, Any] = {"name": name}
        for key in ("parent", "description"):
            if item.get(key):
                snapshot[key] = str(item[key]).rstrip()
        if item.get("snaptime"):
            snapshot["time"] = int(item["snaptime"])
        if item.get("vmstate"):
            snapshot["vmstate"] = True
        snapshots.append(snapshot)
    return sorted(snapshots, key=lambda s: str(s["name"]))


def _read_cluster_level(client: ProxmoxClient, reading: ClusterReading, online: set[str]) -> None:
    def attempt(what: str, path: str) -> Any:
        try:
            return client.get(path)
        except ProxmoxError as err:
            reading.warnings.append(f"{what} not read: {err.message}")
            return None

    version = attempt("version", "version")
    if isinstance(version, dict) and version.get("version"):
        reading.version = str(version["version"])
    reading.status = list(attempt("cluster status", "cluster/status") or [])
    reading.ha["resources"] = list(attempt("HA resources", "cluster/ha/resources") or [])
    # PVE 9 replaced HA groups by rules; asking an older API for rules answers 501.
    major = _major(reading.version)
    if major is not None and major >= 9:
        reading.ha["rules"] = list(attempt("HA rules", "cluster/ha/rules") or [])
    else:
        reading.ha["groups"] = list(attempt("HA groups", "cluster/ha/groups") or [])
    for node in sorted(online):
        answer = attempt(f"node {node} version", f"nodes/{node}/version")
        if isinstance(answer, dict) and answer.get("version"):
            reading.node_versions[node] = str(answer["version"])


def _read_backups(
    client: ProxmoxClient, reading: ClusterReading, online: set[str]
) -> dict[int, dict[str, Any]]:
    """Every guest's newest backup, from one listing per storage that holds backups."""
    targets: dict[str, tuple[str, str]] = {}
    for storage in sorted(reading.live.storages, key=lambda s: (s.storage, s.node)):
        if "backup" not in storage.content or storage.node not in online:
            continue
        if storage.status not in ("available", "active"):
            continue
        key = storage.storage if storage.shared else f"{storage.node}/{storage.storage}"
        targets.setdefault(key, (storage.node, storage.storage))

    def listing(pair: tuple[str, str]) -> list[dict[str, Any]]:
        node, storage = pair
        try:
            return list(
                client.get(f"nodes/{node}/storage/{storage}/content", content="backup") or []
            )
        except ProxmoxError as err:
            reading.warnings.append(f"backups on {node}/{storage} not read: {err.message}")
            return []

    newest: dict[int, dict[str, Any]] = {}
    # One after the other: this already runs in the pool, and waiting there on
    # more of the pool's tasks could starve it.
    for items in map(listing, sorted(targets.values())):
        for item in items:
            volid = str(item.get("volid") or "")
            vmid = item.get("vmid")
            if vmid is None:
                match = _BACKUP_VMID.search(volid)
                vmid = match.group(1) if match else None
            if vmid is None:
                continue
            ctime = int(item.get("ctime") or 0)
            entry = {"volid": volid, "time": ctime}
            if item.get("size") is not None:
                entry["size"] = int(item["size"])
            current = newest.get(int(vmid))
            if current is None or (ctime, volid) > (current["time"], current["volid"]):
                newest[int(vmid)] = entry
    return newest


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".", 1)[0])
    except ValueError:
        return None
