"""Reading live state: one ``/cluster/resources`` per cluster, then only what the plan needs.

``/cluster/resources`` lists every guest, node and storage of a cluster in one
answer, with each guest's node, status, tags and pool. After it, the reader
fetches concurrently, through a bounded pool, the config of the guests that
are declared (in head or base) and nothing of the others: a plan costs about
one request per managed guest. The Terraform providers read config, status and
more per guest, one guest at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from proxgit.errors import ProxgitError, ProxmoxError
from proxgit.models import Config
from proxgit.proxmox.client import ProxmoxClient, excerpt
from proxgit.proxmox.live import ClusterLive, LiveGuest, LiveNode, LiveState, LiveStorage
from proxgit.proxmox.normalize import SECRET_CONFIG_KEYS, ConfigValueError

ClientFactory = Callable[[str], ProxmoxClient]


def client_factory(
    config: Config, base_dir: Path | None, *, read_only: bool = False
) -> ClientFactory:
    """Clients built from ``proxgit.yaml``'s clusters, secrets resolved when first needed.

    ``read_only`` (plan, drift, reflect, import): the cluster's read token when it names
    one (``readTokenId``), so those CI jobs need no write privilege.
    """

    def make(name: str) -> ProxmoxClient:
        return ProxmoxClient(
            name, config.spec.clusters[name], base_dir=base_dir, read_only=read_only
        )

    return make


def fixed_client(client: ProxmoxClient) -> ClientFactory:
    """A factory that always hands out ``client``: one session for a read and later writes."""
    return lambda _name: client


def read_live_state(
    config: Config,
    *,
    guests: dict[str, set[int]] | None = None,
    template_storages: dict[str, set[tuple[str, str]]] | None = None,
    clients: ClientFactory,
    clusters: Iterable[str] | None = None,
    all_guests: bool = False,
    listings: dict[str, Any] | None = None,
) -> LiveState:
    """Read every cluster (or ``clusters``); a cluster that fails is marked, not fatal.

    ``guests`` names, per cluster, the vmids whose config to read; with
    ``all_guests`` every guest's config is read (reflect, import). ``listings``
    holds ``/cluster/resources`` answers already read, by cluster.
    """
    names = sorted(clusters) if clusters is not None else sorted(config.spec.clusters)
    state = LiveState()
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        results = pool.map(
            lambda name: read_cluster(
                name,
                clients,
                wanted=(guests or {}).get(name, set()),
                template_storages=(template_storages or {}).get(name, set()),
                all_guests=all_guests,
                resources=(listings or {}).get(name),
            ),
            names,
        )
        for cluster in results:
            state.clusters[cluster.name] = cluster
    return state


def read_cluster(
    name: str,
    clients: ClientFactory,
    *,
    wanted: set[int],
    template_storages: set[tuple[str, str]] | None = None,
    all_guests: bool = False,
    resources: Any = None,
) -> ClusterLive:
    """One cluster: its listing (``resources`` when already read, or the error that read
    met), then the configs
    of ``wanted`` (or every guest) and the container templates of ``template_storages``."""
    live = ClusterLive(name=name)
    client: ProxmoxClient | None = None
    try:
        client = clients(name)
        if isinstance(resources, ProxgitError):
            raise resources  # the early read of the listing failed
        if resources is None:
            resources = client.get("cluster/resources", expect=list)
        parse_resources(live, resources, call=f"cluster '{name}': GET /cluster/resources")
        targets = [g for vmid, g in sorted(live.guests.items()) if all_guests or vmid in wanted]
        with ThreadPoolExecutor(max_workers=client.cluster.concurrency) as pool:
            for guest, config in zip(
                targets, pool.map(lambda g: read_checked_config(client, g), targets), strict=True
            ):
                guest.config = config
            pairs = sorted(template_storages or ())
            for pair, volumes in zip(
                pairs, pool.map(lambda p: _read_templates(client, p), pairs), strict=True
            ):
                if volumes is not None:
                    live.templates[pair] = volumes
    except ProxgitError as err:
        prefix = f"cluster '{name}'"
        live.error = err.message if err.message.startswith(prefix) else f"{prefix}: {err.message}"
        live.error_kind = err.kind if isinstance(err, ProxmoxError) else "config"
    finally:
        live.requests = client.request_count if client is not None else 0
    return live


def parse_resources(
    live: ClusterLive, resources: Any, *, call: str = "GET /cluster/resources"
) -> None:
    """Fill ``live``'s nodes, storages and guests from a ``/cluster/resources`` answer.

    The answer is trusted only when it has the shape Proxmox gives it: a list of
    objects that names at least one node (every cluster has one), each guest
    with an integer ``vmid``. Anything else is an error naming the call, never an
    empty cluster: reflect would otherwise record every guest as removed.
    """
    if not isinstance(resources, list):
        raise ProxmoxError(f"{call}: expected a JSON list, got {excerpt(resources)}", call=call)
    for item in resources:
        if not isinstance(item, dict):
            raise ProxmoxError(f"{call}: an entry is not an object: {excerpt(item)}", call=call)
    if not any(item.get("type") == "node" for item in resources):
        raise ProxmoxError(
            f"{call}: the answer lists no node ({excerpt(resources)}); a cluster always has "
            "one, so the listing is not trusted",
            call=call,
        )
    for item in resources:
        kind = item.get("type")
        if kind == "node":
            live.nodes[str(item["node"])] = LiveNode(
                name=str(item["node"]),
                status=str(item.get("status") or "unknown"),
                maxcpu=_int(item.get("maxcpu")),
                maxmem=_int(item.get("maxmem")),
                mem=_int(item.get("mem")),
            )
        elif kind == "storage":
            content = frozenset(c for c in str(item.get("content") or "").split(",") if c)
            live.storages.append(
                LiveStorage(
                    storage=str(item.get("storage")),
                    node=str(item.get("node")),
                    status=str(item.get("status") or "unknown"),
                    content=content,
                    shared=bool(_int(item.get("shared")) or 0),
                    plugintype=item.get("plugintype"),
                    disk=_int(item.get("disk")),
                    maxdisk=_int(item.get("maxdisk")),
                )
            )
        elif kind in ("qemu", "lxc"):
            try:
                guest = LiveGuest.from_resource(item)
            except (KeyError, TypeError, ValueError):
                raise ProxmoxError(
                    f"{call}: a guest entry is malformed: {excerpt(item)}", call=call
                ) from None
            live.guests[guest.vmid] = guest


def read_checked_config(client: ProxmoxClient, guest: LiveGuest) -> dict[str, Any] | None:
    """:func:`read_guest_config`, then normalized once: a malformed value (a word
    where Proxmox keeps a number, say) makes this guest's config unusable and is
    recorded in ``guest.error``; the other guests of the cluster are unaffected."""
    config = read_guest_config(client, guest)
    guest.config = config
    return config if check_config(guest) else None


def check_config(guest: LiveGuest) -> bool:
    """Normalize ``guest.config`` once; when a value can't be read, record which key
    and value in the guest (``error``, ``bad_key``, ``bad_value``), drop its config
    and answer False. Only this guest is affected, never its cluster."""
    try:
        guest.view()
    except ConfigValueError as err:
        guest.config = None
        guest.bad_key = err.key
        guest.bad_value = None if err.key in SECRET_CONFIG_KEYS else str(err.raw)
        guest.error = (
            f"vmid {guest.vmid}: config key {err}; this guest is left alone until the "
            "value is fixed in Proxmox"
        )
        return False
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        guest.config = None
        guest.error = (
            f"vmid {guest.vmid}: a config value Proxmox returned is malformed ({err}); "
            "this guest is left alone"
        )
        return False
    return True


def read_guest_config(client: ProxmoxClient, guest: LiveGuest) -> dict[str, Any]:
    """The guest's config with pending changes applied, from one ``/pending`` read.

    ``/pending`` lists every key with its current value and, where a change
    waits for a restart, the pending one. Planning against the pending values
    means a change already made (but waiting for a reboot) is not planned
    twice; the pending list itself is kept for reporting.
    """
    items = client.get(f"nodes/{guest.node}/{guest.type}/{guest.vmid}/pending", expect=list)
    config: dict[str, Any] = {}
    pending: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            call = f"GET /nodes/{guest.node}/{guest.type}/{guest.vmid}/pending"
            raise ProxmoxError(
                f"cluster '{client.name}': {call}: an entry is not an object: {excerpt(item)}",
                cluster=client.name,
                call=call,
            )
        key = item.get("key")
        if key is None:
            continue
        if "pending" in item or item.get("delete"):
            pending.append(dict(item))
        if item.get("delete"):
            continue
        config[str(key)] = item["pending"] if "pending" in item else item.get("value")
    guest.pending = pending
    return config


def _read_templates(client: ProxmoxClient, pair: tuple[str, str]) -> set[str] | None:
    node, storage = pair
    try:
        content = client.get(f"nodes/{node}/storage/{storage}/content", content="vztmpl")
    except ProxmoxError:
        return None  # the planner reports the storage itself as missing
    return {str(item.get("volid")) for item in content or []}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
