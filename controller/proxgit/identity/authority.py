"""Who made a commit, as the repository's identity mode proves it.

Three modes (``deletions.identity``), one question: which people stand behind
this commit?

``forge``
    The forge's API authenticates its users. The people behind a commit are
    the author of the merged pull request that brought it onto the main
    branch, and the users whose review approved that pull request. A commit
    pushed directly carries no forge identity at all.
``signatures``
    git verifies the commit's SSH or GPG signature against the allowed
    signers of the rules in force; the signer is the person. Author strings
    are ignored.
``git-author``
    The author string, believed as written: anyone with push access can
    forge it, and every listing says so.

:class:`Rules` are the configuration, people and signers at one commit, so
a deletion request is always judged by the rules it was opened under.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from proxgit.errors import ForgeError, ProxgitError
from proxgit.git.history import Commit, History, allowed_signers_line
from proxgit.layout import CONFIG_FILE, DEFAULT_ALLOWED_SIGNERS
from proxgit.models.config import Config, IdentityMode
from proxgit.models.people import Who, resolve, resolve_key

GIT_AUTHOR_WARNING = (
    "deletions.identity is git-author: approvals in this repository can be forged by anyone "
    "with push access (set identity: forge or signatures)"
)


PIN_ENV = "PROXGIT_DELETIONS_IDENTITY"


def pinned_mode() -> IdentityMode | None:
    """The identity mode the environment (CI runner, watch pod) pins, if any.

    Set outside the repository, it cannot be downgraded by a push: a repository
    whose rules name another mode has its requests refused.
    """
    import os

    value = os.environ.get(PIN_ENV, "").strip()
    if not value:
        return None
    try:
        return IdentityMode(value)
    except ValueError:
        raise ProxgitError(
            f"{PIN_ENV}={value} is not an identity mode; use forge, signatures or git-author"
        ) from None


def check_pinned(mode: IdentityMode) -> str | None:
    """Why ``mode`` may not be used here (the environment pins another), or None."""
    pinned = pinned_mode()
    if pinned is None or pinned == mode:
        return None
    return (
        f"the rules say deletions.identity {mode.value}, but {PIN_ENV} pins {pinned.value} "
        "here; a change of identity mode must also change the pin where proxgit runs"
    )


class MergedChangeLike(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def author(self) -> str: ...
    @property
    def approvers(self) -> tuple[str, ...]: ...
    @property
    def merged_at(self) -> datetime | None: ...


class PullRequestSource(Protocol):
    def merged_change_of(self, sha: str) -> MergedChangeLike | None: ...


@dataclass(frozen=True)
class Rules:
    """The rules in force at one commit: proxgit.yaml and the allowed signers there."""

    config: Config
    revision: str
    signers_file: str = ""

    @property
    def mode(self) -> IdentityMode:
        return self.config.spec.identity_mode

    def allowed_signers(self, *, extra: tuple[str, ...] = ()) -> str:
        """The signers file, plus every key listed under ``policy.people``."""
        lines = [self.signers_file.rstrip("\n")] if self.signers_file.strip() else []
        policy = self.config.spec.policy
        for key, person in (policy.people if policy else {}).items():
            principal = person.emails[0] if person.emails else key
            lines.extend(allowed_signers_line(principal, pub) for pub in person.keys)
        lines.extend(extra)
        return "\n".join(lines) + "\n"


def rules_at(history: History, revision: str) -> Rules:
    """Load the rules at ``revision``; a ProxgitError when its proxgit.yaml is unusable."""
    from proxgit.errors import InvalidRepository
    from proxgit.loading import load_files

    # the config and the default signers file in one read; another signers path costs one more
    default_signers = DEFAULT_ALLOWED_SIGNERS
    blobs = history.read_blobs([f"{revision}:{CONFIG_FILE}", f"{revision}:{default_signers}"])
    text = blobs[f"{revision}:{CONFIG_FILE}"]
    if text is None:
        raise ProxgitError(f"{CONFIG_FILE} is missing at {revision[:12]}")
    try:
        state = load_files([(CONFIG_FILE, text)])
    except InvalidRepository as err:
        raise ProxgitError(
            f"{CONFIG_FILE} at {revision[:12]} is not valid ({err.message.splitlines()[0]})"
        ) from None
    signers_path = state.config.spec.deletions.allowed_signers
    if signers_path == default_signers:
        signers = blobs[f"{revision}:{default_signers}"] or ""
    else:
        signers = history.read(revision, signers_path) or ""
    return Rules(config=state.config, revision=revision, signers_file=signers)


@dataclass(frozen=True)
class Vouched:
    """The people an authenticated source puts behind a commit, or why nobody."""

    people: tuple[Who, ...] = ()
    problem: str | None = None
    moment: datetime | None = None  # when the change took effect (merge time in forge mode)
    via: str = ""  # "signature", "pull request #7", "author string"
    reviewers: tuple[Who, ...] = field(default=())


class Authority:
    """Answers "who stands behind this commit" under one set of rules."""

    def __init__(
        self,
        history: History,
        rules: Rules,
        *,
        forge: Callable[[], PullRequestSource | None] | None = None,
        repo_root: Path | None = None,
        head: str = "HEAD",
    ) -> None:
        self.head = head
        self.history = history
        self.rules = rules
        self._forge_factory = forge
        self._forge: PullRequestSource | None = None
        self.repo_root = repo_root

    def who(self, handle: str) -> Who:
        return resolve(self.rules.config.spec.policy, handle)

    def vouch(self, commit: Commit) -> Vouched:
        mode = self.rules.mode
        if mode == IdentityMode.git_author:
            return Vouched(
                people=(self.who(commit.author_email),),
                moment=commit.committed_at,
                via="author string",
            )
        if mode == IdentityMode.signatures:
            return self._by_signature(commit)
        return self._by_forge(commit)

    # --- signatures ------------------------------------------------------------------

    def _by_signature(self, commit: Commit) -> Vouched:
        gpg_home = None
        keyring = self.rules.config.spec.deletions.gpg_keyring
        if keyring and self.repo_root is not None:
            home = Path(keyring)
            gpg_home = home if home.is_absolute() else self.repo_root / home
        signature = self.history.signature(
            commit.sha, allowed_signers=self.rules.allowed_signers(), gpg_home=gpg_home
        )
        short = commit.sha[:12]
        if signature.kind is None:
            return Vouched(
                problem=f"commit {short} is not signed; in signatures mode only signed commits "
                "(git commit -S with a key in the allowed signers) carry an identity"
            )
        if signature.kind == "gpg" and gpg_home is None:
            return Vouched(
                problem=f"commit {short} is GPG-signed but deletions.gpgKeyring is not set; "
                "sign with an SSH key listed in the allowed signers"
            )
        if signature.status == "B":
            return Vouched(problem=f"the signature of commit {short} does not verify (bad)")
        if not signature.good:
            return Vouched(
                problem=f"commit {short} is signed by key {signature.key or '?'}, which is not "
                "in the allowed signers in force; add the key to .proxgit/allowed_signers or "
                "policy.people in a reviewed change"
            )
        principal = signature.signer_email
        policy = self.rules.config.spec.policy
        who = resolve(policy, principal)  # an email, or a key of policy.people
        if who.person is None and signature.kind == "ssh":
            by_key = self._person_by_fingerprint(signature.key)
            if by_key is not None:
                who = by_key
        return Vouched(people=(who,), moment=commit.committed_at, via="signature")

    def _person_by_fingerprint(self, fingerprint: str) -> Who | None:
        policy = self.rules.config.spec.policy
        for entry in policy.people.values() if policy else []:
            for key in entry.keys:
                if _fingerprint(key) == fingerprint:
                    return resolve_key(policy, key)
        return None

    # --- forge -------------------------------------------------------------------------

    def _by_forge(self, commit: Commit) -> Vouched:
        if self._forge is None and self._forge_factory is not None:
            try:
                self._forge = self._forge_factory()
            except ProxgitError as err:  # no token here, a bad caFile: one line, per request
                return Vouched(problem=f"the forge cannot be asked: {err.message}")
        if self._forge is None:
            return Vouched(
                problem="deletions.identity is forge but no forge can be asked (spec.forge and "
                "its tokenFrom); set them, or choose identity: signatures"
            )
        try:
            change = self._forge.merged_change_of(commit.sha)
            if change is None:  # some forges know only the commit a merge made on main
                landing = self.history.landing_commit(commit.sha, self.head)
                if landing is not None and landing != commit.sha:
                    change = self._forge.merged_change_of(landing)
        except ForgeError as err:
            return Vouched(problem=f"the forge could not say who made {commit.sha[:12]}: {err}")
        if change is None:
            return Vouched(
                problem=f"commit {commit.sha[:12]} reached the main branch without a merged "
                "pull request (a direct push), so the forge vouches for nobody; make the change "
                "through a pull request"
            )
        author = self.who(change.author)
        reviewers = tuple(self.who(handle) for handle in change.approvers)
        return Vouched(
            people=(author, *reviewers),
            moment=change.merged_at,
            via=f"pull request #{change.number}",
            reviewers=reviewers,
        )


def _fingerprint(public_key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key line, as git's ``%GK`` prints it."""
    import base64
    import hashlib

    parts = public_key.split()
    if len(parts) < 2:
        return ""
    try:
        blob = base64.b64decode(parts[1])
    except ValueError:
        return ""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def forge_source(config: Config, repo_root: Path) -> Callable[[], PullRequestSource | None]:
    """A lazy opener of the forge directory: asked only when a forge identity is needed."""

    def open_it() -> PullRequestSource | None:
        from proxgit.identity.forge import open_directory

        return open_directory(config, repo_root)

    return open_it
