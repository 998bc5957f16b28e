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
from proxgit.forges.http import ForgeClient, redact
from proxgit.forges.settings import ForgeSettings, RetryPolicy

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

    # -- repository lookups (forge identity mode); they ignore settings.pr ---

    def check_repository(self) -> None:
        """Read the repository itself; :class:`ForgeError` when the token cannot see it."""
        raise ForgeError(f"{self.settings.title} adapter cannot look up the repository")

    def changes_of_commit(self, sha: str) -> list[ChangeRecord]:
        """The pull requests the forge associates with commit ``sha``, in any state.

        ``[]`` when there are none, or when the forge does not know the commit
        but can see the repository. What "associates" means is the forge's:
        see each adapter.
        """
        raise ForgeError(f"{self.settings.title} adapter cannot look up pull requests of a commit")

    def approvers(self, change: ChangeRecord) -> list[str]:
        """Logins whose review currently approves ``change`` (the author not removed)."""
        raise ForgeError(f"{self.settings.title} adapter cannot look up approvals")

    def _commit_unknown(self) -> list[ChangeRecord]:
        """``[]`` for a commit lookup the forge refused, once the repository proves readable.

        A 404 on a commit's pull requests means either "no such commit (or no
        pull request)" or "no such repository for this token"; asking for the
        repository tells them apart, and the latter is an error, not an answer.
        """
        self.check_repository()
        return []


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


# --- pull request identities (forge identity mode) ---------------------------
#
# The operations above act on the one pull request a CI job runs for. Forge
# identity mode asks the reverse question about any commit on the main branch:
# which pull request brought it in, who opened it, who approved it. Those
# lookups need no PR number; see :func:`repository_settings`.

# GitHub's review vocabulary, which every adapter maps its own onto.
REVIEW_APPROVED = "APPROVED"
REVIEW_CHANGES_REQUESTED = "CHANGES_REQUESTED"
REVIEW_DISMISSED = "DISMISSED"
REVIEW_COMMENTED = "COMMENTED"
REVIEW_PENDING = "PENDING"

# The review states that set a reviewer's verdict; a comment leaves it as it was.
DECIDING_REVIEW_STATES = frozenset({REVIEW_APPROVED, REVIEW_CHANGES_REQUESTED, REVIEW_DISMISSED})


@dataclass(frozen=True)
class ChangeRecord:
    """A pull request (GitLab: merge request) as the forge describes it, any state.

    ``number`` is the PR number (GitLab: the IID); ``author`` the login as the
    forge spells it; ``base`` the branch it targets; ``merged`` true only when
    the forge says it was merged (a PR closed unmerged is ``False``);
    ``merged_at`` the forge's ISO 8601 text; ``head_sha`` the last commit of
    the PR's branch, which a review must have seen to count.
    """

    number: int
    author: str
    base: str
    merged: bool
    merged_at: str | None = None
    head_sha: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Review:
    """One submitted review, in GitHub's state vocabulary."""

    user: str
    state: str
    commit: str | None = None
    dismissed: bool = False
    stale: bool = False


def current_approvers(reviews: list[Review], head_sha: str | None) -> list[str]:
    """Logins whose verdict on the pull request is an approval, in first-approval order.

    Reviews are taken oldest first. A reviewer's verdict is their latest
    review that approves, requests changes or was dismissed; a comment-only or
    pending review leaves it as it was (as the forges' own merge checks do). An
    approval counts only when it is not dismissed, not marked stale, and was
    given on ``head_sha``, the commit that was merged: an approval of an
    earlier push did not see what was merged. Logins compare case-insensitively.
    """
    verdicts: dict[str, tuple[str, Review]] = {}
    for review in reviews:
        if review.state not in DECIDING_REVIEW_STATES and not review.dismissed:
            continue
        verdicts[review.user.lower()] = (review.user, review)
    approvers: list[str] = []
    for user, review in verdicts.values():
        if review.state != REVIEW_APPROVED or review.dismissed or review.stale:
            continue
        if head_sha is None or review.commit is None or review.commit != head_sha:
            continue
        approvers.append(user)
    return approvers


class ForgeRefused(ForgeError):
    """The forge refused a lookup with a 4xx answer; ``status`` says which."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RepositoryClient(ForgeClient):
    """A :class:`ForgeClient` for lookups in a repository rather than on one pull request.

    Retries, rate limits, the origin check and redaction are the parent's; a
    refusal becomes :class:`ForgeRefused` (so a caller can read a 404 or 422 as
    "the forge knows no such commit"), and its line names the repository and
    the read permission, not a pull request number.
    """

    def _refusal(self, response: Any, method: str, path: str, need: str) -> ForgeError:
        settings = self.settings
        title = settings.title
        status = int(response.status_code)
        said = self._forge_message(response)
        source = settings.token_source
        if status == 401:
            text = (
                f"{title} rejected the token in {source} (401 on {method} {path}): "
                f"it is missing, expired or revoked{said}"
            )
        elif status == 403:
            text = (
                f"{title} refused {method} {path} (403): the token in {source} lacks {need}{said}"
            )
        elif status == 404:
            text = (
                f"{title} answered 404 for {method} {path}: check repository "
                f"{settings.repository!r} and that the token in {source} can read it ({need})"
                f"{said}"
            )
        else:
            text = f"{title} API: {method} {path} answered {status} {response.reason_phrase}{said}"
        return ForgeRefused(redact(text, settings.token), status=status)


def repository_settings(
    forge: str,
    *,
    api_url: str,
    repository: str,
    token: str,
    token_source: str,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
) -> ForgeSettings:
    """Settings for repository lookups: no pull request, no head commit.

    ``repository`` is ``owner/name`` (GitLab: the project path or id).
    ``token_source`` names where the token came from, for error lines.
    """
    return ForgeSettings(
        forge=forge,
        api_url=api_url.rstrip("/"),
        repository=repository,
        pr=0,
        sha="",
        token=token,
        token_source=token_source,
        timeout=timeout,
        retry=retry if retry is not None else RetryPolicy(),
    )
