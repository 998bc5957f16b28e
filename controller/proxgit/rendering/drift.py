"""Views of a drift report (``proxgit drift``): terminal text, Markdown, JSON."""

from __future__ import annotations

import json
from typing import Any

from proxgit.planning.drift import DriftKind, DriftReport


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
