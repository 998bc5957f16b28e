"""What an apply did, as plain data: one result per guest, one state per run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from proxgit.outcomes import Gate, Outcome


class GuestState(StrEnum):
    """How one guest of an apply ended; the value is what the journal and metrics record."""

    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"  # left alone on purpose (restartPolicy: Never, request not opened)
    refused = "refused"  # the permission policy refused the change
    pending_restart = "pending-restart"  # applied; waits for the guest to restart
    deletion_pending = "deletion-pending"  # a deletion request was opened instead

    @property
    def outcome(self) -> Outcome:
        """The one mapping to :class:`Outcome`; see ``_GUEST_OUTCOMES``."""
        return _GUEST_OUTCOMES[self]


_GUEST_OUTCOMES = {
    GuestState.succeeded: Outcome.ok,
    GuestState.failed: Outcome.failed,
    GuestState.skipped: Outcome.ok,
    GuestState.refused: Outcome.refused,
    GuestState.pending_restart: Outcome.ok,
    GuestState.deletion_pending: Outcome.ok,
}


class RunState(StrEnum):
    """How an apply of one cluster (or the whole run) ended."""

    succeeded = "succeeded"
    partial = "partial"
    failed = "failed"
    refused = "refused"
    noop = "noop"

    @property
    def outcome(self) -> Outcome:
        """The one mapping to :class:`Outcome`; see ``_RUN_OUTCOMES``."""
        return _RUN_OUTCOMES[self]


_RUN_OUTCOMES = {
    RunState.succeeded: Outcome.ok,
    RunState.noop: Outcome.ok,
    RunState.partial: Outcome.failed,
    RunState.failed: Outcome.failed,
    RunState.refused: Outcome.refused,
}


class TaskRecord(BaseModel):
    upid: str
    exitstatus: str
    log: list[str] = Field(default_factory=list)


class GuestResult(BaseModel):
    cluster: str
    vmid: int
    name: str
    kind: str
    action: str
    state: GuestState
    message: str = ""
    tasks: list[TaskRecord] = Field(default_factory=list)


class ClusterOutcome(BaseModel):
    cluster: str
    state: RunState
    message: str = ""
    gate: Gate | None = None  # the gate that refused it (state refused)
    base_revision: str | None = None


class ApplyRun(BaseModel):
    """The journal record of one ``proxgit apply``."""

    revision: str
    actor: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    state: RunState = RunState.noop
    # SIGTERM or SIGINT stopped it: work not started is absent, not failed
    interrupted: bool = False
    # "all" (apply --sync) or "self-heal" (the watch pod): drifted guests were put back too
    sync: str | None = None
    clusters: list[ClusterOutcome] = Field(default_factory=list)
    results: list[GuestResult] = Field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        if self.interrupted:
            return Outcome.interrupted
        return self.state.outcome

    def conclude(self) -> RunState:
        states = [r.state for r in self.results]
        failed = sum(1 for s in states if s.outcome is Outcome.failed)
        done = len(states) - failed
        if any(c.state is RunState.refused for c in self.clusters) and not states:
            self.state = RunState.refused
        elif failed and not done:
            self.state = RunState.failed
        elif failed:
            self.state = RunState.partial
        elif states:
            self.state = RunState.succeeded
        else:
            self.state = RunState.noop
        return self.state
