"""Apply a merged revision, then settle the open deletion requests: one sequence, two callers.

``proxgit apply`` (a CI job after a merge) and the watch pod's iteration both
run :func:`apply_and_settle`; they differ in one argument only:

* ``destroy_approved=False`` (``proxgit apply``): rejected, expired and withdrawn
  requests are carried out (guest untagged, request archived); an approved one
  waits for ``proxgit deletions execute``, so a merge pipeline never destroys;
* ``destroy_approved=True`` (the watch pod): approved requests are destroyed too,
  each under its own gates and cluster lock.

What both get, and why:

* a revision a gate refuses raises :class:`~proxgit.errors.GateRefused` and
  settles nothing: the tree that gate distrusts is the one the requests would be
  read from;
* an interrupted apply (SIGTERM, SIGINT) settles nothing: it starts no new work;
* a failed or partial apply still settles: requests are decided on their own
  and carry their own gates, so one broken cluster does not hold up the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from proxgit.applying.results import ApplyRun
from proxgit.applying.run import ApplyOptions, apply_revision
from proxgit.deletions.executing import DeletionsRun, process_requests


@dataclass
class AppliedAndSettled:
    """The apply's run, and the settling run (None when the apply was interrupted)."""

    apply: ApplyRun
    requests: DeletionsRun | None


def apply_and_settle(
    repo: Path, options: ApplyOptions, *, destroy_approved: bool
) -> AppliedAndSettled:
    """Apply ``options.revision``, then decide every open request of the clusters applied."""
    run = apply_revision(repo, options)
    if run.interrupted or (options.stop is not None and options.stop.is_set()):
        return AppliedAndSettled(apply=run, requests=None)
    requests = process_requests(
        repo,
        execute=destroy_approved,
        push=options.push,
        lock_wait=options.lock_wait,
        clusters=options.clusters,
        clients=options.clients,
    )
    return AppliedAndSettled(apply=run, requests=requests)


__all__ = ["AppliedAndSettled", "apply_and_settle"]
