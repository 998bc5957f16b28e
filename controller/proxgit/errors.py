"""One exception family for everything a user can fix or must know about.

Every error proxgit raises on purpose derives from :class:`ProxgitError` and
carries a one-line message that names what went wrong, where, and the fix. The
CLI prints that line and exits with the error's ``exit_code``; a Python
traceback reaching a user is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


class ProxgitError(Exception):
    """Base of all errors proxgit reports to users as one line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ProxgitError):
    """``proxgit.yaml`` or a command-line option is wrong."""


class RepositoryError(ProxgitError):
    """The Git repository is missing, has no such revision, or cannot be written."""


class ProxmoxError(ProxgitError):
    """A Proxmox API call failed; the message names cluster, call and Proxmox's words."""

    def __init__(self, message: str, *, cluster: str = "", call: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.cluster = cluster
        self.call = call
        self.status = status


class ForgeError(ProxgitError):
    """A forge (GitHub, GitLab, Gitea) API call failed."""


class GateRefused(ProxgitError):
    """A safety gate refused a write; exit code 3 and the gate's name."""

    exit_code = 3


class LockTimeout(ProxgitError):
    """Another proxgit holds the cluster's write lock for longer than we may wait."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the desired tree, located to the line and column."""

    path: str
    line: int
    col: int
    field: str
    message: str

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.path}:{self.line}:{self.col}: {field}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.path,
            "line": self.line,
            "column": self.col,
            "field": self.field,
            "message": self.message,
        }


class InvalidRepository(ProxgitError):
    """The desired tree has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        first = str(problems[0]) if problems else "invalid repository"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(first + more)
        self.problems = problems
