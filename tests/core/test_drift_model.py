"""``plan`` and ``drift`` share one drift model: same guests, same counts, same reasons.

Desired and live are built by hand (no Git, no HTTP); the end-to-end agreement
through the CLI and fakepve is in tests/reflecting/test_drift_agreement.py.
"""

from __future__ import annotations

from proxgit.planning.drift import DriftKind, Undeclared, undeclared_reason
from proxgit.planning.plan import Action
from proxgit.planning.planner import build_plan, compute_drift
from proxgit.proxmox.fields import PENDING_DELETION_TAG
from proxgit.proxmox.live import LiveGuest
from tests.core.test_planner import desired, live, running


def cluster_with_every_kind() -> tuple[list[LiveGuest], LiveGuest, LiveGuest]:
    template = LiveGuest(9000, "qemu", "tpl", "pve1", "stopped", template=True)
    leaving = LiveGuest(160, "qemu", "leaving", "pve1", "stopped", tags=[PENDING_DELETION_TAG])
    guests = [running(100, 2, 1024), running(101, 4, 1024), running(150, 1, 512)]
    return [*guests, template, leaving], template, leaving


def test_undeclared_guests_are_classified_once() -> None:
    _, template, leaving = cluster_with_every_kind()
    assert undeclared_reason(template) is Undeclared.template
    assert undeclared_reason(leaving) is Undeclared.pending_deletion
    assert undeclared_reason(running(150, 1, 512)) is None
    # a template that also carries the deletion tag is still a template
    both = LiveGuest(
        9001, "qemu", "t", "pve1", "stopped", template=True, tags=[PENDING_DELETION_TAG]
    )
    assert undeclared_reason(both) is Undeclared.template


def test_plan_and_drift_agree_on_template_unmanaged_drifted_and_pending() -> None:
    guests, _, _ = cluster_with_every_kind()
    base = desired((100, 2, "1G"), (101, 2, "1G"), (102, 2, "1G"))
    head = base
    state = live(*guests)
    # a pull request that changes no document: what differs live is drift
    plan = build_plan(head, state, base=base)
    report = compute_drift(head, state)

    # the one change: the missing guest is created again; the changed one is only reported
    assert {c.vmid: c.action for c in plan.changes if c.action is not Action.noop} == {
        102: Action.create
    }
    plan_drift = {(d.vmid, "missing" if d.missing else "changed") for d in plan.drift}
    report_drift = {
        (g.vmid, g.drift.value) for g in report.guests if g.drift is not DriftKind.unmanaged
    }
    assert plan_drift == report_drift == {(101, "changed"), (102, "missing")}

    plan_unmanaged = {u.vmid for u in plan.unmanaged if u.counted}
    report_unmanaged = {g.vmid for g in report.guests if g.drift is DriftKind.unmanaged}
    assert plan_unmanaged == report_unmanaged == {150}
    assert plan.summary.unmanaged == report.summary.unmanaged == 1
    assert plan.summary.drift == report.summary.changed + report.summary.missing == 2

    plan_apart = {
        u.vmid: Undeclared.template if u.template else Undeclared.pending_deletion
        for u in plan.unmanaged
        if not u.counted
    }
    report_apart = {i.vmid: Undeclared(i.reason) for i in report.ignored}
    assert (
        plan_apart == report_apart == {9000: Undeclared.template, 160: Undeclared.pending_deletion}
    )
    fields = {d.vmid: [(f.path, f.before, f.after) for f in d.fields] for d in plan.drift}
    assert fields[101] == [("cores", 4, 2)]
    assert [(f.path, f.before, f.after) for f in report.guests[0].fields] == fields[101]


def test_a_template_is_never_an_unmanaged_guest_in_either_model() -> None:
    template = LiveGuest(9000, "qemu", "tpl", "pve1", "stopped", template=True)
    plan = build_plan(desired(), live(template))
    report = compute_drift(desired(), live(template))
    assert plan.summary.unmanaged == report.summary.unmanaged == 0
    assert not report.has_drift and [u.template for u in plan.unmanaged] == [True]
