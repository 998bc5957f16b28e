"""Compatibility name for :mod:`proxgit.git` (the one Git layer)."""

from proxgit.git.repository import SKIP_CI, GitRepository, Identity

__all__ = ["SKIP_CI", "GitRepository", "Identity"]
