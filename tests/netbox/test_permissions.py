"""The NetBox permissions docs/netbox.md lists are exactly what proxgit needs.

The table under "Required NetBox permissions" is read from the document
itself, so the test and the document cannot drift apart. A non-superuser is
made through NetBox's REST API with those object permissions (the
``{"tags__slug": "proxgit"}`` constraint on change and delete, as the document
suggests) and a write-enabled v2 token, and proxgit reflects with it from an
empty NetBox (supporting objects such as tags and custom fields removed too):
everything is created, a second run writes nothing, and the delete paths
(a lost NIC, disk and address, ``deleteOrphans``) work. Then each permission
is taken away in turn: proxgit names the object type and action NetBox
refused, in one line, without a traceback or the token, and the snapshot is
still committed.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli.reflect import reflect
from proxgit.reflecting.netbox.client import NetBoxClient
from proxgit.reflecting.netbox.mapping import slugify
from proxgit.reflecting.netbox.objects import Action, Kind, Write
from tests.netbox.conftest import TOKEN_ENV, NetBoxServer
from tests.netbox.test_reflect_netbox import configure, seed
from tests.support import GitRepo

pytestmark = pytest.mark.netbox

DOC = Path(__file__).resolve().parents[2] / "docs" / "netbox.md"
TAG = "proxgit"
CONSTRAINT = {"tags__slug": TAG}
ACTIONS = ("view", "add", "change", "delete")
Grants = dict[str, set[str]]  # object type -> actions


def documented() -> Grants:
    """The table of docs/netbox.md, section "Required NetBox permissions"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Required NetBox permissions", 1)[1].split("\n## ", 1)[0]
    grants: Grants = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        actions = {a for a in re.findall(r"[a-z]+", cells[1].split("(", 1)[0]) if a in ACTIONS}
        for object_type in re.findall(r"`([a-z]+\.[a-z]+)`", cells[0]):
            grants.setdefault(object_type, set()).update(actions)
    return grants


def test_the_documented_table_is_read() -> None:
    grants = documented()
    assert grants["virtualization.virtualmachine"] == set(ACTIONS)
    assert grants["ipam.vlan"] == {"view"}
    assert len(grants) >= 15


def without(grants: Grants, object_type: str, action: str) -> Grants:
    out = {name: set(actions) for name, actions in grants.items()}
    out[object_type].discard(action)
    return out


def remove_supporting(nb: Any) -> None:
    """Supporting objects proxgit creates when missing: gone, so the token must create them."""
    for name in ("proxmox_vmid", "proxmox_type", "proxgit_managed", "proxgit_desired_file"):
        for field in nb.extras.custom_fields.filter(name=name):
            field.delete()
    for endpoint, slugs in (
        (nb.dcim.device_types, ["proxmox-ve-node"]),
        (nb.dcim.manufacturers, ["generic"]),
        (nb.dcim.device_roles, ["proxmox-ve-node"]),
        (nb.dcim.sites, [slugify("proxgit-tests")]),
        (nb.virtualization.cluster_types, ["proxmox-ve"]),
        (nb.extras.tags, [TAG, "prod", "web"]),
    ):
        for item in endpoint.filter(slug=slugs):
            item.delete()


class Users:
    """Non-superusers with exact object permissions and a write-enabled v2 token each."""

    def __init__(self, netbox: NetBoxServer) -> None:
        self.nb = netbox.api()
        self.made: list[tuple[Any, list[Any]]] = []

    def token(self, grants: Grants) -> str:
        user = self.nb.users.users.create(
            {"username": f"proxgit-{uuid.uuid4().hex[:8]}", "password": uuid.uuid4().hex + "A1!"}
        )
        permissions = []
        for constrained in (False, True):
            # view and add unconstrained; change and delete only on proxgit's tagged objects
            wanted = ("change", "delete") if constrained else ("view", "add")
            by_actions: dict[tuple[str, ...], list[str]] = {}
            for object_type, actions in grants.items():
                chosen = tuple(a for a in ACTIONS if a in actions and a in wanted)
                if chosen:
                    by_actions.setdefault(chosen, []).append(object_type)
            for actions, types in by_actions.items():
                permissions.append(
                    self.nb.users.permissions.create(
                        {
                            "name": f"{user.username} {' '.join(actions)}",
                            "object_types": sorted(types),
                            "actions": list(actions),
                            "constraints": CONSTRAINT if constrained else None,
                            "users": [user.id],
                        }
                    )
                )
        self.made.append((user, permissions))
        answer = self.nb.users.tokens.create(
            {"user": user.id, "version": 2, "write_enabled": True, "description": "proxgit"}
        )
        secret = str(answer.token)
        return secret if secret.startswith("nbt_") else f"nbt_{answer.key}.{secret}"

    def remove(self) -> None:
        for user, permissions in self.made:
            for permission in permissions:
                permission.delete()
            user.delete()


@pytest.fixture
def users(netbox: NetBoxServer) -> Iterator[Users]:
    made = Users(netbox)
    remove_supporting(made.nb)
    yield made
    made.remove()


def run(repo: GitRepo, *args: str) -> Result:
    """One ``proxgit reflect --netbox`` (committing the snapshot); no traceback, ever."""
    result = CliRunner().invoke(reflect, ["--repo", str(repo.path), "--netbox", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result


def writes(netbox: NetBoxServer, action: Callable[[], Result]) -> tuple[Result, Counter[str]]:
    offset = netbox.log_offset()
    result = action()
    return result, netbox.writes_since(offset)


def lose_a_nic_a_disk_and_an_address(pve: Any) -> None:
    web = pve.vm(100)
    del web.config["net1"], web.config["scsi1"]
    web.agent["interfaces"] = [i for i in web.agent["interfaces"] if i["name"] != "eth1"]
    eth0 = web.agent["interfaces"][1]
    eth0["ip-addresses"] = [a for a in eth0["ip-addresses"] if ":" not in a["ip-address"]]


def test_the_documented_permissions_are_enough(
    repo: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer, users: Users
) -> None:
    token = users.token(documented())
    seed(pve)
    configure(repo, pve, fakepve_cafile, netbox)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TOKEN_ENV, token)
        first, _ = writes(netbox, lambda: run(repo))
        assert first.exit_code == 0, first.output
        assert "netbox: created custom field proxmox_vmid" in first.output
        assert "netbox: created tag proxgit" in first.output
        assert "netbox: cluster lab: 25 created, 7 updated" in first.output
        second, logged = writes(netbox, lambda: run(repo))
        assert second.exit_code == 0 and logged == Counter(), (second.output, logged)
        assert "netbox: cluster lab: no changes" in second.output

        lose_a_nic_a_disk_and_an_address(pve)
        third, logged = writes(netbox, lambda: run(repo))
        assert third.exit_code == 0, third.output
        assert logged == Counter(
            {
                "DELETE /api/virtualization/interfaces/": 1,
                "DELETE /api/virtualization/virtual-disks/": 1,
                "DELETE /api/ipam/ip-addresses/": 1,
                "PATCH /api/virtualization/virtual-machines/": 1,  # its primary IPv6 went
            }
        ), (third.output, logged)

        change_a_node_an_address_a_mac_and_a_disk_and_destroy_a_guest(pve)
        configure(repo, pve, fakepve_cafile, netbox, deleteOrphans=True)
        fourth, logged = writes(netbox, lambda: run(repo))
        assert fourth.exit_code == 0, fourth.output
        assert logged == Counter(
            {
                "PATCH /api/dcim/devices/": 1,  # pve3 online
                "PATCH /api/ipam/ip-addresses/": 1,
                "PATCH /api/dcim/mac-addresses/": 1,
                "PATCH /api/virtualization/virtual-disks/": 1,
                "DELETE /api/virtualization/virtual-machines/": 1,
            }
        ), (fourth.output, logged)
        assert token not in first.output + second.output + third.output + fourth.output

    nb = netbox.api()
    vms = {vm.name: vm for vm in nb.virtualization.virtual_machines.filter(cluster="lab")}
    assert sorted(vms) == ["dns-01", "web-01"]
    assert vms["web-01"].primary_ip6 is None
    nics = nb.virtualization.interfaces.filter(virtual_machine_id=vms["web-01"].id)
    assert [n.name for n in nics] == ["net0"]
    assert nb.ipam.ip_addresses.get(address="10.0.21.11/24") is None
    assert nb.ipam.ip_addresses.get(address="10.0.30.5/24") is None  # went with db-01


PAIRS = [(t, a) for t, actions in sorted(documented().items()) for a in ACTIONS if a in actions]


def change_a_node_an_address_a_mac_and_a_disk_and_destroy_a_guest(pve: Any) -> None:
    pve.set_node_offline("pve3", offline=False)  # its device: active
    ct = pve.ct(200).config
    ct["net0"] = ct["net0"].replace("10.0.0.53", "10.0.0.54")
    ct["net0"] = ct["net0"].replace("BC:24:11:00:02:00", "BC:24:11:00:02:0A")
    web = pve.vm(100).config
    web["scsi0"] = web["scsi0"].replace("size=32G", "size=40G")
    pve.vms.remove(pve.vm(101))


def changes_needing_every_permission(pve: Any) -> None:
    """After a first run, changes that need every change and delete permission."""
    lose_a_nic_a_disk_and_an_address(pve)
    change_a_node_an_address_a_mac_and_a_disk_and_destroy_a_guest(pve)


@pytest.mark.parametrize(("object_type", "action"), PAIRS, ids=[f"{a}-{t}" for t, a in PAIRS])
def test_each_missing_permission_is_named_in_one_line(
    repo: GitRepo,
    pve: Any,
    fakepve_cafile: str,
    netbox: NetBoxServer,
    users: Users,
    object_type: str,
    action: str,
) -> None:
    """Every documented permission is needed, and its absence is one clear line."""
    token = users.token(without(documented(), object_type, action))
    seed(pve)
    netbox.api().ipam.vlans.create(name="servers", vid=20)
    configure(repo, pve, fakepve_cafile, netbox, deleteOrphans=True)
    needed = f"NetBox refused the token permission to {action} {object_type} (HTTP 403"
    results = []
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TOKEN_ENV, token)
        results.append(run(repo))
        if action in ("change", "delete"):
            if action == "delete":  # deletes are only needed when something goes
                assert results[0].exit_code == 0, results[0].output
            changes_needing_every_permission(pve)
            results.append(run(repo))
    refused = [r for r in results if needed in r.output]
    assert refused, "\n".join(r.output for r in results)
    for result in refused:
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if needed in line]
        assert len(lines) == 1, lines
        assert lines[0].startswith("netbox: ") and "docs/netbox.md" in lines[0]
        assert "committed" in result.output  # the snapshot does not wait for NetBox
    for result in results:
        assert token not in result.output and token.split(".")[-1] not in result.output
    log = repo.git("log", "--format=%s").splitlines()
    assert len(log) == 2 + len(results), log  # the configuration, then a snapshot per run


def test_objects_without_the_tag_are_left_alone_and_netbox_would_refuse_them(
    repo: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer, users: Users
) -> None:
    """Hand-made objects named like proxgit's: reported, never written; the constraint
    makes NetBox refuse them too, so a proxgit bug could not change them either."""
    token = users.token(documented())
    seed(pve)
    configure(repo, pve, fakepve_cafile, netbox)
    nb = netbox.api()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TOKEN_ENV, token)
        assert run(repo).exit_code == 0
        cluster = nb.virtualization.clusters.get(name="lab")
        # a VM named like a guest, a disk named like a guest's disk, a proxgit VM whose tag
        # someone removed
        nb.virtualization.virtual_machines.get(name="db-01").delete()
        clash = nb.virtualization.virtual_machines.create(
            name="db-01", cluster=cluster.id, memory=7
        )
        web = nb.virtualization.virtual_machines.get(name="web-01")
        nb.virtualization.virtual_disks.get(virtual_machine_id=web.id, name="scsi1").delete()
        disk = nb.virtualization.virtual_disks.create(
            virtual_machine=web.id, name="scsi1", size=1, description="by hand"
        )
        dns = nb.virtualization.virtual_machines.get(name="dns-01")
        dns.tags = []
        dns.save()
        pve.vm(101).config["memory"] = 8192
        pve.ct(200).config["memory"] = 1024
        result, logged = writes(netbox, lambda: run(repo))
    assert "left alone: VM db-01 (vmid 101): exists in NetBox" in result.output
    assert "left alone: VM dns-01 (vmid 200): exists in NetBox" in result.output
    assert "left alone: disk scsi1 of VM web-01 (vmid 100): exists in NetBox" in result.output
    assert result.exit_code == 0, result.output
    assert logged == Counter(), logged
    assert nb.virtualization.virtual_machines.get(clash.id).memory == 7
    assert nb.virtualization.virtual_machines.get(dns.id).memory == 512
    assert nb.virtualization.virtual_disks.get(disk.id).size == 1
    # were proxgit to write one anyway (its tag removed between read and write), NetBox
    # refuses, and the refusal says what is going on
    client = NetBoxClient(netbox.url, token)
    done: list[Write] = []
    failures = client.write(
        [Write(Action.update, Kind.vm, (101,), "VM db-01 (vmid 101)", {"memory": 8192}, clash.id)],
        lambda write, _: done.append(write),
    )
    assert not done and [f.line() for f in failures] == [
        f"update VM db-01 (vmid 101): NetBox has no object with id {clash.id} that the token "
        "may change: deleted meanwhile, or outside the token's permission constraint (does it "
        "still carry proxgit's tag?); left alone"
    ]
    assert nb.virtualization.virtual_machines.get(clash.id).memory == 7
