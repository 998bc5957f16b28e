"""Who to talk to on which forge: settings read from the CI's own variables.

A plan job on GitHub Actions, GitLab CI or Gitea/Forgejo Actions already knows
the repository, the pull request and its head commit; the runner exports them.
:meth:`ForgeSettings.from_env` reads those standard variables so that a
workflow needs nothing more than ``proxgit plan --comment github``, while
flags still override every value for other CI systems and local runs.

The token is held here and nowhere else. It is excluded from ``repr`` and from
every message: errors name the *variable* the token came from, never its value.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxgit.errors import ForgeError

FORGES = ("github", "gitlab", "gitea")

FORGE_TITLES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}

GITHUB_DEFAULT_API = "https://api.github.com"


@dataclass(frozen=True)
class RetryPolicy:
    """How patiently to retry a forge call that failed for a passing reason.

    Retries cover 5xx answers, 429, GitHub's rate-limit 403 and dropped
    connections. The wait doubles from ``base_delay`` up to ``max_delay``; a
    ``Retry-After`` or ``X-RateLimit-Reset`` the forge sends wins over the
    doubling, but a forge asking for more than ``max_wait`` seconds makes the
    call fail at once: a CI job should not sleep for an hour. ``sleep`` and
    ``clock`` are injectable so tests run in milliseconds.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_wait: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        delay: float = self.base_delay * (2 ** (attempt - 1))
        return min(delay, self.max_delay)


@dataclass(frozen=True)
class ForgeSettings:
    """Everything needed to comment on one pull request and set one commit status.

    ``repository`` is ``owner/name`` on GitHub and Gitea, and the numeric
    project id or the ``group/project`` path on GitLab. ``pr`` is the pull
    request number (GitLab: the merge request IID). ``token_source`` names
    where the token came from (``GITHUB_TOKEN``, ``--token``...) so that a
    permission error can say which credential to fix without showing it.
    """

    forge: str
    api_url: str
    repository: str
    pr: int
    sha: str
    token: str = field(repr=False)
    token_source: str = "--token"
    details_url: str | None = None
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy, repr=False)

    def __post_init__(self) -> None:
        if self.forge not in FORGES:
            raise ForgeError(
                f"unknown forge {self.forge!r}: use one of {', '.join(FORGES)} for --comment"
            )

    @property
    def title(self) -> str:
        """The forge's name as people write it, for messages."""
        return FORGE_TITLES[self.forge]

    @classmethod
    def from_env(
        cls,
        forge: str,
        *,
        api_url: str | None = None,
        repository: str | None = None,
        pr: int | str | None = None,
        sha: str | None = None,
        token: str | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> ForgeSettings:
        """Settings from the CI's standard variables; every keyword given wins over them.

        GitHub Actions: ``GITHUB_API_URL`` (default api.github.com, so GitHub
        Enterprise works unchanged), ``GITHUB_REPOSITORY``, the event payload
        at ``GITHUB_EVENT_PATH`` for the PR number and head SHA (``GITHUB_SHA``
        is the *merge* commit on ``pull_request`` events, so it is only a
        fallback), and ``PROXGIT_GITHUB_TOKEN`` or ``GITHUB_TOKEN``.

        GitLab CI: ``CI_API_V4_URL``, ``CI_PROJECT_ID``,
        ``CI_MERGE_REQUEST_IID``, ``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`` (set
        in merged-results pipelines) or ``CI_COMMIT_SHA``, and
        ``PROXGIT_GITLAB_TOKEN``: ``CI_JOB_TOKEN`` cannot write notes.

        Gitea/Forgejo Actions: the GitHub-compatible variables, with
        ``GITEA_*`` / ``FORGEJO_*`` spellings preferred where set, and
        ``PROXGIT_GITEA_TOKEN``, ``GITEA_TOKEN``, ``FORGEJO_TOKEN`` or
        ``GITHUB_TOKEN``.

        A missing value raises :class:`ForgeError` naming the variable or the
        flag to set.
        """
        forge = forge.lower()
        if forge == "github":
            return _github_from_env(api_url, repository, pr, sha, token, env)
        if forge == "gitlab":
            return _gitlab_from_env(api_url, repository, pr, sha, token, env)
        if forge == "gitea":
            return _gitea_from_env(api_url, repository, pr, sha, token, env)
        raise ForgeError(f"unknown forge {forge!r}: use one of {', '.join(FORGES)} for --comment")


def _token(
    given: str | None, env: Mapping[str, str], names: tuple[str, ...], unknown: str
) -> tuple[str, str]:
    """``(where it came from, token)``: ``--token``, else the first of ``names`` set."""
    if given:
        return "--token", given
    found = _first(env, *names)
    if found is None:
        raise ForgeError(unknown)
    return found


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of ``names`` set to a non-empty value, as ``(name, value)``."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def _value(env: Mapping[str, str], *names: str) -> str | None:
    found = _first(env, *names)
    return found[1] if found else None


def _missing(title: str, what: str, variables: str, flag: str) -> ForgeError:
    return ForgeError(f"{title} {what} unknown: set {variables} or pass {flag}")


def _read_event(env: Mapping[str, str], *names: str) -> dict[str, Any]:
    """The Actions event payload (the webhook JSON the run was started by), or {}."""
    found = _first(env, *names)
    if found is None:
        return {}
    name, path = found
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError) as err:
        raise ForgeError(f"cannot read the event payload {path} named by {name}: {err}") from err
    return payload if isinstance(payload, dict) else {}


def _pr_from_event(event: Mapping[str, Any]) -> tuple[int | None, str | None]:
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        return None, None
    number = pull.get("number")
    head = pull.get("head")
    head_sha = head.get("sha") if isinstance(head, dict) else None
    return (
        number if isinstance(number, int) else None,
        head_sha if isinstance(head_sha, str) and head_sha else None,
    )


_PULL_REF = re.compile(r"^refs/pull/(\d+)/")


def _pr_number(value: int | str, title: str, flag: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ForgeError(f"{title} pull request number {value!r} is not a number: {flag}") from None
    if number <= 0:
        raise ForgeError(f"{title} pull request number {number} must be positive: {flag}")
    return number


def _owner_name(repository: str, title: str, variable: str) -> str:
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise ForgeError(
            f"{title} repository {repository!r} must be owner/name: set {variable} "
            "or pass --repository"
        )
    return repository


def _actions_common(
    title: str,
    prefixes: tuple[str, ...],
    repository: str | None,
    pr: int | str | None,
    sha: str | None,
    env: Mapping[str, str],
) -> tuple[str, int, str]:
    """Repository, PR number and head SHA on GitHub-style Actions runners."""
    names = [f"{p}_REPOSITORY" for p in prefixes]
    repository = repository or _value(env, *names)
    if not repository:
        raise _missing(title, "repository", " or ".join(names), "--repository")
    repository = _owner_name(repository, title, names[-1])

    event_pr: int | None = None
    event_sha: str | None = None
    if pr is None or sha is None:
        event_pr, event_sha = _pr_from_event(
            _read_event(env, *(f"{p}_EVENT_PATH" for p in prefixes))
        )
    if pr is None:
        pr = event_pr
    if pr is None:
        ref = _value(env, *(f"{p}_REF" for p in prefixes)) or ""
        match = _PULL_REF.match(ref)
        pr = int(match.group(1)) if match else None
    if pr is None:
        raise ForgeError(
            f"{title} pull request number unknown: run the job on a pull_request event "
            f"(so {prefixes[-1]}_EVENT_PATH names its payload) or pass --pr"
        )
    number = _pr_number(pr, title, "pass --pr N")

    sha = sha or event_sha or _value(env, *(f"{p}_SHA" for p in prefixes))
    if not sha:
        raise _missing(title, "head commit", f"{prefixes[-1]}_SHA", "--sha")
    return repository, number, sha


def _github_from_env(
    api_url: str | None,
    repository: str | None,
    pr: int | str | None,
    sha: str | None,
    token: str | None,
    env: Mapping[str, str],
) -> ForgeSettings:
    title = "GitHub"
    repo, number, head = _actions_common(title, ("GITHUB",), repository, pr, sha, env)
    token_source, token = _token(
        token,
        env,
        ("PROXGIT_GITHUB_TOKEN", "GITHUB_TOKEN"),
        "GitHub token unknown: set GITHUB_TOKEN (env: GITHUB_TOKEN: "
        "${{ secrets.GITHUB_TOKEN }}) or PROXGIT_GITHUB_TOKEN",
    )
    server = _value(env, "GITHUB_SERVER_URL")
    run_id = _value(env, "GITHUB_RUN_ID")
    details = _value(env, "PROXGIT_DETAILS_URL")
    if not details and server and run_id:
        details = f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
    return ForgeSettings(
        forge="github",
        api_url=(api_url or _value(env, "GITHUB_API_URL") or GITHUB_DEFAULT_API).rstrip("/"),
        repository=repo,
        pr=number,
        sha=head,
        token=token,
        token_source=token_source,
        details_url=details,
    )


def _gitlab_from_env(
    api_url: str | None,
    repository: str | None,
    pr: int | str | None,
    sha: str | None,
    token: str | None,
    env: Mapping[str, str],
) -> ForgeSettings:
    title = "GitLab"
    if not api_url:
        api_url = _value(env, "CI_API_V4_URL")
        server = _value(env, "CI_SERVER_URL")
        if not api_url and server:
            api_url = f"{server.rstrip('/')}/api/v4"
    if not api_url:
        raise _missing(title, "API URL", "CI_API_V4_URL", "--api-url")
    repository = repository or _value(env, "CI_PROJECT_ID", "CI_PROJECT_PATH")
    if not repository:
        raise _missing(title, "project", "CI_PROJECT_ID", "--repository")
    if pr is None:
        pr = _value(env, "CI_MERGE_REQUEST_IID")
    if pr is None:
        raise ForgeError(
            "GitLab merge request unknown: run the job in a merge request pipeline "
            "(rules: if: $CI_PIPELINE_SOURCE == 'merge_request_event', which sets "
            "CI_MERGE_REQUEST_IID) or pass --pr"
        )
    number = _pr_number(pr, title, "pass --pr IID")
    sha = sha or _value(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "CI_COMMIT_SHA")
    if not sha:
        raise _missing(title, "head commit", "CI_COMMIT_SHA", "--sha")
    token_source, token = _token(
        token,
        env,
        ("PROXGIT_GITLAB_TOKEN",),
        "GitLab token unknown: set PROXGIT_GITLAB_TOKEN to a project access token "
        "with the api scope and Reporter role (CI_JOB_TOKEN cannot write MR notes)",
    )
    return ForgeSettings(
        forge="gitlab",
        api_url=api_url.rstrip("/"),
        repository=repository,
        pr=number,
        sha=sha,
        token=token,
        token_source=token_source,
        details_url=_value(env, "PROXGIT_DETAILS_URL", "CI_JOB_URL"),
    )


def _gitea_from_env(
    api_url: str | None,
    repository: str | None,
    pr: int | str | None,
    sha: str | None,
    token: str | None,
    env: Mapping[str, str],
) -> ForgeSettings:
    title = "Gitea"
    # The GitHub spelling last: it is the one every Gitea and Forgejo runner sets.
    prefixes = ("GITEA", "FORGEJO", "GITHUB")
    if not api_url:
        api_url = _value(env, "GITEA_API_URL", "FORGEJO_API_URL")
        github_api = _value(env, "GITHUB_API_URL")
        if not api_url and github_api and github_api.rstrip("/") != GITHUB_DEFAULT_API:
            api_url = github_api
        server = _value(env, "GITEA_SERVER_URL", "FORGEJO_SERVER_URL", "GITHUB_SERVER_URL")
        if not api_url and server:
            api_url = f"{server.rstrip('/')}/api/v1"
    if not api_url:
        raise _missing(title, "API URL", "GITHUB_API_URL or GITHUB_SERVER_URL", "--api-url")
    repo, number, head = _actions_common(title, prefixes, repository, pr, sha, env)
    token_source, token = _token(
        token,
        env,
        ("PROXGIT_GITEA_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN", "GITHUB_TOKEN"),
        "Gitea token unknown: set PROXGIT_GITEA_TOKEN (or GITHUB_TOKEN: "
        "${{ secrets.GITHUB_TOKEN }}) to a token with write:issue and write:repository",
    )
    return ForgeSettings(
        forge="gitea",
        api_url=api_url.rstrip("/"),
        repository=repo,
        pr=number,
        sha=head,
        token=token,
        token_source=token_source,
        # Gitea's run page URL changed shape between releases; only a URL the
        # workflow states is trusted as a link.
        details_url=_value(env, "PROXGIT_DETAILS_URL"),
    )
