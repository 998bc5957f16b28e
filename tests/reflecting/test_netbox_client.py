"""The NetBox client's transport against a local HTTP server: retries on 429 and 5xx, request
counts, and bulk refusals split into per-object failures. (NetBox's own behaviour is tested
against the real NetBox in tests/netbox.)"""

from __future__ import annotations

import json
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from proxgit.reflecting.netbox.client import NetBoxClient, NetBoxUnavailable
from proxgit.reflecting.netbox.objects import Action, Kind, Write

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def client(server: HTTPServer) -> NetBoxClient:
    return NetBoxClient(server.url_for("/").rstrip("/"), TOKEN, backoff=0.0)


def test_429_and_503_are_retried_and_every_request_is_counted(httpserver: HTTPServer) -> None:
    answers = iter(
        [
            Response("slow down", status=429, headers={"Retry-After": "0"}),
            Response("busy", status=503),
            Response(
                json.dumps({"count": 1, "next": None, "results": [{"id": 1, "name": "a"}]}),
                content_type="application/json",
            ),
        ]
    )
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(str(request.headers.get("Authorization")))
        return next(answers)

    httpserver.expect_request("/api/dcim/sites/").respond_with_handler(handler)
    nb = client(httpserver)
    assert nb.read("dcim", "sites", slug="a") == [{"id": 1, "name": "a"}]
    assert seen == [f"Token {TOKEN}"] * 3
    assert nb.reads == 1  # one request proxgit made; urllib3 retried it twice


def test_a_v2_token_is_sent_as_bearer(httpserver: HTTPServer) -> None:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(str(request.headers.get("Authorization")))
        return Response(json.dumps({"netbox-version": "4.7.3"}), content_type="application/json")

    httpserver.expect_request("/api/status/").respond_with_handler(handler)
    token = "nbt_AbCdEfGhIjKl." + "x" * 40
    assert NetBoxClient(httpserver.url_for("/").rstrip("/"), token).check() == "4.7.3"
    assert seen == [f"Bearer {token}"]


def test_a_refused_token_says_where_to_look(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/status/").respond_with_json(
        {"detail": "Invalid v1 token"}, status=403
    )
    try:
        client(httpserver).check()
    except NetBoxUnavailable as err:
        assert str(err).endswith(
            "HTTP 403: Invalid v1 token (check netbox.tokenFrom and the token's permissions)"
        )
        assert TOKEN not in str(err)
    else:
        raise AssertionError("a 403 must not pass")


def test_a_bulk_refusal_fails_only_the_named_objects_and_sends_the_rest_again(
    httpserver: HTTPServer,
) -> None:
    bodies: list[Any] = []

    def handler(request: Request) -> Response:
        body = json.loads(request.data)
        bodies.append(body)
        if any(len(item["name"]) > 64 for item in body):
            errors = [
                {
                    "index": i,
                    "errors": {"name": ["Ensure this field has no more than 64 characters."]},
                }
                for i, item in enumerate(body)
                if len(item["name"]) > 64
            ]
            detail = f"{len(errors)} of {len(body)} objects could not be created."
            return Response(
                json.dumps({"detail": detail, "errors": errors}),
                status=400,
                content_type="application/json",
            )
        created = [{"id": 100 + i, **item} for i, item in enumerate(body)]
        return Response(json.dumps(created), status=201, content_type="application/json")

    httpserver.expect_request(
        "/api/virtualization/virtual-machines/", method="POST"
    ).respond_with_handler(handler)
    writes = [
        Write(Action.create, Kind.vm, (n,), f"VM {name}", {"name": name})
        for n, name in enumerate(["a", "b" * 70, "c"])
    ]
    done: list[tuple[str, int | None]] = []
    failures = client(httpserver).write(writes, lambda w, i: done.append((w.label, i)))
    assert [f.line() for f in failures] == [
        f"create VM {'b' * 70} (name): Ensure this field has no more than 64 characters."
    ]
    assert failures[0].key == (1,)
    assert done == [("VM a", 100), ("VM c", 101)]
    assert [len(b) for b in bodies] == [3, 2]
