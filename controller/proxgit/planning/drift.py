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

One model serves both commands: a declared guest that drifted is a
:class:`GuestDrift`, a live undeclared guest an :class:`UndeclaredGuest` (built
by :func:`undeclared_guest`, whichever command asks). ``proxgit plan`` carries
them as ``Plan.drift`` and ``Plan.unmanaged`` (its JSON contract,
docs/plan-json.md); ``proxgit drift`` as the :class:`DriftReport` below, built by
:func:`proxgit.planning.planner.compute_drift`, where an unmanaged guest is a
:class:`GuestDrift` of kind ``unmanaged`` (:meth:`UndeclaredGuest.as_drift`) and
templates and guests waiting for deletion are its ``ignored``.
The views are in ``proxgit.rendering`` (``rendering/drift.py`` for the report).
Exit codes of ``proxgit drift``: 0 no drift, 2 drift, 1 a cluster or a guest
could not be read.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from proxgit.loading import DesiredGuest
from proxgit.planning.fieldchange import FieldChange
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
    """One declared guest that drifted (``changed``: ``fields``, ``before`` live and
    ``after`` desired; ``missing``: not found live), or, in ``proxgit drift``, an
    ``unmanaged`` live guest."""

    cluster: str
    vmid: int
    name: str
    kind: str
    drift: DriftKind = DriftKind.changed
    node: str | None = None
    status: str | None = None
    file: str | None = None
    fields: list[FieldChange] = Field(default_factory=list)

    @computed_field(description="Declared but not found live.")  # type: ignore[prop-decorator]
    @property
    def missing(self) -> bool:
        return self.drift is DriftKind.missing


class UndeclaredGuest(BaseModel):
    """Live but not declared: reported, never touched. ``reason`` says why it is not
    drift (a template, or a guest waiting for its deletion); none for an unmanaged
    guest proper, the only kind counted as unmanaged."""

    cluster: str
    vmid: int
    name: str
    kind: str
    node: str | None = None
    status: str | None = None
    reason: Undeclared | None = None

    @computed_field(description="Tagged by an open deletion request.")  # type: ignore[prop-decorator]
    @property
    def pending_deletion(self) -> bool:
        return self.reason is Undeclared.pending_deletion

    @computed_field(description="A template: not drift, not counted as unmanaged.")  # type: ignore[prop-decorator]
    @property
    def template(self) -> bool:
        return self.reason is Undeclared.template

    @property
    def counted(self) -> bool:
        """An unmanaged guest proper: neither a template nor pending deletion."""
        return self.reason is None

    def as_drift(self) -> GuestDrift:
        """An unmanaged guest as ``proxgit drift`` lists it among the drifted."""
        return GuestDrift(
            cluster=self.cluster,
            vmid=self.vmid,
            name=self.name,
            kind=self.kind,
            drift=DriftKind.unmanaged,
            node=self.node,
            status=self.status,
        )


def declared_drift(
    cluster: str,
    guest: DesiredGuest,
    live: LiveGuest | None,
    fields: list[FieldChange] | None = None,
) -> GuestDrift:
    """A declared guest that drifted, as both commands report it: ``missing`` (at the
    node its file names) when ``live`` is None, else ``changed`` by ``fields``."""
    if live is None:
        return GuestDrift(
            cluster=cluster,
            vmid=guest.document.spec.vmid,
            name=guest.name,
            kind=guest.kind,
            drift=DriftKind.missing,
            node=guest.document.spec.node,
            file=guest.path,
        )
    return GuestDrift(
        cluster=cluster,
        vmid=guest.document.spec.vmid,
        name=guest.name,
        kind=guest.kind,
        node=live.node,
        status=live.status,
        file=guest.path,
        fields=fields or [],
    )


def undeclared_guest(cluster: str, guest: LiveGuest) -> UndeclaredGuest:
    """A live guest no document declares, as both commands report it."""
    return UndeclaredGuest(
        cluster=cluster,
        vmid=guest.vmid,
        name=guest.name,
        kind=guest.kind,
        node=guest.node,
        status=guest.status,
        reason=undeclared_reason(guest),
    )


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
    ignored: list[UndeclaredGuest] = Field(
        default_factory=list, description="Templates and guests waiting for their deletion."
    )
    errors: list[str] = Field(default_factory=list, description="Clusters or guests not read.")

    @property
    def has_drift(self) -> bool:
        return bool(self.guests)

    def count(self, kind: DriftKind, cluster: str | None = None) -> int:
        return sum(
            1 for g in self.guests if g.drift == kind and (cluster is None or g.cluster == cluster)
        )
