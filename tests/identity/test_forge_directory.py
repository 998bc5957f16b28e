"""Forge identity mode: the merged pull request behind a commit, its author, its approvers.

Every case runs against GitHub, GitLab and Gitea, each faked the way that forge
answers: GitHub and GitLab find a pull request by any of its commits, Gitea
only by the commit its merge made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from proxgit.errors import ConfigError, ForgeError
from proxgit.identity import ForgeDirectory, MergedChange, open_directory
from proxgit.models.config import Config
from tests.forges.fakeforge import (
    GITLAB_PROJECT,
    OWNER_REPO,
    TOKEN,
    Failure,
    FakeForge,
    FakeReview,
)
from tests.identity.conftest import TOKEN_ENV, forge_block

MakeFake = Callable[..., FakeForge]
MakeDirectory = Callable[..., ForgeDirectory]


def handle(fake: FakeForge, login: str) -> str:
    return f"{fake.forge}:{login}"


def repo_path(fake: FakeForge, rest: str) -> str:
    """The full request path of ``rest`` in the fake's repository."""
    if fake.forge == "gitlab":
        # pytest-httpserver records the decoded path
        return f"/api/v4/projects/{OWNER_REPO}{rest}"
    return f"{fake.prefix}/repos/{OWNER_REPO}{rest}"


def commit_lookup_path(fake: FakeForge, sha: str) -> str:
    if fake.forge == "github":
        return repo_path(fake, f"/commits/{sha}/pulls")
    if fake.forge == "gitea":
        return repo_path(fake, f"/commits/{sha}/pull")
    return repo_path(fake, f"/repository/commits/{sha}/merge_requests")


def approvals_path(fake: FakeForge, number: int) -> str:
    if fake.forge == "gitlab":
        return repo_path(fake, f"/merge_requests/{number}/approvals")
    return repo_path(fake, f"/pulls/{number}/reviews")


# -- how a pull request was merged --------------------------------------------


def test_a_merge_commit_resolves_to_its_pull_request(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(
        5, "Alice", commits=["c1", "c2"], merge_commit="m5", reviews=[("bob", "APPROVED")]
    )

    change = directory.merged_change_of("m5")

    assert change == MergedChange(
        forge=fake.forge,
        number=5,
        author=handle(fake, "alice"),
        approvers=(handle(fake, "bob"),),
        merged_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        url=change.url if change else None,
    )
    assert change is not None and change.url and change.url.endswith("5")


def test_the_commits_inside_a_merged_pull_request(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(5, "alice", commits=["c1", "c2"], merge_commit="m5")

    change = directory.merged_change_of("c1")

    if fake.forge == "gitea":
        # Gitea finds a pull request only by merged_commit_id: an inner commit is not found.
        assert change is None
    else:
        assert change is not None and change.number == 5


def test_a_squash_commit_resolves_to_its_pull_request(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(6, "alice", commits=["c1", "c2", "c3"], merge_commit="s6")

    change = directory.merged_change_of("s6")

    assert change is not None
    assert (change.number, change.author) == (6, handle(fake, "alice"))


def test_a_rebase_merge_resolves_by_its_rewritten_commits(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(7, "alice", commits=["c1", "c2"], rebased=["r1", "r2"])

    last = directory.merged_change_of("r2")
    first = directory.merged_change_of("r1")

    assert last is not None and last.number == 7
    if fake.forge == "gitea":
        assert first is None  # only the commit the merge made (the last rewritten one)
    else:
        assert first is not None and first.number == 7


def test_sha_case_and_whitespace_do_not_matter(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="abc123")

    change = directory.merged_change_of(" ABC123\n")

    assert change is not None and change.number == 5


# -- what carries no identity -------------------------------------------------


def test_a_direct_push_has_no_merged_change(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.push("d1")

    assert directory.merged_change_of("d1") is None


def test_a_commit_the_forge_does_not_know_has_no_merged_change(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    assert directory.merged_change_of("f" * 40) is None


def test_a_pull_request_closed_unmerged_never_counts(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(8, "alice", commits=["c1"], state="closed", reviews=[("bob", "APPROVED")])
    fake.add_pull(9, "alice", commits=["c2"], state="open", reviews=[("bob", "APPROVED")])

    assert directory.merged_change_of("c1") is None
    assert directory.merged_change_of("c2") is None


def test_a_pull_request_merged_into_another_branch_does_not_count(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(10, "alice", commits=["c1"], merge_commit="m10", base="release")

    assert directory.merged_change_of("m10") is None


def test_the_base_branch_is_configurable(fake: FakeForge, make_directory: MakeDirectory) -> None:
    fake.add_pull(10, "alice", commits=["c1"], merge_commit="m10", base="production")

    change = make_directory(fake, base_branch="production").merged_change_of("m10")

    assert change is not None and change.number == 10


def test_the_first_merged_pull_request_brought_the_commit_in(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    if fake.forge == "gitea":
        pytest.skip("Gitea maps a merge commit to one pull request")
    # c1 was merged by #12, then carried again by #11, merged later.
    fake.add_pull(
        11, "mallory", commits=["c1", "c2"], merge_commit="m11", merged_at="2024-06-01T00:00:00Z"
    )
    fake.add_pull(
        12, "alice", commits=["c1"], merge_commit="m12", merged_at="2024-05-01T00:00:00+02:00"
    )
    fake.add_pull(13, "eve", commits=["c1"], state="closed")

    change = directory.merged_change_of("c1")

    assert change is not None and change.author == handle(fake, "alice")
    assert change.merged_at == datetime(2024, 4, 30, 22, 0, tzinfo=UTC)


# -- approvals ----------------------------------------------------------------


def test_approvals_by_other_users_count(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.add_pull(
        5,
        "alice",
        commits=["c1"],
        merge_commit="m5",
        reviews=[("Carol", "APPROVED"), ("bob", "APPROVED"), ("dave", "COMMENTED")],
    )

    change = directory.merged_change_of("m5")

    assert change is not None
    assert change.approvers == (handle(fake, "bob"), handle(fake, "carol"))


def test_no_reviews_means_no_approvers(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5")

    change = directory.merged_change_of("m5")

    assert change is not None and change.approvers == ()


def test_a_dismissed_approval_does_not_count(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.add_pull(
        5,
        "alice",
        commits=["c1"],
        merge_commit="m5",
        reviews=[("bob", "APPROVED"), FakeReview("carol", "APPROVED", dismissed=True)],
    )
    fake.dismiss(5, "bob")

    change = directory.merged_change_of("m5")

    assert change is not None and change.approvers == ()


def test_an_approval_after_a_dismissed_one_counts(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5", reviews=[("bob", "APPROVED")])
    fake.dismiss(5, "bob")
    fake.review(5, "bob", "APPROVED")

    change = directory.merged_change_of("m5")

    assert change is not None and change.approvers == (handle(fake, "bob"),)


def test_changes_requested_after_approving_withdraws_the_approval(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(
        5,
        "alice",
        commits=["c1"],
        merge_commit="m5",
        reviews=[("bob", "APPROVED"), ("bob", "CHANGES_REQUESTED")],
    )
    fake.add_pull(
        6,
        "alice",
        commits=["c2"],
        merge_commit="m6",
        reviews=[("bob", "CHANGES_REQUESTED"), ("bob", "APPROVED")],
    )

    withdrawn = directory.merged_change_of("m5")
    approved = directory.merged_change_of("m6")

    assert withdrawn is not None and withdrawn.approvers == ()
    assert approved is not None and approved.approvers == (handle(fake, "bob"),)


def test_a_comment_after_approving_keeps_the_approval(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(
        5,
        "alice",
        commits=["c1"],
        merge_commit="m5",
        reviews=[("bob", "APPROVED"), ("bob", "COMMENTED")],
    )

    change = directory.merged_change_of("m5")

    assert change is not None and change.approvers == (handle(fake, "bob"),)


def test_the_authors_own_approval_is_excluded(fake: FakeForge, directory: ForgeDirectory) -> None:
    # GitLab lets authors approve their own merge requests when the project allows it.
    fake.add_pull(
        5,
        "Alice",
        commits=["c1"],
        merge_commit="m5",
        reviews=[("alice", "APPROVED"), ("bob", "APPROVED")],
    )

    change = directory.merged_change_of("m5")

    assert change is not None
    assert change.author == handle(fake, "alice")
    assert change.approvers == (handle(fake, "bob"),)


def test_an_approval_of_an_earlier_push_does_not_count(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    # bob approved c1; alice then pushed c2 and merged without a new review.
    fake.add_pull(
        5,
        "alice",
        commits=["c1", "c2"],
        merge_commit="m5",
        reviews=[FakeReview("bob", "APPROVED", commit="c1"), ("carol", "APPROVED")],
    )

    change = directory.merged_change_of("m5")

    assert change is not None and change.approvers == (handle(fake, "carol"),)


def test_gitlab_approved_by_is_what_counts(
    make_fake: MakeFake, make_directory: MakeDirectory
) -> None:
    fake = make_fake("gitlab")
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5", approvals=["bob", "alice"])

    change = make_directory(fake).merged_change_of("m5")

    assert change is not None and change.approvers == ("gitlab:bob",)
    assert fake.calls()[-1] == ("GET", approvals_path(fake, 5))


def test_reviews_are_read_across_pages(
    make_fake: MakeFake, make_directory: MakeDirectory, forge_type: str
) -> None:
    fake = make_fake(forge_type, page_size=2)
    reviewers = ["r1", "r2", "r3", "r4", "r5"]
    fake.add_pull(
        5,
        "alice",
        commits=["c1"],
        merge_commit="m5",
        reviews=[(name, "APPROVED") for name in reviewers] + [("r1", "CHANGES_REQUESTED")],
    )

    change = make_directory(fake).merged_change_of("m5")

    assert change is not None
    assert change.approvers == tuple(handle(fake, name) for name in reviewers[1:])
    if forge_type != "gitlab":  # GitLab's approvals come in one answer
        pages = [r for r in fake.requests if r.path == approvals_path(fake, 5)]
        assert len(pages) == 3


def test_a_commits_pull_requests_are_read_across_pages(
    make_fake: MakeFake, make_directory: MakeDirectory, forge_type: str
) -> None:
    if forge_type == "gitea":
        pytest.skip("Gitea answers a commit's pull request as one object")
    fake = make_fake(forge_type, page_size=2)
    fake.add_pull(1, "eve", commits=["c1"], state="closed")
    fake.add_pull(2, "eve", commits=["c1"], state="open")
    fake.add_pull(3, "eve", commits=["c1"], merge_commit="m3", base="release")
    fake.add_pull(4, "alice", commits=["c1"], merge_commit="m4")

    change = make_directory(fake).merged_change_of("c1")

    assert change is not None and change.number == 4
    pages = [r for r in fake.requests if r.path == commit_lookup_path(fake, "c1")]
    assert len(pages) == 2


# -- caching ------------------------------------------------------------------


def test_answers_are_cached_per_commit_and_reviews_per_pull_request(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(7, "alice", commits=["c1"], rebased=["r1", "r2"], reviews=[("bob", "APPROVED")])
    fake.push("d1")

    first = directory.merged_change_of("r2")
    again = directory.merged_change_of("r2")
    directory.merged_change_of("d1")
    directory.merged_change_of("d1")
    if fake.forge != "gitea":
        directory.merged_change_of("r1")

    assert first == again
    assert sum(r.path == approvals_path(fake, 7) for r in fake.requests) == 1
    assert sum(r.path == commit_lookup_path(fake, "r2") for r in fake.requests) == 1
    assert sum(r.path == commit_lookup_path(fake, "d1") for r in fake.requests) == 1


def test_an_error_is_not_cached(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5")
    fake.fail("GET", commit_lookup_path(fake, "m5"), *[Failure(502)] * 3)

    with pytest.raises(ForgeError):
        directory.merged_change_of("m5")
    change = directory.merged_change_of("m5")

    assert change is not None and change.number == 5


# -- errors -------------------------------------------------------------------


def test_a_forge_500_is_one_forge_error_line(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5")
    fake.fail("GET", approvals_path(fake, 5), *[Failure(500, body={"message": "boom"})] * 3)

    with pytest.raises(ForgeError) as caught:
        directory.merged_change_of("m5")

    message = str(caught.value)
    assert "\n" not in message
    assert "500" in message and "after 3 attempts" in message
    assert TOKEN not in message


def test_the_token_never_appears_in_errors(fake: FakeForge, directory: ForgeDirectory) -> None:
    fake.fail(
        "GET",
        commit_lookup_path(fake, "m5"),
        Failure(401, body={"message": f"Bad credentials: {TOKEN}\nsecond line"}),
    )

    with pytest.raises(ForgeError) as caught:
        directory.merged_change_of("m5")

    message = str(caught.value)
    assert TOKEN not in message and "\n" not in message
    assert "401" in message
    assert f"spec.forge.tokenFrom (env:{TOKEN_ENV})" in message
    assert TOKEN not in repr(directory)


def test_a_refused_token_names_the_read_permission(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.fail("GET", commit_lookup_path(fake, "m5"), Failure(403, body={"message": TOKEN}))

    with pytest.raises(ForgeError) as caught:
        directory.merged_change_of("m5")

    message = str(caught.value)
    assert "403" in message and "read" in message
    assert TOKEN not in message


def test_a_repository_the_token_cannot_see_is_an_error_not_a_direct_push(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.push("d1")
    fake.repo_visible = False

    with pytest.raises(ForgeError) as caught:
        directory.merged_change_of("d1")

    message = str(caught.value)
    assert "404" in message and repr(OWNER_REPO) in message
    assert "#0" not in message and "\n" not in message
    assert TOKEN not in message


def test_a_connection_failure_is_one_line(fake: FakeForge, make_directory: MakeDirectory) -> None:
    directory = make_directory(fake)
    fake.server.stop()
    try:
        with pytest.raises(ForgeError) as caught:
            directory.merged_change_of("m5")
    finally:
        fake.server.start()

    message = str(caught.value)
    assert "cannot reach" in message and "\n" not in message and TOKEN not in message


# -- the requests themselves --------------------------------------------------


def test_requests_carry_the_forges_token_header_and_gitlab_encodes_the_project(
    fake: FakeForge, directory: ForgeDirectory
) -> None:
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5", reviews=[("bob", "APPROVED")])

    directory.merged_change_of("m5")

    expected = {
        "github": ("Authorization", f"Bearer {TOKEN}"),
        "gitlab": ("Private-Token", TOKEN),
        "gitea": ("Authorization", f"token {TOKEN}"),
    }[fake.forge]
    assert fake.requests
    for request in fake.requests:
        assert request.method == "GET"
        assert request.headers[expected[0]] == expected[1]
    if fake.forge == "gitlab":
        assert all(GITLAB_PROJECT in r.raw_uri for r in fake.requests)


# -- open_directory -----------------------------------------------------------

CONFIG: dict[str, Any] = {
    "apiVersion": "proxgit/v1",
    "kind": "Config",
    "spec": {
        "clusters": {
            "lab": {
                "url": "https://127.0.0.1:8006",
                "tokenId": "proxgit@pve!ci",
                "tokenSecretFrom": {"env": "PROXGIT_LAB_TOKEN"},
            }
        },
    },
}


def config_with(forge: dict[str, object] | None, main_branch: str = "main") -> Config:
    spec = dict(CONFIG["spec"])
    spec["mainBranch"] = main_branch
    if forge is not None:
        spec["forge"] = forge
    return Config.model_validate({**CONFIG, "spec": spec})


def test_no_forge_block_means_no_directory(tmp_path: Path) -> None:
    assert open_directory(config_with(None), tmp_path) is None


def test_the_token_comes_from_the_environment(
    fake: FakeForge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    forge = forge_block(fake).model_dump(by_alias=True, exclude_none=True)
    fake.add_pull(5, "alice", commits=["c1"], merge_commit="m5", base="trunk")

    directory = open_directory(config_with(forge, main_branch="trunk"), tmp_path)

    assert directory is not None
    with directory:
        change = directory.merged_change_of("m5")
    assert change is not None and change.number == 5


def test_the_token_comes_from_a_file_under_the_repository(
    make_fake: MakeFake, tmp_path: Path
) -> None:
    fake = make_fake("github")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "forge-token").write_text(TOKEN + "\n", encoding="utf-8")
    forge = forge_block(fake).model_dump(by_alias=True, exclude_none=True)
    forge["tokenFrom"] = {"file": "secrets/forge-token"}
    fake.push("d1")

    directory = open_directory(config_with(forge), tmp_path)

    assert directory is not None
    with directory:
        assert directory.merged_change_of("d1") is None
    assert fake.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_missing_token_is_a_config_error(
    make_fake: MakeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    forge = forge_block(make_fake("gitea")).model_dump(by_alias=True, exclude_none=True)

    with pytest.raises(ConfigError, match=TOKEN_ENV):
        open_directory(config_with(forge), tmp_path)


def test_an_unreadable_ca_file_is_a_config_error(
    make_fake: MakeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    forge = forge_block(make_fake("github")).model_dump(by_alias=True, exclude_none=True)
    forge["caFile"] = "missing-ca.pem"

    with pytest.raises(ConfigError, match="caFile") as caught:
        open_directory(config_with(forge), tmp_path)
    assert str(tmp_path / "missing-ca.pem") in str(caught.value)
