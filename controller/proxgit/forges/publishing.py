"""Publishing a plan to a pull request: one comment kept current, one commit status.

Reviewers should see one plan per pull request, always for the latest push,
so :func:`publish_plan` looks for the comment proxgit wrote before (by its
hidden marker), edits it in place, and creates it only when there is none.
Comments without the marker are never edited, whoever wrote them.

Creating a comment is the one call that is not safe to repeat: when it fails
with a 5xx or a dropped connection the forge may have stored it anyway, so
proxgit lists the comments again before it writes again, rather than leave
two plans on the pull request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from proxgit.errors import ForgeError
from proxgit.forges.base import Comment, ForgeAdapter, ForgeUser, PublishResult, status_for
from proxgit.forges.comment import PLAN_MARKER, comment_body, is_plan_comment
from proxgit.forges.gitea import GiteaAdapter
from proxgit.forges.github import GitHubAdapter
from proxgit.forges.gitlab import GitLabAdapter
from proxgit.forges.http import AmbiguousWrite, ForgeClient
from proxgit.forges.settings import ForgeSettings
from proxgit.planning.plan import Plan

log = logging.getLogger("proxgit.forges")

ADAPTERS: dict[str, type[ForgeAdapter]] = {
    "github": GitHubAdapter,
    "gitlab": GitLabAdapter,
    "gitea": GiteaAdapter,
}


@contextmanager
def open_forge(
    settings: ForgeSettings, *, transport: httpx.BaseTransport | None = None
) -> Iterator[ForgeAdapter]:
    """The adapter for ``settings.forge``, with its HTTP client closed afterwards."""
    adapter_type = ADAPTERS[settings.forge]
    client = ForgeClient(
        settings, auth_headers=adapter_type.auth_headers(settings.token), transport=transport
    )
    with client:
        yield adapter_type(settings, client)


def plan_status(the_plan: Plan) -> tuple[str, str]:
    """The commit status of a plan: ``(state, description)``, state one of
    ``failure`` (blockers), ``success`` (changes) or ``neutral`` (none)."""
    if the_plan.blocker_count:
        return "failure", f"{the_plan.blocker_count} blocker(s)"
    if the_plan.has_changes:
        s = the_plan.summary
        moves = f", {s.migrate} migrate" if s.migrate else ""
        return "success", f"{s.create} create, {s.update} update, {s.delete} delete{moves}"
    return "neutral", "no changes"


def publish_plan(
    settings: ForgeSettings,
    *,
    markdown: str,
    state: str,
    description: str,
    marker: str = PLAN_MARKER,
    transport: httpx.BaseTransport | None = None,
) -> PublishResult:
    """Put ``markdown`` in proxgit's one comment on the PR, then set the commit status.

    ``state`` is ``success`` (the plan can merge), ``failure`` (it has
    blockers; say how many in ``description``) or ``neutral`` (nothing to
    do: sent as success with "no changes", see :func:`status_for`). A plan
    over the forge's comment limit is truncated with a note. ``marker``
    separates plans when one repository runs several proxgit jobs.
    """
    status_for(state, description)  # a wrong state is a bug: fail before any write
    body, truncated = comment_body(
        markdown, forge=settings.forge, marker=marker, details_url=settings.details_url
    )
    if truncated:
        log.warning(
            "%s: the plan is longer than a comment may be; the comment shows it truncated",
            settings.title,
        )
    with open_forge(settings, transport=transport) as forge:
        comment, created = _upsert_comment(forge, body, marker)
        forge_state = forge.set_status(state, description)
    return PublishResult(
        comment_id=comment.id,
        created=created,
        truncated=truncated,
        status_state=forge_state,
        status_description=status_for(state, description)[1],
        comment_url=comment.url,
    )


def pr_author(
    settings: ForgeSettings, *, transport: httpx.BaseTransport | None = None
) -> ForgeUser:
    """The account that opened the pull request: the actor whose permissions a plan checks."""
    with open_forge(settings, transport=transport) as forge:
        return forge.pr_author()


def find_plan_comment(forge: ForgeAdapter, marker: str = PLAN_MARKER) -> Comment | None:
    """proxgit's earlier comment on the PR (the oldest with the marker), if any."""
    for comment in forge.list_comments():
        if is_plan_comment(comment.body, marker):
            return comment
    return None


def _upsert_comment(forge: ForgeAdapter, body: str, marker: str) -> tuple[Comment, bool]:
    """Edit proxgit's comment, or create it once; ``(comment, created)``."""
    policy = forge.settings.retry
    attempt = 0
    while True:
        attempt += 1
        existing = find_plan_comment(forge, marker)
        if existing is not None:
            if existing.body == body:
                return existing, False
            edited = forge.edit_comment(existing.id, body)
            return Comment(edited.id, edited.body, edited.author, edited.url or existing.url), False
        try:
            return forge.create_comment(body), True
        except AmbiguousWrite as err:
            if attempt >= policy.attempts:
                raise ForgeError(f"{err.message}; gave up after {attempt} attempts") from None
            delay = policy.backoff(attempt)
            log.warning(
                "%s; checking whether the comment exists before retrying in %.1fs",
                err.message,
                delay,
            )
            policy.sleep(delay)
