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

from proxgit.forges.base import (
    REVIEW_CHANGES_REQUESTED,
    REVIEW_COMMENTED,
    ChangeRecord,
    Comment,
    ForgeRefused,
    ForgeUser,
    Review,
    expect_list,
    expect_object,
)
from proxgit.forges.github import GitHubAdapter, _comment, _login

# Gitea's review states in GitHub's words; REQUEST_REVIEW (a review was asked
# for) and PENDING (not submitted) decide nothing and keep their names.
_REVIEW_STATES = {"REQUEST_CHANGES": REVIEW_CHANGES_REQUESTED, "COMMENT": REVIEW_COMMENTED}

# Gitea answers at most 50 items a page unless its administrator raised MAX_RESPONSE_ITEMS.
_PAGE_LIMIT = 50


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

    # -- repository lookups (forge identity mode) ---------------------------

    NEED_REPO = "the read:repository scope"

    def changes_of_commit(self, sha: str) -> list[ChangeRecord]:
        """``GET /repos/{o}/{r}/commits/{sha}/pull``: the merged pull request of a commit.

        Gitea finds a pull request only by the commit its merge made (the merge
        commit, the squash commit, or the last commit of a rebase merge), and
        answers 404 for any other commit, the commits inside a pull request
        included.
        """
        try:
            response = self.client.request(
                "GET", f"{self._repo}/commits/{sha}/pull", need=self.NEED_PULL
            )
        except ForgeRefused as err:
            if err.status not in (404, 422):
                raise
            return self._commit_unknown()
        return [self._change(expect_object(response.json(), self.TITLE, "a pull request"))]

    def _reviews(self, number: int) -> Iterator[Review]:
        """Every page of ``/pulls/{n}/reviews`` (``page``/``limit``, ``X-Total-Count``)."""
        page, seen = 1, 0
        while True:
            response = self.client.request(
                "GET",
                f"{self._repo}/pulls/{number}/reviews",
                params={"page": page, "limit": _PAGE_LIMIT},
                need=self.NEED_PULL,
            )
            items = expect_list(response.json(), self.TITLE, "reviews")
            for item in items:
                review = self._review(item)
                if review is not None:
                    yield review
            seen += len(items)
            total = response.headers.get("X-Total-Count", "").strip()
            if not items or (total.isdigit() and seen >= int(total)):
                return
            page += 1

    def _review(self, item: dict[str, Any]) -> Review | None:
        login = _login(item.get("user"))
        state = item.get("state")
        if login is None or not isinstance(state, str):
            return None
        commit = item.get("commit_id")
        return Review(
            user=login,
            state=_REVIEW_STATES.get(state.upper(), state.upper()),
            commit=commit if isinstance(commit, str) and commit else None,
            dismissed=item.get("dismissed") is True,
            stale=item.get("stale") is True,
        )
