"""The planner, called directly on hand-built desired and live states.

No Git, no HTTP: desired state comes from ``load_files`` (the loader's pure
entry point), live state is built from the dataclasses the reader fills. Each
case states the expected action independently of the planner's code.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import pytest

from proxgit.loading import DesiredState, load_files
from proxgit.planning.fieldchange import Effect
from proxgit.planning.plan import Action
from proxgit.planning.planner import build_plan, reads_for
from proxgit.proxmox.live import ClusterLive, LiveGuest, LiveNode, LiveState, LiveStorage

CONFIG = (
    "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n"
    '    lab: {url: "https://127.0.0.1:8006", tokenId: "a@pve!b", tokenSecretFrom: {env: T}}\n'
)
VM = """\
apiVersion: proxgit/v1
kind: VirtualMachine
metadata: {{name: {name}, cluster: lab}}
spec:
  vmid: {vmid}
  node: pve1
  cores: {cores}
  memory: {memory}
"""
MEMORY = {"512M": 512, "1G": 1024, "4G": 4096, "16G": 16384}


def desired(*guests: tuple[int, int, str]) -> DesiredState:
    files = [("proxgit.yaml", CONFIG)]
    for vmid, cores, memory in guests:
        text = VM.format(name=f"vm{vmid}", vmid=vmid, cores=cores, memory=memory)
        files.append((f"clusters/lab/vms/vm{vmid}.yaml", text))
    return load_files(files)


def live(*guests: LiveGuest, error: str | None = None) -> LiveState:
    cluster = ClusterLive(
        "lab",
        error=error,
        nodes={"pve1": LiveNode("pve1", "online", 16, 128 << 30)},
        storages=[LiveStorage("local-lvm", "pve1", "available", frozenset({"images"}))],
        guests={guest.vmid: guest for guest in guests},
    )
    return LiveState({"lab": cluster})


def running(vmid: int, cores: int, memory_mib: int, *, hotplug: str | None = None) -> LiveGuest:
    config: dict[str, object] = {
        "name": f"vm{vmid}",
        "cores": cores,
        "memory": str(memory_mib),
        "digest": f"d{vmid}",
    }
    if hotplug is not None:
        config["hotplug"] = hotplug
    return LiveGuest(vmid, "qemu", f"vm{vmid}", "pve1", "running", config=config)


SIZES = [(cores, memory) for cores in range(1, 9) for memory in MEMORY]


@pytest.mark.parametrize(("cores", "memory"), SIZES)
def test_a_guest_nobody_runs_yet_is_created(cores: int, memory: str) -> None:
    plan = build_plan(desired((100, cores, memory)), live())
    (change,) = plan.changes
    assert change.action is Action.create
    fields = {f.path: f.after for f in change.fields}
    assert fields["cores"] == cores and fields["memory"] == MEMORY[memory]
    assert plan.summary.create == 1 and not plan.blockers


@pytest.mark.parametrize(("cores", "memory"), SIZES)
def test_a_guest_as_declared_is_left_alone(cores: int, memory: str) -> None:
    plan = build_plan(desired((100, cores, memory)), live(running(100, cores, MEMORY[memory])))
    assert [c.action for c in plan.changes] == [Action.noop]
    assert not plan.has_changes and not plan.drift


@pytest.mark.parametrize(("cores", "memory"), SIZES)
def test_other_cores_is_one_field_that_needs_a_restart(cores: int, memory: str) -> None:
    have = cores % 8 + 1
    plan = build_plan(desired((100, cores, memory)), live(running(100, have, MEMORY[memory])))
    (change,) = plan.changes
    assert change.action is Action.update
    assert [(f.path, f.before, f.after) for f in change.fields] == [("cores", have, cores)]
    assert change.fields[0].effect is Effect.restart


@pytest.mark.parametrize(("hotplug", "effect"), [(None, Effect.live), ("0", Effect.restart)])
@pytest.mark.parametrize("memory", list(MEMORY))
def test_a_new_disk_takes_effect_as_hotplug_allows(
    hotplug: str | None, effect: Effect, memory: str
) -> None:
    text = VM.format(name="vm100", vmid=100, cores=2, memory=memory) + (
        "  disks:\n    scsi1: {storage: local-lvm, size: 8G}\n"
    )
    head = load_files([("proxgit.yaml", CONFIG), ("clusters/lab/vms/vm100.yaml", text)])
    plan = build_plan(head, live(running(100, 2, MEMORY[memory], hotplug=hotplug)))
    (change,) = plan.changes
    assert change.action is Action.update
    disk = [f for f in change.fields if f.path.startswith("disks.scsi1")]
    assert disk and {f.effect for f in disk} == {effect}


def test_a_removed_document_is_deleted_and_live_only_guests_are_untouched() -> None:
    base = desired((100, 2, "1G"), (101, 2, "1G"))
    head = desired((100, 2, "1G"))
    state = live(running(100, 2, 1024), running(101, 2, 1024), running(555, 1, 512))
    plan = build_plan(head, state, base=base)
    actions = {c.vmid: c.action for c in plan.changes}
    assert actions == {100: Action.noop, 101: Action.delete}
    assert [u.vmid for u in plan.unmanaged] == [555]


def test_an_unreachable_cluster_blocks_and_plans_nothing() -> None:
    plan = build_plan(desired((100, 2, "1G")), live(error="connection refused"))
    assert not plan.changes
    assert [b.code for b in plan.blockers] == ["cluster-unreachable"]
    assert "connection refused" in plan.blockers[0].message


def test_reads_cover_head_and_base() -> None:
    reads = reads_for(desired((100, 2, "1G")), desired((101, 2, "1G")))
    assert reads.guests == {"lab": {100, 101}}


@dataclass(frozen=True)
class Case:
    vmid: int
    in_base: bool
    in_head: bool
    live_cores: int | None  # None: not running anywhere
    want_cores: int


def _expected(case: Case) -> Action | None:
    if case.in_head:
        if case.live_cores is None:
            return Action.create
        if case.live_cores == case.want_cores or case.in_base:
            # A file unchanged since base whose guest differs is drift, not a change.
            return Action.noop
        return Action.update
    if case.in_base and case.live_cores is not None:
        return Action.delete
    return None  # removed and already gone, or never declared: no change


@pytest.mark.parametrize("seed", range(150))
def test_mixed_states_give_the_expected_action_per_guest(seed: int) -> None:
    rng = random.Random(seed)
    cases = [
        Case(
            vmid=100 + index,
            in_base=rng.random() < 0.6,
            in_head=rng.random() < 0.7,
            live_cores=rng.choice([None, 1, 2, 4]),
            want_cores=rng.choice([1, 2, 4]),
        )
        for index in range(rng.randint(1, 8))
    ]
    head = desired(*[(c.vmid, c.want_cores, "1G") for c in cases if c.in_head])
    base = desired(*[(c.vmid, c.want_cores, "1G") for c in cases if c.in_base])
    state = live(*[running(c.vmid, c.live_cores, 1024) for c in cases if c.live_cores])
    before = copy.deepcopy(state)

    plan = build_plan(head, state, base=base)

    got = {c.vmid: c.action for c in plan.changes}
    want = {c.vmid: _expected(c) for c in cases if _expected(c) is not None}
    assert got == want
    unmanaged = {c.vmid for c in cases if not c.in_head and not c.in_base and c.live_cores}
    assert {u.vmid for u in plan.unmanaged} == unmanaged
    # Unchanged since base, yet different live (or gone: created again, flagged missing).
    drifted = {c.vmid for c in cases if c.in_head and c.in_base and c.live_cores != c.want_cores}
    assert {d.vmid for d in plan.drift} == drifted
    # Pure: the same inputs give the same plan, and live state is not touched.
    assert build_plan(head, state, base=base).model_dump() == plan.model_dump()
    assert state == before
