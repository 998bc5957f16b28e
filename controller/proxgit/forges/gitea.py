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

from proxgit.forges.base import Comment, ForgeUser, expect_list
from proxgit.forges.github import GitHubAdapter, _comment


class GiteaAdapter(GitHubAdapter):
    """Issue comments and commit statuses on one Gitea or Forgejo repository.

    Gitea's API follows GitHub's for everything proxgit calls; only the token
    header, the scope names, the listing and the trust in e-mail addresses differ.
    """

    TITLE = "Gitea"
    FORGE = "gitea"
    NEED_READ = "the read:issue scope"
    NEED_COMMENT = "the write:issue scope"
    NEED_STATUS = "the write:repository scope"
    NEED_PULL = "the read:repository scope"

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    def list_comments(self) -> Iterator[Comment]:
        url: str | None = f"{self._repo}/issues/{self.settings.pr}/comments"
        while url is not None:
            response = self.client.request("GET", url, need=self.NEED_READ)
            for item in expect_list(response.json(), self.TITLE, "comments"):
                yield _comment(item)
            url = response.links.get("next", {}).get("url")

    def _user(self, login: str, email: Any) -> ForgeUser:
        # Gitea may not verify addresses: the login is the only trusted identity.
        return ForgeUser(self.FORGE, login)
