"""What a cluster's reading should look like in NetBox, and NetBox's answers in the same shapes.

Pure functions: no network, no clock. :func:`wanted_objects` turns one
:class:`~proxgit.reflecting.reading.ClusterReading` (the read reflect already
did) into :class:`~proxgit.reflecting.netbox.objects.Wanted` objects;
:func:`found_objects` turns NetBox's list answers into
:class:`~proxgit.reflecting.netbox.objects.Found` ones keyed the same way.

The mapping (docs/netbox.md has it as a table):

* a node is a device (site, role and type from ``netbox.nodes``) in the
  cluster, ``active`` when online, ``offline`` otherwise;
* a guest (templates left out) is a virtual machine keyed by its vmid (the
  custom field ``proxmox_vmid``): name, status (running: active, stopped:
  offline, paused/suspended: paused), vcpus (sockets x cores), memory (MiB),
  the node's device, the Proxmox tags plus proxgit's, and the custom fields
  ``proxmox_vmid``, ``proxmox_type``, ``proxgit_managed`` and
  ``proxgit_desired_file``;
* each ``netN`` is an interface ``netN`` with MTU, enabled (not
  ``link_down``) and, when NetBox has the VLAN of its ``tag``, that VLAN
  untagged in access mode; its MAC is a MAC address object, the interface's
  primary MAC;
* addresses: a container's static ``ip``/``ip6``; a VM's addresses from the
  guest agent (matched to ``netN`` by MAC; link-local and loopback left out),
  or, when the agent did not answer, its static cloud-init ``ipconfigN``.
  A guest with neither has unknown addresses: NetBox keeps what it has. Each
  address's ``dns_name`` is the container's hostname, or the VM's name; the
  first IPv4 and IPv6 (lowest ``netN``) are the VM's primary addresses;
* disks (QEMU disks, a container's rootfs and mount points) are virtual disks
  sized in MiB; CD-ROMs and the cloud-init drive are not disks.

Nothing is taken from descriptions, cloud-init users or passwords, hook
scripts or any other free text: a secret has no way into NetBox.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxgit.models.config import NetBox
from proxgit.proxmox.fields import parse_property_string
from proxgit.proxmox.live import LiveGuest
from proxgit.reflecting.netbox.objects import Found, Key, Kind, Ref, Tags, Wanted
from proxgit.reflecting.reading import ClusterReading

CF_VMID = "proxmox_vmid"
CF_TYPE = "proxmox_type"
CF_MANAGED = "proxgit_managed"
CF_DESIRED = "proxgit_desired_file"
#: The custom fields on virtual machines: name -> (type, label).
CUSTOM_FIELDS: dict[str, tuple[str, str]] = {
    CF_VMID: ("integer", "Proxmox VMID"),
    CF_TYPE: ("text", "Proxmox type"),
    CF_MANAGED: ("boolean", "Managed by proxgit"),
    CF_DESIRED: ("text", "proxgit desired file"),
}
VMINTERFACE = "virtualization.vminterface"
VM_STATUS = {
    "running": "active",
    "stopped": "offline",
    "paused": "paused",
    "suspended": "paused",
    "prelaunch": "staged",
}
MIB = 1 << 20


@dataclass
class ClusterWanted:
    """Everything one cluster should be in NetBox."""

    devices: list[Wanted] = field(default_factory=list)
    vms: list[Wanted] = field(default_factory=list)
    interfaces: list[Wanted] = field(default_factory=list)
    disks: list[Wanted] = field(default_factory=list)
    macs: list[Wanted] = field(default_factory=list)
    ips: list[Wanted] = field(default_factory=list)
    # links set once both ends exist: interface -> primary MAC, VM -> primary IPs
    mac_links: list[Wanted] = field(default_factory=list)
    ip_links: list[Wanted] = field(default_factory=list)
    # guests whose config was read: their interfaces, disks and MACs may be deleted
    complete: set[Key] = field(default_factory=set)
    # guests whose addresses are known: their other tagged addresses may be deleted
    addresses_known: set[Key] = field(default_factory=set)
    # every live guest (read or not): a tagged VM with another vmid is an orphan
    live: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    @property
    def vlan_ids(self) -> set[int]:
        return {
            int(w.fields["untagged_vlan"].key[0])
            for w in self.interfaces
            if isinstance(w.fields.get("untagged_vlan"), Ref)
        }


def slugify(text: str) -> str:
    """NetBox's slug for a name: lower case, letters, digits, ``-`` and ``_``."""
    out = "".join(c if c.isalnum() or c in "-_" else "-" for c in text.strip().lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")[:100] or "x"


def vm_label(guest: LiveGuest) -> str:
    return f"VM {guest.name or '?'} (vmid {guest.vmid})"


def wanted_objects(
    reading: ClusterReading,
    settings: NetBox,
    *,
    cluster_id: int,
    declared: Mapping[int, str],
    vlans: Mapping[int, int] | None = None,
    tag_slugs: Mapping[str, str] | None = None,
) -> ClusterWanted:
    """One cluster's NetBox objects as they should be (see the module docstring).

    ``declared`` maps the vmids with a desired document to that document's
    path; ``vlans`` maps a VLAN id (802.1Q) to the NetBox VLAN to use for it;
    ``tag_slugs`` a Proxmox tag to its NetBox tag's slug (None: the tag's own
    slug; a tag missing from the map is left off).
    """
    out = ClusterWanted()
    vlans = vlans or {}
    slugs = tag_slugs
    for name, node in sorted(reading.live.nodes.items()):
        out.devices.append(
            Wanted(
                Kind.device,
                (name,),
                f"device {name}",
                {
                    "name": name,
                    "cluster": cluster_id,
                    "status": "active" if node.status == "online" else "offline",
                    "tags": Tags([settings.tag]),
                },
                create_only=frozenset({"tags"}),
            )
        )
    owners_of: dict[str, str] = {}
    for vmid, guest in sorted(reading.live.guests.items()):
        out.live.add(vmid)
        if guest.template or guest.config is None:
            continue
        tags = [
            slugify(t) if slugs is None else slugs[t]
            for t in guest.tags
            if slugs is None or t in slugs
        ]
        _guest(
            out, guest, reading, settings, cluster_id, declared.get(vmid), vlans, owners_of, tags
        )
    return out


def _guest(
    out: ClusterWanted,
    guest: LiveGuest,
    reading: ClusterReading,
    settings: NetBox,
    cluster_id: int,
    desired_file: str | None,
    vlans: Mapping[int, int],
    owners_of: dict[str, str],
    tags: list[str],
) -> None:
    vm: Key = (guest.vmid,)
    label = vm_label(guest)
    view = guest.view()
    config = guest.config or {}
    if guest.type == "qemu":
        vcpus = int(view.get("sockets") or 1) * int(view.get("cores") or 1)
    else:
        vcpus = int(view.get("cores") or 0) or int(
            reading.extras[guest.vmid].resource.get("maxcpu") or 1
        )
    memory = int(view.get("memory") or 0) or None
    out.vms.append(
        Wanted(
            Kind.vm,
            vm,
            label,
            {
                "name": guest.name,
                "cluster": cluster_id,
                "device": Ref(Kind.device, (guest.node,), optional=True),
                "status": VM_STATUS.get(guest.status, "active"),
                "vcpus": float(vcpus),
                "memory": memory,
                "tags": Tags([settings.tag, *tags]),
                "custom_fields": {
                    CF_VMID: guest.vmid,
                    CF_TYPE: guest.type,
                    CF_MANAGED: desired_file is not None,
                    CF_DESIRED: desired_file,
                },
            },
            create_only=frozenset() if settings.overwrite_vm_tags else frozenset({"tags"}),
            owner=vm,
        )
    )
    out.complete.add(vm)
    hostname = str(config.get("hostname") or guest.name) if guest.type == "lxc" else guest.name
    nics = sorted(
        {p.split(".")[1] for p in view if p.startswith("networks.")},
        key=lambda n: (len(n), n),
    )
    addresses: dict[str, list[str]] = {}
    known = False
    extras = reading.extras.get(guest.vmid)
    if guest.type == "lxc":
        known = True
        for nic in nics:
            addresses[nic] = _static(
                view.get(f"networks.{nic}.ip"), view.get(f"networks.{nic}.ip6")
            )
    elif extras is not None and extras.interfaces is not None:
        known = True
        by_mac = {str(view.get(f"networks.{n}.macaddr") or "").upper(): n for n in nics}
        for agent_nic in extras.interfaces:
            match = by_mac.get((agent_nic.mac or "").upper())
            if match is not None:
                addresses.setdefault(match, []).extend(_usable(agent_nic.addresses))
    else:
        for nic in nics:
            ipconfig = view.get(f"cloudInit.ipconfig{nic[3:]}")
            if ipconfig:
                parts = parse_property_string(str(ipconfig))
                found = _static(parts.get("ip"), parts.get("ip6"))
                if found:
                    known = True
                    addresses[nic] = found
    if known:
        out.addresses_known.add(vm)
    primary: dict[int, Ref | None] = {4: None, 6: None}
    for nic in nics:
        base = f"networks.{nic}"
        nic_key: Key = (guest.vmid, nic)
        tag = view.get(f"{base}.tag")
        vlan = vlans.get(int(tag)) if tag is not None else None
        mtu = view.get(f"{base}.mtu")
        out.interfaces.append(
            Wanted(
                Kind.interface,
                nic_key,
                f"interface {nic} of {label}",
                {
                    "virtual_machine": Ref(Kind.vm, vm),
                    "name": nic,
                    "enabled": not bool(view.get(f"{base}.linkDown")),
                    "mtu": int(mtu) if mtu not in (None, "", 1) else None,
                    "mode": "access" if vlan is not None else None,
                    "untagged_vlan": vlan,
                    "tags": Tags([settings.tag]),
                },
                create_only=frozenset({"tags"}),
                owner=vm,
            )
        )
        mac = view.get(f"{base}.macaddr") or view.get(f"{base}.hwaddr")
        if mac:
            out.macs.append(
                Wanted(
                    Kind.mac,
                    nic_key,
                    f"MAC {str(mac).upper()} of {nic} of {label}",
                    {
                        "mac_address": str(mac).upper(),
                        "assigned_object_type": VMINTERFACE,
                        "assigned_object_id": Ref(Kind.interface, nic_key),
                        "tags": Tags([settings.tag]),
                    },
                    create_only=frozenset({"tags"}),
                    owner=vm,
                    group=nic_key,
                )
            )
        out.mac_links.append(
            Wanted(
                Kind.interface,
                nic_key,
                f"interface {nic} of {label}",
                {"primary_mac_address": Ref(Kind.mac, nic_key) if mac else None},
                owner=vm,
                creatable=False,
            )
        )
        for address in addresses.get(nic, []):
            host = address.split("/", 1)[0]
            version = ipaddress.ip_interface(address).version
            if host in owners_of:
                out.warnings.append(
                    f"{address}: claimed by {owners_of[host]} and {label}; written for the first"
                )
                continue
            owners_of[host] = label
            ip = Ref(Kind.ip, (host,))
            if primary[version] is None:
                primary[version] = ip
            out.ips.append(
                Wanted(
                    Kind.ip,
                    (host,),
                    f"IP {address} of {nic} of {label}",
                    {
                        "address": address,
                        "assigned_object_type": VMINTERFACE,
                        "assigned_object_id": Ref(Kind.interface, nic_key),
                        "status": "active",
                        "dns_name": hostname,
                        "tags": Tags([settings.tag]),
                    },
                    create_only=frozenset({"tags"})
                    | (frozenset() if settings.overwrite_dns_name else frozenset({"dns_name"})),
                    owner=vm,
                    group=(nic_key, version),
                )
            )
    if known:
        out.ip_links.append(
            Wanted(
                Kind.vm,
                vm,
                label,
                {"primary_ip4": primary[4], "primary_ip6": primary[6]},
                owner=vm,
                creatable=False,
            )
        )
    for slot, size in _disks(view):
        out.disks.append(
            Wanted(
                Kind.disk,
                (guest.vmid, slot),
                f"disk {slot} of {label}",
                {
                    "virtual_machine": Ref(Kind.vm, vm),
                    "name": slot,
                    "size": max(1, size // MIB),
                    "tags": Tags([settings.tag]),
                },
                create_only=frozenset({"tags"}),
                owner=vm,
            )
        )


def _disks(view: Mapping[str, Any]) -> list[tuple[str, int]]:
    disks: list[tuple[str, int]] = []
    for path, value in view.items():
        parts = path.split(".")
        if parts[-1] != "size" or not isinstance(value, int):
            continue
        if parts[0] in ("disks", "mountpoints") and len(parts) == 3:
            disks.append((parts[1], value))
        elif parts[0] == "rootfs" and len(parts) == 2:
            disks.append(("rootfs", value))
    return sorted(disks, key=lambda d: (d[0] != "rootfs", d[0]))


def _static(*values: Any) -> list[str]:
    """Static addresses of a container NIC or a cloud-init ipconfig (dhcp, auto, manual: none)."""
    return _usable(str(v) for v in values if v and "/" in str(v))


def _usable(addresses: Iterable[str]) -> list[str]:
    """Addresses worth recording: with a prefix, neither loopback nor link-local, canonical."""
    out: list[str] = []
    for text in addresses:
        try:
            address = ipaddress.ip_interface(text if "/" in text else f"{text}/32")
        except ValueError:
            continue
        if "/" not in text and address.version == 6:
            address = ipaddress.ip_interface(f"{text}/128")
        ip = address.ip
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        out.append(str(address))
    return out


# --- NetBox's answers --------------------------------------------------------------------


def _id(value: Any) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return int(value) if value is not None else None


def _choice(value: Any) -> Any:
    return value.get("value") if isinstance(value, Mapping) else value


def _slugs(value: Any) -> tuple[str, ...]:
    return tuple(
        sorted(str(t.get("slug")) if isinstance(t, Mapping) else str(t) for t in value or [])
    )


@dataclass
class FoundCluster:
    """One cluster's objects in NetBox, normalized and keyed like :class:`ClusterWanted`."""

    devices: list[Found] = field(default_factory=list)
    vms: list[Found] = field(default_factory=list)
    interfaces: list[Found] = field(default_factory=list)
    disks: list[Found] = field(default_factory=list)
    macs: list[Found] = field(default_factory=list)
    ips: list[Found] = field(default_factory=list)
    # NetBox id -> key, to key children by their parents
    vm_keys: dict[int, Key] = field(default_factory=dict)
    interface_keys: dict[int, Key] = field(default_factory=dict)


def found_objects(
    tag: str,
    *,
    devices: Iterable[Mapping[str, Any]] = (),
    vms: Iterable[Mapping[str, Any]] = (),
    interfaces: Iterable[Mapping[str, Any]] = (),
    disks: Iterable[Mapping[str, Any]] = (),
    macs: Iterable[Mapping[str, Any]] = (),
    ips: Iterable[Mapping[str, Any]] = (),
) -> FoundCluster:
    """NetBox's list answers as :class:`Found` objects keyed like the wanted ones.

    VMs are keyed by their ``proxmox_vmid`` custom field (a hand-made VM
    without it, by its name, so a clash with a guest's name is seen); children
    by their parent's key. Children of VMs outside the cluster (tagged disks,
    MACs and addresses are read across clusters) are left out, except tagged
    addresses, which are keyed by host address wherever they are: an address
    that moved between guests is moved, not created twice.
    """
    out = FoundCluster()
    for raw in devices:
        out.devices.append(
            Found(
                Kind.device,
                (str(raw.get("name")),),
                int(raw["id"]),
                {
                    "name": raw.get("name"),
                    "cluster": _id(raw.get("cluster")),
                    "status": _choice(raw.get("status")),
                    "tags": _slugs(raw.get("tags")),
                },
                tag in _slugs(raw.get("tags")),
                f"device {raw.get('name')}",
            )
        )
    names: dict[str, Key] = {}
    for raw in vms:
        custom = dict(raw.get("custom_fields") or {})
        vmid = custom.get(CF_VMID)
        tags = _slugs(raw.get("tags"))
        tagged = tag in tags
        key: Key = (int(vmid),) if vmid is not None else ("name", str(raw.get("name")).lower())
        out.vm_keys[int(raw["id"])] = key
        out.vms.append(
            Found(
                Kind.vm,
                key,
                int(raw["id"]),
                {
                    "name": raw.get("name"),
                    "cluster": _id(raw.get("cluster")),
                    "device": _id(raw.get("device")),
                    "status": _choice(raw.get("status")),
                    "vcpus": float(raw["vcpus"]) if raw.get("vcpus") is not None else None,
                    "memory": raw.get("memory"),
                    "tags": tags,
                    "custom_fields": custom,
                    "primary_ip4": _id(raw.get("primary_ip4")),
                    "primary_ip6": _id(raw.get("primary_ip6")),
                },
                tagged,
                f"VM {raw.get('name')} (vmid {vmid if vmid is not None else '?'})",
                key,
            )
        )
        names[str(raw.get("name")).lower()] = key
    for raw in interfaces:
        vm = out.vm_keys.get(_id(raw.get("virtual_machine")) or -1)
        if vm is None or vm[0] == "name":
            continue
        key = (vm[0], str(raw.get("name")))
        out.interface_keys[int(raw["id"])] = key
        out.interfaces.append(
            Found(
                Kind.interface,
                key,
                int(raw["id"]),
                {
                    "virtual_machine": _id(raw.get("virtual_machine")),
                    "name": raw.get("name"),
                    "enabled": raw.get("enabled"),
                    "mtu": raw.get("mtu"),
                    "mode": _choice(raw.get("mode")) or None,
                    "untagged_vlan": _id(raw.get("untagged_vlan")),
                    "primary_mac_address": _id(raw.get("primary_mac_address")),
                    "tags": _slugs(raw.get("tags")),
                },
                tag in _slugs(raw.get("tags")),
                f"interface {raw.get('name')} of VM {_name(raw.get('virtual_machine'))}",
                (vm[0],),
            )
        )
    for raw in disks:
        vm = out.vm_keys.get(_id(raw.get("virtual_machine")) or -1)
        if vm is None or vm[0] == "name":
            continue
        out.disks.append(
            Found(
                Kind.disk,
                (vm[0], str(raw.get("name"))),
                int(raw["id"]),
                {
                    "virtual_machine": _id(raw.get("virtual_machine")),
                    "name": raw.get("name"),
                    "size": raw.get("size"),
                    "tags": _slugs(raw.get("tags")),
                },
                tag in _slugs(raw.get("tags")),
                f"disk {raw.get('name')} of VM {_name(raw.get('virtual_machine'))}",
                (vm[0],),
            )
        )
    for raw in macs:
        nic = (
            out.interface_keys.get(_id(raw.get("assigned_object_id")) or -1)
            if raw.get("assigned_object_type") == VMINTERFACE
            else None
        )
        if nic is None:
            continue
        out.macs.append(
            Found(
                Kind.mac,
                nic,
                int(raw["id"]),
                {
                    "mac_address": str(raw.get("mac_address") or "").upper(),
                    "assigned_object_type": raw.get("assigned_object_type"),
                    "assigned_object_id": _id(raw.get("assigned_object_id")),
                    "tags": _slugs(raw.get("tags")),
                },
                tag in _slugs(raw.get("tags")),
                f"MAC {raw.get('mac_address')} of {nic[1]} of vmid {nic[0]}",
                (nic[0],),
                group=nic,
            )
        )
    for raw in ips:
        address = str(raw.get("address") or "")
        try:
            version = ipaddress.ip_interface(address).version
        except ValueError:
            continue
        nic = (
            out.interface_keys.get(_id(raw.get("assigned_object_id")) or -1)
            if raw.get("assigned_object_type") == VMINTERFACE
            else None
        )
        out.ips.append(
            Found(
                Kind.ip,
                (address.split("/", 1)[0],),
                int(raw["id"]),
                {
                    "address": address,
                    "assigned_object_type": raw.get("assigned_object_type"),
                    "assigned_object_id": _id(raw.get("assigned_object_id")),
                    "status": _choice(raw.get("status")),
                    "dns_name": raw.get("dns_name") or "",
                    "tags": _slugs(raw.get("tags")),
                },
                tag in _slugs(raw.get("tags")),
                f"IP {address}" + (f" of {nic[1]} of vmid {nic[0]}" if nic else ""),
                (nic[0],) if nic else None,
                group=(nic, version) if nic else None,
            )
        )
    return out


def _name(value: Any) -> str:
    return str(value.get("name")) if isinstance(value, Mapping) else str(value)
