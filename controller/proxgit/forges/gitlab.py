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
    ChangeRecord,
    Comment,
    ForgeAdapter,
    ForgeRefused,
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

    # -- repository lookups (forge identity mode) ---------------------------

    NEED_READ = "the read_api scope and Reporter role"

    def check_repository(self) -> None:
        response = self.client.request("GET", self._project, need=self.NEED_READ)
        expect_object(response.json(), "GitLab", "a project")

    def changes_of_commit(self, sha: str) -> list[ChangeRecord]:
        """``GET /projects/:id/repository/commits/:sha/merge_requests``, every page.

        GitLab associates a merge request with the commits of its diff, its
        merge commit and its squash commit; an unknown commit is a 404.
        """
        page = "1"
        found: list[ChangeRecord] = []
        try:
            while page:
                response = self.client.request(
                    "GET",
                    f"{self._project}/repository/commits/{sha}/merge_requests",
                    params={"per_page": 100, "page": page},
                    need=self.NEED_READ,
                )
                for item in expect_list(response.json(), "GitLab", "a commit's merge requests"):
                    found.append(_change(item))
                page = response.headers.get("X-Next-Page", "").strip()
        except ForgeRefused as err:
            if err.status not in (404, 422):
                raise
            return self._commit_unknown()
        return found

    def approvers(self, change: ChangeRecord) -> list[str]:
        """``approved_by`` of ``/merge_requests/:iid/approvals``: who approves it now.

        GitLab removes an approval when its user revokes it, and (with the
        project's "remove all approvals when commits are added" setting) when
        the branch moves; the API does not say which commit was approved.
        """
        response = self.client.request(
            "GET",
            f"{self._project}/merge_requests/{change.number}/approvals",
            need=self.NEED_READ,
        )
        payload = expect_object(response.json(), "GitLab", "approvals")
        approved_by = payload.get("approved_by")
        logins: list[str] = []
        for entry in approved_by if isinstance(approved_by, list) else []:
            user = entry.get("user") if isinstance(entry, dict) else None
            name = user.get("username") if isinstance(user, dict) else None
            if isinstance(name, str) and name:
                logins.append(name)
        return logins


def _note(item: dict[str, Any]) -> Comment:
    author = item.get("author") or {}
    return Comment(
        id=int(item["id"]),
        body=str(item.get("body") or ""),
        author=author.get("username"),
    )


def _change(item: dict[str, Any]) -> ChangeRecord:
    author = item.get("author")
    login = author.get("username") if isinstance(author, dict) else None
    iid = item.get("iid")
    if not isinstance(iid, int) or not isinstance(login, str) or not login:
        raise ForgeError("GitLab API answered a merge request without iid or author")
    merged_at = item.get("merged_at")
    head = item.get("sha")
    url = item.get("web_url")
    return ChangeRecord(
        number=iid,
        author=login,
        base=str(item.get("target_branch") or ""),
        merged=item.get("state") == "merged",
        merged_at=merged_at if isinstance(merged_at, str) and merged_at else None,
        head_sha=head if isinstance(head, str) and head else None,
        url=url if isinstance(url, str) else None,
    )
