"""GitHub (and GitHub Enterprise Server) over REST v3.

PR comments are issue comments (``/issues/{n}/comments``), listed 100 per page
by following the ``Link: rel="next"`` header; the status is a commit status
with the context ``proxgit/plan``. ``GITHUB_TOKEN`` needs ``pull-requests:
write`` for the comment and ``statuses: write`` for the status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proxgit.errors import ForgeError
from proxgit.forges.base import (
    STATUS_CONTEXT,
    ChangeRecord,
    Comment,
    ForgeAdapter,
    ForgeRefused,
    ForgeUser,
    Review,
    current_approvers,
    expect_list,
    expect_object,
    status_for,
)

API_VERSION = "2022-11-28"


class GitHubAdapter(ForgeAdapter):
    """Issue comments and commit statuses on one GitHub repository."""

    TITLE = "GitHub"
    FORGE = "github"
    # the permission each call needs, named as the forge's token settings name it
    NEED_READ = "pull-requests: read"
    NEED_COMMENT = "pull-requests: write"
    NEED_STATUS = "statuses: write"
    NEED_PULL = "pull-requests: read"

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    @property
    def _repo(self) -> str:
        return f"repos/{self.settings.repository}"

    def list_comments(self) -> Iterator[Comment]:
        url: str | None = f"{self._repo}/issues/{self.settings.pr}/comments"
        params: dict[str, str | int] | None = {"per_page": 100}
        while url is not None:
            response = self.client.request("GET", url, params=params, need=self.NEED_READ)
            for item in expect_list(response.json(), self.TITLE, "comments"):
                yield _comment(item)
            # The next link carries its own query string.
            url = response.links.get("next", {}).get("url")
            params = None

    def create_comment(self, body: str) -> Comment:
        response = self.client.request(
            "POST",
            f"{self._repo}/issues/{self.settings.pr}/comments",
            json={"body": body},
            need=self.NEED_COMMENT,
            idempotent=False,
        )
        return _comment(expect_object(response.json(), self.TITLE, "a comment"))

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        response = self.client.request(
            "PATCH",
            f"{self._repo}/issues/comments/{comment_id}",
            json={"body": body},
            need=self.NEED_COMMENT,
        )
        return _comment(expect_object(response.json(), self.TITLE, "a comment"))

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
            need=self.NEED_STATUS,
        )
        return forge_state

    def pr_author(self) -> ForgeUser:
        response = self.client.request(
            "GET", f"{self._repo}/pulls/{self.settings.pr}", need=self.NEED_PULL
        )
        user = expect_object(response.json(), self.TITLE, "a pull request").get("user") or {}
        login = user.get("login") or user.get("username")
        if not isinstance(login, str) or not login:
            raise ForgeError(f"{self.TITLE} pull request #{self.settings.pr} has no author login")
        return self._user(login, user.get("email"))

    def _user(self, login: str, email: Any) -> ForgeUser:
        return ForgeUser(self.FORGE, login, email if isinstance(email, str) and email else None)

    # -- repository lookups (forge identity mode) ---------------------------

    NEED_REPO = "contents: read and pull-requests: read"

    def check_repository(self) -> None:
        response = self.client.request("GET", self._repo, need=self.NEED_REPO)
        expect_object(response.json(), self.TITLE, "a repository")

    def changes_of_commit(self, sha: str) -> list[ChangeRecord]:
        """``GET /repos/{o}/{r}/commits/{sha}/pulls``, every page.

        GitHub associates a pull request with the commits of its branch and
        with the commit its merge made: the merge commit, the squash commit, or
        each commit a rebase merge rewrote. An unknown commit is a 422.
        """
        url: str | None = f"{self._repo}/commits/{sha}/pulls"
        params: dict[str, str | int] | None = {"per_page": 100}
        found: list[ChangeRecord] = []
        try:
            while url is not None:
                response = self.client.request("GET", url, params=params, need=self.NEED_PULL)
                for item in expect_list(response.json(), self.TITLE, "a commit's pull requests"):
                    found.append(self._change(item))
                url = response.links.get("next", {}).get("url")
                params = None
        except ForgeRefused as err:
            if err.status not in (404, 422):
                raise
            return self._commit_unknown()
        return found

    def approvers(self, change: ChangeRecord) -> list[str]:
        """``GET /repos/{o}/{r}/pulls/{n}/reviews``, every page, oldest first.

        GitHub reports a dismissed review with the state ``DISMISSED``; a
        ``COMMENTED`` review leaves the reviewer's verdict as it was.
        """
        return current_approvers(list(self._reviews(change.number)), change.head_sha)

    def _reviews(self, number: int) -> Iterator[Review]:
        url: str | None = f"{self._repo}/pulls/{number}/reviews"
        params: dict[str, str | int] | None = {"per_page": 100}
        while url is not None:
            response = self.client.request("GET", url, params=params, need=self.NEED_PULL)
            for item in expect_list(response.json(), self.TITLE, "reviews"):
                review = self._review(item)
                if review is not None:
                    yield review
            url = response.links.get("next", {}).get("url")
            params = None

    def _review(self, item: dict[str, Any]) -> Review | None:
        login = _login(item.get("user"))
        state = item.get("state")
        if login is None or not isinstance(state, str):
            return None
        commit = item.get("commit_id")
        return Review(
            user=login,
            state=state.upper(),
            commit=commit if isinstance(commit, str) and commit else None,
        )

    def _change(self, item: dict[str, Any]) -> ChangeRecord:
        number = item.get("number")
        login = _login(item.get("user"))
        if not isinstance(number, int) or login is None:
            raise ForgeError(f"{self.TITLE} API answered a pull request without number or author")
        base = _object(item.get("base"))
        head = _object(item.get("head"))
        merged_at = item.get("merged_at")
        merged = item.get("merged")
        return ChangeRecord(
            number=number,
            author=login,
            base=str(base.get("ref") or ""),
            merged=bool(merged) if isinstance(merged, bool) else bool(merged_at),
            merged_at=merged_at if isinstance(merged_at, str) and merged_at else None,
            head_sha=head.get("sha") if isinstance(head.get("sha"), str) else None,
            url=item.get("html_url") if isinstance(item.get("html_url"), str) else None,
        )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _login(user: Any) -> str | None:
    """The login of a user object (GitHub ``login``, Gitea also ``username``), if any."""
    if not isinstance(user, dict):
        return None
    login = user.get("login") or user.get("username")
    return login if isinstance(login, str) and login else None


def _comment(item: dict[str, Any]) -> Comment:
    user = item.get("user") or {}
    return Comment(
        id=int(item["id"]),
        body=str(item.get("body") or ""),
        author=user.get("login"),
        url=item.get("html_url"),
    )
