"""Gitea and Forgejo: issue comments created once then edited, statuses, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from proxgit.errors import ForgeError
from proxgit.forges import PLAN_MARKER, ForgeSettings, pr_author, publish_plan
from tests.forges.fakeforge import OWNER_REPO, PR, TOKEN, Failure, FakeForge

MakeSettings = Callable[..., ForgeSettings]

COMMENTS = f"/api/v1/repos/{OWNER_REPO}/issues/{PR}/comments"


def test_first_publish_creates_then_later_publishes_edit(
    gitea: FakeForge, make_settings: MakeSettings
) -> None:
    gitea.seed("nice change", "bob")
    gitea.seed("CI: 3 checks passed", "woodpecker-bot")

    first = publish_plan(make_settings(gitea), markdown="v1", state="success", description="ok")

    assert gitea.calls() == [
        ("GET", COMMENTS),
        ("POST", COMMENTS),
        ("POST", f"/api/v1/repos/{OWNER_REPO}/statuses/{'a' * 40}"),
    ]
    for request in gitea.requests:
        assert request.headers["Authorization"] == f"token {TOKEN}"
    assert gitea.requests[1].body == {"body": f"{PLAN_MARKER}\nv1"}
    assert gitea.requests[2].body == {
        "state": "success",
        "context": "proxgit/plan",
        "description": "ok",
        "target_url": "https://ci.example/jobs/1",
    }
    gitea.requests.clear()

    second = publish_plan(
        make_settings(gitea, sha="c" * 40), markdown="v2", state="failure", description="1 blocker"
    )

    assert gitea.calls() == [
        ("GET", COMMENTS),
        ("PATCH", f"/api/v1/repos/{OWNER_REPO}/issues/comments/{first.comment_id}"),
        ("POST", f"/api/v1/repos/{OWNER_REPO}/statuses/{'c' * 40}"),
    ]
    assert second.comment_id == first.comment_id
    assert gitea.statuses[-1]["state"] == "failure"
    assert [c["body"] for c in gitea.comments] == [
        "nice change",
        "CI: 3 checks passed",
        f"{PLAN_MARKER}\nv2",
    ]


def test_neutral_is_success_with_no_changes(gitea: FakeForge, make_settings: MakeSettings) -> None:
    publish_plan(make_settings(gitea), markdown="nothing", state="neutral", description="")

    assert gitea.statuses[-1]["state"] == "success"
    assert gitea.statuses[-1]["description"] == "no changes"


def test_a_70000_character_plan_is_truncated(gitea: FakeForge, make_settings: MakeSettings) -> None:
    result = publish_plan(
        make_settings(gitea, details_url=None),
        markdown="- change\n" * 7_800,
        state="success",
        description="",
    )

    body = gitea.comments[0]["body"]
    assert result.truncated and len(body) <= 65_536
    assert body.rstrip().endswith("The full plan is in the CI job's log.")


def test_5xx_retried_and_403_explained(gitea: FakeForge, make_settings: MakeSettings) -> None:
    gitea.fail(
        "GET",
        COMMENTS,
        Failure(502),
        Failure(403, body={"message": "token does not have at least one of required scope(s)"}),
    )

    with pytest.raises(ForgeError) as raised:
        publish_plan(make_settings(gitea), markdown="p", state="success", description="")

    assert [c for c in gitea.calls()] == [("GET", COMMENTS), ("GET", COMMENTS)]
    assert str(raised.value) == (
        f"Gitea refused GET {COMMENTS.removeprefix('/api/v1')} (403): the token in "
        "PROXGIT_GITEA_TOKEN lacks the read:issue scope; use a token with the write:issue "
        "and write:repository scopes; "
        "token does not have at least one of required scope(s)"
    )


def test_pr_author_uses_the_login_only(gitea: FakeForge, make_settings: MakeSettings) -> None:
    gitea.author = {"login": "frank-sre", "email": "erin@example.net"}

    user = pr_author(make_settings(gitea))

    # Gitea may not verify addresses: an email there could claim anyone's identity.
    assert user.identities() == ["gitea:frank-sre"]
