"""VLANs and VRFs: which NetBox VLAN an interface gets, and addresses in other VRFs.

proxgit's addresses live in the global table (no VRF); a VM's interfaces may
only carry a VLAN of the VM's site (``nodes.site``, through its device) or a
global one, which NetBox enforces.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.netbox.conftest import NetBoxServer
from tests.netbox.test_reflect_netbox import configure, reflected, run, seed
from tests.support import GitRepo

pytestmark = pytest.mark.netbox


@pytest.fixture
def seeded(repo: GitRepo, pve: Any, fakepve_cafile: str, netbox: NetBoxServer) -> GitRepo:
    seed(pve)
    configure(repo, pve, fakepve_cafile, netbox)
    return repo


def get_or_create(endpoint: Any, **fields: Any) -> Any:
    return endpoint.get(slug=fields["slug"]) or endpoint.create(fields)


def net0_of(nb: Any, vm: str) -> Any:
    return nb.virtualization.interfaces.get(virtual_machine=vm, name="net0")


def test_a_vlan_of_another_site_is_not_used(seeded: GitRepo, netbox: NetBoxServer) -> None:
    nb = netbox.api()
    elsewhere = get_or_create(nb.dcim.sites, name="Elsewhere", slug="elsewhere")
    nb.ipam.vlans.create(name="servers elsewhere", vid=20, site=elsewhere.id)
    result = run(seeded)
    assert result.exit_code == 0, result.output
    assert "refused" not in result.output
    assert (
        "netbox: cluster lab: warning: VLAN 20: NetBox has it only at other sites than "
        "proxgit-tests; interfaces get none" in result.output
    )
    assert net0_of(nb, "web-01").untagged_vlan is None

    # the site's own VLAN next to it: that one
    site = nb.dcim.sites.get(slug="proxgit-tests")
    mine = nb.ipam.vlans.create(name="servers here", vid=20, site=site.id)
    result, writes = reflected(seeded, netbox)
    assert result.exit_code == 0, result.output
    assert net0_of(nb, "web-01").untagged_vlan.id == mine.id
    assert sum(writes.values()) == 1, writes  # one bulk PATCH of the interface


def test_an_address_in_another_vrf_is_another_address(
    seeded: GitRepo, netbox: NetBoxServer
) -> None:
    nb = netbox.api()
    blue = nb.ipam.vrfs.get(name="blue") or nb.ipam.vrfs.create(name="blue")
    theirs = nb.ipam.ip_addresses.create(address="10.0.0.53/24", vrf=blue.id, description="blue")
    result = run(seeded)
    assert result.exit_code == 0, result.output
    assert "left alone" not in result.output
    ours = nb.ipam.ip_addresses.get(address="10.0.0.53/24", vrf_id="null")
    assert ours.id != theirs.id and ours.assigned_object.name == "net0"
    kept = nb.ipam.ip_addresses.get(theirs.id)
    assert kept.vrf.id == blue.id and kept.assigned_object is None
    assert kept.description == "blue"
