"""One plan run: load head (and base), read only what the plan needs, plan.

This is the I/O shell around the pure planner, shared by ``proxgit plan``,
apply (which re-plans at apply time) and the watch loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxgit.errors import ConfigError, ProxgitError
from proxgit.git import GitRepository, History
from proxgit.layout import CONFIG_FILE, DESIRED_ROOTS, applied_ref, cluster_of
from proxgit.loading import (
    DesiredState,
    load_directory,
    load_files,
    load_revision,
    load_revision_against,
)
from proxgit.loading.sources import changed_paths
from proxgit.pauses import gc_paused
from proxgit.planning.plan import Finding, Plan
from proxgit.planning.planner import build_plan, heal_all, reads_for
from proxgit.planning.security import missing_secrets, security_findings
from proxgit.proxmox.client import ProxmoxClient
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
    sync: bool = False,
    clusters: Iterable[str] | None = None,
    drift: bool = False,
) -> PlanRun:
    """Plan ``head`` (the working tree when None) against live state.

    With a ``base`` only the guests whose documents differ are read from
    Proxmox, and only the base files that differ are loaded; ``drift`` reads
    every declared guest, as a plan without a base does. ``sync``: what
    ``apply --sync`` would do (drifted guests put back; every guest is read); its
    base is the last applied revision unless ``base`` names one. ``clusters``:
    only those.
    """
    with gc_paused():
        return _run_plan(
            repo,
            base=base,
            head=head,
            actor=actor,
            clients=clients,
            sync=sync,
            clusters=sorted(clusters) if clusters else None,
            drift=drift or sync,
        )


def _run_plan(
    repo: Path,
    *,
    base: str | None,
    head: str | None,
    actor: Iterable[str] | None,
    clients: ClientFactory | None,
    sync: bool,
    clusters: list[str] | None,
    drift: bool,
) -> PlanRun:
    early = _early_listings(repo, base, head, clients) if base and head and not drift else None
    try:
        head_state = load_head(repo, head)
        for name in clusters or ():
            if name not in head_state.config.spec.clusters:
                raise ConfigError(
                    f"--cluster {name}: no such cluster in proxgit.yaml "
                    f"(clusters: {', '.join(sorted(head_state.config.spec.clusters))})"
                )
        if sync and base is None:
            base = last_applied(repo, clusters or sorted(head_state.config.spec.clusters))
        base_state: DesiredState | None = None
        if base and drift:
            base_state = load_revision(repo, base)
        elif base:
            base_state = load_revision_against(repo, base, head_state)
        reads = reads_for(head_state, base_state, full=drift)
        factory = clients or client_factory(head_state.config, repo, read_only=True)
        listings: dict[str, Any] = {}
        if early is not None:
            factory = early.clients(factory)
            listings = early.results()
        wanted = reads.clusters
        if clusters is not None:
            wanted = set(clusters) if wanted is None else wanted & set(clusters)
        live = read_live_state(
            head_state.config,
            guests=reads.guests,
            template_storages=reads.template_storages,
            clients=factory,
            clusters=wanted,
            listings=listings,
        )
    finally:
        if early is not None:
            early.close()
    plan = build_plan(
        head_state,
        live,
        base=base_state,
        actor=actor,
        clusters=clusters,
        heal=heal_all if sync else None,
    )
    plan.warnings.extend(_security(repo, head, base, head_state, base_state))
    plan.warnings.extend(
        missing_secrets(plan, head_state, os.environ, lambda name: _secret_file(repo, name))
    )
    plan.summarize()
    return PlanRun(plan=plan, head=head_state, base=base_state, live=live)


class _EarlyListings:
    """``/cluster/resources`` of the clusters a pull request touches, read while the
    desired trees load: the listing is the one request every plan makes, and
    Proxmox takes a while to build it for a large cluster."""

    def __init__(self, made: dict[str, ProxmoxClient]) -> None:
        self.made = made
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(made)))
        self.futures: dict[str, Future[Any]] = {
            name: self.pool.submit(client.get, "cluster/resources", expect=list)
            for name, client in made.items()
        }

    def clients(self, fallback: ClientFactory) -> ClientFactory:
        """The clients that read early (their request counts include the listing)."""
        return lambda name: self.made[name] if name in self.made else fallback(name)

    def results(self) -> dict[str, Any]:
        """The listings, by cluster; a read that failed is there as its error, which the
        plan reports for that cluster as it would have."""
        done: dict[str, Any] = {}
        for name, future in self.futures.items():
            try:
                done[name] = future.result()
            except ProxgitError as err:
                done[name] = err
        return done

    def close(self) -> None:
        # after a load error the plan ends at once; a listing still on its way is dropped
        self.pool.shutdown(wait=False, cancel_futures=True)


def _early_listings(
    repo: Path, base: str, head: str, clients: ClientFactory | None
) -> _EarlyListings | None:
    """Start reading the listings of the clusters whose folders differ between base and
    head; None when that can't be known cheaply (the config does not load: the full
    load reports why)."""
    try:
        history = History(repo)
        paths = changed_paths(repo, history.resolve(base), history.resolve(head))
        text = history.read(head, CONFIG_FILE)
        if text is None:
            return None
        config = load_files([(CONFIG_FILE, text)]).config
    except ProxgitError:
        return None
    touched = {c for c in map(cluster_of, paths) if c is not None}
    names = sorted(touched & set(config.spec.clusters))
    if not names:
        return None
    factory = clients or client_factory(config, repo, read_only=True)
    try:
        made = {name: factory(name) for name in names}
    except ProxgitError:
        return None
    return _EarlyListings(made)


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
    shas = {git.read_remote_ref(applied_ref(name)) for name in clusters}
    if len(shas) != 1 or None in shas:
        return None
    sha = shas.pop()
    assert sha is not None
    if History(repo).try_resolve(sha) is None:
        git.fetch(f"+{applied_ref('*')}:{applied_ref('*')}")
    return sha


def _secret_file(repo: Path, name: str) -> bool:
    path = Path(name)
    return (path if path.is_absolute() else repo / path).is_file()


def _head_sha(repo: Path) -> str | None:
    history = History(repo)
    head = history.try_resolve("HEAD")
    if head is None:
        return None
    return f"{head}+dirty" if history.dirty((CONFIG_FILE, *DESIRED_ROOTS)) else head
