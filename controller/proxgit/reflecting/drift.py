"""``proxgit drift``'s reading: load the working tree, read the declared guests, compare.

The drift model and :func:`~proxgit.planning.planner.compute_drift` are in
``proxgit.planning`` (shared with ``proxgit plan``); the views in
``proxgit.rendering.drift``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from proxgit.errors import ConfigError
from proxgit.loading import load_directory
from proxgit.planning.drift import DriftReport
from proxgit.planning.planner import compute_drift
from proxgit.proxmox.reading import ClientFactory, client_factory, read_live_state


def run_drift(
    repo: Path,
    *,
    clusters: Iterable[str] | None = None,
    clients: ClientFactory | None = None,
) -> DriftReport:
    """Load the working tree, read the declared guests' config (one read each), compare."""
    desired = load_directory(repo)
    names = sorted(clusters) if clusters else sorted(desired.config.spec.clusters)
    unknown = [n for n in names if n not in desired.config.spec.clusters]
    if unknown:
        known = ", ".join(sorted(desired.config.spec.clusters)) or "none"
        raise ConfigError(f"--cluster {unknown[0]}: not in proxgit.yaml (clusters: {known})")
    wanted: dict[str, set[int]] = {}
    for cluster, vmid in desired.guests:
        wanted.setdefault(cluster, set()).add(vmid)
    live = read_live_state(
        desired.config,
        guests=wanted,
        clients=clients or client_factory(desired.config, repo, read_only=True),
        clusters=names,
    )
    return compute_drift(desired, live, clusters=names)
