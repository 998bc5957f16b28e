"""GitLab: merge-request notes created once then edited, X-Next-Page, statuses, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer

from proxgit.errors import ForgeError
from proxgit.forges import PLAN_MARKER, ForgeSettings, pr_author, publish_plan
from tests.forges.fakeforge import PR, TOKEN, Failure, FakeForge

MakeSettings = Callable[..., ForgeSettings]

NOTES = f"/api/v4/projects/42/merge_requests/{PR}/notes"
STATUS = f"/api/v4/projects/42/statuses/{'a' * 40}"


def test_first_publish_creates_one_note_then_edits_it(
    gitlab: FakeForge, make_settings: MakeSettings
) -> None:
    first = publish_plan(
        make_settings(gitlab), markdown="plan one", state="success", description="1 to create"
    )
    assert gitlab.calls() == [("GET", NOTES), ("POST", NOTES), ("POST", STATUS)]
    listing, create, status = gitlab.requests
    assert listing.query == {
        "per_page": "100",
        "page": "1",
        "sort": "asc",
        "order_by": "created_at",
    }
    for request in gitlab.requests:
        assert request.headers["Private-Token"] == TOKEN
        assert "Authorization" not in request.headers
    assert create.body == {"body": f"{PLAN_MARKER}\nplan one"}
    assert status.body == {
        "state": "success",
        "name": "proxgit/plan",
        "description": "1 to create",
        "target_url": "https://ci.example/jobs/1",
    }
    gitlab.requests.clear()

    second = publish_plan(
        make_settings(gitlab, sha="b" * 40),
        markdown="plan two",
        state="failure",
        description="2 blockers",
    )

    assert gitlab.calls() == [
        ("GET", NOTES),
        ("PUT", f"{NOTES}/{first.comment_id}"),
        ("POST", f"/api/v4/projects/42/statuses/{'b' * 40}"),
    ]
    assert gitlab.requests[1].body == {"body": f"{PLAN_MARKER}\nplan two"}
    assert gitlab.statuses[-1]["state"] == "failed"
    assert second.comment_id == first.comment_id and not second.created
    assert second.status_state == "failed"


def test_notes_are_paged_with_x_next_page_and_other_notes_are_untouched(
    httpserver: HTTPServer, make_settings: MakeSettings
) -> None:
    gitlab = FakeForge(httpserver, "gitlab", page_size=2)
    gitlab.seed("please check the VLAN", "bob")
    gitlab.seed("added 1 commit", "bob")
    gitlab.comments[-1]["system"] = True
    gitlab.seed("### Terraform plan", "terraform-bot")
    mine = gitlab.seed(f"{PLAN_MARKER}\nold plan", "project_42_bot")

    publish_plan(make_settings(gitlab), markdown="new plan", state="neutral", description="")

    assert [r.query["page"] for r in gitlab.requests if r.method == "GET"] == ["1", "2"]
    assert ("PUT", f"{NOTES}/{mine}") in gitlab.calls()
    assert [c["body"] for c in gitlab.comments[:3]] == [
        "please check the VLAN",
        "added 1 commit",
        "### Terraform plan",
    ]
    assert gitlab.statuses[-1]["state"] == "success"
    assert gitlab.statuses[-1]["description"] == "no changes"


def test_a_project_path_is_url_encoded(gitlab: FakeForge, make_settings: MakeSettings) -> None:
    settings = make_settings(gitlab, repository="infra/proxmox")

    with pytest.raises(ForgeError, match="404"):
        pr_author(settings)

    assert "/projects/infra%2Fproxmox/merge_requests/7" in gitlab.requests[0].raw_uri


def test_5xx_is_retried(gitlab: FakeForge, make_settings: MakeSettings) -> None:
    gitlab.fail("POST", STATUS, Failure(500))

    result = publish_plan(make_settings(gitlab), markdown="p", state="success", description="ok")

    assert [c for c in gitlab.calls() if c == ("POST", STATUS)] == [("POST", STATUS)] * 2
    assert result.status_state == "success"


def test_403_names_the_token_variable_scope_and_role(
    gitlab: FakeForge, make_settings: MakeSettings
) -> None:
    gitlab.fail("POST", NOTES, Failure(403, body={"message": "403 Forbidden"}))

    with pytest.raises(ForgeError) as raised:
        publish_plan(make_settings(gitlab), markdown="p", state="success", description="ok")

    assert str(raised.value) == (
        f"GitLab refused POST {NOTES.removeprefix('/api/v4')} (403): the token in "
        "PROXGIT_GITLAB_TOKEN lacks the api scope and Reporter role; use a project access "
        "token with the api scope and Reporter "
        "role or higher; 403 Forbidden"
    )


def test_a_long_plan_fits_gitlabs_larger_limit_untruncated(
    gitlab: FakeForge, make_settings: MakeSettings
) -> None:
    markdown = "x" * 70_000

    result = publish_plan(make_settings(gitlab), markdown=markdown, state="success", description="")

    assert not result.truncated
    assert gitlab.comments[0]["body"] == f"{PLAN_MARKER}\n{markdown}"


def test_pr_author_is_the_merge_request_author(
    gitlab: FakeForge, make_settings: MakeSettings
) -> None:
    gitlab.author = {"username": "dave-intern", "email": "ignored@example.net"}

    user = pr_author(make_settings(gitlab))

    assert user.identities() == ["gitlab:dave-intern"]
