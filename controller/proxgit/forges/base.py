"""What every forge adapter offers, and the plain data they return.

GitHub, GitLab and Gitea differ in paths, headers, pagination and status
vocabulary, not in what proxgit needs from them: list a PR's comments, create
or edit one, set a commit status, and name the PR's author. An adapter maps
those five operations onto one forge's REST API; :mod:`proxgit.forges.publishing`
holds the logic that is the same everywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from proxgit.errors import ForgeError
from proxgit.forges.http import ForgeClient
from proxgit.forges.settings import ForgeSettings

STATUS_CONTEXT = "proxgit/plan"

# The states callers pass: a plan that can merge, one with blockers, one with
# nothing to do.
PLAN_STATES = ("success", "failure", "neutral")

# GitHub shows at most 140 characters of a status description.
STATUS_DESCRIPTION_LIMIT = 140


@dataclass(frozen=True)
class Comment:
    """One comment (GitLab: note) on a pull request."""

    id: int
    body: str
    author: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ForgeUser:
    """A forge account, mapped to the identities ``proxgit.yaml``'s policy names.

    ``email`` is only filled in when the forge vouches for it (GitHub shows
    only verified addresses); Gitea instances may not verify addresses, so an
    email from Gitea is never used as an identity.
    """

    forge: str
    login: str
    email: str | None = None

    def identities(self) -> list[str]:
        """Policy identities of this user, forge login first: ``["github:alice", "a@x.org"]``."""
        found = [f"{self.forge}:{self.login}"]
        if self.email:
            found.append(self.email)
        return found


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish_plan` did: which comment, created or edited, which status."""

    comment_id: int
    created: bool
    truncated: bool
    status_state: str
    status_description: str
    comment_url: str | None = None


class ForgeAdapter(ABC):
    """One forge's REST API for the operations proxgit needs."""

    def __init__(self, settings: ForgeSettings, client: ForgeClient) -> None:
        self.settings = settings
        self.client = client

    @staticmethod
    @abstractmethod
    def auth_headers(token: str) -> dict[str, str]:
        """The headers that authenticate a request with ``token``."""

    @abstractmethod
    def list_comments(self) -> Iterator[Comment]:
        """Every comment on the pull request, oldest first, across all pages."""

    @abstractmethod
    def create_comment(self, body: str) -> Comment:
        """Post a new comment (not retried blindly: see ``AmbiguousWrite``)."""

    @abstractmethod
    def edit_comment(self, comment_id: int, body: str) -> Comment:
        """Replace the body of an existing comment."""

    @abstractmethod
    def set_status(self, state: str, description: str) -> str:
        """Set the ``proxgit/plan`` commit status on the head SHA; returns the forge's state."""

    @abstractmethod
    def pr_author(self) -> ForgeUser:
        """The account that opened the pull request."""


def status_for(state: str, description: str) -> tuple[str, str]:
    """A plan state as a commit status every forge accepts, with its description.

    None of the three forges' commit-status APIs has a neutral state (GitHub's
    is for check runs, which need a GitHub App). "Nothing to do" must not
    block a merge that requires the status, and GitLab's ``skipped`` or
    Gitea's ``warning`` can, so neutral is sent as success and the description
    says "no changes".
    """
    if state not in PLAN_STATES:
        raise ValueError(f"plan state must be one of {PLAN_STATES}, not {state!r}")
    text = " ".join(description.split())
    if state == "neutral":
        state = "success"
        if not text.lower().startswith("no changes"):
            text = f"no changes: {text}" if text else "no changes"
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        text = text[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
    return state, text


def expect_list(payload: Any, title: str, what: str) -> list[dict[str, Any]]:
    """``payload`` as a list of JSON objects, or a one-line error naming the forge."""
    if not isinstance(payload, list):
        raise ForgeError(f"{title} API answered {what} with {type(payload).__name__}, not a list")
    return [item for item in payload if isinstance(item, dict)]


def expect_object(payload: Any, title: str, what: str) -> dict[str, Any]:
    """``payload`` as a JSON object, or a one-line error naming the forge."""
    if not isinstance(payload, dict):
        raise ForgeError(
            f"{title} API answered {what} with {type(payload).__name__}, not an object"
        )
    return payload
