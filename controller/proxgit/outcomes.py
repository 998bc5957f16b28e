"""The one small vocabulary every command's result ends in, and its exit code.

Like Flux's conditions: a gate refusal, a blocker, a failure, changes found and
nothing to do are typed values carried from where they happen to the exit
code. No decision reads a message string; messages are for people.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Outcome(StrEnum):
    """How a command (or one cluster, guest or request of it) ended."""

    ok = "ok"  # done, or nothing to do
    changes = "changes"  # plan or drift found differences; nothing is wrong
    refused = "refused"  # a safety gate refused: nothing was written
    blocked = "blocked"  # a blocker or a problem in the input: fix it and run again
    failed = "failed"  # something was tried and failed, wholly or in part
    interrupted = "interrupted"  # SIGTERM or SIGINT: no new work, what was done recorded


class Gate(StrEnum):
    """The safety gates that refuse a write (exit 3), each named in its one line."""

    apply_enabled = "apply.enabled"
    apply_confirm = "apply.confirm"
    allow_writes = "allowWrites"
    main_branch = "main-branch"
    last_applied = "last-applied"
    cluster = "cluster"  # a cluster proxgit.yaml does not declare
    policy = "policy"  # the identity lacks the permission (forge mode)
    four_eyes = "four-eyes"  # a deletion decision that would not count


EXIT_CODES: dict[Outcome, int] = {
    Outcome.ok: 0,
    Outcome.changes: 2,
    Outcome.refused: 3,
    Outcome.blocked: 1,
    Outcome.failed: 1,
    Outcome.interrupted: 143,
}

# When several parts of one run end differently, the run ends as the worst of them.
_SEVERITY = [
    Outcome.ok,
    Outcome.changes,
    Outcome.refused,
    Outcome.blocked,
    Outcome.failed,
    Outcome.interrupted,
]


def worst(outcomes: Iterable[Outcome], default: Outcome = Outcome.ok) -> Outcome:
    """The most severe of ``outcomes`` (``default`` when there are none)."""
    found = list(outcomes)
    return max(found, key=_SEVERITY.index) if found else default


def exit_code(outcome: Outcome) -> int:
    return EXIT_CODES[outcome]
