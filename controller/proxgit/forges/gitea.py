"""Gitea and Forgejo over their REST v1 API.

Pull-request comments are issue comments. Gitea returns all of an issue's
comments in one answer; a ``Link: rel="next"`` header is followed anyway, in
case a release starts paginating. The status is a commit status with the
context ``proxgit/plan``. The token needs ``write:issue`` for the comment and
``write:repository`` for the status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


class GiteaAdapter(ForgeAdapter):
    """Issue comments and commit statuses on one Gitea or Forgejo repository."""

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    @property
    def _repo(self) -> str:
        return f"repos/{self.settings.repository}"

    def list_comments(self) -> Iterator[Comment]:
        url: str | None = f"{self._repo}/issues/{self.settings.pr}/comments"
        while url is not None:
            response = self.client.request("GET", url, need="the read:issue scope")
            for item in expect_list(response.json(), "Gitea", "comments"):
                yield _comment(item)
            url = response.links.get("next", {}).get("url")

    def create_comment(self, body: str) -> Comment:
        response = self.client.request(
            "POST",
            f"{self._repo}/issues/{self.settings.pr}/comments",
            json={"body": body},
            need="the write:issue scope",
            idempotent=False,
        )
        return _comment(expect_object(response.json(), "Gitea", "a comment"))

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        response = self.client.request(
            "PATCH",
            f"{self._repo}/issues/comments/{comment_id}",
            json={"body": body},
            need="the write:issue scope",
        )
        return _comment(expect_object(response.json(), "Gitea", "a comment"))

    def set_status(self, state: str, description: str) -> str:
        forge_state, text = status_for(state, description)
        payload: dict[str, str] = {
            "state": forge_state,
            "context": STATUS_CONTEXT,
            "description": text,
        }
        if self.settings.details_url:
            payload["target_url"] = self.settings.details_url
        self.client.request(
            "POST",
            f"{self._repo}/statuses/{self.settings.sha}",
            json=payload,
            need="the write:repository scope",
        )
        return forge_state

    def pr_author(self) -> ForgeUser:
        response = self.client.request(
            "GET", f"{self._repo}/pulls/{self.settings.pr}", need="the read:repository scope"
        )
        user = expect_object(response.json(), "Gitea", "a pull request").get("user") or {}
        login = user.get("login") or user.get("username")
        if not isinstance(login, str) or not login:
            raise ForgeError(f"Gitea pull request #{self.settings.pr} has no author login")
        # Gitea may not verify addresses: the login is the only trusted identity.
        return ForgeUser("gitea", login)


def _comment(item: dict[str, Any]) -> Comment:
    user = item.get("user") or {}
    return Comment(
        id=int(item["id"]),
        body=str(item.get("body") or ""),
        author=user.get("login"),
        url=item.get("html_url"),
    )
