"""``proxgit reflect --netbox`` against a real NetBox and fakepve over HTTP.

Run with ``make test-netbox``. What proxgit wrote is checked through pynetbox
reads; how many writes it made is counted twice: by proxgit and from the
NetBox server's own request log.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli.reflect import reflect
from proxgit.watching.loop import Watcher, WatchOptions
from tests.netbox.conftest import TOKEN_ENV, NetBoxServer
from tests.support import GitRepo, config_yaml

pytestmark = pytest.mark.netbox

SECRET = "Cl0ud-Init-Pw-7731"
VM = "/api/virtualization/virtual-machines/"
NIC = "/api/virtualization/interfaces/"
DISK = "/api/virtualization/virtual-disks/"
MAC = "/api/dcim/mac-addresses/"
IP = "/api/ipam/ip-addresses/"
DEVICE = "/api/dcim/devices/"


def netbox_block(url: str, **options: Any) -> str:
    lines = [
        "  netbox:",
        f"    url: {url}",
        f"    tokenFrom: {{env: {TOKEN_ENV}}}",
        "    nodes: {site: proxgit-tests}",
    ]
    lines += [f"    {key}: {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def configure(repo: GitRepo, pve: Any, cafile: str, netbox: NetBoxServer, **options: Any) -> None:
    repo.commit(
        {"proxgit.yaml": config_yaml(pve.url, cafile, extra=netbox_block(netbox.url, **options))},
        "Reflect into NetBox",
    )


def seed(pve: Any) -> None:
    """A running VM with the agent (two NICs, VLAN 20, IPv4, IPv6, link-local, two disks,
    a cloud-init password), a stopped VM with a cloud-init address, a container with
    static IPv4 and IPv6 on VLAN 30 (which NetBox does not have), and the seed's template."""
    web = pve.add_vm(
        100,
        "web-01",
        node="pve1",
        status="running",
        config={
            "memory": 2048,
            "cores": 2,
            "sockets": 1,
            "tags": "prod;web",
            "agent": "1",
            "scsi0": "local-lvm:vm-100-disk-0,size=32G",
            "scsi1": "local-lvm:vm-100-disk-1,size=8G",
            "ide2": "local-lvm:vm-100-cloudinit,media=cdrom",
            "net0": "virtio=BC:24:11:00:01:00,bridge=vmbr0,tag=20,mtu=9000",
            "net1": "virtio=BC:24:11:00:01:01,bridge=vmbr1,link_down=1",
            "ciuser": "ubuntu",
            "cipassword": SECRET,
            "ipconfig0": "ip=10.0.20.11/24,gw=10.0.20.1",
            "description": f"root password: {SECRET}",
        },
    )
    web.agent = {
        "interfaces": [
            {
                "name": "lo",
                "hardware-address": "00:00:00:00:00:00",
                "ip-addresses": [{"ip-address": "127.0.0.1", "prefix": 8}],
            },
            {
                "name": "eth0",
                "hardware-address": "bc:24:11:00:01:00",
                "ip-addresses": [
                    {"ip-address": "10.0.20.11", "prefix": 24},
                    {"ip-address": "2001:db8:20::11", "prefix": 64},
                    {"ip-address": "fe80::be24:11ff:fe00:100", "prefix": 64},
                ],
            },
            {
                "name": "eth1",
                "hardware-address": "bc:24:11:00:01:01",
                "ip-addresses": [{"ip-address": "10.0.21.11", "prefix": 24}],
            },
        ]
    }
    pve.add_vm(
        101,
        "db-01",
        node="pve2",
        status="stopped",
        config={
            "memory": 4096,
            "cores": 4,
            "scsi0": "local-lvm:vm-101-disk-0,size=64G",
            "net0": "virtio=BC:24:11:00:01:02,bridge=vmbr0",
            "ipconfig0": "ip=10.0.30.5/24,gw=10.0.30.1",
        },
    )
    pve.add_ct(
        200,
        "dns-01",
        node="pve1",
        status="running",
        config={
            "hostname": "dns-01",
            "cores": 1,
            "memory": 512,
            "rootfs": "local-lvm:vm-200-disk-0,size=8G",
            "mp0": "local-lvm:vm-200-disk-1,mp=/srv,size=10G",
            "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:00,ip=10.0.0.53/24,"
            "ip6=2001:db8::53/64,tag=30",
        },
    )


def rename(pve: Any, vmid: int, name: str) -> None:
    guest = pve.vm(vmid)
    guest.name = guest.config["name"] = name


def run(repo: GitRepo, *args: str) -> Result:
    result = CliRunner().invoke(
        reflect, ["--repo", str(repo.path), "--no-commit", "--netbox", *args]
    )
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output
    return result


def reflected(repo: GitRepo, netbox: NetBoxServer) -> tuple[Result, Counter[str]]:
    """One reflect; its result and the write requests NetBox logged for it."""
    offset = netbox.log_offset()
    result = run(repo)
    return result, netbox.writes_since(offset)


@pytest.fixture
def seeded(repo: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer) -> GitRepo:
    seed(pve)
    configure(repo, pve, fakepve_cafile, netbox)
    return repo


def vms_of(nb: Any) -> dict[str, Any]:
    return {vm.name: vm for vm in nb.virtualization.virtual_machines.filter(cluster="lab")}


def test_first_reflect_creates_exactly_the_expected_objects(
    seeded: GitRepo, netbox: NetBoxServer
) -> None:
    nb = netbox.api()
    vlan20 = nb.ipam.vlans.create(name="servers", vid=20)
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert "netbox: cluster lab: 25 created, 7 updated" in result.output  # links are updates
    cluster = nb.virtualization.clusters.get(name="lab")
    assert cluster.type.name == "Proxmox VE"
    assert [t.slug for t in cluster.tags] == ["proxgit"]
    devices = {d.name: d for d in nb.dcim.devices.filter(cluster_id=cluster.id)}
    assert sorted(devices) == ["pve1", "pve2", "pve3"]
    assert devices["pve3"].status.value == "offline"
    assert devices["pve1"].site.name == "proxgit-tests"

    vms = vms_of(nb)
    assert sorted(vms) == ["db-01", "dns-01", "web-01"]  # the template is not a VM
    web, db, dns = vms["web-01"], vms["db-01"], vms["dns-01"]
    assert (web.status.value, db.status.value, dns.status.value) == ("active", "offline", "active")
    assert (web.vcpus, web.memory, db.vcpus, db.memory) == (2, 2048, 4, 4096)
    assert web.device.name == "pve1" and db.device.name == "pve2"
    assert sorted(t.slug for t in web.tags) == ["prod", "proxgit", "web"]
    assert web.custom_fields["proxmox_vmid"] == 100
    assert web.custom_fields["proxmox_type"] == "qemu"
    assert dns.custom_fields["proxmox_type"] == "lxc"
    assert web.custom_fields["proxgit_managed"] is False
    assert web.disk == 40 * 1024  # NetBox sums the virtual disks

    nics = {
        (n.virtual_machine.name, n.name): n
        for n in nb.virtualization.interfaces.filter(cluster_id=cluster.id)
    }
    assert sorted(nics) == [
        ("db-01", "net0"),
        ("dns-01", "net0"),
        ("web-01", "net0"),
        ("web-01", "net1"),
    ]
    net0 = nics[("web-01", "net0")]
    assert net0.mtu == 9000 and net0.enabled
    assert net0.mode.value == "access" and net0.untagged_vlan.id == vlan20.id
    assert not nics[("web-01", "net1")].enabled
    assert nics[("dns-01", "net0")].untagged_vlan is None  # VLAN 30 is not in NetBox
    assert net0.primary_mac_address.mac_address == "BC:24:11:00:01:00"
    macs = list(nb.dcim.mac_addresses.filter(tag="proxgit"))
    assert sorted(m.mac_address for m in macs) == [
        "BC:24:11:00:01:00",
        "BC:24:11:00:01:01",
        "BC:24:11:00:01:02",
        "BC:24:11:00:02:00",
    ]

    ips = {ip.address: ip for ip in nb.ipam.ip_addresses.filter(tag="proxgit")}
    assert sorted(ips) == [
        "10.0.0.53/24",
        "10.0.20.11/24",
        "10.0.21.11/24",
        "10.0.30.5/24",
        "2001:db8:20::11/64",
        "2001:db8::53/64",
    ]
    assert ips["10.0.0.53/24"].dns_name == "dns-01"
    assert ips["10.0.20.11/24"].dns_name == "web-01"
    assert ips["10.0.21.11/24"].assigned_object_id == nics[("web-01", "net1")].id
    assert web.primary_ip4.address == "10.0.20.11/24"
    assert web.primary_ip6.address == "2001:db8:20::11/64"
    assert db.primary_ip4.address == "10.0.30.5/24" and db.primary_ip6 is None
    assert dns.primary_ip6.address == "2001:db8::53/64"

    disks = {
        (d.virtual_machine.name, d.name): d.size
        for d in nb.virtualization.virtual_disks.filter(tag="proxgit")
    }
    assert disks == {
        ("web-01", "scsi0"): 32768,
        ("web-01", "scsi1"): 8192,
        ("db-01", "scsi0"): 65536,
        ("dns-01", "rootfs"): 8192,
        ("dns-01", "mp0"): 10240,
    }
    # bulk: one request per kind and action
    assert writes[f"POST {VM}"] == 1 and writes[f"POST {IP}"] == 1
    assert writes[f"PATCH {NIC}"] == 1 and writes[f"PATCH {VM}"] == 1


def test_a_second_reflect_of_unchanged_state_writes_nothing(
    seeded: GitRepo, netbox: NetBoxServer
) -> None:
    netbox.api().ipam.vlans.create(name="servers", vid=20)
    first, writes = reflected(seeded, netbox)
    assert first.exit_code == 0 and sum(writes.values()) == 9, (first.output, writes)
    second, writes = reflected(seeded, netbox)
    assert second.exit_code == 0, second.output
    assert writes == Counter(), writes
    assert "netbox: cluster lab: no changes" in second.output
    assert ", 0 write request(s)" in second.output


def test_each_change_costs_exactly_its_writes(
    seeded: GitRepo, pve: Any, netbox: NetBoxServer
) -> None:
    nb = netbox.api()
    assert run(seeded).exit_code == 0
    # memory: one PATCH of the VM
    pve.vm(101).config["memory"] = 8192
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert writes == Counter({f"PATCH {VM}": 1})
    assert vms_of(nb)["db-01"].memory == 8192

    # a new NIC with an address: interface, MAC, address, then the interface's primary MAC
    pve.ct(200).config["net1"] = "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:00:02:01,ip=10.0.1.53/24"
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert writes == Counter(
        {f"POST {NIC}": 1, f"POST {MAC}": 1, f"POST {IP}": 1, f"PATCH {NIC}": 1}
    )
    eth1 = nb.virtualization.interfaces.get(virtual_machine="dns-01", name="net1")
    assert eth1.primary_mac_address.mac_address == "BC:24:11:00:02:01"

    # a changed address: the same IP object, one PATCH
    before = nb.ipam.ip_addresses.get(address="10.0.0.53/24")
    pve.ct(200).config["net0"] = pve.ct(200).config["net0"].replace("10.0.0.53", "10.0.0.54")
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert writes == Counter({f"PATCH {IP}": 1})
    assert nb.ipam.ip_addresses.get(before.id).address == "10.0.0.54/24"

    # a renamed VM: its name, and the dns_name of its three addresses (one bulk PATCH)
    rename(pve, 100, "web-02")
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert writes == Counter({f"PATCH {VM}": 1, f"PATCH {IP}": 1})
    assert nb.ipam.ip_addresses.get(address="10.0.20.11/24").dns_name == "web-02"

    # a destroyed guest: marked decommissioning, nothing deleted
    pve.vms.remove(pve.vm(101))
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert writes == Counter({f"PATCH {VM}": 1})
    assert vms_of(nb)["db-01"].status.value == "decommissioning"
    assert nb.ipam.ip_addresses.get(address="10.0.30.5/24") is not None
    _, writes = reflected(seeded, netbox)
    assert writes == Counter()


def test_orphans_are_deleted_only_when_delete_orphans_is_on(
    seeded: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer
) -> None:
    assert run(seeded).exit_code == 0
    pve.vms.remove(pve.vm(101))
    configure(seeded, pve, fakepve_cafile, netbox, deleteOrphans=True)
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert writes == Counter({f"DELETE {VM}": 1})
    nb = netbox.api()
    assert "db-01" not in vms_of(nb)
    # its interface, disk, MAC and address went with it
    assert nb.ipam.ip_addresses.get(address="10.0.30.5/24") is None


def test_hand_made_objects_without_the_tag_are_left_alone(
    seeded: GitRepo, netbox: NetBoxServer
) -> None:
    nb = netbox.api()
    assert run(seeded).exit_code == 0
    cluster = nb.virtualization.clusters.get(name="lab")
    # a hand-made VM in the cluster, one named like a guest elsewhere, an IP a guest wants
    mine = nb.virtualization.virtual_machines.create(
        name="hand-made", cluster=cluster.id, memory=1, comments="by hand"
    )
    nb.virtualization.virtual_machines.get(name="db-01").delete()
    clash = nb.virtualization.virtual_machines.create(name="db-01", cluster=cluster.id, memory=7)
    nb.ipam.ip_addresses.get(address="10.0.0.53/24").delete()
    held = nb.ipam.ip_addresses.create(address="10.0.0.53/24", description="reserved")
    # a hand edit on a proxgit object, in a field proxgit does not manage, survives too
    web = nb.virtualization.virtual_machines.get(name="web-01")
    web.comments = "owned by the web team"
    web.save()
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert "left alone: VM db-01 (vmid 101): exists in NetBox" in result.output
    assert "left alone: IP 10.0.0.53/24 of net0 of VM dns-01 (vmid 200): exists in NetBox" in (
        result.output
    )
    assert writes == Counter(), writes  # the clash's children wait for it; nothing else changed
    assert nb.virtualization.virtual_machines.get(mine.id).comments == "by hand"
    assert nb.virtualization.virtual_machines.get(clash.id).memory == 7
    assert nb.ipam.ip_addresses.get(held.id).assigned_object_id is None
    assert nb.virtualization.virtual_machines.get(name="web-01").comments == "owned by the web team"


def test_v1_and_v2_tokens_both_work(
    seeded: GitRepo, netbox: NetBoxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert netbox.token_v2.startswith("nbt_") and not netbox.token_v1.startswith("nbt_")
    monkeypatch.setenv(TOKEN_ENV, netbox.token_v2)
    result = run(seeded)
    assert result.exit_code == 0, result.output
    assert len(vms_of(netbox.api(netbox.token_v2))) == 3
    monkeypatch.setenv(TOKEN_ENV, netbox.token_v1)
    result = run(seeded)
    assert result.exit_code == 0 and "netbox: cluster lab: no changes" in result.output
    monkeypatch.setenv(TOKEN_ENV, netbox.token_v2[:-4] + "xxxx")
    result = run(seeded)
    assert result.exit_code == 1
    assert "check netbox.tokenFrom" in result.output and netbox.token_v2[-20:] not in result.output


def test_netbox_down_is_one_clear_line_and_the_snapshot_is_still_committed(
    repo: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer
) -> None:
    seed(pve)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    closed = netbox.url.rsplit(":", 1)[0] + f":{port}"
    repo.commit(
        {"proxgit.yaml": config_yaml(pve.url, fakepve_cafile, extra=netbox_block(closed))},
        "NetBox elsewhere",
    )
    result = CliRunner().invoke(reflect, ["--repo", str(repo.path), "--netbox"])
    assert result.exit_code == 1
    assert f"netbox: cannot reach {closed}: connection refused; nothing written" in result.output
    assert "committed" in result.output
    assert "Traceback" not in result.output


def test_one_refused_object_is_reported_and_the_rest_is_written(
    seeded: GitRepo, pve: Any, netbox: NetBoxServer
) -> None:
    long_name = "a" * 40 + ".example." + "b" * 20  # fine for Proxmox, longer than NetBox's 64
    pve.add_vm(
        102,
        long_name,
        node="pve1",
        status="stopped",
        config={
            "memory": 1024,
            "cores": 1,
            "scsi0": "local-lvm:vm-102-disk-0,size=4G",
            "net0": "virtio=BC:24:11:00:01:03,bridge=vmbr0",
        },
    )
    result = run(seeded)
    assert result.exit_code == 1
    refused = [line for line in result.output.splitlines() if "refused:" in line]
    assert refused == [
        f"netbox: cluster lab: refused: create VM {long_name} (vmid 102) (name): "
        "Ensure this field has no more than 64 characters."
    ]
    assert sorted(vms_of(netbox.api())) == ["db-01", "dns-01", "web-01"]
    # the guest's NIC and disk waited for it; the next run tries it again and nothing else
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 1 and writes == Counter({f"POST {VM}": 1}), writes


def test_no_secret_reaches_netbox(seeded: GitRepo, netbox: NetBoxServer) -> None:
    assert run(seeded).exit_code == 0
    nb = netbox.api()
    everything = [
        dict(item)
        for endpoint in (
            nb.virtualization.virtual_machines,
            nb.virtualization.interfaces,
            nb.virtualization.virtual_disks,
            nb.virtualization.clusters,
            nb.dcim.devices,
            nb.dcim.mac_addresses,
            nb.ipam.ip_addresses,
            nb.extras.tags,
            nb.extras.custom_fields,
        )
        for item in endpoint.all()
    ]
    text = json.dumps(everything)
    assert len(everything) > 20
    assert SECRET not in text
    changes = json.dumps([dict(c) for c in nb.core.object_changes.all(limit=1000)])
    assert SECRET not in changes


def test_the_config_block_is_checked_with_a_clear_message(
    repo: GitRepo, pve: Any, fakepve_cafile: str
) -> None:
    result = CliRunner().invoke(reflect, ["--repo", str(repo.path), "--netbox"])
    assert result.exit_code == 1
    assert "--netbox: proxgit.yaml has no netbox block" in result.output
    bad = textwrap.dedent("""\
      netbox:
        url: netbox.example
        tokenFrom: {env: X}
    """)
    repo.commit(
        {"proxgit.yaml": config_yaml(pve.url, fakepve_cafile, extra=textwrap.indent(bad, "  "))},
        "Bad NetBox",
    )
    result = CliRunner().invoke(reflect, ["--repo", str(repo.path), "--netbox"])
    assert result.exit_code == 1 and "netbox.url" in result.output.replace("spec.", "")


def test_the_watch_pod_reflects_into_netbox_and_counts_its_writes(
    seeded: GitRepo, netbox: NetBoxServer, tmp_path: Path
) -> None:
    seeded.git("push", "--quiet", "origin", "main")
    logs: list[str] = []
    watcher = Watcher(
        WatchOptions(
            workdir=tmp_path / "pod",
            url=str(seeded.remote),
            interval=0.0,
            reflect_interval=0.0,
            listen=None,
            max_iterations=2,
        ),
        log=logs.append,
    )
    watcher.run(threading.Event())
    metrics = watcher.metrics.exposition()[0].decode()
    labels = 'action="create",cluster="lab",kind="virtual machine"'
    assert f"proxgit_netbox_writes_total{{{labels}}} 3.0" in metrics
    assert 'proxgit_netbox_failures_total{cluster="lab"}' not in metrics
    assert "watch: netbox: cluster lab: 25 created, 7 updated" in logs
    assert "watch: netbox: cluster lab: no changes" in logs  # the second iteration
    assert not [line for line in logs if "step" in line], logs
    assert len(vms_of(netbox.api())) == 3


def test_overwrite_dns_name_false_keeps_a_hand_edited_dns_name(
    seeded: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer
) -> None:
    nb = netbox.api()
    assert run(seeded).exit_code == 0
    ip = nb.ipam.ip_addresses.get(address="10.0.20.11/24")
    ip.dns_name = "www.example.com"
    ip.save()
    configure(seeded, pve, fakepve_cafile, netbox, overwriteDnsName=False)
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0 and writes == Counter(), (result.output, writes)
    assert nb.ipam.ip_addresses.get(ip.id).dns_name == "www.example.com"
    configure(seeded, pve, fakepve_cafile, netbox)  # the default: Proxmox's name wins
    result, writes = reflected(seeded, netbox)
    assert writes == Counter({f"PATCH {IP}": 1})
    assert nb.ipam.ip_addresses.get(ip.id).dns_name == "web-01"
