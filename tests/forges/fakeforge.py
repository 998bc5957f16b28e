"""A stateful stand-in for the GitHub, GitLab and Gitea REST APIs, on pytest-httpserver.

It keeps a pull request's comments and the commit statuses in memory, answers
the calls proxgit makes the way each forge does (pagination headers
included), records every request for the tests to assert on, and can be told
to fail the next calls to a path with a status and headers.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

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
        return _json({"message": "Not Found"}, 404)

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
