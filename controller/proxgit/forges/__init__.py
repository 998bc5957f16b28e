"""Forges: the plan as one pull-request comment and one commit status.

proxgit talks to GitHub, GitLab and Gitea/Forgejo over httpx. The CLI's
``proxgit plan --comment github|gitlab|gitea`` builds :class:`ForgeSettings`
from the CI's standard variables and calls :func:`publish_plan`; the PR's
author, from :func:`pr_author`, is the actor whose policy permissions the plan
checks. Every failure is a one-line :class:`~proxgit.errors.ForgeError`
that names the token's variable and the missing permission, never the token.
"""

from proxgit.forges.base import (
    STATUS_CONTEXT,
    Comment,
    ForgeAdapter,
    ForgeUser,
    PublishResult,
    status_for,
)
from proxgit.forges.comment import COMMENT_LIMITS, PLAN_MARKER, comment_body, is_plan_comment
from proxgit.forges.publishing import (
    find_plan_comment,
    open_forge,
    plan_status,
    pr_author,
    publish_plan,
)
from proxgit.forges.settings import FORGES, ForgeSettings, RetryPolicy
from proxgit.forges.summary import write_step_summary

__all__ = [
    "COMMENT_LIMITS",
    "FORGES",
    "PLAN_MARKER",
    "STATUS_CONTEXT",
    "Comment",
    "ForgeAdapter",
    "ForgeSettings",
    "ForgeUser",
    "PublishResult",
    "RetryPolicy",
    "comment_body",
    "find_plan_comment",
    "is_plan_comment",
    "open_forge",
    "plan_status",
    "pr_author",
    "publish_plan",
    "status_for",
    "write_step_summary",
]
