"""Deletion requests: deciding them under the trust model, executing and withdrawing them."""

from proxgit.deletions.approval import Decision, DecisionState, ProxgitKey, decide_request

__all__ = ["Decision", "DecisionState", "ProxgitKey", "decide_request"]
