"""One reflect run: read every cluster, write ``snapshot/``, commit only when it changed.

The run touches nothing outside ``snapshot/``: it writes the files of each
cluster that could be read (a cluster that could not keeps its last
snapshot), removes the folders of clusters no longer in ``proxgit.yaml``
(only when reflecting all clusters), commits exactly ``snapshot/`` under
proxgit's commit identity with ``[skip ci]``, and, with ``push``, pushes; a
push that loses a race rebases that one commit onto the remote branch and
tries again (:meth:`GitRepository.push_branch`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxgit.errors import ConfigError
from proxgit.git import GitRepository, commit_identity
from proxgit.layout import SNAPSHOT_DIR
from proxgit.loading import load_directory
from proxgit.models.config import Config
from proxgit.planning.drift import DriftKind
from proxgit.planning.planner import compute_drift
from proxgit.proxmox.live import LiveState
from proxgit.proxmox.reading import ClientFactory, client_factory
from proxgit.reflecting.reading import ClusterReading, read_cluster_snapshot
from proxgit.reflecting.snapshot import build_cluster_snapshot, vmid_of
from proxgit.reflecting.summary import ClusterChanges, commit_message, compare

if TYPE_CHECKING:
    from proxgit.reflecting.netbox import NetBoxResult


@dataclass(frozen=True)
class ReflectOptions:
    clusters: Sequence[str] | None = None  # None: every cluster in proxgit.yaml
    commit: bool = True
    push: bool = False
    agent_addresses: bool = True
    # also write live state into the NetBox of proxgit.yaml's netbox block; None: when
    # proxgit.yaml has one (the watch pod), True: it must have one
    netbox: bool | None = False


@dataclass
class ClusterOutcome:
    cluster: str
    error: str | None = None
    guests: int = 0
    requests: int = 0
    drift: dict[str, int] = field(default_factory=dict)
    changes: ClusterChanges | None = None
    warnings: list[str] = field(default_factory=list)
    # guests listed but whose config could not be read: their previous files are kept
    unread: list[str] = field(default_factory=list)

    @property
    def requests_per_guest(self) -> float:
        return self.requests / self.guests if self.guests else float(self.requests)


@dataclass
class ReflectResult:
    clusters: list[ClusterOutcome] = field(default_factory=list)
    changed: bool = False
    commit: str | None = None
    pushed: bool = False
    message: str | None = None
    netbox: NetBoxResult | None = None

    @property
    def ok(self) -> bool:
        netbox_ok = self.netbox is None or self.netbox.ok
        return netbox_ok and all(c.error is None and not c.unread for c in self.clusters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "commit": self.commit,
            "pushed": self.pushed,
            "message": self.message,
            "clusters": [
                {
                    "cluster": c.cluster,
                    "error": c.error,
                    "guests": c.guests,
                    "requests": c.requests,
                    "drift": c.drift,
                    "warnings": c.warnings,
                    "unread": c.unread,
                    "added": c.changes.added if c.changes else [],
                    "removed": c.changes.removed if c.changes else [],
                    "changed": c.changes.changed if c.changes else [],
                    "otherFiles": c.changes.other if c.changes else [],
                }
                for c in self.clusters
            ],
            "netbox": self.netbox.as_dict() if self.netbox is not None else None,
        }


def reflect_repository(
    repo: Path,
    options: ReflectOptions | None = None,
    *,
    clients: ClientFactory | None = None,
) -> ReflectResult:
    """Snapshot live state into ``repo/snapshot/``; see the module docstring."""
    options = options or ReflectOptions()
    desired = load_directory(repo)
    config = desired.config
    names = sorted(options.clusters) if options.clusters else sorted(config.spec.clusters)
    for name in names:
        if name not in config.spec.clusters:
            known = ", ".join(sorted(config.spec.clusters)) or "none"
            raise ConfigError(f"--cluster {name}: not in proxgit.yaml (clusters: {known})")
    if options.netbox is True and config.spec.netbox is None:
        raise ConfigError(
            "--netbox: proxgit.yaml has no netbox block; add spec.netbox with url and "
            "tokenFrom (docs/netbox.md), or leave out --netbox"
        )
    git = GitRepository(repo) if options.commit or options.push else None
    factory = clients or client_factory(config, repo, read_only=True)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        readings: list[ClusterReading] = list(
            pool.map(
                lambda n: read_cluster_snapshot(
                    n, factory, agent_addresses=options.agent_addresses
                ),
                names,
            )
        )
    read = [r for r in readings if r.error is None]
    live = LiveState(clusters={r.name: r.live for r in read})
    drift = compute_drift(desired, live, clusters=[r.name for r in read])
    root = repo / SNAPSHOT_DIR
    result = ReflectResult()
    all_changes: list[ClusterChanges] = []
    for reading in readings:
        outcome = ClusterOutcome(
            cluster=reading.name,
            error=reading.error,
            guests=len(reading.live.guests),
            requests=reading.requests,
            warnings=sorted(reading.warnings),
        )
        result.clusters.append(outcome)
        if reading.error is not None:
            continue
        outcome.drift = {k.value: drift.count(k, reading.name) for k in DriftKind}
        folder = root / reading.name
        new = build_cluster_snapshot(reading, desired, drift)
        old = read_tree(folder)
        outcome.unread = keep_unread(reading, old, new)
        outcome.changes = compare(reading.name, old, new)
        write_tree(folder, old, new)
        all_changes.append(outcome.changes)
    if not options.clusters and root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.name not in config.spec.clusters:
                shutil.rmtree(folder)
                all_changes.append(ClusterChanges(folder.name, removed_cluster=True))
    result.changed = any(c.any or c.removed_cluster for c in all_changes)
    if git is not None:
        _commit(git, config, result, all_changes, options)
    if options.netbox is not False and config.spec.netbox is not None:
        # after the snapshot is safe in Git: NetBox being down must not cost the snapshot
        from proxgit.reflecting.netbox import reflect_to_netbox

        result.netbox = reflect_to_netbox(config.spec.netbox, readings, desired, repo=repo)
    return result


def _commit(
    git: GitRepository,
    config: Config,
    result: ReflectResult,
    all_changes: list[ClusterChanges],
    options: ReflectOptions,
) -> None:
    message = (
        commit_message(all_changes)
        if result.changed
        else "proxgit reflect: record snapshot files written by an earlier run"
    )
    identity = commit_identity(config, git.path)
    result.commit = git.commit_paths([SNAPSHOT_DIR], message, identity)
    if result.commit is not None:
        result.message = message
    branch = config.spec.main_branch
    # also a snapshot commit an earlier run made but could not push
    if options.push and (result.commit is not None or git.own_commits_unpushed(branch, identity)):
        git.push_branch(branch, identity=identity)
        result.pushed = True


def keep_unread(reading: ClusterReading, old: dict[str, bytes], new: dict[str, bytes]) -> list[str]:
    """Guests whose config read failed keep their previous snapshot file; returns why.

    A failed read (an offline node, an error, a malformed value) says nothing
    about the guest's config, so the file from the last good read stays as it
    is; a guest seen for the first time gets a file that records the error.
    """
    reasons: list[str] = []
    for vmid, extras in sorted(reading.extras.items()):
        if extras.error is None or extras.snapshots is not None:
            continue
        guest = reading.live.guests.get(vmid)
        if guest is None or guest.config is not None:
            continue  # a partial read (snapshots, agent): the config is there
        previous = [p for p in old if vmid_of(p) == vmid]
        if previous:
            for path in [p for p in new if vmid_of(p) == vmid]:
                del new[path]
            for path in previous:
                new[path] = old[path]
        reasons.append(f"vmid {vmid}: {extras.error}")
    return reasons


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by POSIX path relative to it."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def write_tree(folder: Path, old: dict[str, bytes], new: dict[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``new``, writing only files whose bytes differ."""
    for rel, data in new.items():
        if old.get(rel) == data:
            continue
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for rel in set(old) - set(new):
        (folder / rel).unlink()
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
