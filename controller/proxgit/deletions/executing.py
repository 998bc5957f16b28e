"""Carrying out decided deletion requests: destroy, reject, expire, and archive.

A request is destroyed only when the approval rules say ``approved`` (see
``approval.py``: a request proxgit signed, approved by an authenticated second
person before expiry) *and* the deletion intent is derived again from the
desired-state history, never read from the file: the guest is not declared at
the executed revision, was declared at the revision the request was opened
from, and the commit that removed it lies between the two on the main branch
and was applied. The live guest must still be the one captured (name, kind,
MACs), carry the ``proxgit-pending-deletion`` tag and not be protected; and
every write (destroy, untag) passes the apply gates. A guest declared again
withdraws its request. Rejected, expired and withdrawn requests lose their
tag. Every finished request moves to ``deletions/archive/`` with its outcome,
in one proxgit commit.

Crash safety: the destroy comes first and the archive commit after. If proxgit
dies in between, the next run finds the request still approved but the guest
gone, and archives it without a second destroy call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proxgit import observe
from proxgit.applying.deletion_requests import render_request
from proxgit.applying.lock import ClusterLock
from proxgit.applying.run import (
    check_apply_gate,
    load_gated,
    remembering_clients,
)
from proxgit.deletions.approval import Decision, DecisionState, ProxgitKey, decide_request
from proxgit.errors import GateRefused, ProxgitError, ProxmoxError
from proxgit.git import GitRepository, History, commit_identity, public_key_of
from proxgit.identity.authority import forge_source
from proxgit.layout import ARCHIVE_DIR, DELETIONS_DIR, applied_ref, archive_path, seen_ref
from proxgit.loading import DesiredState, load_revision
from proxgit.models.config import CommitIdentity, Config
from proxgit.models.deletion import DeletionRequest, DeletionState
from proxgit.outcomes import Gate, Outcome, worst
from proxgit.proxmox.client import ProxmoxClient, excerpt
from proxgit.proxmox.live import LiveGuest
from proxgit.proxmox.normalize import (
    PENDING_DELETION_TAG,
    nic_mac,
    parse_property_string,
    split_tags,
)
from proxgit.proxmox.reading import fixed_client, read_cluster
from proxgit.secrets import SecretBox

ClientMaker = Callable[[str], ProxmoxClient]


class RequestState(StrEnum):
    """Where one request stands after a run; the value is what journals and archives record."""

    pending = "pending"  # waiting for a decision, or approved and waiting for execute
    approved = "approved"  # approved and rederived; only while the run carries it out
    refused = "refused"  # the decision or the rederivation does not count: nothing done
    executed = "executed"  # the guest is destroyed (or was already gone)
    rejected = "rejected"
    expired = "expired"
    withdrawn = "withdrawn"  # the guest is declared again
    blocked = "blocked"  # a gate or an error stopped it; it stays open

    @property
    def outcome(self) -> Outcome:
        """The one mapping to :class:`Outcome` (a gated ``blocked`` is refused, see below)."""
        return _REQUEST_OUTCOMES[self]

    @property
    def settled(self) -> bool:
        """The request is closed by this run and no longer waits for anything."""
        return self in (RequestState.executed, RequestState.rejected, RequestState.expired)


_REQUEST_OUTCOMES = {
    RequestState.pending: Outcome.ok,
    RequestState.approved: Outcome.ok,
    RequestState.refused: Outcome.refused,
    RequestState.executed: Outcome.ok,
    RequestState.rejected: Outcome.ok,
    RequestState.expired: Outcome.ok,
    RequestState.withdrawn: Outcome.ok,
    RequestState.blocked: Outcome.failed,
}

# A decision is where each request starts; the run may move it on from there.
_DECIDED = {
    DecisionState.pending: RequestState.pending,
    DecisionState.approved: RequestState.approved,
    DecisionState.rejected: RequestState.rejected,
    DecisionState.expired: RequestState.expired,
    DecisionState.refused: RequestState.refused,
}


@dataclass
class RequestOutcome:
    name: str
    cluster: str
    vmid: int
    state: RequestState
    message: str
    warnings: list[str] = field(default_factory=list)
    upids: list[str] = field(default_factory=list)
    gate: Gate | None = None  # set when a gate left the request blocked
    withdrawn_in: str | None = None

    @property
    def gated(self) -> bool:
        return self.gate is not None

    @property
    def outcome(self) -> Outcome:
        """``state.outcome``, except that a request a gate keeps blocked is refused (exit 3)."""
        if self.state is RequestState.blocked and self.gated:
            return Outcome.refused
        return self.state.outcome


@dataclass
class DeletionsRun:
    outcomes: list[RequestOutcome] = field(default_factory=list)
    commit: str | None = None
    # why the archive commit could not be pushed (it stays local; the next run pushes it)
    push_error: str | None = None

    @property
    def failed(self) -> bool:
        return self.push_error is not None or any(
            o.state is RequestState.blocked for o in self.outcomes
        )

    @property
    def outcome(self) -> Outcome:
        done = worst(o.outcome for o in self.outcomes)
        return worst([done, Outcome.failed]) if self.push_error else done

    def summary(self) -> str:
        """How many requests ended in each state, e.g. ``1 executed, 2 pending``."""
        counts: dict[RequestState, int] = {}
        for outcome in self.outcomes:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        return ", ".join(f"{n} {state.value}" for state, n in sorted(counts.items()))


def proxgit_key(config: Config, repo_root: Path, revision: str = "HEAD") -> ProxgitKey:
    """proxgit's public key: from the key it holds, else from the allowed signers file."""
    ident = config.spec.commit_identity or CommitIdentity()
    if ident.signing_key_from is not None:
        try:
            private = commit_identity(config, repo_root).signing_key
        except ProxgitError:
            private = None
        if private:
            return ProxgitKey(public_key=public_key_of(private), held=True)
    history = History(repo_root)
    text = history.read(revision, config.spec.deletions.allowed_signers) or ""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0].lower() == ident.email.lower():
            keys = [p for p in parts[1:] if p.startswith(("ssh-", "ecdsa-", "sk-"))]
            index = parts.index(keys[0]) if keys else -1
            if index > 0 and index + 1 < len(parts):
                return ProxgitKey(public_key=f"{parts[index]} {parts[index + 1]}", held=False)
    return ProxgitKey(public_key=None, held=False)


def decide(
    repo_root: Path, path: str, config: Config, *, revision: str = "HEAD", now: datetime
) -> Decision:
    """The decision on one request, with proxgit's key and the forge wired in."""
    return decide_request(
        repo_root,
        path,
        config=config,
        proxgit_key=proxgit_key(config, repo_root, revision),
        revision=revision,
        now=now,
        forge=forge_source(config, repo_root),
    )


class OpenRequest(BaseModel):
    """One row of ``deletions list``: an open request as Git history judges it.

    ``guest``, ``vmid`` and ``expires`` come from the request proxgit wrote (none when
    no trusted version of the file exists); ``state`` is the decision's.
    """

    id: str
    file: str
    guest: str | None = None
    vmid: int | None = None
    requester: str | None = None
    expires: str | None = None
    state: DecisionState
    approver: str | None = None
    reasons: list[str] = Field(default_factory=list)


class OpenRequests(BaseModel):
    """What ``deletions list`` shows: one row per open request, and the warnings met
    (``--output json`` is this model)."""

    requests: list[OpenRequest] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


def list_open_requests(repo_root: Path, *, now: datetime | None = None) -> OpenRequests:
    """Every open request of the working tree and what Git history says about each."""
    from proxgit.loading import load_directory

    moment = now or datetime.now(UTC)
    state = load_directory(repo_root)
    found = OpenRequests()
    for name in sorted(state.deletion_requests):
        path, request = state.deletion_requests[name]
        if request.status.state != DeletionState.open:
            continue
        decision = decide(repo_root, path, state.config, now=moment)
        trusted = decision.request
        found.warnings.extend(w for w in decision.warnings if w not in found.warnings)
        found.requests.append(
            OpenRequest(
                id=name,
                file=path,
                guest=trusted.spec.guest.name if trusted else None,
                vmid=trusted.spec.guest.vmid if trusted else None,
                requester=decision.requester.label if decision.requester else None,
                expires=trusted.spec.expires_at.isoformat() if trusted else None,
                state=decision.state,
                approver=decision.approver.label if decision.approver else None,
                reasons=list(decision.reasons),
            )
        )
    return found


def process_requests(
    repo_path: Path,
    *,
    execute: bool,
    push: bool = False,
    now: datetime | None = None,
    clients: ClientMaker | None = None,
    clusters: Iterable[str] | None = None,
    lock_wait: float = 300.0,
) -> DeletionsRun:
    """Decide every open request; with ``execute``, destroy the approved ones.

    Without ``execute`` (as apply and the watch loop's other steps call it)
    rejections, expiries and withdrawals are carried out, never a destroy.
    """
    moment = now or datetime.now(UTC)
    repo = GitRepository(repo_path)
    revision = repo.resolve("HEAD")
    state = load_gated(repo.path, revision) if execute else load_revision(repo.path, revision)
    config = state.config
    identity = commit_identity(config, repo.path)
    key = proxgit_key(config, repo.path, revision)
    if not key.held:
        # Only the key proxgit holds proves a request is its own; a public key read from
        # the repository could have been put there by anyone with push access.
        key = ProxgitKey(public_key=None, held=False)
    forge = forge_source(config, repo.path)
    run = DeletionsRun()
    written: list[str] = []
    shard = set(clusters) if clusters is not None else None
    secrets = SecretBox(repo.path)
    make_client = clients or remembering_clients(state.config, repo.path, secrets)
    history = History(repo.path)
    for name in sorted(state.deletion_requests):
        path, request = state.deletion_requests[name]
        if request.status.state != DeletionState.open:
            continue
        if shard is not None and request.metadata.cluster not in shard:
            continue  # another pod's cluster: not ours to lock or decide
        decision = decide_request(
            repo.path,
            path,
            config=config,
            proxgit_key=key,
            revision=revision,
            now=moment,
            forge=forge,
        )
        trusted = decision.request
        cluster = trusted.spec.guest.cluster if trusted else request.metadata.cluster
        vmid = trusted.spec.guest.vmid if trusted else request.spec.guest.vmid
        outcome = RequestOutcome(
            name,
            cluster,
            vmid,
            _DECIDED[decision.state],
            "; ".join(decision.reasons),
            decision.warnings,
        )
        run.outcomes.append(outcome)
        if trusted is None or (
            decision.state is DecisionState.refused and (cluster, vmid) not in state.guests
        ):
            continue
        redeclared = state.guests.get((cluster, vmid))
        if redeclared is not None:
            removed = history.commit_named(trusted.spec.removed_in)
            again = history.addition_of(redeclared.path, revision, since=removed)
            outcome.state = RequestState.withdrawn
            outcome.withdrawn_in = again.sha if again else revision
            outcome.message = (
                f"{redeclared.path} declares vmid {vmid} again"
                f"{f' (in {again.sha[:12]})' if again else ''}; the request is withdrawn, "
                "nothing destroyed"
            )
        elif decision.state is DecisionState.pending:
            continue
        elif decision.state is DecisionState.approved and not execute:
            outcome.state, outcome.message = (
                RequestState.pending,
                "approved; waiting for deletions execute",
            )
            continue
        elif decision.state is DecisionState.approved:
            problem = _rederive(history, state, trusted, revision, repo)
            if problem is not None:
                outcome.state, outcome.message = RequestState.refused, problem
                continue
        name_of = trusted.spec.guest.name
        observe.guest(cluster, name_of, vmid, "running", outcome.state.value)
        try:
            _gates(state, cluster, outcome.state)
            with (
                observe.step(cluster, "execute"),
                ClusterLock(repo, cluster, identity, wait=lock_wait),
            ):
                client = make_client(cluster)
                live = read_cluster(cluster, fixed_client(client), wanted={vmid})
                if not live.reachable:
                    raise ProxgitError(live.error or f"cluster '{cluster}': not read")
                guest = live.guests.get(vmid)
                if outcome.state is RequestState.approved:
                    outcome.state, outcome.message, outcome.upids = _destroy(client, trusted, guest)
                else:
                    _untag(client, guest, trusted)
                    outcome.message = outcome.message or f"request {decision.state}"
        except GateRefused as err:
            outcome.state, outcome.message = RequestState.blocked, err.message
            outcome.gate = err.gate or Gate.apply_enabled
            observe.guest(cluster, name_of, vmid, outcome.state.value, outcome.message)
            continue
        except ProxgitError as err:
            outcome.state, outcome.message = RequestState.blocked, secrets.scrub(err.message)
            observe.guest(cluster, name_of, vmid, outcome.state.value, outcome.message)
            continue
        observe.guest(cluster, name_of, vmid, outcome.state.value, outcome.message)
        written += _archive(repo, path, trusted, outcome, decision, moment)
    if written:
        run.commit = repo.commit_paths(
            [DELETIONS_DIR], f"proxgit deletions: {run.summary()}", identity
        )
    branch = config.spec.main_branch
    # also an archive commit an earlier run made but could not push
    if push and (run.commit or repo.own_commits_unpushed(branch, identity)):
        try:
            repo.push_branch(branch, identity=identity)
        except ProxgitError as err:
            what = "the archive commit was" if run.commit else "proxgit's earlier commits are"
            run.push_error = secrets.scrub(
                f"{what} made but not pushed ({err.message}); the next run with --push pushes it"
            )
    return run


def _rederive(
    history: History,
    state: DesiredState,
    request: DeletionRequest,
    revision: str,
    repo: GitRepository,
) -> str | None:
    """Deletion intent from the desired-state history, never from the file (invariant 4)."""
    guest = request.spec.guest
    key = (guest.cluster, guest.vmid)
    if key in state.guests:
        return f"vmid {guest.vmid} is declared at {revision[:12]}; nothing destroyed"
    declared_in = history.commit_named(request.spec.declared_in)
    removed_in = history.commit_named(request.spec.removed_in)
    if declared_in is None or removed_in is None:
        return (
            f"the revisions the request names ({request.spec.declared_in[:12]}, "
            f"{request.spec.removed_in[:12]}) are not in this clone; fetch the full history "
            "(fetch-depth: 0); nothing destroyed"
        )
    try:
        before = load_revision(repo.path, declared_in)
    except ProxgitError:
        before = None
    old = before.guests.get(key) if before else None
    if old is None or old.kind != guest.kind:
        return (
            f"vmid {guest.vmid} was not declared as a {guest.kind} at {declared_in[:12]}, the "
            "revision the request was opened from; nothing destroyed"
        )
    if not history.is_ancestor(declared_in, removed_in) or not history.is_ancestor(
        removed_in, revision
    ):
        return (
            f"removal {removed_in[:12]} is not between {declared_in[:12]} and {revision[:12]} "
            "on the main branch; nothing destroyed"
        )
    if history.read(removed_in, old.path) is not None:
        return f"{old.path} still exists at {removed_in[:12]}; nothing destroyed"
    applied = repo.read_remote_ref(applied_ref(guest.cluster))
    if applied is None:
        return f"cluster {guest.cluster} has no applied revision; nothing destroyed"
    repo.fetch(f"+{applied_ref(guest.cluster)}:{seen_ref(guest.cluster)}")
    if not history.is_ancestor(removed_in, applied):
        return (
            f"removal {removed_in[:12]} was never applied to {guest.cluster} (last applied "
            f"{applied[:12]}); nothing destroyed"
        )
    return None


def _gates(state: DesiredState, cluster: str, what: RequestState) -> None:
    """Every deletion-side write passes the same gates as apply, in the same order."""
    check_apply_gate(state)
    if not state.config.spec.clusters[cluster].allow_writes:
        verb = "nothing destroyed" if what is RequestState.approved else "the guest stays tagged"
        raise GateRefused(
            f"refused by gate allowWrites: cluster '{cluster}' has allowWrites: false; {verb}",
            gate=Gate.allow_writes,
        )


def _live_macs(config: dict[str, Any]) -> set[str]:
    macs = set()
    for key, raw in config.items():
        if key.startswith("net") and key[3:].isdigit():
            mac = nic_mac(parse_property_string(str(raw)))
            if mac:
                macs.add(mac)
    return macs


def same_guest(request: DeletionRequest, guest: LiveGuest) -> str | None:
    """None when ``guest`` is the one the request describes, else why it is not."""
    expected = request.spec.guest
    if guest.kind != expected.kind or guest.name != expected.name:
        return (
            f"vmid {guest.vmid} is now {guest.kind} '{guest.name}', not the requested "
            f"{expected.kind} '{expected.name}'; nothing destroyed"
        )
    snapshot_macs = {str(n.get("mac")).upper() for n in request.spec.snapshot.nics if n.get("mac")}
    if snapshot_macs and guest.config is not None and not snapshot_macs & _live_macs(guest.config):
        return (
            f"vmid {guest.vmid} '{guest.name}' has other NICs than the guest the request "
            "captured (it was recreated); nothing destroyed"
        )
    return None


def _destroy(
    client: ProxmoxClient, request: DeletionRequest, guest: LiveGuest | None
) -> tuple[RequestState, str, list[str]]:
    if guest is None:
        return (
            RequestState.executed,
            "guest already gone (destroyed by an earlier run); archived",
            [],
        )
    reason = same_guest(request, guest)
    if reason:
        raise ProxgitError(reason)
    if PENDING_DELETION_TAG not in guest.tags:
        raise ProxgitError(
            f"{guest.name} (vmid {guest.vmid}) does not carry the {PENDING_DELETION_TAG} tag "
            "proxgit set when it opened the request; nothing destroyed"
        )
    if guest.protected:
        raise ProxgitError(
            f"{guest.name} has protection enabled in Proxmox; clear it to let "
            "the approved deletion run"
        )
    lock = (guest.config or {}).get("lock")
    if lock:
        # a task holds it: perhaps the destroy an earlier run sent and lost the answer of
        raise ProxgitError(
            f"{guest.name} (vmid {guest.vmid}) is locked ({lock}) by a running task; "
            "nothing sent, the next run looks again"
        )
    upids: list[str] = []
    path = f"nodes/{guest.node}/{guest.type}/{guest.vmid}"
    if guest.status == "running":
        upid = client.post(f"{path}/status/stop")
        upids.append(str(upid))
        _wait(client, guest.node, upid, "stop")
    params: dict[str, Any] = {"purge": 1}
    if guest.type == "qemu":
        params["destroy-unreferenced-disks"] = 1
    try:
        upid = client.delete(path, **params)
    except ProxmoxError as err:
        if err.status == 0:
            # no answer (a timeout, a reset): Proxmox may have destroyed it all the same;
            # the next run reads the guest again and archives it if it is gone
            raise ProxgitError(
                f"{err.message}; whether the guest was destroyed is unknown until the next "
                "run reads it again (no second destroy is sent for a guest that is gone)"
            ) from None
        raise
    upids.append(str(upid))
    _wait(client, guest.node, upid, "destroy")
    return (
        RequestState.executed,
        f"destroyed {guest.kind} '{guest.name}' (vmid {guest.vmid})",
        upids,
    )


def _wait(client: ProxmoxClient, node: str, upid: Any, what: str) -> None:
    """Wait for the task a call started; an answer that is no task id is an error, never
    a destroy counted as done."""
    if not isinstance(upid, str) or not upid.startswith("UPID:"):
        raise ProxgitError(
            f"{what}: Proxmox answered {excerpt(upid)} where a task id (UPID) was expected; "
            "not counted as done"
        )
    result = client.wait_task(node, upid)
    if not result.ok:
        last = f" ({result.log[-1]})" if result.log else ""
        raise ProxgitError(f"{what} failed: {result.exitstatus}{last}")


def _untag(client: ProxmoxClient, guest: LiveGuest | None, request: DeletionRequest) -> None:
    if guest is None or same_guest(request, guest) is not None:
        return  # gone, or not ours to touch
    path = f"nodes/{guest.node}/{guest.type}/{guest.vmid}/config"
    try:
        config = client.get(path, expect=dict)
        if PENDING_DELETION_TAG not in split_tags(config.get("tags") or ""):
            return  # not tagged (never was, or already untagged): nothing to write
        tags = [t for t in split_tags(config.get("tags") or "") if t != PENDING_DELETION_TAG]
        if tags:
            client.put(path, tags=";".join(tags), digest=config.get("digest"))
        else:
            client.put(path, delete="tags", digest=config.get("digest"))
    except ProxmoxError as err:
        raise ProxgitError(f"removing the pending-deletion tag failed: {err.message}") from None


def _archive(
    repo: GitRepository,
    path: str,
    request: DeletionRequest,
    outcome: RequestOutcome,
    decision: Decision,
    moment: datetime,
) -> list[str]:
    data = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    status: dict[str, Any] = {
        "state": outcome.state.value,
        "message": outcome.message,
        "decidedAt": moment.isoformat(timespec="seconds"),
    }
    approver = decision.approver
    if approver is not None and outcome.state is not RequestState.withdrawn:
        status["approvedBy"] = {
            k: v
            for k, v in {
                "handle": approver.handle,
                "person": approver.person,
                "name": approver.name,
            }.items()
            if v
        }
    if decision.approval_commit and outcome.state is not RequestState.withdrawn:
        status["approvalCommit"] = decision.approval_commit
    if outcome.withdrawn_in:
        status["withdrawnIn"] = outcome.withdrawn_in
    data["status"] = status
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    target = archive_path(Path(path).stem, stamp, request.spec.request_id)
    (repo.path / ARCHIVE_DIR).mkdir(parents=True, exist_ok=True)
    (repo.path / target).write_text(render_request(data), encoding="utf-8")
    (repo.path / path).unlink()
    return [target, path]
