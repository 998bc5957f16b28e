"""Fixtures: a fake forge per test, settings pointing at it, a retry policy that never sleeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer

from proxgit.forges import ForgeSettings, RetryPolicy
from tests.forges.fakeforge import OWNER_REPO, PR, TOKEN, FakeForge


class Sleeps(list[float]):
    """Records the waits a RetryPolicy asked for, instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(
        attempts=4, base_delay=0.01, max_delay=0.05, max_wait=60, sleep=sleeps, clock=lambda: 1e9
    )


@pytest.fixture
def make_settings(retry: RetryPolicy) -> Callable[..., ForgeSettings]:
    """Settings for ``fake``; keyword arguments override fields."""

    def make(fake: FakeForge, **overrides: object) -> ForgeSettings:
        values: dict[str, object] = {
            "forge": fake.forge,
            "api_url": fake.api_url,
            "repository": "42" if fake.forge == "gitlab" else OWNER_REPO,
            "pr": PR,
            "sha": "a" * 40,
            "token": TOKEN,
            "token_source": {
                "github": "GITHUB_TOKEN",
                "gitlab": "PROXGIT_GITLAB_TOKEN",
                "gitea": "PROXGIT_GITEA_TOKEN",
            }[fake.forge],
            "details_url": "https://ci.example/jobs/1",
            "timeout": 5.0,
            "retry": retry,
        }
        values.update(overrides)
        return ForgeSettings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeForge:
    return FakeForge(httpserver, "github")


@pytest.fixture
def gitlab(httpserver: HTTPServer) -> FakeForge:
    return FakeForge(httpserver, "gitlab")


@pytest.fixture
def gitea(httpserver: HTTPServer) -> FakeForge:
    return FakeForge(httpserver, "gitea", prefix="/api/v1")
