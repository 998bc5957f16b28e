"""The drift model ``proxgit plan`` and ``proxgit drift`` share: plain data, no I/O.

A live guest that no document declares is one of three things, decided in one
place, :func:`undeclared_reason`:

* a **template** (``template: 1``): a clone source, not a guest. Never drift,
  never counted as unmanaged, never touched; both commands list it apart once;
* a guest **waiting for its deletion** (tagged by an open deletion request):
  not drift either, it is on its way out;
* otherwise an **unmanaged** guest: live, not declared, reported, never touched.

A declared guest drifts when its live config differs from its file
(``changed``, in the planner's flat paths and normalization, so a converged
guest never drifts) or when it does not exist live (``missing``).

``proxgit plan`` carries this as ``Plan.drift`` and ``Plan.unmanaged`` (its
JSON contract, docs/plan-json.md); ``proxgit drift`` as the
:class:`DriftReport` below, built by :func:`proxgit.planning.planner.compute_drift`.
The views are in ``proxgit.rendering`` (``rendering/drift.py`` for the report).
Exit codes of ``proxgit drift``: 0 no drift, 2 drift, 1 a cluster or a guest
could not be read.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from proxgit.planning.plan import FieldChange
from proxgit.proxmox.live import LiveGuest

DRIFT_FORMAT_VERSION = 1


class Undeclared(StrEnum):
    """Why a live, undeclared guest is not drift (the value is what views print)."""

    template = "template"
    pending_deletion = "deletion requested"


def undeclared_reason(guest: LiveGuest) -> Undeclared | None:
    """None for an unmanaged guest; else why the guest is listed apart and not drift."""
    if guest.template:
        return Undeclared.template
    if guest.pending_deletion:
        return Undeclared.pending_deletion
    return None


class DriftKind(StrEnum):
    changed = "changed"
    missing = "missing"
    unmanaged = "unmanaged"


class GuestDrift(BaseModel):
    """One guest that drifted; ``fields`` (``before`` is live, ``after`` desired) when changed."""

    cluster: str
    vmid: int
    name: str
    kind: str
    drift: DriftKind
    node: str | None = None
    status: str | None = None
    file: str | None = None
    fields: list[FieldChange] = Field(default_factory=list)


class IgnoredGuest(BaseModel):
    """Live and undeclared but not drift: a template, or a guest waiting for its deletion."""

    cluster: str
    vmid: int
    name: str
    kind: str
    reason: str


class DriftSummary(BaseModel):
    changed: int = 0
    missing: int = 0
    unmanaged: int = 0
    in_sync: int = 0
    errors: int = 0


class DriftReport(BaseModel):
    format_version: int = DRIFT_FORMAT_VERSION
    revision: str | None = None
    summary: DriftSummary = Field(default_factory=DriftSummary)
    guests: list[GuestDrift] = Field(default_factory=list)
    ignored: list[IgnoredGuest] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="Clusters or guests not read.")

    @property
    def has_drift(self) -> bool:
        return bool(self.guests)

    def count(self, kind: DriftKind, cluster: str | None = None) -> int:
        return sum(
            1 for g in self.guests if g.drift == kind and (cluster is None or g.cluster == cluster)
        )
