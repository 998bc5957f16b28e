"""Deletion requests: deciding them from Git history (the four-eyes rule)."""

from proxgit.deletions.approval import (
    Decision,
    DecisionState,
    Removal,
    decide_request,
    find_removal,
    requester_from_history,
)

__all__ = [
    "Decision",
    "DecisionState",
    "Removal",
    "decide_request",
    "find_removal",
    "requester_from_history",
]
