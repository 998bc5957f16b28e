"""One exception family for everything a user can fix or must know about.

Every error proxgit raises on purpose derives from :class:`ProxgitError` and
carries a one-line message that names what went wrong, where, and the fix. The
CLI prints that line and exits with the error's ``exit_code``; a Python
traceback reaching a user is a bug.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from proxgit.outcomes import Gate, Outcome, exit_code


class ProxgitError(Exception):
    """Base of all errors proxgit reports to users as one line."""

    outcome = Outcome.failed

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def exit_code(self) -> int:
        return exit_code(self.outcome)

    def __str__(self) -> str:
        return self.message


class ConfigError(ProxgitError):
    """``proxgit.yaml`` or a command-line option is wrong."""


class RepositoryError(ProxgitError):
    """The Git repository is missing, has no such revision, or cannot be written."""


class ProxmoxError(ProxgitError):
    """A Proxmox API call failed; the message names cluster, call and Proxmox's words."""

    def __init__(
        self,
        message: str,
        *,
        cluster: str = "",
        call: str = "",
        status: int = 0,
        tls: bool = False,
    ) -> None:
        super().__init__(message)
        self.cluster = cluster
        self.call = call
        self.status = status
        self.tls = tls  # the server's certificate was not trusted: retrying cannot help

    @property
    def kind(self) -> str:
        """The error's type as a metric label and a plan blocker's code."""
        if self.tls:
            return "tls"
        if self.status == 401:
            return "unauthorized"
        if self.status == 403:
            return "forbidden"
        if self.status == 0:
            return "unreachable"
        if self.status < 0:
            return "bad-answer"
        return "server-error" if self.status >= 500 else "client-error"


class ForgeError(ProxgitError):
    """A forge (GitHub, GitLab, Gitea) API call failed."""


class GateRefused(ProxgitError):
    """A safety gate refused a write; exit code 3 and the gate's name."""

    outcome = Outcome.refused

    def __init__(self, message: str, *, gate: Gate | None = None) -> None:
        super().__init__(message)
        self.gate = gate


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
    # the safety gate this problem closes (apply refuses with exit 3), if any
    gate: Gate | None = dataclasses.field(default=None, compare=False)

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

    outcome = Outcome.blocked

    def __init__(self, problems: list[Problem]) -> None:
        first = str(problems[0]) if problems else "invalid repository"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(first + more)
        self.problems = problems
