"""A pull request's plan reads what the change touches, and every blocker still shows.

``proxgit plan --base B --head H`` against fakepve over HTTPS and a real Git
repository; what was read comes from fakepve's request log.
"""

from __future__ import annotations

from typing import Any

from proxgit.loading import load_files
from proxgit.planning import build_plan, reads_for
from proxgit.proxmox.client import READ_RETRIES
from proxgit.proxmox.live import ClusterLive, LiveNode, LiveState
from tests.planning.test_plan import change, codes, create_from_desired, plan
from tests.support import GitRepo, vm_path, vm_yaml

RESOURCES = "/api2/json/cluster/resources"
DISK = "disks: {scsi0: {storage: local-lvm, size: 4G}}\n"


def pending_reads(pve: Any) -> set[int]:
    """vmids whose config the plan read (one /pending each)."""
    return {int(p.split("/")[-2]) for _, p, _ in pve.requests if p.endswith("/pending")}


def other_reads(pve: Any) -> list[str]:
    return [
        p
        for _, p, _ in pve.requests
        if "/access/" not in p and not p.endswith("/pending") and p != RESOURCES
    ]


def estate(repo: GitRepo, pve: Any, count: int = 6) -> str:
    """``count`` declared VMs created in fakepve, an undeclared one; returns the base."""
    repo.commit(
        {vm_path(f"vm-{i}"): vm_yaml(f"vm-{i}", 101 + i, extra=DISK) for i in range(count)},
        "Add the estate",
    )
    create_from_desired(repo, pve)
    pve.add_vm(150, "hand-made", node="pve1", status="running")
    return repo.git("rev-parse", "HEAD")


def test_a_pr_plan_reads_the_changed_guests_only(repo: GitRepo, pve: Any) -> None:
    base = estate(repo, pve)
    head = repo.commit(
        {vm_path("vm-2"): vm_yaml("vm-2", 103, extra=DISK + "cores: 2\n")}, "Grow vm-2"
    )
    pve.requests.clear()
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 2, result.output
    # one listing, one config read: the changed guest's
    assert [p for _, p, _ in pve.requests if p == RESOURCES] == [RESOURCES]
    assert pending_reads(pve) == {103} and other_reads(pve) == []
    assert change(data, "vm-2")["action"] == "update"
    assert data["summary"]["noop"] == 5 and data["unrefreshed"] == 5
    assert data["drift"] == []
    # --drift reads every declared guest again
    pve.requests.clear()
    _, data = plan(repo, "--base", base, "--head", head, "--drift")
    assert pending_reads(pve) == {101, 102, 103, 104, 105, 106}
    assert data["unrefreshed"] == 0


def test_every_blocker_of_the_changed_guests_still_shows(repo: GitRepo, pve: Any) -> None:
    base = estate(repo, pve)
    head = repo.commit(
        {
            # removed: its config is read for the protection check
            vm_path("vm-0"): None,
            vm_path("nowhere"): vm_yaml("nowhere", 201, node="pve9"),
            vm_path("no-storage"): vm_yaml(
                "no-storage", 202, extra="disks: {scsi0: {storage: tank, size: 4G}}\n"
            ),
            vm_path("clash"): vm_yaml("clash", 150),
            vm_path("clone"): vm_yaml("clone", 203, extra="clone: {vmid: 9999}\n"),
        },
        "Five changes",
    )
    pve.requests.clear()
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1, result.output
    assert codes(change(data, "nowhere")) == {"node-missing"}
    assert codes(change(data, "no-storage")) == {"storage-missing"}
    assert codes(change(data, "clash")) == {"vmid-in-use"}
    assert codes(change(data, "clone")) == {"template-missing"}
    assert change(data, "vm-0")["action"] == "delete"
    # the removed guest and the undeclared guest behind the clash; nothing else
    assert pending_reads(pve) == {101, 150} and other_reads(pve) == []


def test_a_pr_plan_leaves_unread_clusters_it_does_not_touch() -> None:
    config = "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n" + "".join(
        f"    {name}:\n      url: https://{name}:8006\n      tokenId: p@pve!t\n"
        "      tokenSecretFrom: {env: T}\n"
        for name in ("east", "west")
    )

    def tree(cores: int) -> list[tuple[str, str]]:
        return [("proxgit.yaml", config)] + [
            (
                f"clusters/{cluster}/vms/{cluster}-{i}.yaml",
                f"apiVersion: proxgit/v1\nkind: VirtualMachine\n"
                f"metadata: {{name: {cluster}-{i}, cluster: {cluster}}}\n"
                f"spec: {{vmid: {100 + i}, node: pve1, "
                f"cores: {cores if cluster == 'east' and i == 0 else 1}}}\n",
            )
            for cluster in ("east", "west")
            for i in range(3)
        ]

    base, head = load_files(tree(1)), load_files(tree(4))
    reads = reads_for(head, base)
    assert reads.clusters == {"east"} and reads.guests == {"east": {100}}
    assert reads_for(head, base, full=True).clusters is None
    east = ClusterLive(name="east", nodes={"pve1": LiveNode("pve1", "online")})
    plan_ = build_plan(head, LiveState(clusters={"east": east}), base=base)
    # west is not read and not blocked; its three guests are counted as not refreshed
    assert not [b for b in plan_.blockers if b.code == "cluster-unreachable"]
    assert plan_.unrefreshed == 3
    # without a base, a cluster that was not read is a blocker, as before
    plan_ = build_plan(head, LiveState(clusters={"east": east}))
    assert [b.code for b in plan_.blockers] == ["cluster-unreachable"]


def test_a_listing_that_fails_early_is_the_clusters_blocker(repo: GitRepo, pve: Any) -> None:
    base = estate(repo, pve, count=2)
    head = repo.commit({vm_path("vm-1"): vm_yaml("vm-1", 102, extra=DISK + "cores: 2\n")}, "x")
    pve.fail("GET", "/cluster/resources", 500, "pmxcfs is not ready")
    pve.requests.clear()
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1, result.output
    [blocker] = data["blockers"]
    assert blocker["code"] == "cluster-unreachable"
    assert "GET /cluster/resources" in blocker["message"] and "pmxcfs" in blocker["message"]
    # read once (with the client's retries of a 5xx), early, while the trees loaded;
    # not read again after them
    assert [p for _, p, _ in pve.requests if p == RESOURCES] == [RESOURCES] * (1 + READ_RETRIES)
    assert pending_reads(pve) == set()


def test_a_broken_head_is_reported_even_while_the_listing_is_read(repo: GitRepo, pve: Any) -> None:
    base = estate(repo, pve, count=2)
    head = repo.commit({vm_path("vm-1"): "apiVersion: proxgit/v1\nkind: VirtualMachine\n"}, "x")
    result, _ = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1
    assert "vm-1.yaml" in result.output and "Traceback" not in result.output
