"""One plan run: load head (and base), read only what the plan needs, plan.

This is the I/O shell around the pure planner, shared by ``proxgit plan``,
apply (which re-plans at apply time) and the watch loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from proxgit.errors import ConfigError
from proxgit.git import GitRepository, History
from proxgit.loading import DesiredState, load_directory, load_revision
from proxgit.planning.plan import Finding, Plan
from proxgit.planning.planner import build_plan, heal_all, reads_for
from proxgit.planning.security import missing_secrets, security_findings
from proxgit.proxmox.live import LiveState
from proxgit.proxmox.reading import ClientFactory, client_factory, read_live_state

APPLIED_REF = "refs/proxgit/applied/{cluster}"  # the last revision applied to a cluster


@dataclass
class PlanRun:
    plan: Plan
    head: DesiredState
    base: DesiredState | None
    live: LiveState


def load_head(repo: Path, head: str | None) -> DesiredState:
    """The desired tree at ``head``, or the working tree (labelled with HEAD's sha)."""
    if head is not None:
        return load_revision(repo, head)
    state = load_directory(repo)
    state.revision = _head_sha(repo)
    return state


def run_plan(
    repo: Path,
    *,
    base: str | None = None,
    head: str | None = None,
    actor: Iterable[str] | None = None,
    clients: ClientFactory | None = None,
    sync: bool = False,
    clusters: Iterable[str] | None = None,
) -> PlanRun:
    """``sync``: what ``apply --sync`` would do (drifted guests put back); its base is
    the last applied revision unless ``base`` names one. ``clusters``: only those."""
    head_state = load_head(repo, head)
    wanted = sorted(clusters) if clusters else None
    for name in wanted or ():
        if name not in head_state.config.spec.clusters:
            raise ConfigError(
                f"--cluster {name}: no such cluster in proxgit.yaml "
                f"(clusters: {', '.join(sorted(head_state.config.spec.clusters))})"
            )
    if sync and base is None:
        base = last_applied(repo, wanted or sorted(head_state.config.spec.clusters))
    base_state = load_revision(repo, base) if base else None
    reads = reads_for(head_state, base_state)
    live = read_live_state(
        head_state.config,
        guests=reads.guests,
        template_storages=reads.template_storages,
        clients=clients or client_factory(head_state.config, repo, read_only=True),
        clusters=wanted,
    )
    plan = build_plan(
        head_state,
        live,
        base=base_state,
        actor=actor,
        clusters=wanted,
        heal=heal_all if sync else None,
    )
    plan.warnings.extend(_security(repo, head, base, head_state, base_state))
    plan.warnings.extend(
        missing_secrets(plan, head_state, os.environ, lambda name: _secret_file(repo, name))
    )
    plan.summarize()
    return PlanRun(plan=plan, head=head_state, base=base_state, live=live)


def _security(
    repo: Path,
    head: str | None,
    base: str | None,
    head_state: DesiredState,
    base_state: DesiredState | None,
) -> list[Finding]:
    history = History(repo)
    signers = head_state.config.spec.deletions.allowed_signers
    head_signers: str | None
    base_signers: str | None = None
    if head is None:
        path = repo / signers
        head_signers = path.read_text(encoding="utf-8") if path.is_file() else None
    else:
        head_signers = history.read(head, signers)
    if base is not None and base_state is not None:
        base_signers = history.read(base, base_state.config.spec.deletions.allowed_signers)
    return security_findings(
        base_state.config if base_state else None,
        head_state.config,
        base_signers=base_signers,
        head_signers=head_signers if base_state else None,
    )


def last_applied(repo: Path, clusters: Iterable[str]) -> str | None:
    """The revision last applied to every one of ``clusters``; None when they differ."""
    git = GitRepository(repo)
    shas = {git.read_remote_ref(APPLIED_REF.format(cluster=name)) for name in clusters}
    if len(shas) != 1 or None in shas:
        return None
    sha = shas.pop()
    assert sha is not None
    if History(repo).try_resolve(sha) is None:
        git.fetch(f"+{APPLIED_REF.format(cluster='*')}:{APPLIED_REF.format(cluster='*')}")
    return sha


def _secret_file(repo: Path, name: str) -> bool:
    path = Path(name)
    return (path if path.is_absolute() else repo / path).is_file()


def _head_sha(repo: Path) -> str | None:
    history = History(repo)
    head = history.try_resolve("HEAD")
    if head is None:
        return None
    return f"{head}+dirty" if history.dirty(("proxgit.yaml", "clusters", "deletions")) else head
