"""A stateful stand-in for the GitHub, GitLab and Gitea REST APIs, on pytest-httpserver.

It keeps a pull request's comments and the commit statuses in memory, answers
the calls proxgit makes the way each forge does (pagination headers
included), records every request for the tests to assert on, and can be told
to fail the next calls to a path with a status and headers.

For forge identity mode it also holds a repository's pull requests
(:meth:`FakeForge.add_pull`): author, base branch, state, the commits each
contains, the commit its merge made, reviews and GitLab approvals; and it
answers "the pull requests of a commit" and "the reviews (approvals) of a pull
request" as each forge does: GitHub and GitLab find a pull request by any of
its commits, Gitea only by the commit its merge made.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

OWNER_REPO = "acme/infra"
PR = 7
TOKEN = "tok_S3CRET_never_shown_0123456789"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    raw_uri: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    @property
    def call(self) -> tuple[str, str]:
        return self.method, self.path


# The repository's GitLab project: its id, and its path as GitLab wants it in a URL.
GITLAB_PROJECT_ID = 42
GITLAB_PROJECT = quote(OWNER_REPO, safe="")

# When a fake pull request was merged, unless a test says otherwise.
MERGED_AT = "2024-05-01T12:00:00Z"


@dataclass
class FakeReview:
    """One submitted review, in GitHub's words: APPROVED, CHANGES_REQUESTED or COMMENTED.

    ``commit`` is the commit the review saw; ``None`` means the pull request's
    head. ``dismissed`` is how a maintainer withdrew it.
    """

    user: str
    state: str
    dismissed: bool = False
    commit: str | None = None
    id: int = 0


@dataclass
class FakePull:
    """A pull request (GitLab: merge request) in the fake repository."""

    number: int
    author: str
    commits: list[str]
    base: str = "main"
    state: str = "merged"  # merged | closed | open
    merge_commit: str | None = None
    rebased: list[str] = field(default_factory=list)
    head_sha: str = ""
    reviews: list[FakeReview] = field(default_factory=list)
    approvals: list[str] | None = None  # GitLab's approved_by; None: derived from reviews
    merged_at: str | None = None

    def associated(self) -> set[str]:
        """The commits GitHub and GitLab find this pull request by."""
        found = set(self.commits) | set(self.rebased)
        if self.merge_commit:
            found.add(self.merge_commit)
        return found

    def review_commit(self, review: FakeReview) -> str:
        return review.commit or self.head_sha

    def approved_by(self) -> list[str]:
        """GitLab's approved_by: latest verdict approves, not revoked, not reset by a push."""
        if self.approvals is not None:
            return list(self.approvals)
        verdicts: dict[str, FakeReview] = {}
        for review in self.reviews:
            if review.state != "COMMENTED":
                verdicts[review.user] = review
        return [
            user
            for user, review in verdicts.items()
            if review.state == "APPROVED"
            and not review.dismissed
            and self.review_commit(review) == self.head_sha
        ]


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    apply: bool = False  # do the work, then answer with the failure


class FakeForge:
    """One forge's API for one repository and one pull request."""

    def __init__(self, server: HTTPServer, forge: str, *, prefix: str = "", page_size: int = 100):
        self.server = server
        self.forge = forge
        self.prefix = prefix.rstrip("/")
        self.page_size = page_size
        self.comments: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.requests: list[Recorded] = []
        self.failures: dict[tuple[str, str], deque[Failure]] = {}
        self.author = {"login": "alice", "username": "alice", "email": None}
        self.pulls: dict[int, FakePull] = {}
        self.pushed: set[str] = set()  # commits on a branch without a pull request
        self.repo_visible = True  # False: the token cannot see the repository (404)
        self._next_id = 1000
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    # -- test controls ------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.server.url_for(self.prefix + ("/api/v4" if self.forge == "gitlab" else ""))

    def seed(self, body: str, author: str) -> int:
        """A comment somebody else wrote before proxgit ran."""
        self._next_id += 1
        self.comments.append(self._make(self._next_id, body, author))
        return self._next_id

    def fail(self, method: str, path: str, *failures: Failure) -> None:
        """Answer the next calls to ``method path`` (the full path) with ``failures``, in order."""
        self.failures.setdefault((method, path), deque()).extend(failures)

    def calls(self) -> list[tuple[str, str]]:
        return [r.call for r in self.requests]

    def add_pull(
        self,
        number: int,
        author: str,
        *,
        commits: Sequence[str],
        merge_commit: str | None = None,
        rebased: Sequence[str] = (),
        base: str = "main",
        state: str = "merged",
        reviews: Iterable[FakeReview | tuple[str, str]] = (),
        approvals: Sequence[str] | None = None,
        head_sha: str | None = None,
        merged_at: str | None = MERGED_AT,
    ) -> FakePull:
        """A pull request by ``author`` whose branch holds ``commits`` (oldest first).

        Merged (``state="merged"``) with a merge commit or a squash commit:
        give ``merge_commit``. Merged by rebase: give the rewritten commits as
        ``rebased``; the last of them is the commit the merge made. ``reviews``
        are ``(user, state)`` pairs or :class:`FakeReview`, oldest first, on
        the head commit unless they name another. ``approvals`` overrides
        GitLab's approved_by, which otherwise follows the reviews.
        """
        if state not in ("merged", "closed", "open"):
            raise ValueError(f"state must be merged, closed or open, not {state!r}")
        rebased = list(rebased)
        if merge_commit is None and rebased and state == "merged":
            merge_commit = rebased[-1]
        pull = FakePull(
            number=number,
            author=author,
            commits=list(commits),
            base=base,
            state=state,
            merge_commit=merge_commit if state == "merged" else None,
            rebased=rebased,
            head_sha=head_sha or (commits[-1] if commits else f"head{number}"),
            approvals=list(approvals) if approvals is not None else None,
            merged_at=merged_at if state == "merged" else None,
        )
        self.pulls[number] = pull
        for review in reviews:
            if isinstance(review, tuple):
                self.review(number, *review)
            else:
                self._add_review(pull, review)
        return pull

    def review(
        self,
        number: int,
        user: str,
        state: str,
        *,
        dismissed: bool = False,
        commit: str | None = None,
    ) -> FakeReview:
        """``user`` submits a review of pull request ``number``."""
        return self._add_review(self.pulls[number], FakeReview(user, state, dismissed, commit))

    def dismiss(self, number: int, user: str) -> None:
        """A maintainer dismisses ``user``'s latest approval or change request."""
        for review in reversed(self.pulls[number].reviews):
            if review.user == user and review.state != "COMMENTED":
                review.dismissed = True
                return
        raise KeyError(f"{user} has no review on #{number} to dismiss")

    def push(self, *shas: str) -> None:
        """Commits that reached a branch without a pull request (a direct push)."""
        self.pushed.update(shas)

    def _add_review(self, pull: FakePull, review: FakeReview) -> FakeReview:
        self._next_id += 1
        review.id = self._next_id
        pull.reviews.append(review)
        return review

    # -- paths --------------------------------------------------------------

    def comments_path(self) -> str:
        if self.forge == "gitlab":
            return f"/api/v4/projects/42/merge_requests/{PR}/notes"
        return f"/repos/{OWNER_REPO}/issues/{PR}/comments"

    def comment_path(self, comment_id: int) -> str:
        if self.forge == "gitlab":
            return f"{self.comments_path()}/{comment_id}"
        return f"/repos/{OWNER_REPO}/issues/comments/{comment_id}"

    def status_path(self, sha: str) -> str:
        if self.forge == "gitlab":
            return f"/api/v4/projects/42/statuses/{sha}"
        return f"/repos/{OWNER_REPO}/statuses/{sha}"

    def pull_path(self) -> str:
        if self.forge == "gitlab":
            return f"/api/v4/projects/42/merge_requests/{PR}"
        return f"/repos/{OWNER_REPO}/pulls/{PR}"

    # -- the server ---------------------------------------------------------

    def _make(self, comment_id: int, body: str, author: str) -> dict[str, Any]:
        if self.forge == "gitlab":
            return {"id": comment_id, "body": body, "author": {"username": author}, "system": False}
        return {
            "id": comment_id,
            "body": body,
            "user": {"login": author},
            "html_url": f"https://forge.example/{OWNER_REPO}/pull/{PR}#c{comment_id}",
        }

    def _handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        path = request.path
        self.requests.append(
            Recorded(
                method=request.method,
                path=path,
                raw_uri=request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI", ""),
                query=dict(request.args),
                headers=dict(request.headers),
                body=body,
            )
        )
        queued = self.failures.get((request.method, path))
        failure = queued.popleft() if queued else None
        if failure is not None and not failure.apply:
            return _json(
                failure.body or {"message": "injected failure"}, failure.status, failure.headers
            )
        response = self._route(request.method, path.removeprefix(self.prefix), request, body)
        if failure is not None:
            return _json(
                failure.body or {"message": "injected failure"}, failure.status, failure.headers
            )
        return response

    def _route(self, method: str, path: str, request: Request, body: Any) -> Response:
        if path == self.comments_path() and method == "GET":
            return self._list(request)
        if path == self.comments_path() and method == "POST":
            self._next_id += 1
            comment = self._make(self._next_id, body["body"], "proxgit-bot")
            self.comments.append(comment)
            return _json(comment, 201)
        edit_method = "PUT" if self.forge == "gitlab" else "PATCH"
        for comment in self.comments:
            if path == self.comment_path(comment["id"]) and method == edit_method:
                comment["body"] = body["body"]
                return _json(comment, 200)
        if path.startswith(self.status_path("")) and method == "POST":
            self.statuses.append({"sha": path.rsplit("/", 1)[1], **body})
            return _json({"id": len(self.statuses), **body}, 201)
        if path == self.pull_path() and method == "GET":
            key = "author" if self.forge == "gitlab" else "user"
            return _json({"number": PR, key: self.author}, 200)
        if method == "GET":
            found = self._route_repository(self._raw_path(request), request)
            if found is not None:
                return found
        return _json({"message": "Not Found"}, 404)

    # -- repository lookups: pull requests of a commit, reviews, approvals --

    def _raw_path(self, request: Request) -> str:
        """The path as sent, percent-encoding kept (GitLab's project path is encoded)."""
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        return str(raw).split("?", 1)[0].removeprefix(self.prefix)

    def _route_repository(self, raw: str, request: Request) -> Response | None:
        if self.forge == "gitlab":
            match = re.fullmatch(r"/api/v4/projects/([^/]+)(/.*)?", raw)
            if match is None or match.group(1) not in (GITLAB_PROJECT, str(GITLAB_PROJECT_ID)):
                return None
            rest = match.group(2) or ""
        else:
            repo = f"/repos/{OWNER_REPO}"
            if raw != repo and not raw.startswith(repo + "/"):
                return None
            rest = raw[len(repo) :]
        if not self.repo_visible:
            return _json({"message": "Not Found"}, 404)
        if self.forge == "gitlab":
            return self._gitlab(rest, request)
        return self._github(rest, request) if self.forge == "github" else self._gitea(rest, request)

    def _known(self, sha: str) -> bool:
        return sha in self.pushed or any(sha in p.associated() for p in self.pulls.values())

    def _github(self, rest: str, request: Request) -> Response | None:
        if rest == "":
            return _json({"full_name": OWNER_REPO, "private": True}, 200)
        match = re.fullmatch(r"/commits/([^/]+)/pulls", rest)
        if match:
            sha = match.group(1)
            if not self._known(sha):
                return _json({"message": f"No commit found for SHA: {sha}"}, 422)
            found = [self._github_pull(p) for p in self.pulls.values() if sha in p.associated()]
            return self._page(found, request)
        match = re.fullmatch(r"/pulls/(\d+)/reviews", rest)
        if match and int(match.group(1)) in self.pulls:
            pull = self.pulls[int(match.group(1))]
            reviews = [
                {
                    "id": r.id,
                    "user": {"login": r.user},
                    "state": "DISMISSED" if r.dismissed else r.state,
                    "commit_id": pull.review_commit(r),
                    "body": "",
                }
                for r in pull.reviews
            ]
            return self._page(reviews, request)
        return None

    def _github_pull(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": "open" if pull.state == "open" else "closed",
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit,
            "user": {"login": pull.author},
            "base": {"ref": pull.base},
            "head": {"sha": pull.head_sha},
            "html_url": f"https://forge.example/{OWNER_REPO}/pull/{pull.number}",
        }

    def _gitea(self, rest: str, request: Request) -> Response | None:
        if rest == "":
            return _json({"full_name": OWNER_REPO, "private": True}, 200)
        match = re.fullmatch(r"/commits/([^/]+)/pull", rest)
        if match:
            # Gitea looks the pull request up by merged_commit_id, and nothing else.
            sha = match.group(1)
            for pull in self.pulls.values():
                if pull.state == "merged" and pull.merge_commit == sha:
                    return _json(self._gitea_pull(pull), 200)
            return _json({"message": "The target couldn't be found.", "errors": []}, 404)
        match = re.fullmatch(r"/pulls/(\d+)/reviews", rest)
        if match and int(match.group(1)) in self.pulls:
            pull = self.pulls[int(match.group(1))]
            states = {"CHANGES_REQUESTED": "REQUEST_CHANGES", "COMMENTED": "COMMENT"}
            reviews = [
                {
                    "id": r.id,
                    "user": {"login": r.user, "username": r.user},
                    "state": states.get(r.state, r.state),
                    "dismissed": r.dismissed,
                    "stale": pull.review_commit(r) != pull.head_sha,
                    "official": True,
                    "commit_id": pull.review_commit(r),
                }
                for r in pull.reviews
            ]
            page = int(request.args.get("page", "1"))
            size = min(int(request.args.get("limit", "30")), 50, self.page_size)
            items = reviews[(page - 1) * size : page * size]
            return _json(items, 200, {"X-Total-Count": str(len(reviews))})
        return None

    def _gitea_pull(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": "open" if pull.state == "open" else "closed",
            "merged": pull.state == "merged",
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit,
            "user": {"login": pull.author, "username": pull.author},
            "base": {"ref": pull.base},
            "head": {"sha": pull.head_sha},
            "html_url": f"https://forge.example/{OWNER_REPO}/pulls/{pull.number}",
        }

    def _gitlab(self, rest: str, request: Request) -> Response | None:
        if rest == "":
            return _json({"id": GITLAB_PROJECT_ID, "path_with_namespace": OWNER_REPO}, 200)
        match = re.fullmatch(r"/repository/commits/([^/]+)/merge_requests", rest)
        if match:
            sha = match.group(1)
            if not self._known(sha):
                return _json({"message": "404 Commit Not Found"}, 404)
            found = [self._gitlab_mr(p) for p in self.pulls.values() if sha in p.associated()]
            return self._page(found, request)
        match = re.fullmatch(r"/merge_requests/(\d+)/approvals", rest)
        if match and int(match.group(1)) in self.pulls:
            pull = self.pulls[int(match.group(1))]
            approved_by = [{"user": {"username": user}} for user in pull.approved_by()]
            return _json(
                {"iid": pull.number, "approved": bool(approved_by), "approved_by": approved_by},
                200,
            )
        return None

    def _gitlab_mr(self, pull: FakePull) -> dict[str, Any]:
        return {
            "id": 9000 + pull.number,
            "iid": pull.number,
            "project_id": GITLAB_PROJECT_ID,
            "state": {"open": "opened"}.get(pull.state, pull.state),
            "target_branch": pull.base,
            "author": {"username": pull.author},
            "merged_at": pull.merged_at,
            "sha": pull.head_sha,
            "merge_commit_sha": pull.merge_commit,
            "squash_commit_sha": None,
            "web_url": f"https://forge.example/{OWNER_REPO}/-/merge_requests/{pull.number}",
        }

    def _page(self, items: list[Any], request: Request) -> Response:
        """One page of a GitHub (Link) or GitLab (X-Next-Page) listing."""
        page = int(request.args.get("page", "1"))
        size = min(int(request.args.get("per_page", "30")), self.page_size)
        chunk = items[(page - 1) * size : page * size]
        more = page * size < len(items)
        headers: dict[str, str] = {}
        if self.forge == "github" and more:
            query = urlencode({"per_page": size, "page": page + 1})
            url = self.server.url_for(f"{request.path}?{query}")
            headers["Link"] = f'<{url}>; rel="next"'
        if self.forge == "gitlab":
            headers["X-Next-Page"] = str(page + 1) if more else ""
            headers["X-Page"] = str(page)
        return _json(chunk, 200, headers)

    def _list(self, request: Request) -> Response:
        if self.forge == "gitea":
            return _json(self.comments, 200)
        page = int(request.args.get("page", "1"))
        size = min(int(request.args.get("per_page", "30")), self.page_size)
        items = self.comments[(page - 1) * size : page * size]
        more = page * size < len(self.comments)
        headers: dict[str, str] = {}
        if self.forge == "github" and more:
            query = urlencode({"per_page": size, "page": page + 1})
            url = self.server.url_for(f"{request.path}?{query}")
            headers["Link"] = f'<{url}>; rel="next", <{url}>; rel="last"'
        if self.forge == "gitlab":
            headers["X-Next-Page"] = str(page + 1) if more else ""
            headers["X-Page"] = str(page)
        return _json(items, 200, headers)


def _json(payload: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload), status=status, headers=headers or {}, content_type="application/json"
    )
