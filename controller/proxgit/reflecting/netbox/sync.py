"""One NetBox reflection: read what NetBox has in bulk, compute the difference, write only that.

The run, after reflect's own read of every cluster (no further Proxmox calls):

1. Check NetBox and the token (one request), then make sure the supporting
   objects exist: proxgit's tag, the Proxmox tags of the guests, the custom
   fields, the cluster type, and the site, role, manufacturer and device type
   of nodes. Missing ones are created (tagged where NetBox has tags); existing
   ones are used as they are, never changed.
2. Read, in parallel: tagged virtual disks, MAC addresses and IP addresses
   once; per cluster, its devices, virtual machines and interfaces, the
   VLANs its NICs name, and the devices of its nodes' names in the site.
3. Per cluster, in stages, because a child needs its parent's id: devices;
   virtual machines (and orphans marked ``decommissioning``); interfaces and
   disks; MACs and addresses; the links (interface -> primary MAC, VM ->
   primary IPv4/IPv6); interfaces whose NIC is gone; orphans deleted (only
   with ``deleteOrphans``). Each stage is one :func:`~.objects.diff` and one
   bulk :meth:`~.client.NetBoxClient.write`.

An object NetBox refuses is one failure line (object, field, NetBox's
message); its children are skipped, everything else goes on. Objects without
proxgit's tag are never written. A second run over unchanged state reads and
writes nothing else: zero writes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from proxgit.errors import ProxgitError
from proxgit.loading import DesiredState
from proxgit.models.config import NetBox
from proxgit.reflecting.netbox.client import Failure, NetBoxClient, NetBoxUnavailable, chunks
from proxgit.reflecting.netbox.mapping import (
    CUSTOM_FIELDS,
    ClusterWanted,
    FoundCluster,
    found_objects,
    slugify,
    wanted_objects,
)
from proxgit.reflecting.netbox.objects import (
    Action,
    Diff,
    Found,
    Key,
    Kind,
    Ref,
    Wanted,
    Write,
    diff,
)
from proxgit.reflecting.reading import ClusterReading
from proxgit.secrets import resolve_secret

VM_TYPE = "virtualization.virtualmachine"


@dataclass
class ClusterSync:
    """What one cluster's reflection into NetBox did."""

    cluster: str
    written: Counter[str] = field(default_factory=Counter)  # "create virtual machine": n
    failures: list[Failure] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def writes(self) -> int:
        return sum(self.written.values())

    def summary(self) -> str:
        if not self.written:
            return "no changes"
        by_action: Counter[str] = Counter()
        for what, n in self.written.items():
            by_action[what.split(" ", 1)[0]] += n
        return ", ".join(
            f"{by_action[a]} {a}d" for a in ("create", "update", "delete") if by_action[a]
        )


@dataclass
class NetBoxResult:
    """The whole NetBox step of one reflect."""

    url: str
    clusters: list[ClusterSync] = field(default_factory=list)
    error: str | None = None
    requests: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    version: str | None = None
    # supporting objects created this run (tags, custom fields, cluster type, site, ...)
    supporting: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.error is None and not c.failures for c in self.clusters)

    @property
    def writes(self) -> int:
        return sum(n for method, n in self.requests.items() if method != "GET")

    @property
    def failures(self) -> int:
        return sum(len(c.failures) + (1 if c.error else 0) for c in self.clusters) + (
            1 if self.error else 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "error": self.error,
            "version": self.version,
            "seconds": round(self.seconds, 3),
            "requests": dict(sorted(self.requests.items())),
            "supporting": self.supporting,
            "warnings": self.warnings,
            "clusters": [
                {
                    "cluster": c.cluster,
                    "error": c.error,
                    "written": dict(sorted(c.written.items())),
                    "failures": [f.line() for f in c.failures],
                    "conflicts": c.conflicts,
                    "warnings": c.warnings,
                }
                for c in self.clusters
            ],
        }


def connect(settings: NetBox, repo: Path | None) -> NetBoxClient:
    """A client for ``settings`` with the token read from its reference."""
    token = resolve_secret(settings.token_from, what="netbox.tokenFrom", base_dir=repo)
    verify: bool | str = settings.verify_ssl
    if settings.ca_file and settings.verify_ssl:
        path = Path(settings.ca_file)
        if not path.is_absolute() and repo is not None:
            path = repo / path
        verify = str(path)
    return NetBoxClient(
        settings.url,
        token,
        verify=verify,
        timeout=settings.timeout,
        concurrency=settings.concurrency,
    )


def reflect_to_netbox(
    settings: NetBox,
    readings: Sequence[ClusterReading],
    desired: DesiredState,
    *,
    repo: Path | None = None,
    client: NetBoxClient | None = None,
) -> NetBoxResult:
    """Write every readable cluster in ``readings`` into NetBox (see the module docstring)."""
    started = time.monotonic()
    result = NetBoxResult(url=settings.url)
    try:
        client = client or connect(settings, repo)
    except ProxgitError as err:
        result.error = err.message
        return result
    try:
        result.version = client.check()
        readable = [r for r in readings if r.error is None]
        basics = _Basics.ensure(client, settings, readable, result.supporting, result.warnings)
        shared = _read_tagged(client, settings.tag)
        for reading in readable:
            outcome = ClusterSync(cluster=reading.name)
            result.clusters.append(outcome)
            declared = {g.document.spec.vmid: g.path for g in desired.guests_in(reading.name)}
            try:
                _ClusterRun(client, settings, basics, reading, declared, shared, outcome).run()
            except NetBoxUnavailable as err:
                outcome.error = str(err)
    except NetBoxUnavailable as err:
        result.error = str(err)
    finally:
        result.requests = Counter(client.counts)
        result.seconds = time.monotonic() - started
    return result


# --- supporting objects -------------------------------------------------------------------


@dataclass
class _Basics:
    cluster_type: int
    site: int
    role: int
    device_type: int
    # Proxmox tag -> the slug of its NetBox tag
    tag_slugs: dict[str, str]

    @classmethod
    def ensure(
        cls,
        client: NetBoxClient,
        settings: NetBox,
        readings: Sequence[ClusterReading],
        created: list[str],
        warnings: list[str],
    ) -> _Basics:
        tag = settings.tag
        tagged = {"tags": [{"slug": tag}]}
        names = sorted({t for r in readings for g in r.live.guests.values() for t in g.tags})
        guest_tags = [(slugify(name), name) for name in names]
        nodes = settings.nodes
        with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
            tags_f = pool.submit(
                _by_slug, client, "extras", "tags", sorted({tag, *(s for s, _ in guest_tags)})
            )
            named_f = pool.submit(
                lambda: {
                    str(t["name"]).lower(): str(t["slug"])
                    for part in chunks([n for _, n in guest_tags], 100)
                    for t in client.read("extras", "tags", name=part)
                }
            )
            fields_f = pool.submit(
                client.read, "extras", "custom_fields", name=sorted(CUSTOM_FIELDS)
            )
            ctype_f = pool.submit(
                _by_slug,
                client,
                "virtualization",
                "cluster_types",
                [slugify(settings.cluster_type)],
            )
            site_f = pool.submit(_by_slug, client, "dcim", "sites", [slugify(nodes.site)])
            role_f = pool.submit(_by_slug, client, "dcim", "device_roles", [slugify(nodes.role)])
            dtype_f = pool.submit(
                _by_slug, client, "dcim", "device_types", [slugify(nodes.device_type)]
            )
            tags, fields, named = tags_f.result(), fields_f.result(), named_f.result()
            ctypes, sites, roles, dtypes = (
                ctype_f.result(),
                site_f.result(),
                role_f.result(),
                dtype_f.result(),
            )
        if tag not in tags:
            client.create_one(
                "extras",
                "tags",
                {"name": tag, "slug": tag, "description": "Managed by proxgit"},
                f"tag {tag}",
            )
            created.append(f"tag {tag}")
        # each Proxmox tag: the NetBox tag of its slug, else the one of its name, else a new one
        tag_slugs: dict[str, str] = {}
        for slug, name in guest_tags:
            if slug in tags:
                tag_slugs[name] = slug
            elif name.lower() in named:
                tag_slugs[name] = named[name.lower()]
            else:
                try:
                    client.create_one(
                        "extras",
                        "tags",
                        {"name": name, "slug": slug, "description": "A Proxmox tag"},
                        f"tag {slug}",
                    )
                except NetBoxUnavailable as err:
                    warnings.append(f"Proxmox tag {name} left off the VMs: {err}")
                    continue
                created.append(f"tag {slug}")
                tag_slugs[name] = slug
        have_fields = {str(f.get("name")): f for f in fields}
        for name, (kind, label) in CUSTOM_FIELDS.items():
            existing = have_fields.get(name)
            if existing is None:
                client.create_one(
                    "extras",
                    "custom_fields",
                    {
                        "name": name,
                        "label": label,
                        "type": kind,
                        "object_types": [VM_TYPE],
                        "description": "Written by proxgit reflect",
                        "ui_editable": "no",
                    },
                    f"custom field {name}",
                )
                created.append(f"custom field {name}")
            elif VM_TYPE not in (existing.get("object_types") or []):
                raise NetBoxUnavailable(
                    f"custom field {name} exists but not for virtual machines; add "
                    f"{VM_TYPE} to its object types in NetBox"
                )

        def ensure(
            found: Mapping[str, int], app: str, name: str, data: dict[str, Any], what: str
        ) -> int:
            slug = str(data["slug"])
            if slug in found:
                return found[slug]
            created.append(what)
            return client.create_one(app, name, {**data, **tagged}, what)

        ctype = ensure(
            ctypes,
            "virtualization",
            "cluster_types",
            {"name": settings.cluster_type, "slug": slugify(settings.cluster_type)},
            f"cluster type {settings.cluster_type}",
        )
        site = ensure(
            sites,
            "dcim",
            "sites",
            {"name": nodes.site, "slug": slugify(nodes.site)},
            f"site {nodes.site}",
        )
        role = ensure(
            roles,
            "dcim",
            "device_roles",
            {"name": nodes.role, "slug": slugify(nodes.role), "vm_role": False},
            f"device role {nodes.role}",
        )
        if slugify(nodes.device_type) in dtypes:
            dtype = dtypes[slugify(nodes.device_type)]
        else:
            makers = _by_slug(client, "dcim", "manufacturers", [slugify(nodes.manufacturer)])
            maker = ensure(
                makers,
                "dcim",
                "manufacturers",
                {"name": nodes.manufacturer, "slug": slugify(nodes.manufacturer)},
                f"manufacturer {nodes.manufacturer}",
            )
            dtype = ensure(
                {},
                "dcim",
                "device_types",
                {
                    "model": nodes.device_type,
                    "slug": slugify(nodes.device_type),
                    "manufacturer": maker,
                    "u_height": 0,
                },
                f"device type {nodes.device_type}",
            )
        return cls(cluster_type=ctype, site=site, role=role, device_type=dtype, tag_slugs=tag_slugs)


def _by_slug(client: NetBoxClient, app: str, name: str, slugs: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(slugs, 100):
        for item in client.read(app, name, slug=part):
            found[str(item["slug"])] = int(item["id"])
    return found


@dataclass
class _Shared:
    """Tagged objects read once for every cluster (NetBox filters them by tag, not cluster)."""

    disks: list[dict[str, Any]]
    macs: list[dict[str, Any]]
    ips: list[dict[str, Any]]


def _read_tagged(client: NetBoxClient, tag: str) -> _Shared:
    with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
        disks = pool.submit(client.read, "virtualization", "virtual_disks", tag=tag)
        macs = pool.submit(client.read, "dcim", "mac_addresses", tag=tag)
        ips = pool.submit(client.read, "ipam", "ip_addresses", tag=tag)
        return _Shared(disks.result(), macs.result(), ips.result())


# --- one cluster --------------------------------------------------------------------------


class _ClusterRun:
    def __init__(
        self,
        client: NetBoxClient,
        settings: NetBox,
        basics: _Basics,
        reading: ClusterReading,
        declared: Mapping[int, str],
        shared: _Shared,
        outcome: ClusterSync,
    ) -> None:
        self.client = client
        self.settings = settings
        self.basics = basics
        self.reading = reading
        self.declared = declared
        self.shared = shared
        self.outcome = outcome
        # (kind, key) -> NetBox id of objects proxgit may point at
        self.ids: dict[tuple[Kind, Key], int] = {}
        self.created: dict[tuple[Kind, Key], int] = {}
        self.failed_owners: set[Key] = set()

    def run(self) -> None:
        client, tag = self.client, self.settings.tag
        cluster_id = self._cluster()
        nodes = sorted(self.reading.live.nodes)
        vids = sorted(_vlan_ids(self.reading))
        with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
            devices_f = pool.submit(client.read, "dcim", "devices", cluster_id=cluster_id)
            named_f = pool.submit(
                lambda: (
                    [
                        d
                        for part in chunks(nodes, 100)
                        for d in client.read("dcim", "devices", site_id=self.basics.site, name=part)
                    ]
                    if nodes
                    else []
                )
            )
            vms_f = pool.submit(
                client.read, "virtualization", "virtual_machines", cluster_id=cluster_id
            )
            nics_f = pool.submit(client.read, "virtualization", "interfaces", cluster_id=cluster_id)
            vlans_f = pool.submit(
                lambda: [
                    v for part in chunks(vids, 100) for v in client.read("ipam", "vlans", vid=part)
                ]
            )
            devices = {int(d["id"]): d for d in [*devices_f.result(), *named_f.result()]}
            vms, nics, vlans = vms_f.result(), nics_f.result(), vlans_f.result()
        want = wanted_objects(
            self.reading,
            self.settings,
            cluster_id=cluster_id,
            declared=self.declared,
            vlans=self._pick_vlans(vlans, vids),
            tag_slugs=self.basics.tag_slugs,
        )
        self.outcome.warnings.extend(want.warnings)
        have = found_objects(
            tag,
            devices=devices.values(),
            vms=vms,
            interfaces=nics,
            disks=self.shared.disks,
            macs=self.shared.macs,
            ips=self.shared.ips,
        )
        self._devices(want, have, cluster_id)
        self._vms(want, have)
        # interfaces and disks: created and updated now, interfaces deleted last
        nic_diff = self._diff(want.interfaces, have.interfaces, deletable=want.complete)
        gone_nics = {w.id for w in nic_diff.writes if w.action is Action.delete}
        self._apply([w for w in nic_diff.writes if w.action is not Action.delete])
        disks_found = self._with_untagged_disks(want.disks, have)
        disk_diff = self._diff(want.disks, disks_found, deletable=want.complete)
        self._apply(disk_diff.writes)
        # MACs and addresses; those of interfaces about to go are deleted with them
        ips_found = self._with_untagged_holders(want.ips, have)
        # a MAC is never deleted by itself: it is keyed by its interface (a changed MAC is an
        # update) and NetBox deletes it with the interface, so no delete permission is needed
        mac_diff = self._diff(want.macs, have.macs, deletable=None)
        ip_diff = self._diff(want.ips, ips_found, deletable=want.addresses_known)
        self._apply(
            [
                w
                for w in [*mac_diff.writes, *ip_diff.writes]
                if not (w.action is Action.delete and self._on(w, have, gone_nics))
            ]
        )
        # links between objects that now exist
        nics_now = [*have.interfaces, *self._made(Kind.interface)]
        vms_now = [*have.vms, *self._made(Kind.vm)]
        self._apply(self._diff(want.mac_links, nics_now, deletable=None).writes)
        self._apply(self._diff(want.ip_links, vms_now, deletable=None).writes)
        self._apply([w for w in nic_diff.writes if w.action is Action.delete])
        if self.settings.delete_orphans:
            self._apply(
                [
                    Write(Action.delete, Kind.vm, f.key, f.label, {}, f.id, f.key)
                    for f in self._orphans(want, have)
                ]
            )

    # --- stages ------------------------------------------------------------------------

    def _cluster(self) -> int:
        name = self.reading.name
        found = self.client.read("virtualization", "clusters", name=name)
        if found:
            return int(found[0]["id"])
        return self.client.create_one(
            "virtualization",
            "clusters",
            {
                "name": name,
                "type": self.basics.cluster_type,
                "status": "active",
                "tags": [{"slug": self.settings.tag}],
            },
            f"cluster {name}",
        )

    def _devices(self, want: ClusterWanted, have: FoundCluster, cluster_id: int) -> None:
        extra = {
            "site": self.basics.site,
            "role": self.basics.role,
            "device_type": self.basics.device_type,
        }
        for device in want.devices:
            device.fields.update(extra)
            device.create_only = device.create_only | frozenset(extra)
        mine = [f for f in have.devices if f.fields.get("cluster") == cluster_id]
        # a device of the node's name elsewhere in the site (hand-made, or another cluster's)
        # is neither changed nor duplicated: the node's VMs get no device
        elsewhere = {f.key: f for f in have.devices if f.fields.get("cluster") != cluster_id}
        for found in mine:
            self.ids[(Kind.device, found.key)] = found.id
        wanted = []
        for device in want.devices:
            other = elsewhere.get(device.key)
            if other is not None and device.key not in {f.key for f in mine}:
                self.outcome.conflicts.append(
                    f"device {device.key[0]}: a device of that name (id {other.id}) is in site "
                    f"{self.settings.nodes.site} outside cluster {self.reading.name}; left "
                    "alone, and the node's VMs get no device"
                )
                continue
            wanted.append(device)
        self._apply(self._diff(wanted, mine, deletable=None).writes)

    def _vms(self, want: ClusterWanted, have: FoundCluster) -> None:
        wanted_names = {str(w.fields["name"]).lower(): w.key for w in want.vms}
        vms: list[Found] = []
        for found in have.vms:
            # a hand-made VM named like a guest: the guest's key, so it is a conflict
            if found.key[0] == "name" and str(found.key[1]) in wanted_names and not found.tagged:
                found = Found(
                    found.kind,
                    wanted_names[str(found.key[1])],
                    found.id,
                    found.fields,
                    found.tagged,
                    found.label,
                    found.owner,
                )
            vms.append(found)
            if found.tagged:
                self.ids[(Kind.vm, found.key)] = found.id
        writes = self._diff(want.vms, vms, deletable=None).writes
        if not self.settings.delete_orphans:
            writes += [
                Write(
                    Action.update,
                    Kind.vm,
                    f.key,
                    f.label,
                    {"status": "decommissioning"},
                    f.id,
                    f.key,
                )
                for f in self._orphans(want, have)
                if f.fields.get("status") != "decommissioning"
            ]
        self._apply(writes)
        for kind, items in (
            (Kind.interface, have.interfaces),
            (Kind.mac, have.macs),
            (Kind.ip, have.ips),
        ):
            for found in items:
                if found.tagged:
                    self.ids[(kind, found.key)] = found.id

    def _orphans(self, want: ClusterWanted, have: FoundCluster) -> list[Found]:
        return [
            f
            for f in have.vms
            if f.tagged and isinstance(f.key[0], int) and f.key[0] not in want.live
        ]

    def _with_untagged_disks(self, wanted: Sequence[Wanted], have: FoundCluster) -> list[Found]:
        """Tagged disks, plus hand-made ones of a name a guest's new disk wants (conflicts).

        Disks are read by tag; a disk made by hand on a proxgit VM is only looked for when a
        disk is about to be created on that VM (no request at all in a steady state).
        """
        known = {f.key for f in have.disks}
        vms = {
            self.ids[(Kind.vm, (w.key[0],))]: w.key[0]
            for w in wanted
            if w.key not in known
            and (Kind.vm, (w.key[0],)) in self.ids
            and (Kind.vm, (w.key[0],)) not in self.created
        }
        found: list[Found] = []
        for part in chunks(sorted(vms), 100):
            for raw in self.client.read("virtualization", "virtual_disks", virtual_machine_id=part):
                owner = vms.get(_nested_id(raw.get("virtual_machine")) or -1)
                if owner is None or self.settings.tag in _tag_slugs(raw):
                    continue  # proxgit's own disks are in ``have`` already
                found.append(
                    Found(Kind.disk, (owner, str(raw.get("name"))), int(raw["id"]), {}, False)
                )
        return [*have.disks, *found]

    def _with_untagged_holders(self, wanted: Sequence[Wanted], have: FoundCluster) -> list[Found]:
        """Tagged addresses, plus hand-made ones holding an address a guest wants (conflicts)."""
        known = {f.key for f in have.ips}
        missing = sorted({w.key[0] for w in wanted if w.key not in known})
        holders: list[Found] = []
        for part in chunks(missing, 50):
            for raw in self.client.read("ipam", "ip_addresses", address=part, vrf_id="null"):
                host = str(raw.get("address", "")).split("/", 1)[0]
                holders.append(
                    Found(Kind.ip, (host,), int(raw["id"]), {}, False, f"IP {raw.get('address')}")
                )
        return [*have.ips, *holders]

    # --- helpers ------------------------------------------------------------------------

    def _diff(
        self, wanted: Sequence[Wanted], found: Iterable[Found], *, deletable: set[Key] | None
    ) -> Diff:
        live = [w for w in wanted if w.owner is None or w.owner not in self.failed_owners]
        if deletable is not None:
            # the children of a VM left alone (or refused) are neither written nor deleted
            deletable = deletable - self.failed_owners
        result = diff(live, found, self._resolve, deletable_owners=deletable)
        for conflict in result.conflicts:
            self.outcome.conflicts.append(conflict.line())
            if conflict.kind is Kind.vm:
                self.failed_owners.add(conflict.key)
        return result

    def _resolve(self, ref: Ref) -> int | None:
        return self.ids.get((ref.kind, ref.key))

    def _made(self, kind: Kind) -> list[Found]:
        return [Found(k, key, i, {}, True) for (k, key), i in self.created.items() if k is kind]

    def _on(self, write: Write, have: FoundCluster, nics: set[int | None]) -> bool:
        """Whether ``write`` (a MAC or address) belongs to one of ``nics``."""
        items = have.macs if write.kind is Kind.mac else have.ips
        for found in items:
            if found.id == write.id:
                return found.fields.get("assigned_object_id") in nics
        return False

    def _apply(self, writes: list[Write]) -> None:
        if not writes:
            return

        def done(write: Write, new_id: int | None) -> None:
            self.outcome.written[f"{write.action.value} {write.kind.value}"] += 1
            if write.action is Action.create and new_id is not None:
                self.ids[(write.kind, write.key)] = new_id
                self.created[(write.kind, write.key)] = new_id
            elif write.action is Action.delete:
                self.ids.pop((write.kind, write.key), None)

        failures = self.client.write(writes, done)
        self.outcome.failures.extend(failures)
        for failure in failures:
            # a VM NetBox refused to create: its interfaces, disks and addresses wait for it
            if failure.kind is Kind.vm and failure.action == "create" and failure.key is not None:
                self.failed_owners.add(failure.key)

    def _pick_vlans(
        self, vlans: Sequence[Mapping[str, Any]], vids: Sequence[int]
    ) -> dict[int, int]:
        """One NetBox VLAN per 802.1Q id: the only usable one, else the site's, else the global
        one. A VLAN of another site is never used: the VMs are in ``nodes.site`` (their
        device's), and NetBox refuses an interface whose untagged VLAN is elsewhere."""
        picked: dict[int, int] = {}
        for vid in vids:
            same_vid = [v for v in vlans if int(v.get("vid") or -1) == vid]
            options = [v for v in same_vid if _nested_id(v.get("site")) in (None, self.basics.site)]
            if len(options) > 1:
                site = [v for v in options if _nested_id(v.get("site")) == self.basics.site]
                bare = [v for v in options if not v.get("site") and not v.get("group")]
                options = site if len(site) == 1 else bare
            if len(options) == 1:
                picked[vid] = int(options[0]["id"])
            elif len(options) > 1:
                self.outcome.warnings.append(
                    f"VLAN {vid}: {len(options)} VLANs in NetBox could be meant; "
                    "interfaces get none"
                )
            elif same_vid:
                self.outcome.warnings.append(
                    f"VLAN {vid}: NetBox has it only at other sites than "
                    f"{self.settings.nodes.site}; interfaces get none"
                )
        return picked


def _nested_id(value: Any) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return int(value) if value is not None else None


def _tag_slugs(raw: Mapping[str, Any]) -> set[str]:
    return {str(t.get("slug")) for t in raw.get("tags") or () if isinstance(t, Mapping)}


def _vlan_ids(reading: ClusterReading) -> set[int]:
    vids: set[int] = set()
    for guest in reading.live.guests.values():
        if guest.config is None or guest.template:
            continue
        for path, value in guest.view().items():
            if path.startswith("networks.") and path.endswith(".tag") and value is not None:
                vids.add(int(value))
    return vids


class Line(NamedTuple):
    """One line of the NetBox step's report; ``problem`` lines go to stderr."""

    text: str
    problem: bool = False


def describe(result: NetBoxResult) -> list[Line]:
    """The NetBox step in lines for the terminal: per cluster what changed, then every problem."""
    lines = [Line(f"netbox: created {created}") for created in result.supporting]
    if result.error:
        written = "nothing written" if not result.writes else "nothing more written"
        return [*lines, Line(f"netbox: {result.error}; {written}", True)]
    lines += [Line(f"netbox: warning: {warning}") for warning in result.warnings]
    for c in result.clusters:
        name = f"netbox: cluster {c.cluster}"
        if c.error:
            lines.append(Line(f"{name}: {c.error}", True))
            continue
        lines.append(Line(f"{name}: {c.summary()}"))
        lines.extend(Line(f"{name}: refused: {text}", True) for text in refusals(c.failures))
        lines.extend(Line(f"{name}: left alone: {x}") for x in c.conflicts)
        lines.extend(Line(f"{name}: warning: {w}") for w in c.warnings)
    reads = result.requests.get("GET", 0)
    lines.append(
        Line(f"netbox: {reads} read(s), {result.writes} write request(s) in {result.seconds:.1f} s")
    )
    return lines


def refusals(failures: Sequence[Failure]) -> list[str]:
    """One line per refused object; objects refused for want of one permission share a line."""
    groups: dict[str, list[Failure]] = {}
    for number, failure in enumerate(failures):
        groups.setdefault(failure.denied or f"#{number}", []).append(failure)
    lines = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            lines.append(first.line())
        else:
            lines.append(f"{first.action} {first.label} and {len(group) - 1} more: {first.message}")
    return lines
