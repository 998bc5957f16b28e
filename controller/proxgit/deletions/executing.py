"""Carrying out decided deletion requests: destroy, reject, expire, and archive.

A request is destroyed only when the approval rules say ``approved`` (see
``approval.py``: an approver's own commit, not the requester's, signed when
required, before expiry). Even then proxgit checks that the guest is still the
one the request describes (a vmid reused by a new guest is never destroyed),
that it is not protected, and that writes are allowed. Rejected and expired
requests lose their ``proxgit-pending-deletion`` tag. Every finished request
moves to ``deletions/archive/`` with its outcome, in one proxgit commit.

Crash safety: the destroy comes first and the archive commit after. If proxgit
dies in between, the next run finds the request still approved but the guest
gone, and archives it without a second destroy call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxgit.applying.deletion_requests import render_request
from proxgit.applying.lock import ClusterLock
from proxgit.applying.run import check_apply_gate, identity_of
from proxgit.errors import GateRefused, ProxgitError, ProxmoxError
from proxgit.gitops import GitRepository
from proxgit.loading import DesiredState, load_revision
from proxgit.models.deletion import DeletionRequest
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.live import LiveGuest
from proxgit.proxmox.normalize import (
    PENDING_DELETION_TAG,
    nic_mac,
    parse_property_string,
    split_tags,
)
from proxgit.proxmox.reading import client_factory, fixed_client, read_cluster

ARCHIVE_DIR = "deletions/archive"

ClientMaker = Callable[[str], ProxmoxClient]


@dataclass
class RequestOutcome:
    name: str
    cluster: str
    vmid: int
    state: str  # pending | refused | executed | rejected | expired | blocked
    message: str
    upids: list[str] = field(default_factory=list)


@dataclass
class DeletionsRun:
    outcomes: list[RequestOutcome] = field(default_factory=list)
    commit: str | None = None

    @property
    def failed(self) -> bool:
        return any(o.state == "blocked" for o in self.outcomes)


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

    Without ``execute`` (as apply and the watch loop's other steps call it) only
    rejections and expiries are carried out.
    """
    from proxgit.deletions.approval import decide_request

    moment = now or datetime.now(UTC)
    repo = GitRepository(repo_path)
    revision = repo.resolve("HEAD")
    state = load_revision(repo.path, revision)
    config = state.config
    identity = identity_of(state)
    signers = config.spec.deletions.allowed_signers
    signers_path = repo.path / signers if signers else None
    run = DeletionsRun()
    written: list[str] = []
    shard = set(clusters) if clusters is not None else None
    make_client = clients or client_factory(state.config, repo.path)
    for name in sorted(state.deletion_requests):
        path, request = state.deletion_requests[name]
        if str(request.status.state) != "open":
            continue
        if shard is not None and request.metadata.cluster not in shard:
            continue  # another pod's cluster: not ours to lock or decide
        cluster, vmid = request.metadata.cluster, request.spec.guest.vmid
        decision = decide_request(
            repo.path,
            path,
            config=config,
            revision=revision,
            now=moment,
            allowed_signers_path=signers_path,
        )
        outcome = RequestOutcome(name, cluster, vmid, decision.state, "; ".join(decision.reasons))
        run.outcomes.append(outcome)
        if decision.state in ("pending", "refused"):
            continue
        if decision.state == "approved" and not execute:
            outcome.state, outcome.message = "pending", "approved; waiting for deletions execute"
            continue
        try:
            if decision.state == "approved":
                _gates(state, cluster)
            with ClusterLock(repo, cluster, identity, wait=lock_wait):
                client = make_client(cluster)
                live = read_cluster(cluster, fixed_client(client), wanted={vmid})
                if not live.reachable:
                    raise ProxgitError(f"cluster '{cluster}': {live.error}")
                guest = live.guests.get(vmid)
                if decision.state == "approved":
                    outcome.state, outcome.message, outcome.upids = _destroy(client, request, guest)
                else:
                    _untag(client, guest, request)
                    outcome.message = outcome.message or f"request {decision.state}"
        except ProxgitError as err:
            outcome.state, outcome.message = "blocked", err.message
            continue
        written += _archive(repo, path, request, outcome, decision, moment)
    if written:
        counts: dict[str, int] = {}
        for outcome in run.outcomes:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        run.commit = repo.commit_paths(["deletions"], f"proxgit deletions: {summary}", identity)
        if push and run.commit:
            repo.push_branch(config.spec.main_branch)
    return run


def _gates(state: DesiredState, cluster: str) -> None:
    """Destroying is a write: the same gates as apply, in the same order."""
    check_apply_gate(state)
    if not state.config.spec.clusters[cluster].allow_writes:
        raise GateRefused(
            f"refused by gate allowWrites: cluster '{cluster}' has "
            "allowWrites: false; nothing destroyed"
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
) -> tuple[str, str, list[str]]:
    if guest is None:
        return "executed", "guest already gone (destroyed by an earlier run); archived", []
    reason = same_guest(request, guest)
    if reason:
        raise ProxgitError(reason)
    config = guest.config or {}
    if str(config.get("protection", "0")) in ("1", "True", "true"):
        raise ProxgitError(
            f"{guest.name} has protection enabled in Proxmox; clear it to let "
            "the approved deletion run"
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
    upid = client.delete(path, **params)
    upids.append(str(upid))
    _wait(client, guest.node, upid, "destroy")
    return "executed", f"destroyed {guest.kind} '{guest.name}' (vmid {guest.vmid})", upids


def _wait(client: ProxmoxClient, node: str, upid: Any, what: str) -> None:
    if isinstance(upid, str) and upid.startswith("UPID:"):
        result = client.wait_task(node, upid)
        if not result.ok:
            raise ProxgitError(f"{what} failed: {result.exitstatus}")


def _untag(client: ProxmoxClient, guest: LiveGuest | None, request: DeletionRequest) -> None:
    if guest is None or same_guest(request, guest) is not None:
        return  # gone, or not ours to touch
    path = f"nodes/{guest.node}/{guest.type}/{guest.vmid}/config"
    try:
        config = client.get(path)
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
    decision: Any,
    moment: datetime,
) -> list[str]:
    data = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    status: dict[str, Any] = {
        "state": outcome.state,
        "message": outcome.message,
        "decidedAt": moment.isoformat(timespec="seconds"),
    }
    approver = getattr(decision, "approver", None)
    if approver is not None:
        status["approvedBy"] = {"name": approver.name, "email": approver.email}
    if getattr(decision, "approval_commit", None):
        status["approvalCommit"] = decision.approval_commit
    data["status"] = status
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    target = f"{ARCHIVE_DIR}/{Path(path).stem}-{stamp}.yaml"
    (repo.path / ARCHIVE_DIR).mkdir(parents=True, exist_ok=True)
    (repo.path / target).write_text(render_request(data), encoding="utf-8")
    (repo.path / path).unlink()
    return [target, path]
