"""Fixtures: a stateful fake forge per test and a ForgeDirectory that reads it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer

from proxgit.forges import RetryPolicy
from proxgit.identity import ForgeDirectory
from proxgit.models.base import SecretRef
from proxgit.models.config import Forge
from tests.forges.fakeforge import OWNER_REPO, TOKEN, FakeForge

FORGES = ("github", "gitlab", "gitea")
TOKEN_ENV = "PROXGIT_FORGE_TOKEN"


@pytest.fixture(params=FORGES)
def forge_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_fake(httpserver: HTTPServer) -> Callable[..., FakeForge]:
    """The fake forge of one type; ``page_size`` caps every listing's page."""

    def make(forge: str, *, page_size: int = 100) -> FakeForge:
        prefix = "/api/v1" if forge == "gitea" else ""
        return FakeForge(httpserver, forge, prefix=prefix, page_size=page_size)

    return make


@pytest.fixture
def fake(make_fake: Callable[..., FakeForge], forge_type: str) -> FakeForge:
    return make_fake(forge_type)


def forge_block(fake: FakeForge) -> Forge:
    """``spec.forge`` pointing at ``fake``."""
    return Forge(
        type=fake.forge,
        url=fake.api_url,
        repository=OWNER_REPO,
        token_from=SecretRef(env=TOKEN_ENV),
    )


@pytest.fixture
def make_directory() -> Iterator[Callable[..., ForgeDirectory]]:
    """A ForgeDirectory on a fake, retrying three times without sleeping."""
    opened: list[ForgeDirectory] = []

    def make(fake: FakeForge, *, base_branch: str = "main") -> ForgeDirectory:
        retry = RetryPolicy(attempts=3, base_delay=0.0, sleep=lambda _: None, clock=lambda: 1e9)
        directory = ForgeDirectory(
            forge_block(fake), TOKEN, base_branch=base_branch, timeout=5.0, retry=retry
        )
        opened.append(directory)
        return directory

    yield make
    for directory in opened:
        directory.close()


@pytest.fixture
def directory(fake: FakeForge, make_directory: Callable[..., ForgeDirectory]) -> ForgeDirectory:
    return make_directory(fake)
