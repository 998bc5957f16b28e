"""Planning: the pure planner, the Plan data it returns, and the run that feeds it."""

from proxgit.planning.fieldchange import Effect, FieldChange
from proxgit.planning.plan import (
    Action,
    Finding,
    GuestChange,
    Migration,
    MigrationMode,
    Plan,
)
from proxgit.planning.planner import LiveReads, build_plan, reads_for

__all__ = [
    "Action",
    "Effect",
    "FieldChange",
    "Finding",
    "GuestChange",
    "LiveReads",
    "Migration",
    "MigrationMode",
    "Plan",
    "build_plan",
    "reads_for",
]
