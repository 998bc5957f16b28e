"""GitHub: the plan comment is created once, then edited; statuses; retries; clear errors."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer

from proxgit.errors import ForgeError
from proxgit.forges import (
    PLAN_MARKER,
    ForgeSettings,
    PublishResult,
    RetryPolicy,
    pr_author,
    publish_plan,
)
from tests.forges.conftest import Sleeps
from tests.forges.fakeforge import OWNER_REPO, PR, TOKEN, Failure, FakeForge

MakeSettings = Callable[..., ForgeSettings]

COMMENTS = f"/repos/{OWNER_REPO}/issues/{PR}/comments"


def publish(
    settings: ForgeSettings, markdown: str = "## Plan\n1 to update\n", state: str = "success"
) -> PublishResult:
    return publish_plan(settings, markdown=markdown, state=state, description="1 to update")


def test_first_publish_creates_one_comment_and_sets_the_status(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    result = publish(make_settings(github))

    assert github.calls() == [
        ("GET", COMMENTS),
        ("POST", COMMENTS),
        ("POST", f"/repos/{OWNER_REPO}/statuses/{'a' * 40}"),
    ]
    listing, create, status = github.requests
    assert listing.query == {"per_page": "100"}
    for request in github.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-Github-Api-Version"] == "2022-11-28"
    assert create.body == {"body": f"{PLAN_MARKER}\n## Plan\n1 to update\n"}
    assert status.body == {
        "state": "success",
        "context": "proxgit/plan",
        "description": "1 to update",
        "target_url": "https://ci.example/jobs/1",
    }
    assert result.created and not result.truncated
    assert result.comment_id == github.comments[0]["id"]
    assert result.comment_url and result.comment_url.endswith(f"#c{result.comment_id}")
    assert len(github.comments) == 1


def test_second_publish_for_a_new_head_edits_the_same_comment(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    first = publish(make_settings(github), "plan for aaaa\n")
    github.requests.clear()

    second = publish(make_settings(github, sha="b" * 40), "plan for bbbb\n")

    assert github.calls() == [
        ("GET", COMMENTS),
        ("PATCH", f"/repos/{OWNER_REPO}/issues/comments/{first.comment_id}"),
        ("POST", f"/repos/{OWNER_REPO}/statuses/{'b' * 40}"),
    ]
    assert github.requests[1].body == {"body": f"{PLAN_MARKER}\nplan for bbbb\n"}
    assert second.comment_id == first.comment_id and not second.created
    assert [c["body"] for c in github.comments] == [f"{PLAN_MARKER}\nplan for bbbb\n"]


def test_an_unchanged_plan_is_not_rewritten(github: FakeForge, make_settings: MakeSettings) -> None:
    publish(make_settings(github))
    github.requests.clear()

    publish(make_settings(github))

    assert [method for method, _ in github.calls()] == ["GET", "POST"]  # list, status only


def test_other_peoples_and_bots_comments_are_never_touched(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    others = {
        github.seed("LGTM, but see the plan", "bob"): "LGTM, but see the plan",
        github.seed(
            "### Terraform plan\nno changes", "atlantis[bot]"
        ): "### Terraform plan\nno changes",
        github.seed(
            f"quoting it:\n{PLAN_MARKER}\nold plan", "carol"
        ): f"quoting it:\n{PLAN_MARKER}\nold plan",
    }

    result = publish(make_settings(github))

    assert [m for m, _ in github.calls()] == ["GET", "POST", "POST"]
    assert not any(method == "PATCH" for method, _ in github.calls())
    for comment in github.comments:
        if comment["id"] in others:
            assert comment["body"] == others[comment["id"]]
    assert result.created and result.comment_id not in others


def test_comments_are_listed_across_pages_by_following_link_next(
    httpserver: HTTPServer, make_settings: MakeSettings
) -> None:
    github = FakeForge(httpserver, "github", page_size=2)
    for n in range(4):
        github.seed(f"review comment {n}", "bob")
    mine = github.seed(f"{PLAN_MARKER}\nold plan", "github-actions[bot]")

    publish(make_settings(github))

    listings = [r for r in github.requests if r.method == "GET"]
    assert [r.query for r in listings] == [
        {"per_page": "100"},
        {"per_page": "2", "page": "2"},
        {"per_page": "2", "page": "3"},
    ]
    assert ("PATCH", f"/repos/{OWNER_REPO}/issues/comments/{mine}") in github.calls()
    assert not any(call == ("POST", COMMENTS) for call in github.calls())


@pytest.mark.parametrize(
    ("state", "description", "sent_state", "sent_description"),
    [
        ("success", "2 to create, 1 to update", "success", "2 to create, 1 to update"),
        ("failure", "3 blockers", "failure", "3 blockers"),
        ("neutral", "", "success", "no changes"),
        ("neutral", "nothing to apply", "success", "no changes: nothing to apply"),
    ],
)
def test_status_state_for_success_failure_and_neutral(
    github: FakeForge,
    make_settings: MakeSettings,
    state: str,
    description: str,
    sent_state: str,
    sent_description: str,
) -> None:
    result = publish_plan(
        make_settings(github), markdown="plan", state=state, description=description
    )

    assert github.statuses == [
        {
            "sha": "a" * 40,
            "state": sent_state,
            "context": "proxgit/plan",
            "description": sent_description,
            "target_url": "https://ci.example/jobs/1",
        }
    ]
    assert result.status_state == sent_state


def test_an_unknown_state_is_refused_before_any_request(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    with pytest.raises(ValueError, match="plan state"):
        publish(make_settings(github), state="pending")
    assert github.requests == []


def test_5xx_is_retried_with_backoff_then_succeeds(
    github: FakeForge, make_settings: MakeSettings, sleeps: Sleeps
) -> None:
    github.fail("GET", COMMENTS, Failure(502), Failure(503))

    result = publish(make_settings(github))

    assert [m for m, _ in github.calls()] == ["GET", "GET", "GET", "POST", "POST"]
    assert sleeps == [0.01, 0.02]
    assert result.created and len(github.comments) == 1


def test_a_create_that_failed_after_storing_is_not_repeated(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    # The forge stored the comment, then the answer was lost: proxgit must look
    # before it posts again, or the PR would show two plans.
    github.fail("POST", COMMENTS, Failure(502, apply=True))

    result = publish(make_settings(github))

    assert github.calls()[:3] == [("GET", COMMENTS), ("POST", COMMENTS), ("GET", COMMENTS)]
    assert sum(1 for call in github.calls() if call == ("POST", COMMENTS)) == 1
    assert len(github.comments) == 1 and result.comment_id == github.comments[0]["id"]


def test_5xx_that_never_ends_gives_one_line(github: FakeForge, make_settings: MakeSettings) -> None:
    github.fail("GET", COMMENTS, *[Failure(500)] * 4)

    with pytest.raises(ForgeError) as raised:
        publish(make_settings(github))

    assert str(raised.value) == (
        f"GitHub API: GET {COMMENTS} still answers 500 INTERNAL SERVER ERROR after 4 attempts; "
        "rerun the job later"
    )


def test_403_without_rate_limit_names_the_token_and_the_permission(
    github: FakeForge, make_settings: MakeSettings, sleeps: Sleeps
) -> None:
    status_path = f"/repos/{OWNER_REPO}/statuses/{'a' * 40}"
    github.fail(
        "POST",
        status_path,
        Failure(403, body={"message": "Resource not accessible by integration"}),
    )

    with pytest.raises(ForgeError) as raised:
        publish(make_settings(github))

    message = str(raised.value)
    assert message == (
        f"GitHub refused POST {status_path} (403): the token in GITHUB_TOKEN lacks "
        "statuses: write; set the workflow's permissions: block (classic tokens: the repo "
        "scope); Resource not accessible by integration"
    )
    assert "\n" not in message and TOKEN not in message
    assert sleeps == []  # not retried


def test_403_on_the_comment_names_pull_requests_write(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    github.fail("POST", COMMENTS, Failure(403, body={"message": "Forbidden"}))

    with pytest.raises(ForgeError, match=r"GITHUB_TOKEN lacks pull-requests: write"):
        publish(make_settings(github))


def test_401_and_404_are_one_line_too(github: FakeForge, make_settings: MakeSettings) -> None:
    github.fail("GET", COMMENTS, Failure(401, body={"message": "Bad credentials"}))
    with pytest.raises(ForgeError) as raised:
        publish(make_settings(github))
    assert str(raised.value) == (
        f"GitHub rejected the token in GITHUB_TOKEN (401 on GET {COMMENTS}): "
        "it is missing, expired or revoked; Bad credentials"
    )

    github.fail("GET", COMMENTS, Failure(404, body={"message": "Not Found"}))
    with pytest.raises(ForgeError, match=r"404 .*'acme/infra' and #7.*GITHUB_TOKEN") as raised:
        publish(make_settings(github))
    assert "\n" not in str(raised.value)


def test_rate_limit_403_waits_until_the_reset_time(
    github: FakeForge, make_settings: MakeSettings, sleeps: Sleeps
) -> None:
    # The retry fixture's clock says 1e9.
    github.fail(
        "GET",
        COMMENTS,
        Failure(
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(1e9) + 7)},
            {"message": "API rate limit exceeded"},
        ),
    )

    publish(make_settings(github))

    assert sleeps == [7.0]


def test_429_honours_retry_after(
    github: FakeForge, make_settings: MakeSettings, sleeps: Sleeps
) -> None:
    github.fail("GET", COMMENTS, Failure(429, {"Retry-After": "3"}))

    publish(make_settings(github))

    assert sleeps == [3.0]


def test_a_rate_limit_longer_than_the_cap_fails_at_once(
    github: FakeForge, make_settings: MakeSettings, sleeps: Sleeps
) -> None:
    github.fail(
        "GET",
        COMMENTS,
        Failure(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(1e9) + 3600)}),
    )

    with pytest.raises(ForgeError, match=r"rate limit for the token in GITHUB_TOKEN .* 3600s"):
        publish(make_settings(github))
    assert sleeps == []


def test_a_70000_character_plan_is_truncated_within_the_limit_with_a_note(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    line = "| lab | 101 | web-01 | update | memory | 2048 | 4096 | restart |\n"
    markdown = "## proxgit plan\n```diff\n" + line * (70_000 // len(line) + 1) + "```\n"
    assert len(markdown) > 70_000

    result = publish(make_settings(github), markdown)

    body = github.comments[0]["body"]
    assert result.truncated
    assert len(body) <= 65_536
    assert body.startswith(PLAN_MARKER + "\n## proxgit plan\n")
    assert "This plan was truncated" in body
    assert "[the CI job's log and the job summary](https://ci.example/jobs/1)" in body
    assert body.count("```") % 2 == 0  # the open diff fence is closed before the note


def test_github_enterprise_base_path(httpserver: HTTPServer, make_settings: MakeSettings) -> None:
    ghes = FakeForge(httpserver, "github", prefix="/api/v3")

    publish(make_settings(ghes))

    assert ghes.calls()[0] == ("GET", f"/api/v3{COMMENTS}")
    assert len(ghes.comments) == 1


def test_pr_author_is_the_actor_with_policy_identities(
    github: FakeForge, make_settings: MakeSettings
) -> None:
    github.author = {"login": "bob-ops", "email": "bob@example.net"}

    user = pr_author(make_settings(github))

    assert github.calls() == [("GET", f"/repos/{OWNER_REPO}/pulls/{PR}")]
    assert user.login == "bob-ops"
    assert user.identities() == ["github:bob-ops", "bob@example.net"]


def test_an_unreachable_forge_is_one_line(
    github: FakeForge, make_settings: MakeSettings, sleeps: Sleeps
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings = make_settings(github, api_url=f"http://127.0.0.1:{port}")

    with pytest.raises(ForgeError) as raised:
        publish(settings)

    message = str(raised.value)
    assert message.startswith(f"cannot reach the GitHub API at http://127.0.0.1:{port} (GET ")
    assert "\n" not in message
    assert len(sleeps) == 3


def test_the_token_never_appears_in_errors_logs_or_reprs(
    github: FakeForge, make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A forge echoing the credential back must not leak it either.
    github.fail("GET", COMMENTS, Failure(502), Failure(401, body={"message": f"bad token {TOKEN}"}))
    settings = make_settings(github)

    with pytest.raises(ForgeError) as raised:
        publish(settings)

    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(raised.value)
    assert TOKEN not in repr(settings)
    assert TOKEN not in caplog.text
    assert "retry 1 of 3" in caplog.text  # the retry was logged, without the token


def test_a_pagination_link_to_another_host_is_not_followed(
    httpserver: HTTPServer, retry: RetryPolicy
) -> None:
    httpserver.expect_request(COMMENTS).respond_with_json(
        [], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'}
    )
    settings = ForgeSettings(
        forge="github",
        api_url=httpserver.url_for("").rstrip("/"),
        repository=OWNER_REPO,
        pr=PR,
        sha="a" * 40,
        token=TOKEN,
        token_source="GITHUB_TOKEN",
        retry=retry,
    )

    with pytest.raises(ForgeError, match=r"link to https://evil.example, .*not sending the token"):
        publish(settings)
