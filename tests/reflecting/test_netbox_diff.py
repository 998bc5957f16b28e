"""The pure core of NetBox reflection: live reading -> wanted objects, NetBox answers -> found
objects, and the writes between them. No NetBox here; tests/netbox runs the real one."""

from __future__ import annotations

from typing import Any

from proxgit.models.config import NetBox
from proxgit.proxmox.live import ClusterLive, LiveGuest, LiveNode
from proxgit.reflecting.netbox.mapping import found_objects, slugify, wanted_objects
from proxgit.reflecting.netbox.objects import Action, Found, Kind, Ref, Tags, Wanted, diff, same
from proxgit.reflecting.reading import AgentInterface, ClusterReading, GuestExtras

SECRET = "Cl0ud-Init-Pw-7731"
SETTINGS = NetBox.model_validate({"url": "https://netbox.example", "tokenFrom": {"env": "NB"}})


def reading() -> ClusterReading:
    """A VM with an agent (IPv4, IPv6, link-local, a docker bridge), a stopped VM with a
    cloud-init address, a container with static addresses, and a template."""
    live = ClusterLive(name="lab")
    live.nodes = {"pve1": LiveNode("pve1", "online"), "pve2": LiveNode("pve2", "offline")}
    guests = [
        LiveGuest(
            100,
            "qemu",
            "web-01",
            "pve1",
            "running",
            tags=["prod", "web"],
            config={
                "memory": "2048",
                "cores": 2,
                "sockets": 2,
                "agent": "1",
                "scsi0": "local-lvm:vm-100-disk-0,size=32G",
                "ide2": "local-lvm:vm-100-cloudinit,media=cdrom",
                "net0": "virtio=BC:24:11:00:01:00,bridge=vmbr0,tag=20,mtu=9000",
                "net1": "virtio=BC:24:11:00:01:01,bridge=vmbr1,link_down=1",
                "cipassword": SECRET,
                "description": f"password={SECRET}",
            },
        ),
        LiveGuest(
            101,
            "qemu",
            "db-01",
            "pve2",
            "stopped",
            config={
                "memory": 4096,
                "cores": 4,
                "scsi0": "local-lvm:vm-101-disk-0,size=64G",
                "virtio1": "local-lvm:vm-101-disk-1,size=1G",
                "net0": "virtio=BC:24:11:00:01:02,bridge=vmbr0",
                "ipconfig0": "ip=10.0.30.5/24,gw=10.0.30.1",
            },
        ),
        LiveGuest(
            200,
            "lxc",
            "dns-01",
            "pve1",
            "running",
            config={
                "hostname": "dns",
                "memory": 512,
                "cores": 1,
                "rootfs": "local-lvm:vm-200-disk-0,size=8G",
                "mp0": "local-lvm:vm-200-disk-1,mp=/srv,size=512M",
                "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:00,ip=10.0.0.53/24,"
                "ip6=2001:DB8::53/64",
                "net1": "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:00:02:01,ip=dhcp",
            },
        ),
        LiveGuest(9000, "qemu", "tpl", "pve1", "stopped", template=True, config={"memory": 1}),
    ]
    live.guests = {g.vmid: g for g in guests}
    out = ClusterReading(name="lab", live=live)
    out.extras = {g.vmid: GuestExtras(resource={}) for g in guests}
    out.extras[100].interfaces = [
        AgentInterface("docker0", "02:42:AC:11:00:01", ("172.17.0.1/16",)),
        AgentInterface(
            "eth0", "BC:24:11:00:01:00", ("10.0.20.11/24", "2001:db8:20::11/64", "fe80::1/64")
        ),
    ]
    return out


def wanted(**overrides: Any) -> Any:
    settings = SETTINGS.model_copy(update=overrides)
    return wanted_objects(
        reading(), settings, cluster_id=7, declared={100: "clusters/lab/vms/web-01.yaml"}
    )


def by_key(items: list[Wanted]) -> dict[Any, Wanted]:
    return {w.key: w for w in items}


def test_guests_become_virtual_machines_with_their_figures_and_custom_fields() -> None:
    vms = by_key(wanted().vms)
    assert sorted(vms) == [(100,), (101,), (200,)], "the template is left out"
    web = vms[(100,)].fields
    assert web["name"] == "web-01"
    assert web["status"] == "active"
    assert web["vcpus"] == 4.0 and web["memory"] == 2048
    assert web["tags"] == Tags(["proxgit", "prod", "web"])
    assert web["device"] == Ref(Kind.device, ("pve1",), optional=True)
    assert web["custom_fields"] == {
        "proxmox_vmid": 100,
        "proxmox_type": "qemu",
        "proxgit_managed": True,
        "proxgit_desired_file": "clusters/lab/vms/web-01.yaml",
    }
    assert vms[(101,)].fields["status"] == "offline"
    assert vms[(101,)].fields["custom_fields"]["proxgit_managed"] is False
    assert vms[(200,)].fields["custom_fields"]["proxmox_type"] == "lxc"


def test_nics_become_interfaces_with_mtu_link_state_vlan_and_a_primary_mac() -> None:
    result = wanted_objects(reading(), SETTINGS, cluster_id=7, declared={}, vlans={20: 555})
    nics = by_key(result.interfaces)
    assert nics[(100, "net0")].fields | {"virtual_machine": None} == {
        "virtual_machine": None,
        "name": "net0",
        "enabled": True,
        "mtu": 9000,
        "mode": "access",
        "untagged_vlan": 555,
        "tags": Tags(["proxgit"]),
    }
    assert nics[(100, "net1")].fields["enabled"] is False
    assert nics[(100, "net1")].fields["untagged_vlan"] is None
    assert nics[(100, "net1")].fields["mode"] is None
    macs = by_key(result.macs)
    assert macs[(200, "net0")].fields["mac_address"] == "BC:24:11:00:02:00"
    assert macs[(200, "net0")].fields["assigned_object_id"] == Ref(Kind.interface, (200, "net0"))
    links = by_key(result.mac_links)
    assert links[(100, "net1")].fields == {"primary_mac_address": Ref(Kind.mac, (100, "net1"))}
    assert not links[(100, "net1")].creatable


def test_addresses_come_from_the_agent_by_mac_the_container_config_or_cloud_init() -> None:
    result = wanted()
    ips = {w.fields["address"]: w for w in result.ips}
    # agent: eth0 matched to net0 by MAC; link-local and the docker bridge (no NIC) left out
    assert ips["10.0.20.11/24"].fields["assigned_object_id"] == Ref(Kind.interface, (100, "net0"))
    assert "2001:db8:20::11/64" in ips
    assert not any(a.startswith(("fe80", "172.17.")) for a in ips)
    # container: static addresses, IPv6 canonical; dhcp is not an address
    assert ips["2001:db8::53/64"].fields["dns_name"] == "dns"
    assert ips["10.0.0.53/24"].key == ("10.0.0.53",)
    # stopped VM without agent: its cloud-init address
    assert ips["10.0.30.5/24"].fields["dns_name"] == "db-01"
    assert result.addresses_known == {(100,), (101,), (200,)}
    primaries = by_key(result.ip_links)
    assert primaries[(100,)].fields == {
        "primary_ip4": Ref(Kind.ip, ("10.0.20.11",)),
        "primary_ip6": Ref(Kind.ip, ("2001:db8:20::11",)),
    }


def test_a_vm_whose_agent_did_not_answer_and_has_no_static_address_keeps_its_addresses() -> None:
    read = reading()
    read.extras[100].interfaces = None
    result = wanted_objects(read, SETTINGS, cluster_id=7, declared={})
    assert (100,) not in result.addresses_known
    assert not [w for w in result.ips if w.owner == (100,)]
    assert (100,) not in by_key(result.ip_links)


def test_disks_are_sized_in_mib_and_cdroms_are_not_disks() -> None:
    disks = {w.key: w.fields["size"] for w in wanted().disks}
    assert disks == {
        (100, "scsi0"): 32 * 1024,
        (101, "scsi0"): 64 * 1024,
        (101, "virtio1"): 1024,
        (200, "rootfs"): 8 * 1024,
        (200, "mp0"): 512,
    }


def test_no_secret_from_the_config_reaches_any_wanted_object() -> None:
    result = wanted()
    every = [
        *result.devices,
        *result.vms,
        *result.interfaces,
        *result.disks,
        *result.macs,
        *result.ips,
    ]
    assert SECRET not in repr([w.fields for w in every])
    assert "password" not in repr([w.fields for w in every])


def test_overwrite_switches_make_dns_name_and_vm_tags_create_only() -> None:
    result = wanted(overwrite_dns_name=False, overwrite_vm_tags=False)
    assert all("dns_name" in w.create_only for w in result.ips)
    assert all("tags" in w.create_only for w in result.vms)
    assert not any("dns_name" in w.create_only for w in wanted().ips)


def test_two_guests_claiming_one_address_write_it_once_and_say_so() -> None:
    read = reading()
    read.live.guests[101].config = {
        **(read.live.guests[101].config or {}),
        "ipconfig0": "ip=10.0.0.53/24",
    }
    result = wanted_objects(read, SETTINGS, cluster_id=7, declared={})
    assert [w.owner for w in result.ips if w.key == ("10.0.0.53",)] == [(101,)]
    assert result.warnings == [
        "10.0.0.53/24: claimed by VM db-01 (vmid 101) and VM dns-01 (vmid 200); "
        "written for the first"
    ]


# --- diff ---------------------------------------------------------------------------------


def want(key: Any, owner: Any = (1,), **fields: Any) -> Wanted:
    return Wanted(Kind.vm, key, f"VM {key}", fields, owner=owner)


def have(key: Any, id_: int, tagged: bool = True, owner: Any = (1,), **fields: Any) -> Found:
    return Found(Kind.vm, key, id_, fields, tagged, f"VM {key}", owner)


def no_refs(ref: Ref) -> int | None:
    return None


def test_missing_objects_are_created_and_only_changed_fields_are_updated() -> None:
    result = diff(
        [want((1,), name="a", memory=1024), want((2,), name="b", memory=512)],
        [have((1,), 10, name="a", memory=2048, comments="by hand")],
        no_refs,
    )
    assert [(w.action, w.key, w.data, w.id) for w in result.writes] == [
        (Action.update, (1,), {"memory": 1024}, 10),
        (Action.create, (2,), {"name": "b", "memory": 512}, None),
    ]


def test_values_netbox_returns_in_its_own_shapes_are_the_same() -> None:
    assert same(2.0, 2) and same(4, 4.0)
    assert same(Tags(["web", "proxgit"]), ("proxgit", "web"))
    assert not same(Tags(["web", "proxgit"]), ("proxgit",))
    assert same({"proxmox_vmid": 100}, {"proxmox_vmid": 100, "owner": "ops"})
    assert not same({"proxmox_vmid": 100}, {"proxmox_vmid": 101})
    assert same("2001:DB8::1/64", "2001:db8::1/64")
    assert not same(True, 1) and not same(None, 0) and same(None, None)


def test_an_object_without_the_tag_is_never_written_and_is_reported() -> None:
    result = diff(
        [want((1,), name="a", memory=1)],
        [have((1,), 10, tagged=False, name="a", memory=2), have((3,), 30, tagged=False)],
        no_refs,
        deletable_owners={(1,)},
    )
    assert result.writes == []
    assert [c.line() for c in result.conflicts] == [
        "VM (1,): exists in NetBox (id 10) without the proxgit tag; left alone "
        "(add the tag in NetBox to let proxgit manage it)"
    ]


def test_unwanted_tagged_objects_go_only_when_their_owner_was_read() -> None:
    found = [have((5,), 50, owner=(1,)), have((6,), 60, owner=(2,))]
    result = diff([], found, no_refs, deletable_owners={(1,)})
    assert [(w.action, w.id) for w in result.writes] == [(Action.delete, 50)]
    assert diff([], found, no_refs).writes == []


def test_a_changed_address_of_one_interface_is_one_update_not_a_delete_and_a_create() -> None:
    nic = ((1, "net0"), 4)
    wanted_ip = Wanted(
        Kind.ip,
        ("10.0.0.6",),
        "IP 10.0.0.6/24",
        {"address": "10.0.0.6/24", "dns_name": "a"},
        owner=(1,),
        group=nic,
    )
    old = Found(
        Kind.ip, ("10.0.0.5",), 77, {"address": "10.0.0.5/24", "dns_name": "a"}, True, "", (1,), nic
    )
    other_family = Found(
        Kind.ip,
        ("2001:db8::5",),
        78,
        {"address": "2001:db8::5/64"},
        True,
        "",
        (1,),
        ((1, "net0"), 6),
    )
    result = diff([wanted_ip], [old, other_family], no_refs, deletable_owners={(1,)})
    assert [(w.action, w.id, w.data) for w in result.writes] == [
        (Action.update, 77, {"address": "10.0.0.6/24"}),
        (Action.delete, 78, {}),
    ]


def test_references_resolve_to_ids_and_a_missing_parent_holds_the_child_back() -> None:
    ids = {(Kind.vm, (1,)): 10}
    child = Wanted(Kind.disk, (1, "scsi0"), "disk", {"virtual_machine": Ref(Kind.vm, (1,))})
    orphan = Wanted(Kind.disk, (2, "scsi0"), "disk", {"virtual_machine": Ref(Kind.vm, (2,))})
    host = Wanted(Kind.vm, (3,), "VM", {"device": Ref(Kind.device, ("pve9",), optional=True)})
    result = diff([child, orphan, host], [], lambda r: ids.get((r.kind, r.key)))
    assert [w.data for w in result.writes] == [{"virtual_machine": 10}, {"device": None}]
    assert result.unresolved == [orphan]


def test_create_only_fields_are_sent_on_create_and_never_compared() -> None:
    item = Wanted(
        Kind.ip,
        ("10.0.0.5",),
        "IP",
        {"dns_name": "a", "status": "active"},
        create_only=frozenset({"dns_name"}),
    )
    assert diff([item], [], no_refs).writes[0].data == {"dns_name": "a", "status": "active"}
    found = Found(Kind.ip, ("10.0.0.5",), 5, {"dns_name": "by-hand", "status": "active"}, True)
    assert diff([item], [found], no_refs).writes == []


def test_tags_are_sent_by_slug() -> None:
    result = diff([want((1,), tags=Tags(["web", "proxgit"]))], [], no_refs)
    assert result.writes[0].data == {"tags": [{"slug": "proxgit"}, {"slug": "web"}]}


def test_slugs_follow_netboxs_rules() -> None:
    assert slugify("Proxmox VE") == "proxmox-ve"
    assert slugify("  Team/Ops  ") == "team-ops"
    assert slugify("a__b") == "a__b"


# --- NetBox's answers read back as found objects ------------------------------------------


def answer_for(item: Wanted, id_: int, ids: dict[Any, int]) -> dict[str, Any]:
    """What NetBox would list for ``item`` once written: nested objects, choices, tags."""
    out: dict[str, Any] = {"id": id_}
    for name, value in item.fields.items():
        if isinstance(value, Ref):
            target = ids.get((value.kind, value.key))
            nested = {"id": target, "name": "x"} if target is not None else None
            out[name] = target if name == "assigned_object_id" else nested
        elif isinstance(value, Tags):
            out[name] = [{"id": 1, "name": s, "slug": s} for s in value]
        elif name in ("status", "mode") and value is not None:
            out[name] = {"value": value, "label": str(value).title()}
        elif name == "cluster":
            out[name] = {"id": value, "name": "lab"}
        else:
            out[name] = value
    if item.kind is Kind.vm:
        out.setdefault("primary_ip4", None)
        out.setdefault("primary_ip6", None)
    return out


def test_what_netbox_answers_after_a_write_diffs_as_nothing_to_do() -> None:
    result = wanted_objects(reading(), SETTINGS, cluster_id=7, declared={}, vlans={20: 555})
    ids: dict[Any, int] = {}
    answers: dict[str, list[dict[str, Any]]] = {}
    next_id = 1000
    groups = [
        ("devices", result.devices),
        ("vms", result.vms),
        ("interfaces", result.interfaces),
        ("disks", result.disks),
        ("macs", result.macs),
        ("ips", result.ips),
    ]
    for name, items in groups:
        for item in items:
            next_id += 1
            ids[(item.kind, item.key)] = next_id
            answers.setdefault(name, []).append(answer_for(item, next_id, ids))
    found = found_objects("proxgit", **answers)

    def resolve(ref: Ref) -> int | None:
        return ids.get((ref.kind, ref.key))

    for items, have_items in [
        (result.devices, found.devices),
        (result.vms, found.vms),
        (result.interfaces, found.interfaces),
        (result.disks, found.disks),
        (result.macs, found.macs),
        (result.ips, found.ips),
    ]:
        outcome = diff(items, have_items, resolve, deletable_owners=result.complete)
        assert outcome.writes == [], [w.describe() for w in outcome.writes]
    assert len(found.ips) == len(result.ips) and len(found.macs) == len(result.macs)
