"""``proxgit apply``: a merged revision, applied safely, exactly once, resumably.

Order of events for each cluster: the gates (apply enabled and confirmed; the
cluster allows writes; the revision is on the main branch), the cluster's
write lease (see ``lock.py``), and then, all under that lease: the last
applied revision read again (the revision must descend from it, else gate
``last-applied`` refuses), a fresh plan against live state (what was true at
PR time may not be now), the changes through a bounded pool where one guest's
failure does not stop the others, deletion requests instead of deletions, the
cluster's journal committed (and pushed), and last the move of
``refs/proxgit/applied/<cluster>``, only when every guest succeeded. The lease
is released only after that, so a second apply never plans against a state
the first has not recorded yet. An interrupted or partial run is simply run
again: the fresh plan sees what was already done and converges without doing
anything twice. docs/apply.md walks through what a crash at each step leaves.
"""

from __future__ import annotations

import json
import os
import secrets as random_names
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from proxgit import observe
from proxgit.applying.deletion_requests import open_request
from proxgit.applying.executor import GuestExecutor, execute_change
from proxgit.applying.lock import DEFAULT_LEASE, ClusterLock, Interrupted
from proxgit.applying.results import (
    ApplyRun,
    ClusterOutcome,
    GuestResult,
    GuestState,
    RunState,
)
from proxgit.errors import GateRefused, InvalidRepository, LockTimeout, ProxgitError
from proxgit.git import (
    SKIP_CI,
    GitRepository,
    History,
    Identity,
    allowed_signers_line,
    commit_identity,
    public_key_of,
)
from proxgit.identity.authority import forge_source
from proxgit.identity.enforce import refusals as policy_refusals
from proxgit.layout import applied_ref, journal_path
from proxgit.loading import DesiredState, load_revision
from proxgit.models import CONFIRM_PHRASE, Config
from proxgit.outcomes import Gate, Outcome
from proxgit.planning.plan import Action, GuestChange, Plan
from proxgit.planning.planner import (
    build_plan,
    heal_all,
    reads_for,
    self_heal,
    self_heal_enabled,
)
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.live import ClusterLive, LiveState
from proxgit.proxmox.reading import client_factory, fixed_client, read_cluster
from proxgit.secrets import SecretBox

ClientMaker = Callable[[str], ProxmoxClient]
SyncMode = Literal["all", "self-heal"] | None


@dataclass
class ApplyOptions:
    revision: str = "HEAD"
    clusters: Iterable[str] | None = None
    push: bool = False
    lock_wait: float = 300.0
    actor: str | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clients: ClientMaker | None = None
    # the cluster lock's lease; renewed every quarter of it while the run works
    lease: float = DEFAULT_LEASE.total_seconds()
    # set (by SIGTERM or SIGINT) to start no new work: current waits are abandoned,
    # what was done is journaled, the lock released
    stop: threading.Event | None = None
    # one-line progress reports (lock waits), for the terminal
    progress: Callable[[str], None] | None = None
    push_attempts: int = 20
    # put drifted guests back too: "all" (apply --sync), "self-heal" (the watch pod,
    # guests whose syncPolicy says so), None (only what the revision changed)
    sync: SyncMode = None


def identity_of(state: DesiredState, base_dir: Path | None = None) -> Identity:
    """proxgit's commit identity, with its signing key when proxgit.yaml names one."""
    return commit_identity(state.config, base_dir)


def newest_foreign_commit(repo: GitRepository, revision: str, identity: Identity) -> str:
    """The newest commit that is not proxgit's own (journal, snapshot, requests).

    With a signing key, a commit is proxgit's only when its key signed it: an author
    string and ``[skip ci]`` written by someone else do not hide a change from apply.
    """
    signers = ""
    if identity.signing_key:
        signers = allowed_signers_line("proxgit-itself", public_key_of(identity.signing_key))
    history = History(repo.path)
    sha = revision
    for _ in range(1000):
        author, parents, body = repo.run("log", "-1", "--format=%ae%x00%P%x00%B", sha).split(
            "\x00", 2
        )
        if author != identity.email or SKIP_CI not in body or not parents.strip():
            return sha
        if signers and not history.signature(sha, allowed_signers=signers + "\n").good:
            return sha
        sha = parents.split()[0]
    return sha


def check_apply_gate(state: DesiredState) -> None:
    apply = state.config.spec.apply
    if not apply.enabled:
        raise GateRefused(
            "refused by gate apply.enabled: apply is disabled in proxgit.yaml "
            "(set apply.enabled: true and apply.confirm)",
            gate=Gate.apply_enabled,
        )
    if apply.confirm != CONFIRM_PHRASE:
        raise GateRefused(
            f"refused by gate apply.confirm: it must be exactly {CONFIRM_PHRASE}",
            gate=Gate.apply_confirm,
        )


def load_gated(repo: Path, revision: str) -> DesiredState:
    """The desired tree at ``revision`` for a write: a problem that closes a gate
    (an ``apply.confirm`` typo) refuses like the gate (exit 3), the rest are errors."""
    try:
        return load_revision(repo, revision)
    except InvalidRepository as err:
        gated = [p for p in err.problems if p.gate is not None]
        if not gated:
            raise
        more = len(err.problems) - 1
        raise GateRefused(
            f"refused by gate {gated[0].gate}: {gated[0]}"
            + (f" (and {more} more problem(s); run proxgit validate)" if more else ""),
            gate=gated[0].gate,
        ) from None


def main_tip(repo: GitRepository, branch: str) -> tuple[str, str]:
    """The main branch's tip and the ref it was read from (the remote's when there is one)."""
    if repo.has_remote():
        repo.fetch(f"+refs/heads/{branch}:refs/remotes/{repo.remote}/{branch}")
        ref = f"{repo.remote}/{branch}"
        return repo.resolve(ref), ref
    return repo.resolve(branch), branch


def apply_revision(repo_path: Path, options: ApplyOptions) -> ApplyRun:
    """Apply ``options.revision``; raises GateRefused when a global gate refuses."""
    repo = GitRepository(repo_path)
    revision = repo.resolve(options.revision)
    head = load_gated(repo.path, revision)
    if options.revision == "HEAD":
        # proxgit's own commits (journal, snapshot, requests) carry no desired change:
        # the revision to apply is the newest commit somebody else made.
        foreign = newest_foreign_commit(repo, revision, identity_of(head, repo.path))
        if foreign != revision:
            revision, head = foreign, load_gated(repo.path, foreign)
    check_apply_gate(head)
    branch = head.config.spec.main_branch
    tip, tip_ref = main_tip(repo, branch)
    if not repo.is_ancestor(revision, tip):
        try:
            unpushed = tip_ref != branch and repo.is_ancestor(revision, repo.resolve(branch))
        except ProxgitError:
            unpushed = False
        raise GateRefused(
            f"refused by gate main-branch: {revision[:12]} is not on {tip_ref} "
            f"(tip {tip[:12]}); only merged revisions are applied"
            + (f"; it is on your local {branch}: push it first" if unpushed else ""),
            gate=Gate.main_branch,
        )
    actor = options.actor or repo.run("log", "-1", "--format=%ae", revision).strip()
    run = ApplyRun(revision=revision, actor=actor, started_at=options.now(), sync=options.sync)
    secrets = SecretBox(repo.path)
    identity = identity_of(head, repo.path)
    wanted = sorted(options.clusters) if options.clusters else sorted(head.config.spec.clusters)
    make_client = options.clients or remembering_clients(head.config, repo.path, secrets)
    stop = options.stop or threading.Event()
    for cluster in wanted:
        if cluster not in head.config.spec.clusters:
            raise GateRefused(
                f"refused: cluster '{cluster}' is not in proxgit.yaml", gate=Gate.cluster
            )
    for cluster in wanted:
        if stop.is_set():
            run.interrupted = True
            run.clusters.append(
                ClusterOutcome(
                    cluster=cluster,
                    state=RunState.failed,
                    message="not started: the apply was interrupted",
                )
            )
            continue
        try:
            with observe.step(cluster, "apply") as step:
                outcome, results = _apply_cluster(
                    repo, head, run, cluster, options, secrets, identity, make_client, stop
                )
                if outcome.state.outcome == Outcome.failed:
                    step.error = "guest-failed" if results else "failed"
                elif outcome.state.outcome == Outcome.refused:
                    step.error = "refused"  # a closed gate: neither a success nor a failure
        except LockTimeout:
            raise
        except Interrupted:
            run.interrupted = True
            outcome = ClusterOutcome(
                cluster=cluster,
                state=RunState.failed,
                message="interrupted while waiting for the cluster lock; nothing done",
            )
            results = []
        except ProxgitError as err:
            outcome = ClusterOutcome(
                cluster=cluster, state=RunState.failed, message=secrets.scrub(err.message)
            )
            results = []
        run.clusters.append(outcome)
        run.results.extend(results)
    run.finished_at = options.now()
    run.interrupted = run.interrupted or stop.is_set()
    _conclude(run)
    if all(c.state == RunState.refused for c in run.clusters) and run.clusters:
        raise GateRefused(run.clusters[0].message, gate=run.clusters[0].gate)
    return run


def _conclude(run: ApplyRun) -> None:
    run.conclude()
    if any(c.state == RunState.failed for c in run.clusters):
        run.state = RunState.partial if run.state == RunState.succeeded else RunState.failed


def remembering_clients(config: Config, base_dir: Path, secrets: SecretBox) -> ClientMaker:
    """The usual clients, with each token secret handed to the scrubber of what is shown
    and recorded (journals, archived requests, messages)."""
    make = client_factory(config, base_dir)

    def make_remembered(name: str) -> ProxmoxClient:
        client = make(name)
        secrets.remember(client.token_secret)
        return client

    return make_remembered


def _apply_cluster(
    repo: GitRepository,
    head: DesiredState,
    run: ApplyRun,
    cluster: str,
    options: ApplyOptions,
    secrets: SecretBox,
    identity: Identity,
    make_client: ClientMaker,
    stop: threading.Event,
) -> tuple[ClusterOutcome, list[GuestResult]]:
    settings = head.config.spec.clusters[cluster]
    revision = head.revision or ""
    if not settings.allow_writes:
        return (
            ClusterOutcome(
                cluster=cluster,
                state=RunState.refused,
                gate=Gate.allow_writes,
                message=(
                    f"refused by gate allowWrites: cluster '{cluster}' has allowWrites: false"
                ),
            ),
            [],
        )
    applied = applied_ref(cluster)
    sync = options.sync
    if sync == "self-heal" and not self_heal_enabled(head.config, head.guests_in(cluster)):
        sync = None
    remote_applied = repo.read_remote_ref(applied)
    if remote_applied == revision and (
        sync is None or not _drift_to_heal(repo, head, cluster, make_client, sync)
    ):
        return (  # cheap check, no lock needed
            ClusterOutcome(
                cluster=cluster,
                state=RunState.noop,
                base_revision=revision,
                message=f"{revision[:12]} is already applied",
            ),
            [],
        )
    lock = ClusterLock(
        repo,
        cluster,
        identity,
        wait=options.lock_wait,
        ttl=timedelta(seconds=options.lease),
        progress=options.progress,
        stop=stop,
    )
    with lock:
        # Under the lease: the applied revision as the last holder left it.
        last = repo.read_remote_ref(applied)
        if last is not None:
            repo.fetch(f"+{applied}:{applied}")
            if last == revision and sync is None:
                return (
                    ClusterOutcome(
                        cluster=cluster,
                        state=RunState.noop,
                        base_revision=last,
                        message=f"{revision[:12]} is already applied",
                    ),
                    [],
                )
            if not repo.is_ancestor(last, revision):
                return (
                    ClusterOutcome(
                        cluster=cluster,
                        state=RunState.refused,
                        gate=Gate.last_applied,
                        message=(
                            f"refused by gate last-applied: {revision[:12]} does not descend from "
                            f"{last[:12]}, the last revision applied to '{cluster}'"
                        ),
                    ),
                    [],
                )
        client = make_client(cluster)
        client.cancel = stop
        lock.on_lost = stop.set  # a lost lease: start nothing new either
        outcome, results, paths = _work(
            repo, head, cluster, last, options, secrets, client, settings.concurrency, sync
        )
        if stop.is_set():
            outcome.state = RunState.partial if results else RunState.failed
            outcome.message = "interrupted: " + (
                "what was done is journaled" if results else "nothing done"
            )
        _record(repo, head, run, outcome, results, paths, options, secrets, identity, lock)
        return outcome, results


def _replan(
    head: DesiredState,
    base: DesiredState | None,
    cluster: str,
    client: ProxmoxClient,
    sync: SyncMode,
) -> tuple[ClusterLive, Plan]:
    """Live state of the guests the plan needs, and the plan of one cluster against it."""
    with observe.step(cluster, "plan") as step:
        # sync looks at every guest: drift is where the files did not change
        reads = reads_for(head, base, full=sync is not None)
        live_cluster = read_cluster(
            cluster,
            fixed_client(client),
            wanted=reads.guests.get(cluster, set()),
            template_storages=reads.template_storages.get(cluster),
        )
        if not live_cluster.reachable:
            step.error = live_cluster.error_kind or "failed"
            raise ProxgitError(live_cluster.error or f"cluster '{cluster}': not read")
        heal = {"all": heal_all, "self-heal": self_heal(head.config), None: None}[sync]
        plan = build_plan(
            head,
            LiveState(clusters={cluster: live_cluster}),
            base=base,
            clusters=[cluster],
            heal=heal,
        )
    return live_cluster, plan


def _work(
    repo: GitRepository,
    head: DesiredState,
    cluster: str,
    last: str | None,
    options: ApplyOptions,
    secrets: SecretBox,
    client: ProxmoxClient,
    concurrency: int,
    sync: SyncMode,
) -> tuple[ClusterOutcome, list[GuestResult], list[str]]:
    """The re-plan and the writes of one cluster (the caller holds its lease)."""
    revision = head.revision or ""
    base = load_revision(repo.path, last) if last else None
    live_cluster, plan = _replan(head, base, cluster, client, sync)
    templates = [g for g in live_cluster.guests.values() if g.template]
    results: list[GuestResult] = []
    paths: list[str] = []
    # forge mode: each change's pull request author must hold the permission for it
    refused = policy_refusals(
        repo.path, head, base, plan.changes, forge=forge_source(head.config, repo.path)
    )

    def settled(change: GuestChange, action: str, state: GuestState, message: str) -> GuestResult:
        """A guest's result without any write: refused, or failed before one."""
        return GuestResult(
            cluster=cluster,
            vmid=change.vmid,
            name=change.name,
            kind=change.kind,
            action=action,
            state=state,
            message=secrets.scrub(message),
        )

    for change in plan.changes:
        if change.vmid in refused:
            results.append(
                settled(change, change.action.value, GuestState.refused, refused[change.vmid])
            )
    work = [
        c
        for c in plan.changes
        if c.action in (Action.create, Action.update, Action.migrate) and c.vmid not in refused
    ]
    # A guest whose config could not be used (a malformed value) fails alone.
    unreadable = [
        c
        for c in plan.changes
        if c.action == Action.noop
        and any(b.code in ("config-unread", "config-unreadable") for b in c.blockers)
    ]
    for change in unreadable:
        reasons = "; ".join(b.message for b in change.blockers)
        results.append(settled(change, "update", GuestState.failed, reasons))

    def run_one(change: GuestChange) -> GuestResult:
        guest = head.guests.get((cluster, change.vmid))
        executor = GuestExecutor(client, secrets, progress=options.progress)
        return execute_change(
            executor,
            change,
            guest.document if guest else None,
            live_cluster.guests.get(change.vmid),
            templates,
        )

    for change in work:
        observe.guest(cluster, change.name, change.vmid, "queued", change.action.value)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results.extend(pool.map(run_one, work))
    for change in plan.changes:
        if change.action != Action.delete or change.vmid in refused:
            continue
        old = base.guests.get((cluster, change.vmid)) if base else None
        live = live_cluster.guests.get(change.vmid)
        result = GuestResult(
            cluster=cluster,
            vmid=change.vmid,
            name=change.name,
            kind=change.kind,
            action="delete",
            state=GuestState.deletion_pending,
        )
        try:
            if client.cancel.is_set():
                raise ProxgitError("the apply was interrupted")
            if change.blockers:
                raise ProxgitError("; ".join(b.message for b in change.blockers))
            assert old is not None and live is not None
            path = open_request(
                repo=repo,
                config=head.config,
                client=client,
                removed=old,
                live=live,
                revision=revision,
                base=last or revision,
                now=options.now(),
                forge=forge_source(head.config, repo.path),
            )
            paths.append(path)
            result.message = f"deletion request {path} opened; nothing destroyed"
        except ProxgitError as err:
            result.state = GuestState.skipped
            result.message = secrets.scrub(f"deletion request not opened: {err.message}")
        results.append(result)
        observe.guest(cluster, change.name, change.vmid, result.state.value, result.message)
    failed = any(r.state == GuestState.failed for r in results)
    state = RunState.noop if not results else RunState.partial if failed else RunState.succeeded
    if results and all(r.state == GuestState.refused for r in results):
        message = "\n".join(r.message or "" for r in results)
        return (
            ClusterOutcome(
                cluster=cluster, state=RunState.refused, message=message, gate=Gate.policy
            ),
            results,
            paths,
        )
    if any(r.state == GuestState.refused for r in results):
        state = RunState.partial
    return ClusterOutcome(cluster=cluster, state=state, base_revision=last), results, paths


def _drift_to_heal(
    repo: GitRepository,
    head: DesiredState,
    cluster: str,
    make_client: ClientMaker,
    sync: SyncMode,
) -> bool:
    """Read-only look, without the lock: does sync have anything to put back here?
    (The lock is taken, and the plan made again under it, only when it does.)"""
    _live, plan = _replan(head, head, cluster, make_client(cluster), sync)
    return any(c.action in (Action.create, Action.update) for c in plan.changes)


def _record(
    repo: GitRepository,
    head: DesiredState,
    run: ApplyRun,
    outcome: ClusterOutcome,
    results: list[GuestResult],
    paths: list[str],
    options: ApplyOptions,
    secrets: SecretBox,
    identity: Identity,
    lock: ClusterLock,
) -> None:
    """Journal, commit, push and move the applied revision: all still under the lease."""
    revision = run.revision
    journaled = bool(results or paths or outcome.state not in (RunState.noop, RunState.refused))
    if journaled:
        record = ApplyRun(
            revision=revision,
            actor=run.actor,
            started_at=run.started_at,
            finished_at=options.now(),
            interrupted=lock.stop.is_set() if lock.stop is not None else False,
            sync=run.sync,
            clusters=[outcome],
            results=results,
        )
        _conclude(record)
        journal = write_journal(repo, record, secrets, cluster=outcome.cluster)
        message = (
            f"proxgit apply {revision[:12]} to {outcome.cluster}: {record.state.value} "
            f"({_counts(results)})"
        )
        repo.commit_paths([*paths, journal], message, identity)
    branch = head.config.spec.main_branch
    if options.push and (journaled or repo.own_commits_unpushed(branch, identity)):
        # also the journal of an earlier run whose push failed (an unreachable remote):
        # it is pushed now, even when this run had nothing to do
        try:
            repo.push_branch(branch, attempts=options.push_attempts, identity=identity)
        except ProxgitError as err:
            outcome.state = RunState.failed
            outcome.message = secrets.scrub(
                f"the journal was committed but not pushed ({err.message}); "
                "the applied revision was not moved"
            )
            return
    if lock.lost.is_set():
        outcome.state = RunState.failed
        outcome.message = (
            f"the lock's lease on '{outcome.cluster}' was lost during the run (not renewed "
            "in time); the applied revision was not moved"
        )
        return
    if outcome.state.outcome is Outcome.ok:
        try:
            _advance_applied(repo, outcome.cluster, revision, outcome.base_revision)
        except ProxgitError as err:
            outcome.state = RunState.failed
            outcome.message = err.message


def _advance_applied(
    repo: GitRepository, cluster: str, revision: str, expected: str | None
) -> None:
    ref = applied_ref(cluster)
    if expected == revision:
        return
    if not repo.swap_remote_ref(ref, revision, expected):
        raise ProxgitError(
            f"cluster '{cluster}': {ref} moved while this apply held the lock; "
            "not moved to this revision (run apply again)"
        )


def write_journal(
    repo: GitRepository, run: ApplyRun, secrets: SecretBox, *, cluster: str = "all"
) -> str:
    """Write the journal file; its name (time, cluster, revision, a random suffix) is
    unique, so journals of runs in the same second never collide in a rebase."""
    stamp = run.started_at.strftime("%Y%m%dT%H%M%SZ")
    suffix = random_names.token_hex(4)
    path = journal_path(stamp, cluster, run.revision, suffix)
    target = repo.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.scrub(run.model_dump(mode="json"))
    partial = target.with_name(f".{target.name}.tmp")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, target)  # a crash never leaves half a journal
    return path


def _counts(results: list[GuestResult]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.state.value] = counts.get(result.state.value, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to do"
