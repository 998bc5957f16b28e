"""Deciding a deletion request from Git history: the four-eyes rule (safety invariant 3).

No string in Git is believed. A request counts only when:

1. **proxgit opened it.** The commit that introduced the request's random
   ``requestId`` into ``deletions/<cluster>-<vmid>.yaml`` is signed with
   proxgit's own SSH key (``commitIdentity.signingKeyFrom``). In
   ``git-author`` mode, which believes author strings, its author must be
   proxgit's commit identity. The version proxgit signed is the trusted
   request: guest, requester (authenticated when the request was opened),
   removal commit, expiry. Every other field must be unchanged since.
2. **It is the current lifecycle.** No later request for the same path was
   opened after it, and proxgit has not closed it (archived, withdrawn).
3. **The rules are the ones it opened under.** Policy, people, deletion
   settings and allowed signers are read from the opening commit.
4. **The approval belongs to it.** The commit that introduced the decision now
   in the file is found by walking back, through commits whose version
   carries the same ``requestId`` and the same decision, to the one whose
   parents do not. That commit must descend from the opening commit, must
   not be a merge, and must change nothing but ``approve``/``reject`` in
   that one file.
5. **The approver is authenticated** by the identity mode
   (:mod:`proxgit.identity.authority`): the merged pull request's author or
   an approving reviewer (``forge``), the signer (``signatures``), or the
   author string (``git-author``). They hold ``approve_deletion`` for the
   cluster, are not the requester (unless ``selfApprovalAllowed``), and
   approved before the request expired.

A rejection needs the requester or an approve_deletion holder; rejecting is
the safe direction, so it may come after expiry. Every reason is one line
that names the rule and the fix. This module only reads the repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from proxgit.errors import ProxgitError, RepositoryError
from proxgit.git.history import Commit, History, allowed_signers_line
from proxgit.identity.authority import (
    GIT_AUTHOR_WARNING,
    Authority,
    PullRequestSource,
    Rules,
    check_pinned,
    pinned_mode,
    rules_at,
)
from proxgit.layout import deletion_request_name, deletion_request_path
from proxgit.models.config import CommitIdentity, Config, IdentityMode, Permission
from proxgit.models.deletion import DeletionRequest
from proxgit.models.people import Who, roles_granting
from proxgit.yamlio import parse_document


class DecisionState(StrEnum):
    """What a request's history amounts to; only ``approved`` authorises a destroy."""

    pending = "pending"  # waiting for a second person's decision
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    refused = "refused"  # the history does not count (untrusted, tampered, invalid)


_DECISION_FIELDS = ("approve", "reject")
_MAX_LISTED_FIELDS = 6
_PROXGIT_PRINCIPAL = "proxgit-itself"
REQUEST_NAME = re.compile(r"^[a-z0-9][a-z0-9\-_]*-\d+$")


@dataclass(frozen=True)
class Decision:
    """What a deletion request's history amounts to at one revision.

    Only ``DecisionState.approved`` authorises a destroy. ``request`` is the
    request as proxgit signed it when it opened it (act on its ``spec.guest``,
    never on the current file); ``rules`` the rules it opened under.
    """

    state: DecisionState
    reasons: list[str] = field(default_factory=list)
    approver: Who | None = None
    approval_commit: str | None = None
    rejection_reason: str | None = None
    requester: Who | None = None
    request: DeletionRequest | None = None
    opening_commit: str | None = None
    rules: Rules | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        return self.state is DecisionState.approved


@dataclass(frozen=True)
class ProxgitKey:
    """How proxgit recognises its own commits: its public key, and whether it holds the key."""

    public_key: str | None
    held: bool

    def signers(self) -> str:
        if not self.public_key:
            return ""
        return allowed_signers_line(_PROXGIT_PRINCIPAL, self.public_key) + "\n"


def decide_request(
    repo_path: Path,
    request_path: str,
    *,
    config: Config,
    proxgit_key: ProxgitKey,
    revision: str = "HEAD",
    now: datetime,
    forge: Callable[[], PullRequestSource | None] | None = None,
) -> Decision:
    """Decide the deletion request at ``request_path`` as of ``revision``.

    ``config`` is the configuration of the revision being acted on (it names
    proxgit's commit identity); the request is judged by the rules at its
    opening commit. Raises :class:`RepositoryError` when the repository or
    revision is unusable or the file does not exist; every other problem is a
    ``refused`` decision with its reasons.
    """
    decider = _Decider(
        History(repo_path), repo_path, request_path, config, proxgit_key, revision, now, forge
    )
    return decider()


# --- versions of the request -------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    present: bool
    data: Any = None
    fault: str | None = None

    @property
    def request_id(self) -> str | None:
        spec = self.data.get("spec") if isinstance(self.data, dict) else None
        value = spec.get("requestId") if isinstance(spec, dict) else None
        return value if isinstance(value, str) else None

    @property
    def key(self) -> tuple[str, str, str] | None:
        """requestId plus the decision: followed back through history to its introducer."""
        if not self.present:
            return None
        spec = self.data.get("spec") if isinstance(self.data, dict) else None
        if not isinstance(spec, dict):
            return (repr(None), repr(False), repr(None))
        return (
            repr(spec.get("requestId")),
            repr(spec.get("approve", False)),
            repr(spec.get("reject")),
        )


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
    if not isinstance(data, dict):
        return data
    copy = dict(data)
    spec = copy.get("spec")
    if isinstance(spec, dict):
        copy["spec"] = {k: v for k, v in spec.items() if k not in _DECISION_FIELDS}
    return copy


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ between two parsed documents."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths: list[str] = []
        for key in sorted({*before, *after}, key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in after:
                paths.append(where)
            else:
                paths.extend(changed_paths(before[key], after[key], where))
        return paths
    return [] if before == after else [prefix or "the whole document"]


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MAX_LISTED_FIELDS])
    more = len(paths) - _MAX_LISTED_FIELDS
    return shown + (f" and {more} more" if more > 0 else "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Refusal(Exception):
    """The request cannot be trusted at all; carries the one-line reason."""


# --- the decision -------------------------------------------------------------------


class _Decider:
    def __init__(
        self,
        history: History,
        repo_path: Path,
        request_path: str,
        config: Config,
        proxgit_key: ProxgitKey,
        revision: str,
        now: datetime,
        forge: Callable[[], PullRequestSource | None] | None,
    ) -> None:
        self.git = history
        self.repo_path = repo_path
        self.path = request_path
        self.config = config
        self.key = proxgit_key
        self.revision = revision
        self.now = _aware(now)
        self.forge = forge
        self.identity = config.spec.commit_identity or CommitIdentity()
        self.versions: dict[str, _Version] = {}
        self.warnings: list[str] = []
        self.requester: Who | None = None
        self.request: DeletionRequest | None = None
        self.opening: str | None = None
        self.rules: Rules | None = None

    def __call__(self) -> Decision:
        head = self.git.resolve(self.revision)
        current_text = self.git.read(head, self.path)
        if current_text is None:
            raise RepositoryError(f"{self.path} does not exist at {self.revision}")
        current_version = _version(current_text)
        try:
            self._establish(head, current_version)
        except _Refusal as refusal:
            return self._decision(DecisionState.refused, [str(refusal)])
        assert self.request is not None and self.rules is not None and self.opening
        request, rules = self.request, self.rules
        if rules.mode == IdentityMode.git_author:
            self.warnings.append(GIT_AUTHOR_WARNING)
        expires_at = _aware(request.spec.expires_at)
        expired = self.now >= expires_at

        current, invalid = _validate(current_version)
        if current is None:
            line = (
                f"{self.path} is not a valid DeletionRequest at {self.revision} ({invalid}); "
                "fix the file so `proxgit validate` passes"
            )
            return self._settle([line], expired, expires_at)
        trusted: dict[str, bool | set[str]] = {"status": True, "spec": {*_DECISION_FIELDS}}
        tampered = changed_paths(
            request.model_dump(by_alias=True, exclude=trusted),
            current.model_dump(by_alias=True, exclude=trusted),
        )
        problems = []
        if tampered:
            problems.append(
                f"{self.path}: {_listed(tampered)} changed since proxgit opened the request "
                f"in {self.opening[:12]}; only approve and reject may be edited, restore the rest"
            )
        spec = current.spec
        if spec.approve and spec.reject is not None:
            problems.append(
                f"{self.path} sets both approve: true and reject; keep only one "
                "(approve: false to reject, or remove reject to approve)"
            )
            return self._settle(problems, expired, expires_at)
        if not spec.approve and spec.reject is None:
            if problems or expired:
                return self._settle(problems, expired, expires_at)
            assert self.requester is not None
            return self._decision(
                DecisionState.pending,
                [
                    f"{self.path} waits for approval: someone with approve_deletion other "
                    f"than {self.requester.label} approves before {stamp(expires_at)}"
                ],
            )
        try:
            commit = self._introducer(head)
        except _Refusal as refusal:
            return self._settle([*problems, str(refusal)], expired, expires_at)
        if spec.reject is not None:
            return self._rejection(commit, spec.reject.reason, problems, expired, expires_at)
        return self._approval(commit, problems, expired, expires_at)

    # --- which request, under which rules ------------------------------------------

    def _establish(self, head: str, current: _Version) -> None:
        request_id = current.request_id
        if request_id is None:
            raise _Refusal(
                f"{self.path} carries no requestId, so proxgit did not open it; remove the "
                "file (deletions are requested by removing the guest's document)"
            )
        order, parents = self.git.path_graph(head, self.path, full=True)
        everything = {*order, *(p for ps in parents.values() for p in ps)}
        blobs = self.git.read_blobs(f"{sha}:{self.path}" for sha in sorted(everything))
        self.versions = {sha: _version(blobs[f"{sha}:{self.path}"]) for sha in everything}

        def introduces(sha: str) -> str | None:
            rid = self.versions[sha].request_id
            if rid is None:
                return None
            if any(self.versions[p].request_id == rid for p in parents.get(sha, ())):
                return None
            return rid

        openings: dict[str, list[str]] = {}
        for sha in order:
            rid = introduces(sha)
            if rid is not None and self._opened_by_proxgit(sha):
                openings.setdefault(rid, []).append(sha)
        mine = openings.get(request_id, [])
        if not mine:
            if self.git.is_shallow():
                raise _Refusal(
                    f"{self.path}: the history is shallow; fetch the full history (fetch-depth: 0)"
                )
            raise _Refusal(
                f"{self.path}: requestId {request_id} was not introduced by a commit proxgit "
                f"signed{self._key_hint()}; only proxgit opens deletion requests, remove the "
                "file and delete the guest's document instead"
            )
        opening = mine[-1]  # the oldest (order is newest first)
        for rid, shas in openings.items():
            if rid != request_id and any(self.git.is_ancestor(opening, s) for s in shas):
                raise _Refusal(
                    f"{self.path}: requestId {request_id} belongs to an earlier request; a newer "
                    f"one ({rid}) was opened after it, so decisions of the old one never count"
                )
        for sha in order:
            version = self.versions[sha]
            closes = version.request_id != request_id and any(
                self.versions[p].request_id == request_id for p in parents.get(sha, ())
            )
            if closes and self.git.is_ancestor(opening, sha) and self._opened_by_proxgit(sha):
                raise _Refusal(
                    f"{self.path}: request {request_id} was closed by proxgit in {sha[:12]}; "
                    "a closed request never reopens, remove the guest's document again"
                )
        baseline, invalid = _validate(self.versions[opening])
        if baseline is None:
            raise _Refusal(
                f"{self.path} as opened in {opening[:12]} is not a valid DeletionRequest "
                f"({invalid})"
            )
        if baseline.spec.approve or baseline.spec.reject is not None:
            raise _Refusal(
                f"{self.path} was opened already decided in {opening[:12]}; a request is "
                "opened undecided"
            )
        guest = baseline.spec.guest
        if Path(self.path).name != Path(deletion_request_path(guest.cluster, guest.vmid)).name:
            named = deletion_request_name(guest.cluster, guest.vmid)
            raise _Refusal(
                f"{self.path} describes {named}; a request lives at "
                "deletions/<cluster>-<vmid>.yaml and is never moved"
            )
        try:
            rules = rules_at(self.git, opening)
        except ProxgitError as err:
            raise _Refusal(f"{self.path}: the rules it opened under are unusable: {err}") from None
        pinned = check_pinned(rules.mode)
        if pinned is not None:
            raise _Refusal(f"{self.path}: {pinned}")
        self.opening, self.request, self.rules = opening, baseline, rules
        requester = baseline.spec.requester
        self.requester = self._authority().who(requester.handle)

    def _opened_by_proxgit(self, sha: str) -> bool:
        commit = self.git.commit(sha)
        mode = pinned_mode() or self.config.spec.identity_mode
        if mode == IdentityMode.git_author:
            return commit.author_email.strip().lower() == self.identity.email.strip().lower()
        if not self.key.public_key:
            return False
        signature = self.git.signature(sha, allowed_signers=self.key.signers())
        return (
            signature.kind == "ssh" and signature.good and (signature.signer == _PROXGIT_PRINCIPAL)
        )

    def _key_hint(self) -> str:
        if self.config.spec.identity_mode == IdentityMode.git_author or self.key.public_key:
            return ""
        return (
            " (proxgit's signing key is not available here: set commitIdentity.signingKeyFrom "
            "and its secret; only the key proxgit holds recognises its requests)"
        )

    def _authority(self) -> Authority:
        assert self.rules is not None
        return Authority(
            self.git, self.rules, forge=self.forge, repo_root=self.repo_path, head=self.revision
        )

    def _introducer(self, head: str) -> Commit:
        """Walk back through the same requestId and decision to the commit that set it."""
        order, parents = self.git.path_graph(head, self.path)
        missing = {p for ps in parents.values() for p in ps if p not in self.versions}
        missing |= {s for s in order if s not in self.versions}
        if missing:
            blobs = self.git.read_blobs(f"{sha}:{self.path}" for sha in sorted(missing))
            self.versions.update({s: _version(blobs[f"{s}:{self.path}"]) for s in missing})
        if not order:
            raise _Refusal(f"{self.path} has no history at {self.revision}")
        sha = order[0]
        key = self.versions[sha].key
        while True:
            same = [p for p in parents.get(sha, ()) if self.versions[p].key == key]
            if not same:
                break
            sha = same[0]
        commit = self.git.commit(sha)
        assert self.opening is not None
        if sha == self.opening or not self.git.is_ancestor(self.opening, sha):
            raise _Refusal(
                f"the decision in {self.path} was not made after proxgit opened the request in "
                f"{self.opening[:12]} (it comes from {sha[:12]}); approve or reject in a new "
                "commit"
            )
        if commit.is_merge:
            raise _Refusal(
                f"the decision in {self.path} was introduced by merge commit {sha[:12]} itself "
                "(a conflict resolution); approve or reject in a commit of its own"
            )
        return commit

    # --- rules ------------------------------------------------------------------------

    def _only_the_decision_changed(self, commit: Commit, refuse: str) -> list[str]:
        problems: list[str] = []
        others = [name for name in self.git.changed_files(commit.sha) if name != self.path]
        if others:
            problems.append(
                f"{refuse}: commit {commit.sha[:12]} also changes {_listed(others)}; "
                f"approve in a change that touches only {self.path}"
            )
        before = self.versions.get(commit.parents[0]) or _version(
            self.git.read(commit.parents[0], self.path)
        )
        after = self.versions.get(commit.sha) or _version(self.git.read(commit.sha, self.path))
        if before.fault is not None or after.fault is not None:
            return [*problems, f"{refuse}: {self.path} does not parse around {commit.sha[:12]}"]
        changed = changed_paths(_without_decision(before.data), _without_decision(after.data))
        if changed:
            problems.append(
                f"{refuse}: commit {commit.sha[:12]} also changes {_listed(changed)} in "
                f"{self.path}; change nothing but approve"
            )
        return problems

    def _candidates(self, commit: Commit) -> tuple[list[Who], datetime | None, str, str | None]:
        vouched = self._authority().vouch(commit)
        return list(vouched.people), vouched.moment, vouched.via, vouched.problem

    def _is_proxgit(self, who: Who) -> bool:
        return who.handle.strip().lower() == self.identity.email.strip().lower()

    def _approval(
        self, commit: Commit, problems: list[str], expired: bool, expires_at: datetime
    ) -> Decision:
        assert self.request is not None and self.rules is not None and self.requester
        cluster = self.request.spec.guest.cluster
        rules = self.rules.config
        people, moment, via, problem = self._candidates(commit)
        refuse = f"approval in {commit.sha[:12]} refused"
        if problem is not None:
            return self._settle([*problems, f"{refuse}: {problem}"], expired, expires_at, commit)
        problems = [*problems, *self._only_the_decision_changed(commit, refuse)]
        self_ok = rules.spec.deletions.self_approval_allowed
        approver: Who | None = None
        why_not: list[str] = []
        for who in people:
            if self._is_proxgit(who):
                why_not.append(f"{who.label} is proxgit itself")
            elif who.same_as(self.requester) and not self_ok:
                why_not.append(f"{who.label} is the requester")
            elif not roles_granting(rules, who, Permission.approve_deletion, cluster):
                why_not.append(f"{who.label} has no role with approve_deletion on {cluster}")
            else:
                approver = who
                break
        if approver is None:
            detail = "; ".join(why_not) or "nobody"
            problems.append(
                f"{refuse}: nobody who may approve stands behind it ({via}: {detail}); someone "
                f"with approve_deletion on {cluster} other than {self.requester.label} approves"
            )
        when = moment or commit.committed_at
        late = when >= expires_at
        if late:
            problems.append(
                f"{refuse}: it took effect at {stamp(when)}, after the request expired at "
                f"{stamp(expires_at)}; remove the guest's document again to ask anew"
            )
        if expired or late:
            return self._settle(problems, True, expires_at, commit, approver)
        if problems:
            return self._decision(DecisionState.refused, problems, commit, approver)
        return self._decision(
            DecisionState.approved,
            [f"{self.path} approved by {approver.label if approver else '?'} ({via})"],
            commit,
            approver,
        )

    def _rejection(
        self,
        commit: Commit,
        reason: str,
        problems: list[str],
        expired: bool,
        expires_at: datetime,
    ) -> Decision:
        assert self.request is not None and self.rules is not None and self.requester
        cluster = self.request.spec.guest.cluster
        people, _moment, via, problem = self._candidates(commit)
        refuse = f"rejection in {commit.sha[:12]} refused"
        if problem is not None:
            return self._settle([*problems, f"{refuse}: {problem}"], expired, expires_at, commit)
        decider = next(
            (
                who
                for who in people
                if not self._is_proxgit(who)
                and (
                    who.same_as(self.requester)
                    or roles_granting(self.rules.config, who, Permission.approve_deletion, cluster)
                )
            ),
            None,
        )
        if decider is None:
            problems.append(
                f"{refuse}: only the requester ({self.requester.label}) or someone with "
                f"approve_deletion on {cluster} may reject ({via})"
            )
        if not reason.strip():
            problems.append(f"{refuse}: a rejection needs a reason; set reject: {{reason: ...}}")
        if problems:
            return self._settle(problems, expired, expires_at, commit)
        assert decider is not None
        return self._decision(
            DecisionState.rejected,
            [f"{self.path} rejected by {decider.label} ({via}): {reason.strip()}"],
            commit,
            decider,
            rejection_reason=reason.strip(),
        )

    # --- results ----------------------------------------------------------------------

    def _settle(
        self,
        problems: list[str],
        expired: bool,
        expires_at: datetime,
        commit: Commit | None = None,
        who: Who | None = None,
    ) -> Decision:
        if expired:
            return self._decision(
                DecisionState.expired, [self._expired_line(expires_at), *problems], commit, who
            )
        return self._decision(DecisionState.refused, problems, commit, who)

    def _decision(
        self,
        state: DecisionState,
        reasons: list[str],
        commit: Commit | None = None,
        who: Who | None = None,
        rejection_reason: str | None = None,
    ) -> Decision:
        return Decision(
            state=state,
            reasons=reasons,
            approver=who,
            approval_commit=commit.sha if commit else None,
            rejection_reason=rejection_reason,
            requester=self.requester,
            request=self.request,
            opening_commit=self.opening,
            rules=self.rules,
            warnings=list(self.warnings),
        )

    def _expired_line(self, expires_at: datetime) -> str:
        return (
            f"{self.path} expired at {stamp(expires_at)} without a valid approval; proxgit "
            "untags the guest and archives the request, remove the guest's document again to "
            "ask anew"
        )
