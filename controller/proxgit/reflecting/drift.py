"""Drift: where live Proxmox differs from the desired tree, guest by guest and field by field.

Three kinds of drift, each a list in :class:`DriftReport`:

* ``changed``: a declared guest whose live config differs from its file, in
  the same flat paths and with the same normalization as ``proxgit plan``
  (so a converged guest never drifts);
* ``missing``: a declared guest that does not exist live;
* ``unmanaged``: a live guest that nothing declares (templates and guests
  already tagged for deletion are listed apart and are not drift).

:func:`compute_drift` is pure (desired and live in, report out); the snapshot
index records its counts and ``proxgit drift`` renders it with the small views
at the bottom of this module (text, Markdown, JSON). Exit codes: 0 no drift,
2 drift, 1 a cluster or a guest could not be read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proxgit.errors import ConfigError
from proxgit.loading import DesiredState, load_directory
from proxgit.planning.plan import FieldChange
from proxgit.planning.planner import diff_guest
from proxgit.proxmox.live import LiveState
from proxgit.proxmox.reading import ClientFactory, client_factory, read_live_state

DRIFT_FORMAT_VERSION = 1


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


def compute_drift(
    desired: DesiredState, live: LiveState, *, clusters: Iterable[str] | None = None
) -> DriftReport:
    """Compare ``live`` with ``desired`` for ``clusters`` (default: every cluster in ``live``)."""
    report = DriftReport(revision=desired.revision)
    in_sync = 0
    for name in sorted(clusters if clusters is not None else live.clusters):
        cluster = live.clusters.get(name)
        if cluster is None or not cluster.reachable:
            report.errors.append(
                f"{(cluster.error if cluster else None) or f'cluster {name!r}: not read'}; "
                "drift unknown"
            )
            continue
        declared = {g.document.spec.vmid: g for g in desired.guests_in(name)}
        for vmid, guest in sorted(declared.items()):
            found = cluster.guests.get(vmid)
            entry = GuestDrift(
                cluster=name,
                vmid=vmid,
                name=guest.name,
                kind=guest.kind,
                drift=DriftKind.changed,
                file=guest.path,
            )
            if found is None:
                entry.drift = DriftKind.missing
                entry.node = guest.document.spec.node
                report.guests.append(entry)
                continue
            entry.node, entry.status = found.node, found.status
            if found.kind != guest.kind or found.template:
                live_is = "a template" if found.template else found.kind
                entry.fields = [FieldChange(path="kind", before=live_is, after=guest.kind)]
                report.guests.append(entry)
                continue
            if found.config is None:
                report.errors.append(f"cluster '{name}': config of vmid {vmid} was not read")
                continue
            entry.fields = diff_guest(guest.document, found)
            if entry.fields:
                report.guests.append(entry)
            else:
                in_sync += 1
        for vmid, found in sorted(cluster.guests.items()):
            if vmid in declared:
                continue
            reason = (
                "template"
                if found.template
                else "deletion requested"
                if found.pending_deletion
                else None
            )
            if reason is not None:
                report.ignored.append(
                    IgnoredGuest(
                        cluster=name, vmid=vmid, name=found.name, kind=found.kind, reason=reason
                    )
                )
                continue
            report.guests.append(
                GuestDrift(
                    cluster=name,
                    vmid=vmid,
                    name=found.name,
                    kind=found.kind,
                    drift=DriftKind.unmanaged,
                    node=found.node,
                    status=found.status,
                )
            )
    report.guests.sort(key=lambda g: (g.cluster, g.vmid))
    report.summary = DriftSummary(
        changed=report.count(DriftKind.changed),
        missing=report.count(DriftKind.missing),
        unmanaged=report.count(DriftKind.unmanaged),
        in_sync=in_sync,
        errors=len(report.errors),
    )
    return report


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


# --- views ---------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _summary_line(report: DriftReport) -> str:
    s = report.summary
    return (
        f"Drift: {s.changed} changed, {s.missing} missing, {s.unmanaged} unmanaged "
        f"({s.in_sync} in sync)"
    )


def render_drift_text(report: DriftReport) -> str:
    lines: list[str] = []
    for guest in report.guests:
        where = f"{guest.cluster}/{guest.node}" if guest.node else guest.cluster
        head = f"{guest.kind} {guest.name} (vmid {guest.vmid}, {where})"
        if guest.drift == DriftKind.missing:
            lines.append(f"- {head} is declared in {guest.file} but does not exist")
        elif guest.drift == DriftKind.unmanaged:
            lines.append(f"? {head} is live ({guest.status}) but not declared")
        else:
            lines.append(f"~ {head} differs from {guest.file}:")
            for item in guest.fields:
                lines.append(
                    f"    {item.path}: live {_value(item.before)}, desired {_value(item.after)}"
                )
    for ignored in report.ignored:
        lines.append(
            f"  {ignored.kind} {ignored.name} (vmid {ignored.vmid}, {ignored.cluster}) "
            f"not declared: {ignored.reason}"
        )
    for error in report.errors:
        lines.append(f"! {error}")
    if lines:
        lines.append("")
    lines.append(_summary_line(report) if report.has_drift else "No drift: live matches desired.")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"`{_value(value)}`".replace("|", "\\|") if value is not None else "-"


def render_drift_markdown(report: DriftReport) -> str:
    s = report.summary
    out = [
        "### proxgit drift",
        "",
        "| changed | missing | unmanaged | in sync |",
        "| ---: | ---: | ---: | ---: |",
        f"| {s.changed} | {s.missing} | {s.unmanaged} | {s.in_sync} |",
        "",
    ]
    changed = [g for g in report.guests if g.drift == DriftKind.changed]
    if changed:
        out += ["#### Changed", "", "| guest | field | live | desired |"]
        out.append("| --- | --- | --- | --- |")
        for guest in changed:
            label = f"{guest.cluster}/{guest.name} ({guest.vmid})"
            for item in guest.fields:
                out.append(
                    f"| {label} | `{item.path}` | {_cell(item.before)} | {_cell(item.after)} |"
                )
                label = ""
        out.append("")
    for kind, title in ((DriftKind.missing, "Missing"), (DriftKind.unmanaged, "Unmanaged")):
        guests = [g for g in report.guests if g.drift == kind]
        if guests:
            out += [f"#### {title}", ""]
            for guest in guests:
                where = f"declared in `{guest.file}`" if guest.file else f"on {guest.node}"
                out.append(
                    f"- {guest.kind} {guest.cluster}/{guest.name} (vmid {guest.vmid}), {where}"
                )
            out.append("")
    if report.errors:
        out += ["#### Not read", ""] + [f"- {e}" for e in report.errors] + [""]
    if not report.has_drift and not report.errors:
        out += ["No drift: live matches desired.", ""]
    return "\n".join(out)


def render_drift_json(report: DriftReport) -> str:
    return report.model_dump_json(indent=2) + "\n"
