"""ForgeSettings.from_env: the CI's standard variables, flags winning, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxgit.errors import ForgeError
from proxgit.forges import ForgeSettings

TOKEN = "ghs_never_in_a_message_42"


@pytest.fixture
def event_path(tmp_path: Path) -> str:
    """A pull_request event payload as GitHub (and Gitea) write it for the job."""
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": 12,
                "pull_request": {"number": 12, "head": {"sha": "f" * 40}, "user": {"login": "x"}},
            }
        )
    )
    return str(path)


def github_env(event_path: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_EVENT_PATH": event_path,
        "GITHUB_SHA": "e" * 40,  # the merge commit on pull_request events
        "GITHUB_RUN_ID": "991",
        "GITHUB_TOKEN": TOKEN,
    }


def test_github_actions_variables(event_path: str) -> None:
    settings = ForgeSettings.from_env("github", env=github_env(event_path))

    assert settings.forge == "github"
    assert settings.api_url == "https://api.github.com"
    assert settings.repository == "acme/infra"
    assert settings.pr == 12
    assert settings.sha == "f" * 40  # the PR head, not GITHUB_SHA's merge commit
    assert settings.token == TOKEN and settings.token_source == "GITHUB_TOKEN"
    assert settings.details_url == "https://github.com/acme/infra/actions/runs/991"
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


def test_flags_override_the_environment(event_path: str) -> None:
    env = {**github_env(event_path), "PROXGIT_GITHUB_TOKEN": "other"}

    settings = ForgeSettings.from_env(
        "github",
        api_url="https://ghe.example.com/api/v3/",
        repository="ops/pve",
        pr="99",
        sha="1" * 40,
        env=env,
    )

    assert (settings.api_url, settings.repository, settings.pr, settings.sha) == (
        "https://ghe.example.com/api/v3",
        "ops/pve",
        99,
        "1" * 40,
    )
    assert settings.token_source == "PROXGIT_GITHUB_TOKEN"
    assert ForgeSettings.from_env("github", token="t", env=env).token_source == "--token"


def test_default_api_url_and_pr_from_the_ref() -> None:
    settings = ForgeSettings.from_env(
        "github",
        env={
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_REF": "refs/pull/5/merge",
            "GITHUB_SHA": "d" * 40,
            "GITHUB_TOKEN": TOKEN,
        },
    )

    assert settings.api_url == "https://api.github.com"
    assert (settings.pr, settings.sha) == (5, "d" * 40)


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (
            "GITHUB_REPOSITORY",
            "GitHub repository unknown: set GITHUB_REPOSITORY or pass --repository",
        ),
        (
            "GITHUB_TOKEN",
            "GitHub token unknown: set GITHUB_TOKEN (env: GITHUB_TOKEN: "
            "${{ secrets.GITHUB_TOKEN }}) or PROXGIT_GITHUB_TOKEN",
        ),
        (
            "GITHUB_EVENT_PATH",
            "GitHub pull request number unknown: run the job on a pull_request event (so "
            "GITHUB_EVENT_PATH names its payload) or pass --pr",
        ),
    ],
)
def test_missing_values_name_the_variable_and_flag(
    event_path: str, drop: str, message: str
) -> None:
    env = github_env(event_path)
    del env[drop]

    with pytest.raises(ForgeError) as raised:
        ForgeSettings.from_env("github", env=env)

    assert str(raised.value) == message


def test_a_push_event_has_no_pull_request(tmp_path: Path, event_path: str) -> None:
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main", "head_commit": {"id": "1"}}))

    with pytest.raises(ForgeError, match="pull request number unknown"):
        ForgeSettings.from_env(
            "github", env={**github_env(event_path), "GITHUB_EVENT_PATH": str(push)}
        )


def test_a_malformed_repository_is_refused(event_path: str) -> None:
    with pytest.raises(ForgeError, match="'acme' must be owner/name: set GITHUB_REPOSITORY"):
        ForgeSettings.from_env(
            "github", env={**github_env(event_path), "GITHUB_REPOSITORY": "acme"}
        )


def test_gitlab_ci_variables() -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "8",
        "CI_COMMIT_SHA": "c" * 40,
        "CI_JOB_URL": "https://gitlab.example.com/infra/-/jobs/5",
        "CI_JOB_TOKEN": "job-token",
        "PROXGIT_GITLAB_TOKEN": TOKEN,
    }

    settings = ForgeSettings.from_env("gitlab", env=env)

    assert (settings.api_url, settings.repository, settings.pr, settings.sha) == (
        "https://gitlab.example.com/api/v4",
        "42",
        8,
        "c" * 40,
    )
    assert settings.token == TOKEN and settings.token_source == "PROXGIT_GITLAB_TOKEN"
    assert settings.details_url == "https://gitlab.example.com/infra/-/jobs/5"

    merged_results = {**env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "b" * 40}
    assert ForgeSettings.from_env("gitlab", env=merged_results).sha == "b" * 40

    del env["PROXGIT_GITLAB_TOKEN"]
    with pytest.raises(ForgeError, match=r"set PROXGIT_GITLAB_TOKEN .*CI_JOB_TOKEN cannot"):
        ForgeSettings.from_env("gitlab", env=env)

    del env["CI_MERGE_REQUEST_IID"]
    with pytest.raises(ForgeError, match="merge_request_event"):
        ForgeSettings.from_env("gitlab", token="t", env=env)


def test_gitea_actions_variables(event_path: str) -> None:
    env = {
        "GITEA_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://gitea.example.com",
        "GITHUB_API_URL": "https://gitea.example.com/api/v1",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_EVENT_PATH": event_path,
        "GITHUB_SHA": "e" * 40,
        "GITHUB_TOKEN": "automatic",
        "PROXGIT_GITEA_TOKEN": TOKEN,
    }

    settings = ForgeSettings.from_env("gitea", env=env)

    assert (settings.api_url, settings.repository, settings.pr, settings.sha) == (
        "https://gitea.example.com/api/v1",
        "acme/infra",
        12,
        "f" * 40,
    )
    assert settings.token_source == "PROXGIT_GITEA_TOKEN"

    # GITEA_* spellings win where a runner sets them; the API URL can come from the server.
    del env["GITHUB_API_URL"], env["PROXGIT_GITEA_TOKEN"]
    env["GITEA_REPOSITORY"] = "ops/pve"
    settings = ForgeSettings.from_env("gitea", env=env)
    assert settings.api_url == "https://gitea.example.com/api/v1"
    assert settings.repository == "ops/pve"
    assert settings.token_source == "GITHUB_TOKEN"


def test_unknown_forge() -> None:
    with pytest.raises(ForgeError, match="unknown forge 'bitbucket': use one of github, gitlab"):
        ForgeSettings.from_env("bitbucket", env={})
