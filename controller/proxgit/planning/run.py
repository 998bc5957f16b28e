"""One plan run: load head (and base), read only what the plan needs, plan.

This is the I/O shell around the pure planner, shared by ``proxgit plan``,
apply (which re-plans at apply time) and the watch loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from proxgit.git import History
from proxgit.loading import DesiredState, load_directory, load_revision, load_revision_against
from proxgit.planning.plan import Finding, Plan
from proxgit.planning.planner import build_plan, reads_for
from proxgit.planning.security import security_findings
from proxgit.proxmox.live import LiveState
from proxgit.proxmox.reading import ClientFactory, client_factory, read_live_state


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
    drift: bool = False,
) -> PlanRun:
    """Plan ``head`` (the working tree when None) against live state.

    With a ``base`` only the guests whose documents differ are read from
    Proxmox, and only the base files that differ are loaded; ``drift`` reads
    every declared guest, as a plan without a base does.
    """
    head_state = load_head(repo, head)
    base_state: DesiredState | None = None
    if base and drift:
        base_state = load_revision(repo, base)
    elif base:
        base_state = load_revision_against(repo, base, head_state)
    reads = reads_for(head_state, base_state, full=drift)
    live = read_live_state(
        head_state.config,
        guests=reads.guests,
        template_storages=reads.template_storages,
        clients=clients or client_factory(head_state.config, repo),
        clusters=reads.clusters,
    )
    plan = build_plan(head_state, live, base=base_state, actor=actor)
    plan.warnings.extend(_security(repo, head, base, head_state, base_state))
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


def _head_sha(repo: Path) -> str | None:
    history = History(repo)
    head = history.try_resolve("HEAD")
    if head is None:
        return None
    return f"{head}+dirty" if history.dirty(("proxgit.yaml", "clusters", "deletions")) else head
