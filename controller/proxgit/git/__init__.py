"""The one Git layer: revisions, history of a path, ancestry, signatures, commits, pushes.

Nothing else in proxgit runs git: loading reads revisions through it,
apply and reflect commit and push through it, and the deletion rules read
history as typed :class:`Commit` and :class:`Signature` values from it.
"""

from proxgit.git.history import Commit, History, Signature, allowed_signers_line
from proxgit.git.repository import (
    EMPTY_TREE,
    SKIP_CI,
    GitRepository,
    Identity,
    commit_identity,
    key_file,
    public_key_of,
)

__all__ = [
    "EMPTY_TREE",
    "SKIP_CI",
    "Commit",
    "GitRepository",
    "History",
    "Identity",
    "Signature",
    "allowed_signers_line",
    "commit_identity",
    "key_file",
    "public_key_of",
]
