"""GitLab (gitlab.com and self-managed) over REST v4.

A merge request's comments are notes (``/merge_requests/:iid/notes``),
listed 100 per page by following ``X-Next-Page``; system notes ("added 1
commit") are skipped. The status is an external commit status named
``proxgit/plan``. ``CI_JOB_TOKEN`` can do neither, so the job needs a project
access token (``PROXGIT_GITLAB_TOKEN``) with the ``api`` scope: Reporter role
for notes, Developer for commit statuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from proxgit.errors import ForgeError
from proxgit.forges.base import (
    STATUS_CONTEXT,
    Comment,
    ForgeAdapter,
    ForgeUser,
    expect_list,
    expect_object,
    status_for,
)

# GitLab's commit-status vocabulary for proxgit's plan states (neutral is
# already success by then: see status_for).
_STATES = {"success": "success", "failure": "failed"}


class GitLabAdapter(ForgeAdapter):
    """Merge-request notes and commit statuses on one GitLab project."""

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token, "Accept": "application/json"}

    @property
    def _project(self) -> str:
        # A numeric id as is; a group/project path URL-encoded, slash included.
        return f"projects/{quote(self.settings.repository, safe='')}"

    @property
    def _notes(self) -> str:
        return f"{self._project}/merge_requests/{self.settings.pr}/notes"

    def list_comments(self) -> Iterator[Comment]:
        page = "1"
        while page:
            response = self.client.request(
                "GET",
                self._notes,
                params={"per_page": 100, "page": page, "sort": "asc", "order_by": "created_at"},
                need="the read_api scope and Reporter role",
            )
            for item in expect_list(response.json(), "GitLab", "notes"):
                if not item.get("system"):
                    yield _note(item)
            page = response.headers.get("X-Next-Page", "").strip()

    def create_comment(self, body: str) -> Comment:
        response = self.client.request(
            "POST",
            self._notes,
            json={"body": body},
            need="the api scope and Reporter role",
            idempotent=False,
        )
        return _note(expect_object(response.json(), "GitLab", "a note"))

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        response = self.client.request(
            "PUT",
            f"{self._notes}/{comment_id}",
            json={"body": body},
            need="the api scope and Reporter role",
        )
        return _note(expect_object(response.json(), "GitLab", "a note"))

    def set_status(self, state: str, description: str) -> str:
        plain_state, text = status_for(state, description)
        forge_state = _STATES[plain_state]
        payload: dict[str, str] = {
            "state": forge_state,
            "name": STATUS_CONTEXT,
            "description": text,
        }
        if self.settings.details_url:
            payload["target_url"] = self.settings.details_url
        self.client.request(
            "POST",
            f"{self._project}/statuses/{self.settings.sha}",
            json=payload,
            need="the api scope and Developer role (commit statuses)",
        )
        return forge_state

    def pr_author(self) -> ForgeUser:
        response = self.client.request(
            "GET",
            f"{self._project}/merge_requests/{self.settings.pr}",
            need="the read_api scope and Reporter role",
        )
        author = expect_object(response.json(), "GitLab", "a merge request").get("author") or {}
        login = author.get("username")
        if not isinstance(login, str) or not login:
            raise ForgeError(f"GitLab merge request !{self.settings.pr} has no author username")
        return ForgeUser("gitlab", login)


def _note(item: dict[str, Any]) -> Comment:
    author = item.get("author") or {}
    return Comment(
        id=int(item["id"]),
        body=str(item.get("body") or ""),
        author=author.get("username"),
    )
