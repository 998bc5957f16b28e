"""The result vocabulary: every state maps to exactly one Outcome, and values never change.

The values are what journals, archived requests, CLI output and metrics labels
carry, so they are pinned here; the mappings decide exit codes and whether the
watch loop advances the applied revision.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxgit.applying.results import ApplyRun, ClusterOutcome, GuestResult, GuestState, RunState
from proxgit.deletions.approval import DecisionState
from proxgit.deletions.executing import DeletionsRun, RequestOutcome, RequestState
from proxgit.outcomes import Gate, Outcome, exit_code


def test_values_are_the_recorded_strings() -> None:
    assert [s.value for s in GuestState] == [
        "succeeded",
        "failed",
        "skipped",
        "refused",
        "pending-restart",
        "deletion-pending",
    ]
    assert [s.value for s in RunState] == ["succeeded", "partial", "failed", "refused", "noop"]
    assert [s.value for s in DecisionState] == [
        "pending",
        "approved",
        "rejected",
        "expired",
        "refused",
    ]
    assert {s.value for s in RequestState} == {
        "pending",
        "approved",
        "refused",
        "executed",
        "rejected",
        "expired",
        "withdrawn",
        "blocked",
    }


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (GuestState.succeeded, Outcome.ok),
        (GuestState.failed, Outcome.failed),
        (GuestState.skipped, Outcome.ok),
        (GuestState.refused, Outcome.refused),
        (GuestState.pending_restart, Outcome.ok),
        (GuestState.deletion_pending, Outcome.ok),
        (RunState.succeeded, Outcome.ok),
        (RunState.noop, Outcome.ok),
        (RunState.partial, Outcome.failed),
        (RunState.failed, Outcome.failed),
        (RunState.refused, Outcome.refused),
        (RequestState.pending, Outcome.ok),
        (RequestState.executed, Outcome.ok),
        (RequestState.rejected, Outcome.ok),
        (RequestState.expired, Outcome.ok),
        (RequestState.withdrawn, Outcome.ok),
        (RequestState.refused, Outcome.refused),
        (RequestState.blocked, Outcome.failed),
    ],
)
def test_each_state_has_one_outcome(
    state: GuestState | RunState | RequestState, outcome: Outcome
) -> None:
    assert state.outcome is outcome


def test_every_member_is_mapped() -> None:
    for enum in (GuestState, RunState, RequestState):
        for member in enum:
            assert isinstance(member.outcome, Outcome)


def test_a_gate_turns_a_blocked_request_into_a_refusal() -> None:
    blocked = RequestOutcome("web-101", "lab", 101, RequestState.blocked, "no")
    assert blocked.outcome is Outcome.failed and exit_code(blocked.outcome) == 1
    blocked.gate = Gate.allow_writes
    assert blocked.outcome is Outcome.refused and exit_code(blocked.outcome) == 3


def test_settled_requests_no_longer_wait() -> None:
    settled = {s for s in RequestState if s.settled}
    assert settled == {RequestState.executed, RequestState.rejected, RequestState.expired}


def test_deletions_run_summary_and_worst_outcome() -> None:
    run = DeletionsRun(
        [
            RequestOutcome("b-2", "lab", 2, RequestState.pending, ""),
            RequestOutcome("a-1", "lab", 1, RequestState.executed, ""),
            RequestOutcome("c-3", "lab", 3, RequestState.pending, ""),
            RequestOutcome("d-4", "lab", 4, RequestState.refused, ""),
        ]
    )
    assert run.summary() == "1 executed, 2 pending, 1 refused"
    assert run.outcome is Outcome.refused
    assert not run.failed
    assert DeletionsRun().summary() == ""


def _result(state: GuestState) -> GuestResult:
    return GuestResult(cluster="lab", vmid=1, name="a", kind="vm", action="update", state=state)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], RunState.noop),
        ([GuestState.succeeded, GuestState.skipped], RunState.succeeded),
        ([GuestState.failed], RunState.failed),
        ([GuestState.failed, GuestState.pending_restart], RunState.partial),
        ([GuestState.refused], RunState.succeeded),
    ],
)
def test_apply_run_concludes_from_guest_outcomes(
    states: list[GuestState], expected: RunState
) -> None:
    run = ApplyRun(revision="abc", started_at=datetime.now(UTC))
    run.results = [_result(s) for s in states]
    assert run.conclude() is expected


def test_refused_cluster_without_results_refuses_the_run() -> None:
    run = ApplyRun(revision="abc", started_at=datetime.now(UTC))
    run.clusters = [ClusterOutcome(cluster="lab", state=RunState.refused)]
    assert run.conclude() is RunState.refused
    assert exit_code(run.outcome) == 3
    run.interrupted = True
    assert run.outcome is Outcome.interrupted


def test_journal_carries_plain_values() -> None:
    run = ApplyRun(revision="abc", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    run.results = [_result(GuestState.pending_restart)]
    run.conclude()
    dumped = run.model_dump(mode="json")
    assert dumped["state"] == "succeeded"
    assert dumped["results"][0]["state"] == "pending-restart"
    assert type(dumped["results"][0]["state"]) is str
