"""Forge identity mode: the pull request behind a commit, its author and its approvers.

A commit on the main branch got there through a merged pull request (GitLab:
merge request) or through a direct push. :meth:`ForgeDirectory.merged_change_of`
asks the forge's "pull requests of a commit" API which, so merge commits,
squash merges and rebase merges all resolve to the pull request that made
them; a direct push resolves to ``None`` and carries no identity.

Only what the forge itself records counts: the account that opened the pull
request, and the accounts whose latest verdict on it approves the commit that
was merged (a dismissed approval, one followed by a change request, or one
given on an earlier push does not). A pull request closed unmerged, or merged
into another branch, never counts. The author never counts among the
approvers, whatever the forge allows.

Identities are handles, ``forge:login`` with the login lower-cased
(``github:alice``), as ``proxgit.yaml``'s policy people name them.

Answers are cached per commit for the directory's lifetime (one command run);
errors are not cached. Every failure is one :class:`~proxgit.errors.ForgeError`
line that names the token's source, never the token.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from proxgit.errors import ConfigError, ForgeError
from proxgit.forges.base import ChangeRecord, ForgeAdapter, RepositoryClient, repository_settings
from proxgit.forges.http import redact
from proxgit.forges.publishing import ADAPTERS
from proxgit.forges.settings import RetryPolicy
from proxgit.models.config import Config, Forge
from proxgit.secrets import resolve_secret

__all__ = ["ForgeDirectory", "MergedChange", "open_directory"]


@dataclass(frozen=True)
class MergedChange:
    """A pull request (GitLab: merge request) merged into the main branch."""

    forge: str  # "github" | "gitlab" | "gitea"
    number: int  # PR number (GitLab: the merge request IID)
    author: str  # handle, "github:alice"
    approvers: tuple[str, ...]  # handles whose review currently approves it, author excluded
    merged_at: datetime | None
    url: str | None


class ForgeDirectory:
    """Pull request identities from the forge API, cached per commit."""

    def __init__(
        self,
        forge: Forge,
        token: str,
        *,
        base_branch: str = "main",
        timeout: float = 10.0,
        base_dir: Path | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """A directory for ``forge`` (``proxgit.yaml``'s ``spec.forge``) read with ``token``.

        ``base_dir`` resolves a relative ``caFile``; ``retry`` and ``transport``
        are for tests.
        """
        self.forge = forge.type
        self.base_branch = base_branch
        self._token = token
        settings = repository_settings(
            forge.type,
            api_url=forge.url,
            repository=forge.repository,
            token=token,
            token_source=f"spec.forge.tokenFrom ({forge.token_from.describe()})",
            timeout=timeout,
            retry=retry,
        )
        if transport is None and forge.ca_file:
            transport = httpx.HTTPTransport(verify=_ca_context(forge.ca_file, base_dir))
        adapter_type = ADAPTERS[forge.type]
        self._client = RepositoryClient(
            settings, auth_headers=adapter_type.auth_headers(token), transport=transport
        )
        self._adapter: ForgeAdapter = adapter_type(settings, self._client)
        self._changes: dict[str, MergedChange | None] = {}
        self._approvers: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ForgeDirectory({self.forge}, {self._client.settings.repository!r})"

    def __enter__(self) -> ForgeDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def merged_change_of(self, sha: str) -> MergedChange | None:
        """The merged PR/MR into ``base_branch`` that contains commit ``sha``.

        Works for merge commits, squash merges (``sha`` is the squash commit)
        and rebase merges (``sha`` is a rewritten commit); on Gitea, which
        finds a pull request only by the commit its merge made, ``sha`` must
        be that commit (the merge commit, the squash commit, or the last commit
        of a rebase merge). ``None`` when the forge knows no merged pull
        request into the base branch for it: a direct push. When several
        merged pull requests contain it, the first merged brought it in.
        Raises :class:`ForgeError` when the forge cannot be asked.
        """
        key = sha.strip().lower()
        with self._lock:
            if key in self._changes:
                return self._changes[key]
            change = self._look_up(key)
            self._changes[key] = change
            return change

    def _look_up(self, sha: str) -> MergedChange | None:
        try:
            records = self._adapter.changes_of_commit(sha)
            merged = [
                record for record in records if record.merged and record.base == self.base_branch
            ]
            if not merged:
                return None
            record = min(merged, key=_merge_order)
            approvers = self._approvers_of(record)
        except ForgeError as err:
            if self._token and self._token in err.message:  # ForgeClient redacts; be sure
                raise ForgeError(redact(err.message, self._token)) from None
            raise
        except httpx.HTTPError as err:  # anything ForgeClient did not already turn into a line
            title = self._adapter.settings.title
            text = f"{title} API: {type(err).__name__}: {err}"
            raise ForgeError(redact(text, self._token)) from None
        author = record.author.lower()
        return MergedChange(
            forge=self.forge,
            number=record.number,
            author=self._handle(author),
            approvers=tuple(self._handle(login) for login in approvers if login != author),
            merged_at=_timestamp(record.merged_at),
            url=record.url,
        )

    def _approvers_of(self, record: ChangeRecord) -> tuple[str, ...]:
        if record.number not in self._approvers:
            logins = sorted({login.lower() for login in self._adapter.approvers(record)})
            self._approvers[record.number] = tuple(logins)
        return self._approvers[record.number]

    def _handle(self, login: str) -> str:
        return f"{self.forge}:{login.lower()}"


def open_directory(config: Config, base_dir: Path) -> ForgeDirectory | None:
    """The forge directory ``proxgit.yaml``'s ``spec.forge`` describes; ``None`` without one.

    The token is resolved from ``tokenFrom`` (``env`` or ``file``, a relative
    file under ``base_dir``) like every other secret reference; the base
    branch is ``spec.mainBranch``.
    """
    forge = config.spec.forge
    if forge is None:
        return None
    token = resolve_secret(forge.token_from, what="spec.forge tokenFrom", base_dir=base_dir)
    return ForgeDirectory(forge, token, base_branch=config.spec.main_branch, base_dir=base_dir)


def _ca_context(ca_file: str, base_dir: Path | None) -> ssl.SSLContext:
    path = Path(ca_file)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"spec.forge caFile: cannot load CA bundle {path}: {reason}") from None


def _timestamp(text: str | None) -> datetime | None:
    """An ISO 8601 time from the forge, in UTC; ``None`` when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _merge_order(record: ChangeRecord) -> tuple[datetime, int]:
    moment = _timestamp(record.merged_at) or datetime.max.replace(tzinfo=UTC)
    return moment, record.number
