"""``proxgit apply``: a merged revision, applied safely, exactly once, resumably.

Order of events for each cluster: the gates (apply enabled and confirmed; the
cluster allows writes; the revision is on the main branch and descends from
the last applied one), the cluster's write lock, a fresh plan against live
state (what was true at PR time may not be now), the changes through a
bounded pool where one guest's failure does not stop the others, deletion
requests instead of deletions, then the journal. The last applied revision
(``refs/proxgit/applied/<cluster>``) moves only when every guest succeeded,
so an interrupted or partial run is simply run again: the fresh plan sees
what was already done and converges without doing anything twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from proxgit.applying.deletion_requests import open_request
from proxgit.applying.executor import GuestExecutor, execute_change
from proxgit.applying.lock import ClusterLock
from proxgit.applying.results import (
    ApplyRun,
    ClusterOutcome,
    GuestResult,
    GuestState,
    RunState,
)
from proxgit.applying.secrets import SecretBox
from proxgit.errors import GateRefused, LockTimeout, ProxgitError
from proxgit.gitops import SKIP_CI, GitRepository, Identity
from proxgit.loading import DesiredState, load_revision
from proxgit.models import CONFIRM_PHRASE
from proxgit.planning.plan import Action
from proxgit.planning.planner import build_plan, reads_for
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.reading import client_factory, fixed_client, read_cluster

APPLIED_REF = "refs/proxgit/applied/{cluster}"
JOURNAL_DIR = ".proxgit/journal"

ClientMaker = Callable[[str], ProxmoxClient]


@dataclass
class ApplyOptions:
    revision: str = "HEAD"
    clusters: Iterable[str] | None = None
    push: bool = False
    lock_wait: float = 300.0
    actor: str | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clients: ClientMaker | None = None


def identity_of(state: DesiredState) -> Identity:
    ident = state.config.spec.commit_identity
    return (
        Identity(ident.name, ident.email)
        if ident
        else Identity("proxgit", "proxgit@noreply.invalid")
    )


def newest_foreign_commit(repo: GitRepository, revision: str, identity: Identity) -> str:
    sha = revision
    for _ in range(1000):
        author, parents, body = repo.run("log", "-1", "--format=%ae%x00%P%x00%B", sha).split(
            "\x00", 2
        )
        if author != identity.email or SKIP_CI not in body or not parents.strip():
            return sha
        sha = parents.split()[0]
    return sha


def check_apply_gate(state: DesiredState) -> None:
    apply = state.config.spec.apply
    if not apply.enabled:
        raise GateRefused(
            "refused by gate apply.enabled: apply is disabled in proxgit.yaml "
            "(set apply.enabled: true and apply.confirm)"
        )
    if apply.confirm != CONFIRM_PHRASE:
        raise GateRefused(f"refused by gate apply.confirm: it must be exactly {CONFIRM_PHRASE}")


def main_tip(repo: GitRepository, branch: str) -> str:
    if repo.has_remote():
        repo.fetch(f"+refs/heads/{branch}:refs/remotes/{repo.remote}/{branch}")
        return repo.resolve(f"{repo.remote}/{branch}")
    return repo.resolve(branch)


def apply_revision(repo_path: Path, options: ApplyOptions) -> ApplyRun:
    """Apply ``options.revision``; raises GateRefused when a global gate refuses."""
    repo = GitRepository(repo_path)
    revision = repo.resolve(options.revision)
    head = load_revision(repo.path, revision)
    if options.revision == "HEAD":
        # proxgit's own commits (journal, snapshot, requests) carry no desired change:
        # the revision to apply is the newest commit somebody else made.
        foreign = newest_foreign_commit(repo, revision, identity_of(head))
        if foreign != revision:
            revision, head = foreign, load_revision(repo.path, foreign)
    check_apply_gate(head)
    branch = head.config.spec.main_branch
    tip = main_tip(repo, branch)
    if not repo.is_ancestor(revision, tip):
        raise GateRefused(
            f"refused by gate main-branch: {revision[:12]} is not on {branch} "
            f"(tip {tip[:12]}); only merged revisions are applied"
        )
    actor = options.actor or repo.run("log", "-1", "--format=%ae", revision).strip()
    run = ApplyRun(revision=revision, actor=actor, started_at=options.now())
    secrets = SecretBox(repo.path)
    identity = identity_of(head)
    wanted = sorted(options.clusters) if options.clusters else sorted(head.config.spec.clusters)
    written: list[str] = []
    make_client = options.clients or _client_maker(head, repo.path, secrets)
    for cluster in wanted:
        if cluster not in head.config.spec.clusters:
            raise GateRefused(f"refused: cluster '{cluster}' is not in proxgit.yaml")
        try:
            outcome, results, paths = _apply_cluster(
                repo, head, cluster, options, secrets, identity, make_client
            )
        except LockTimeout:
            raise
        except ProxgitError as err:
            outcome = ClusterOutcome(
                cluster=cluster, state=RunState.failed, message=secrets.scrub(err.message)
            )
            results, paths = [], []
        run.clusters.append(outcome)
        run.results.extend(results)
        written.extend(paths)
    run.finished_at = options.now()
    run.conclude()
    if any(c.state == RunState.failed for c in run.clusters):
        run.state = RunState.partial if run.state == RunState.succeeded else RunState.failed
    changed = any(c.state not in (RunState.noop, RunState.refused) for c in run.clusters)
    if changed or run.results:
        written.append(write_journal(repo, run, secrets))
        message = f"proxgit apply {revision[:12]}: {run.state.value} ({_counts(run.results)})"
        repo.commit_paths(written, message, identity)
        if options.push:
            repo.push_branch(branch)
    for outcome in run.clusters:
        if outcome.state == RunState.succeeded or outcome.state == RunState.noop:
            _advance_applied(repo, outcome.cluster, revision, outcome.base_revision)
    if all(c.state == RunState.refused for c in run.clusters) and run.clusters:
        raise GateRefused(run.clusters[0].message)
    return run


def _client_maker(head: DesiredState, base_dir: Path, secrets: SecretBox) -> ClientMaker:
    """The usual clients, with each token secret handed to the journal's scrubber."""
    make = client_factory(head.config, base_dir)

    def make_remembered(name: str) -> ProxmoxClient:
        client = make(name)
        secrets.remember(client.token_secret)
        return client

    return make_remembered


def _apply_cluster(
    repo: GitRepository,
    head: DesiredState,
    cluster: str,
    options: ApplyOptions,
    secrets: SecretBox,
    identity: Identity,
    make_client: ClientMaker,
) -> tuple[ClusterOutcome, list[GuestResult], list[str]]:
    settings = head.config.spec.clusters[cluster]
    revision = head.revision or ""
    if not settings.allow_writes:
        return (
            ClusterOutcome(
                cluster=cluster,
                state=RunState.refused,
                message=(
                    f"refused by gate allowWrites: cluster '{cluster}' has allowWrites: false"
                ),
            ),
            [],
            [],
        )
    applied_ref = APPLIED_REF.format(cluster=cluster)
    if repo.read_remote_ref(applied_ref) == revision:  # cheap check, no lock needed
        return (
            ClusterOutcome(
                cluster=cluster,
                state=RunState.noop,
                base_revision=revision,
                message=f"{revision[:12]} is already applied",
            ),
            [],
            [],
        )
    with ClusterLock(repo, cluster, identity, wait=options.lock_wait):
        last = repo.read_remote_ref(applied_ref)
        if last is not None:
            repo.fetch(f"+{applied_ref}:{applied_ref}")
            if last == revision:
                return (
                    ClusterOutcome(
                        cluster=cluster,
                        state=RunState.noop,
                        base_revision=last,
                        message=f"{revision[:12]} is already applied",
                    ),
                    [],
                    [],
                )
            if not repo.is_ancestor(last, revision):
                return (
                    ClusterOutcome(
                        cluster=cluster,
                        state=RunState.refused,
                        message=(
                            f"refused by gate last-applied: {revision[:12]} does not descend from "
                            f"{last[:12]}, the last revision applied to '{cluster}'"
                        ),
                    ),
                    [],
                    [],
                )
        base = load_revision(repo.path, last) if last else None
        reads = reads_for(head, base)
        client = make_client(cluster)
        live_cluster = read_cluster(
            cluster,
            fixed_client(client),
            wanted=reads.guests.get(cluster, set()),
            template_storages=reads.template_storages.get(cluster),
        )
        if not live_cluster.reachable:
            raise ProxgitError(f"cluster '{cluster}': {live_cluster.error}")
        from proxgit.proxmox.live import LiveState

        plan = build_plan(
            head, LiveState(clusters={cluster: live_cluster}), base=base, clusters=[cluster]
        )
        templates = [g for g in live_cluster.guests.values() if g.template]
        results: list[GuestResult] = []
        paths: list[str] = []
        work = [c for c in plan.changes if c.action in (Action.create, Action.update)]

        def run_one(change: object) -> GuestResult:
            from proxgit.planning.plan import GuestChange

            assert isinstance(change, GuestChange)
            guest = head.guests.get((cluster, change.vmid))
            executor = GuestExecutor(client, secrets)
            return execute_change(
                executor,
                change,
                guest.document if guest else None,
                live_cluster.guests.get(change.vmid),
                templates,
            )

        with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
            results.extend(pool.map(run_one, work))
        for change in plan.changes:
            if change.action != Action.delete:
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
                    now=options.now(),
                )
                paths.append(path)
                result.message = f"deletion request {path} opened; nothing destroyed"
            except ProxgitError as err:
                result.state = GuestState.skipped
                result.message = secrets.scrub(f"deletion request not opened: {err.message}")
            results.append(result)
        failed = any(r.state == GuestState.failed for r in results)
        state = RunState.noop if not results else RunState.partial if failed else RunState.succeeded
        return ClusterOutcome(cluster=cluster, state=state, base_revision=last), results, paths


def _advance_applied(
    repo: GitRepository, cluster: str, revision: str, expected: str | None
) -> None:
    ref = APPLIED_REF.format(cluster=cluster)
    if expected == revision:
        return
    if not repo.swap_remote_ref(ref, revision, expected):
        # Another writer moved it (only possible after our lock expired): leave theirs.
        return


def write_journal(repo: GitRepository, run: ApplyRun, secrets: SecretBox) -> str:
    stamp = run.started_at.strftime("%Y%m%dT%H%M%SZ")
    path = f"{JOURNAL_DIR}/{stamp}-{run.revision[:12]}.json"
    target = repo.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.scrub(run.model_dump(mode="json"))
    target.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _counts(results: list[GuestResult]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.state.value] = counts.get(result.state.value, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to do"
