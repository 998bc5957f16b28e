"""Applying a merged revision: gates, one writer per cluster, re-plan, execute, journal."""

from proxgit.applying.results import ApplyRun, GuestResult, GuestState, RunState
from proxgit.applying.run import apply_revision

__all__ = ["ApplyRun", "GuestResult", "GuestState", "RunState", "apply_revision"]
