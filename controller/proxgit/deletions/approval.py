"""Deciding a deletion request from Git history: the four-eyes rule (safety invariant 3).

A deletion request file (``deletions/<cluster>-<vmid>.yaml``) is opened by
proxgit under its own commit identity. A person approves it by committing
``approve: true`` (or rejects it with ``reject: {reason: ...}``) and landing
that commit on the main branch. :func:`decide_request` reads the history of a
revision and answers what the request's state is, and why.

Where the identities come from
    The *approver* is the author of the commit that introduced the decision
    currently in the file, read from Git history; when
    ``deletions.requireSignedApprovals`` is true that commit's signature is
    verified by git itself (``git log --format=%G?`` with
    ``gpg.ssh.allowedSignersFile``, or ``GNUPGHOME`` for GPG) and the signer
    must be the author. The *requester* and the expiry are taken from the
    request as proxgit committed it (the commit that added the file, which must
    carry proxgit's commit identity), cross-checked against the author of the
    ``removedIn`` commit. Nothing a person writes into the YAML (a name under
    ``status``, an edited ``requester``) is believed.

Which commit is "the approval commit"
    The file's history is read with git's default history simplification and
    parent rewriting (``git rev-list --topo-order --parents REV -- PATH``).
    That graph keeps exactly the commits whose version of the file reached
    ``REV``: a merge whose result equals one parent's version is replaced by
    that parent, so a side branch whose change was discarded is not followed,
    and a pull request whose change landed is. From the newest commit we step
    to a parent whose ``approve``/``reject`` values are the same, until no
    parent has them: that commit introduced the decision. For an approval that
    arrived through a merge commit this is the non-merge commit on the pull
    request branch that changed the file, whose author is the person who
    approved (not whoever pressed "merge"). A decision introduced by a merge
    commit itself (a conflict resolution) is refused: approve in a normal
    commit. A decision set in the commit that created the file is refused too.

The approval counts only when the approval commit changes that one file and,
in it, nothing but ``spec.approve``/``spec.reject`` (the parsed YAML before and
after is compared, so comments and formatting do not matter); its author has
``approve_deletion`` (or ``*``) in a policy role for the request's cluster; the
author is not the requester (unless ``deletions.selfApprovalAllowed``) and not
proxgit itself; its signature verifies when required; its committer date is
before the request's ``expiresAt``; and ``now`` is before ``expiresAt``.

A rejection counts when its author has ``approve_deletion`` or is the requester
and it gives a reason. Rejecting is the safe direction (nothing is destroyed),
so a rejection needs no signature and may be committed after expiry.

Every reason is one line that names the rule and the fix. This module only
reads the repository; it never commits, pushes or talks to Proxmox.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from proxgit.errors import RepositoryError
from proxgit.loading.yamlparse import parse_document
from proxgit.models.config import CommitIdentity, Config, Permission
from proxgit.models.deletion import DeletionRequest, Person

DecisionState = Literal["pending", "approved", "rejected", "expired", "refused"]

_DECISION_FIELDS = ("approve", "reject")
_MAX_LISTED_FIELDS = 6
_COMMIT_ID = re.compile(r"[0-9a-fA-F]{4,64}")


@dataclass(frozen=True)
class Decision:
    """What a deletion request's history amounts to at one revision.

    Only ``state == "approved"`` authorises a destroy. ``approver`` and
    ``approval_commit`` name the author and commit that made the decision now
    in the file (approval or rejection), also when it did not count, so a
    report can say whose decision was refused. ``request`` is the request as
    proxgit opened it (trusted fields: guest, requester, expiry), when that
    could be established; act on its ``spec.guest``, not on the current file.
    """

    state: DecisionState
    reasons: list[str] = field(default_factory=list)
    approver: Person | None = None
    approval_commit: str | None = None
    rejection_reason: str | None = None
    requester: Person | None = None
    request: DeletionRequest | None = None

    @property
    def approved(self) -> bool:
        return self.state == "approved"


@dataclass(frozen=True)
class Removal:
    """The commit that removed a guest's document, and its author (the requester)."""

    commit: str
    requester: Person


# --- public entry points -------------------------------------------------------


def requester_from_history(repo_path: Path, removed_path: str, revision: str = "HEAD") -> Person:
    """The author of the commit that removed ``removed_path`` in the history of ``revision``."""
    return find_removal(repo_path, removed_path, revision).requester


def find_removal(repo_path: Path, removed_path: str, revision: str = "HEAD") -> Removal:
    """The newest commit in ``revision``'s history that deleted ``removed_path``, with its author.

    Uses ``git log --diff-filter=D -1 REV -- PATH``: with git's default history
    simplification, a pull request merged with a merge commit yields the
    branch commit that removed the file, authored by whoever asked for it.
    """
    git = _Git(repo_path)
    out = git.run(
        "log", "-1", "--diff-filter=D", "--format=%H%x00%an%x00%ae", revision, "--", removed_path
    )
    if not out.strip():
        raise RepositoryError(
            f"no commit in the history of {revision} removes {removed_path}; "
            "fetch the full history (fetch-depth: 0) or check the path"
        )
    commit, name, email = out.strip().split("\x00")
    return Removal(commit=commit, requester=Person(name=name, email=email))


def decide_request(
    repo_path: Path,
    request_path: str,
    *,
    config: Config,
    revision: str = "HEAD",
    now: datetime,
    allowed_signers_path: Path | None,
) -> Decision:
    """Decide the deletion request at ``request_path`` as of ``revision``.

    Raises :class:`RepositoryError` when the repository or revision is unusable
    or the file does not exist at ``revision``; every other problem is a
    ``refused`` decision with its reasons.
    """
    return _Decider(repo_path, request_path, config, revision, _aware(now), allowed_signers_path)()


# --- git -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Commit:
    sha: str
    parents: tuple[str, ...]
    author: Person
    committed_at: datetime


class _Git:
    def __init__(self, repo_path: Path) -> None:
        self.repo_path = repo_path

    def run(
        self,
        *args: str,
        config: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        options = ["-c", "log.showSignature=false"]
        for key, value in (config or {}).items():
            options += ["-c", f"{key}={value}"]
        try:
            done = subprocess.run(
                ["git", "-C", str(self.repo_path), *options, *args],
                capture_output=True,
                text=True,
                env={**os.environ, **(env or {})},
                check=False,
            )
        except OSError as err:
            raise RepositoryError(f"cannot run git: {err}") from None
        if check and done.returncode != 0:
            detail = done.stderr.strip().splitlines()
            last = detail[-1] if detail else f"exit code {done.returncode}"
            raise RepositoryError(f"{self.repo_path}: git {args[0]}: {last}")
        return done.stdout

    def resolve(self, revision: str) -> str:
        out = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if not out.strip():
            raise RepositoryError(f"{self.repo_path}: no such revision '{revision}'")
        return out.strip()

    def read_blobs(self, specs: Iterable[str]) -> dict[str, str | None]:
        """``{"<rev>:<path>": text or None when missing}`` in one ``cat-file --batch``."""
        wanted = list(dict.fromkeys(specs))
        if not wanted:
            return {}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.repo_path), "cat-file", "--batch"],
                input="".join(f"{spec}\n" for spec in wanted).encode(),
                capture_output=True,
                check=True,
            )
        except (OSError, subprocess.CalledProcessError) as err:
            raise RepositoryError(f"{self.repo_path}: git cat-file failed: {err}") from None
        out = done.stdout
        result: dict[str, str | None] = {}
        pos = 0
        for spec in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode()
            pos = end + 1
            parts = header.split()
            if len(parts) == 3 and parts[1] == "blob":
                size = int(parts[2])
                result[spec] = out[pos : pos + size].decode("utf-8", errors="replace")
                pos += size + 1
            elif len(parts) == 3:  # a tree or another object type: skip its content
                pos += int(parts[2]) + 1
                result[spec] = None
            else:  # "<spec> missing" / "ambiguous"
                result[spec] = None
        return result

    def commit(self, sha: str) -> _Commit:
        out = self.run("log", "-1", "--no-walk", "--format=%H%x00%P%x00%an%x00%ae%x00%ct", sha)
        full, parents, name, email, ctime = out.rstrip("\n").split("\x00")
        return _Commit(
            sha=full,
            parents=tuple(parents.split()),
            author=Person(name=name, email=email),
            committed_at=datetime.fromtimestamp(int(ctime), tz=UTC),
        )

    def changed_files(self, sha: str) -> list[str]:
        out = self.run("diff-tree", "--no-commit-id", "-r", "--name-only", "-z", sha)
        return [name for name in out.split("\x00") if name]

    def is_ancestor(self, older: str, newer: str) -> bool:
        done = subprocess.run(
            ["git", "-C", str(self.repo_path), "merge-base", "--is-ancestor", older, newer],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").strip() == "true"


# --- reading versions of the request --------------------------------------------


@dataclass(frozen=True)
class _Version:
    """One commit's version of the request file: parsed data, or why not."""

    present: bool
    data: Any = None
    fault: str | None = None

    @property
    def decision_key(self) -> tuple[str, str] | None:
        """The ``approve``/``reject`` values, compared to follow a decision through history."""
        if not self.present:
            return None
        spec = self.data.get("spec") if isinstance(self.data, dict) else None
        if not isinstance(spec, dict):
            return (repr(False), repr(None))
        return (repr(spec.get("approve", False)), repr(spec.get("reject")))


def _version(text: str | None) -> _Version:
    if text is None:
        return _Version(present=False)
    data, fault = parse_document(text)
    if fault is not None:
        return _Version(present=True, fault=f"line {fault.line}: {fault.message}")
    return _Version(present=True, data=data)


def _validate(version: _Version) -> tuple[DeletionRequest | None, str | None]:
    if version.fault is not None:
        return None, version.fault
    try:
        return DeletionRequest.model_validate(version.data), None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        return None, f"{where}: {first['msg']}"


def _without_decision(data: Any) -> Any:
    """The parsed document minus ``spec.approve`` and ``spec.reject``."""
    if not isinstance(data, dict):
        return data
    copy = dict(data)
    spec = copy.get("spec")
    if isinstance(spec, dict):
        copy["spec"] = {k: v for k, v in spec.items() if k not in _DECISION_FIELDS}
    return copy


def _changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        paths: list[str] = []
        for key in sorted({*before, *after}, key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in after:
                paths.append(where)
            else:
                paths.extend(_changed_paths(before[key], after[key], where))
        return paths
    return [] if before == after else [prefix or "the whole document"]


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MAX_LISTED_FIELDS])
    more = len(paths) - _MAX_LISTED_FIELDS
    return shown + (f" and {more} more" if more > 0 else "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _same_email(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


# --- the decision ---------------------------------------------------------------


class _Refusal(Exception):
    """The request cannot be trusted at all; carries the one-line reason."""


class _Decider:
    def __init__(
        self,
        repo_path: Path,
        request_path: str,
        config: Config,
        revision: str,
        now: datetime,
        allowed_signers_path: Path | None,
    ) -> None:
        self.git = _Git(repo_path)
        self.repo_path = repo_path
        self.path = request_path
        self.config = config
        self.revision = revision
        self.now = now
        self.allowed_signers_path = allowed_signers_path
        self.identity = config.spec.commit_identity or CommitIdentity()
        self.versions: dict[str, _Version] = {}
        self.parents: dict[str, tuple[str, ...]] = {}
        self.order: list[str] = []
        self.requester: Person | None = None
        self.baseline: DeletionRequest | None = None
        self.tampered: list[str] = []

    def __call__(self) -> Decision:
        head = self.git.resolve(self.revision)
        current_text = self.git.read_blobs([f"{head}:{self.path}"])[f"{head}:{self.path}"]
        if current_text is None:
            raise RepositoryError(f"{self.path} does not exist at {self.revision}")
        current, invalid = _validate(_version(current_text))
        self._load_history(head)
        try:
            opening_sha, baseline = self._opening()
        except _Refusal as refusal:
            return self._decision("refused", [str(refusal)])
        requester = Person(name=baseline.spec.requester.name, email=baseline.spec.requester.email)
        expires_at = _aware(baseline.spec.expires_at)
        self.requester, self.baseline = requester, baseline
        expired = self.now >= expires_at

        if current is None:
            line = (
                f"{self.path} is not a valid DeletionRequest at {self.revision} ({invalid}); "
                "fix the file so `proxgit validate` passes"
            )
            return self._unfit([line], expired, expires_at)
        trusted: dict[str, bool | set[str]] = {"status": True, "spec": {*_DECISION_FIELDS}}
        tampered = _changed_paths(
            baseline.model_dump(by_alias=True, exclude=trusted),
            current.model_dump(by_alias=True, exclude=trusted),
        )
        if tampered:
            self.tampered.append(
                f"{self.path}: {_listed(tampered)} changed since proxgit opened the request "
                f"in {opening_sha[:12]}; only approve and reject may be edited, restore the rest"
            )

        spec = current.spec
        if spec.approve and spec.reject is not None:
            line = (
                f"{self.path} sets both approve: true and reject; keep only one "
                "(approve: false to reject, or remove reject to approve)"
            )
            return self._unfit([*self.tampered, line], expired, expires_at)
        if not spec.approve and spec.reject is None:
            if self.tampered or expired:
                return self._unfit(self.tampered, expired, expires_at)
            return self._decision(
                "pending",
                [
                    f"{self.path} waits for approval: someone with approve_deletion other "
                    f"than {requester.email} commits approve: true before {_stamp(expires_at)}"
                ],
            )

        try:
            commit = self._introducer(self.order[0])
        except _Refusal as refusal:
            return self._unfit([*self.tampered, str(refusal)], expired, expires_at)

        if spec.reject is not None:
            return self._rejection(
                commit, spec.reject.reason, requester, baseline, expired, expires_at
            )
        return self._approval(commit, requester, baseline, expired, expires_at)

    def _unfit(
        self,
        problems: list[str],
        expired: bool,
        expires_at: datetime,
        commit: _Commit | None = None,
    ) -> Decision:
        """``expired`` once the TTL ran out (nothing is destroyed either way), else ``refused``."""
        if expired:
            return self._decision("expired", [self._expired_line(expires_at), *problems], commit)
        return self._decision("refused", problems, commit)

    # --- history ------------------------------------------------------------------

    def _load_history(self, head: str) -> None:
        out = self.git.run("rev-list", "--topo-order", "--parents", head, "--", self.path)
        order: list[str] = []
        for line in out.splitlines():
            shas = line.split()
            if shas:
                order.append(shas[0])
                self.parents[shas[0]] = tuple(shas[1:])
        everything = {*order, *(p for ps in self.parents.values() for p in ps)}
        blobs = self.git.read_blobs(f"{sha}:{self.path}" for sha in sorted(everything))
        self.versions = {sha: _version(blobs[f"{sha}:{self.path}"]) for sha in everything}
        self.order = order

    def _present_parents(self, sha: str) -> list[str]:
        return [p for p in self.parents.get(sha, ()) if self.versions[p].present]

    def _opening(self) -> tuple[str, DeletionRequest]:
        """The commit that added the file along its history, checked to be proxgit's."""
        if not self.order:
            raise _Refusal(f"{self.path} has no history at {self.revision}")
        sha = self.order[0]
        while True:
            present = self._present_parents(sha)
            if not present:
                break
            sha = present[0]
        commit = self.git.commit(sha)
        if not commit.parents and self.git.is_shallow():
            raise _Refusal(
                f"{self.path}: the history is shallow and does not reach the commit that "
                "opened the request; fetch the full history (fetch-depth: 0)"
            )
        if not _same_email(commit.author.email, self.identity.email):
            raise _Refusal(
                f"{self.path} was added in {sha[:12]} by {commit.author.email}, not by proxgit "
                f"({self.identity.email}); only proxgit opens deletion requests, remove the "
                "file and delete the guest's document instead"
            )
        baseline, invalid = _validate(self.versions[sha])
        if baseline is None:
            raise _Refusal(
                f"{self.path} as opened in {sha[:12]} is not a valid DeletionRequest "
                f"({invalid}); remove it and let proxgit open the request again"
            )
        if baseline.spec.approve or baseline.spec.reject is not None:
            raise _Refusal(
                f"{self.path} was created already decided in {sha[:12]}; a request is opened "
                "undecided and approved or rejected in a later commit of a person's own"
            )
        self._check_removal(baseline, sha)
        return sha, baseline

    def _check_removal(self, baseline: DeletionRequest, opening: str) -> None:
        removed_in = baseline.spec.removed_in
        found = ""
        if _COMMIT_ID.fullmatch(removed_in):  # never hand git an option-like argument
            found = self.git.run(
                "rev-parse", "--verify", "--quiet", f"{removed_in}^{{commit}}", check=False
            ).strip()
        if not found or not self.git.is_ancestor(found, opening):
            raise _Refusal(
                f"{self.path}: removedIn {removed_in[:12]} is not in the history before the "
                "request was opened, so the requester cannot be confirmed; fetch the full "
                "history (fetch-depth: 0)"
            )
        author = self.git.commit(found).author
        if not _same_email(author.email, baseline.spec.requester.email):
            raise _Refusal(
                f"{self.path}: requester {baseline.spec.requester.email} is not the author "
                f"({author.email}) of removedIn {found[:12]}; the request is not trustworthy, "
                "remove it and let proxgit open it again"
            )

    def _introducer(self, start: str) -> _Commit:
        """Step back while a parent carries the same decision; that commit introduced it."""
        sha = start
        key = self.versions[sha].decision_key
        while True:
            same = [p for p in self.parents.get(sha, ()) if self.versions[p].decision_key == key]
            if not same:
                break
            sha = same[0]
        commit = self.git.commit(sha)
        if not self._present_parents(sha):
            raise _Refusal(
                f"{self.path} was created already decided in {sha[:12]}; a request is opened "
                "undecided and approved or rejected in a later commit of a person's own"
            )
        if len(commit.parents) > 1:
            raise _Refusal(
                f"decision in {self.path} was introduced by merge commit {sha[:12]} itself "
                "(a conflict resolution), not by a commit of its own; revert it and approve "
                "or reject in a normal commit"
            )
        return commit

    # --- rules --------------------------------------------------------------------

    def _roles_with(self, email: str, cluster: str, permission: Permission) -> list[str]:
        policy = self.config.spec.policy
        if policy is None:
            return []
        names = []
        for name, role in policy.roles.items():
            if role.clusters is not None and cluster not in role.clusters:
                continue
            if not any(_same_email(member, email) for member in role.members):
                continue
            granted = {str(p) for p in role.permissions}
            if str(permission) in granted or str(Permission.all) in granted:
                names.append(name)
        return names

    def _forge_login_approvers(self, cluster: str) -> bool:
        policy = self.config.spec.policy
        for role in policy.roles.values() if policy else []:
            granted = {str(p) for p in role.permissions}
            if (
                (role.clusters is None or cluster in role.clusters)
                and (granted & {str(Permission.approve_deletion), str(Permission.all)})
                and any("@" not in member for member in role.members)
            ):
                return True
        return False

    def _rejection(
        self,
        commit: _Commit,
        reason: str,
        requester: Person,
        baseline: DeletionRequest,
        expired: bool,
        expires_at: datetime,
    ) -> Decision:
        who = commit.author.email
        cluster = baseline.spec.guest.cluster
        problems = list(self.tampered)
        if _same_email(who, self.identity.email):
            problems.append(
                f"rejection by {who} refused: proxgit's own identity cannot decide a deletion "
                "request; reject in a commit of your own"
            )
        elif not _same_email(who, requester.email) and not self._roles_with(
            who, cluster, Permission.approve_deletion
        ):
            problems.append(
                f"rejection by {who} refused: only the requester ({requester.email}) or an "
                f"identity with approve_deletion for cluster {cluster} may reject; ask one of "
                "them to reject"
            )
        if not reason.strip():
            problems.append(
                f"rejection by {who} refused: a rejection needs a reason; set reject: "
                "{reason: ...} with a sentence"
            )
        if problems:
            return self._unfit(problems, expired, expires_at, commit)
        return self._decision(
            "rejected",
            [f"{self.path} rejected by {who} in {commit.sha[:12]}: {reason.strip()}"],
            commit,
            rejection_reason=reason.strip(),
        )

    def _approval(
        self,
        commit: _Commit,
        requester: Person,
        baseline: DeletionRequest,
        expired: bool,
        expires_at: datetime,
    ) -> Decision:
        who = commit.author.email
        refuse = f"approval by {who} refused"
        cluster = baseline.spec.guest.cluster
        problems = list(self.tampered)
        if _same_email(who, self.identity.email):
            problems.append(
                f"{refuse}: proxgit's own identity cannot approve a deletion; an approver "
                "commits approve: true as themself"
            )
        elif not self._roles_with(who, cluster, Permission.approve_deletion):
            logins = (
                " (forge logins like github:name are not matched against commit authors; "
                "list the approver's commit email)"
                if self._forge_login_approvers(cluster)
                else ""
            )
            problems.append(
                f"{refuse}: {who} has no policy role with approve_deletion for cluster "
                f"{cluster} in proxgit.yaml; ask a listed approver, or add {who} to such a "
                f"role{logins}"
            )
        if (
            _same_email(who, requester.email)
            and not self.config.spec.deletions.self_approval_allowed
        ):
            problems.append(
                f"{refuse}: the requester cannot approve their own deletion "
                "(deletions.selfApprovalAllowed is false); ask another approver"
            )
        problems.extend(self._only_the_decision_changed(commit, refuse))
        if self.config.spec.deletions.require_signed_approvals:
            problems.extend(self._signature_problems(commit, refuse))
        late = commit.committed_at >= expires_at
        if late:
            problems.append(
                f"{refuse}: committed at {_stamp(commit.committed_at)}, after the request "
                f"expired at {_stamp(expires_at)}; remove the guest's document again to open "
                "a new request"
            )
        if expired or late:
            reasons = [self._expired_line(expires_at)] if expired else []
            return self._decision("expired", [*reasons, *problems], commit)
        if problems:
            return self._decision("refused", problems, commit)
        return self._decision(
            "approved",
            [f"{self.path} approved by {who} in {commit.sha[:12]}"],
            commit,
        )

    def _only_the_decision_changed(self, commit: _Commit, refuse: str) -> list[str]:
        problems: list[str] = []
        others = [name for name in self.git.changed_files(commit.sha) if name != self.path]
        if others:
            problems.append(
                f"{refuse}: approval commit {commit.sha[:12]} also changes {_listed(others)}; "
                f"approve in a commit that changes only {self.path}"
            )
        spec = f"{commit.parents[0]}:{self.path}"
        before = _version(self.git.read_blobs([spec])[spec])
        after = self.versions[commit.sha]
        if before.fault is not None or after.fault is not None:
            problems.append(
                f"{refuse}: {self.path} does not parse before or after {commit.sha[:12]}; "
                "approve in a commit that only sets approve: true"
            )
            return problems
        changed = _changed_paths(_without_decision(before.data), _without_decision(after.data))
        if changed:
            problems.append(
                f"{refuse}: approval commit {commit.sha[:12]} also changes {_listed(changed)} "
                f"in {self.path}; approve in a commit that changes nothing but approve"
            )
        return problems

    def _signature_problems(self, commit: _Commit, refuse: str) -> list[str]:
        who = commit.author.email
        raw = self.git.run("cat-file", "commit", commit.sha)
        header = raw.split("\n\n", 1)[0]
        signature = next(
            (
                line
                for line in header.splitlines()
                if line.startswith(("gpgsig ", "gpgsig-sha256 "))
            ),
            None,
        )
        if signature is None:
            return [
                f"{refuse}: commit {commit.sha[:12]} is not signed and "
                "deletions.requireSignedApprovals is true; sign it (git commit -S with "
                "gpg.format=ssh) with a key listed in the allowed signers file"
            ]
        config: dict[str, str] = {}
        env: dict[str, str] = {}
        if "BEGIN SSH SIGNATURE" in signature:
            kind = "ssh"
            path = self.allowed_signers_path
            if path is None or not path.is_file():
                where = str(path) if path else "none configured"
                return [
                    f"{refuse}: SSH-signed but there is no allowed signers file ({where}); set "
                    "deletions.allowedSigners (e.g. .proxgit/allowed_signers) listing approvers' "
                    "keys"
                ]
            config["gpg.ssh.allowedSignersFile"] = str(path.resolve())
        elif "BEGIN PGP SIGNATURE" in signature:
            kind = "gpg"
            keyring = self.config.spec.deletions.gpg_keyring
            if not keyring:
                return [
                    f"{refuse}: GPG-signed but deletions.gpgKeyring is not set; sign with an "
                    "SSH key, or set gpgKeyring to a GNUPGHOME holding approvers' public keys"
                ]
            home = Path(keyring)
            env["GNUPGHOME"] = str(home if home.is_absolute() else self.repo_path / home)
        else:
            return [
                f"{refuse}: commit {commit.sha[:12]} carries a signature type proxgit does not "
                "verify (only SSH and GPG); sign with an SSH key"
            ]
        out = self.git.run(
            "log",
            "-1",
            "--no-walk",
            "--format=%G?%x00%GK%x00%GS",
            commit.sha,
            config=config,
            env=env,
        )
        status, key, signer = [*out.rstrip("\n").split("\x00"), "", "", ""][:3]
        good = {"G"} if kind == "ssh" else {"G", "U"}
        if status == "B":
            return [
                f"{refuse}: the signature of {commit.sha[:12]} does not verify (bad signature); "
                "re-sign the commit (git commit --amend -S) and push it again"
            ]
        if kind == "ssh" and status == "U":
            return [
                f"{refuse}: {commit.sha[:12]} is signed by key {key or '?'}, which is not in the "
                f"allowed signers file; add '{who} namespaces=\"git\" <public key>' to it"
            ]
        if status not in good:
            return [
                f"{refuse}: the signature of {commit.sha[:12]} could not be verified (git "
                f"reports {status or '?'} for key {key or '?'}); sign with a key in the "
                "allowed signers (or GPG keyring) that has not expired or been revoked"
            ]
        signer_email = _email_of(signer)
        if not _same_email(signer_email, who):
            return [
                f"{refuse}: {commit.sha[:12]} is authored as {who} but signed by "
                f"{signer_email or key or 'an unnamed key'}; the signer must be the author, "
                "commit and sign as yourself"
            ]
        return []

    def _decision(
        self,
        state: DecisionState,
        reasons: list[str],
        commit: _Commit | None = None,
        rejection_reason: str | None = None,
    ) -> Decision:
        return Decision(
            state=state,
            reasons=reasons,
            approver=commit.author if commit else None,
            approval_commit=commit.sha if commit else None,
            rejection_reason=rejection_reason,
            requester=self.requester,
            request=self.baseline,
        )

    def _expired_line(self, expires_at: datetime) -> str:
        return (
            f"{self.path} expired at {_stamp(expires_at)} without a valid approval; proxgit "
            "untags the guest and archives the request, remove the guest's document again to "
            "ask anew"
        )


def _email_of(signer: str) -> str:
    """``alice@example.com`` from an SSH principal or a GPG ``Name <alice@example.com>``."""
    signer = signer.strip()
    if "<" in signer and signer.endswith(">"):
        return signer[signer.rindex("<") + 1 : -1]
    return signer
