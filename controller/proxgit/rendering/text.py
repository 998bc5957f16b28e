"""The terminal view, read like ``terraform plan``: + create, ~ update, > migrate, - delete,
! blocker."""

from __future__ import annotations

import json
from typing import Any

import click

from proxgit.planning.capacity import human_size
from proxgit.planning.plan import Action, CapacityUse, Plan

_SYMBOL = {
    Action.create: ("+", "green"),
    Action.update: ("~", "yellow"),
    Action.migrate: (">", "blue"),
    Action.delete: ("-", "red"),
    Action.noop: (" ", None),
}


def _value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, default=str)


def render_text(plan: Plan, *, color: bool = False) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines: list[str] = []
    for finding in plan.blockers:
        lines.append(style(f"! blocker [{finding.code}]: {finding.message}", "red", True))
    for change in plan.changes:
        if change.action == Action.noop and not change.blockers and not change.warnings:
            continue
        symbol, fg = _SYMBOL[change.action]
        where = f"{change.cluster}/{change.node or '?'}"
        verb = _verb(change.action)
        if change.migration is not None:
            verb = f"migrated to {change.migration.target} ({change.migration.mode.value})"
        lines.append(
            style(
                f"{symbol} {change.kind} {change.name} (vmid {change.vmid}, {where}) "
                f"will be {verb}",
                fg,
                True,
            )
        )
        for item in change.fields:
            restart = (
                "  (after restart)"
                if item.effect == "restart"
                and change.action in (Action.update, Action.migrate)
                and item.path != "node"
                else ""
            )
            if change.action == Action.create:
                lines.append(style(f"    + {item.path} = {_value(item.after)}", fg))
            else:
                lines.append(
                    style(
                        f"    ~ {item.path}: {_value(item.before)} -> "
                        f"{'(removed)' if item.removed else _value(item.after)}{restart}",
                        fg,
                    )
                )
        for finding in change.blockers:
            lines.append(style(f"    ! blocker [{finding.code}]: {finding.message}", "red", True))
        for finding in change.warnings:
            lines.append(style(f"    warning [{finding.code}]: {finding.message}", "magenta"))
        lines.append("")
    for drifted in plan.drift:
        what = (
            "missing in Proxmox"
            if drifted.missing
            else ", ".join(
                f"{f.path}: {_value(f.before)} (declared {_value(f.after)})" for f in drifted.fields
            )
        )
        lines.append(
            style(
                f"drift: {drifted.kind} {drifted.name} (vmid {drifted.vmid}, "
                f"{drifted.cluster}): {what}",
                "cyan",
            )
        )
    unmanaged = [g for g in plan.unmanaged if g.counted]
    pending = [g for g in plan.unmanaged if g.pending_deletion]
    templates = [g for g in plan.unmanaged if g.template]
    if unmanaged:
        names = ", ".join(f"{g.cluster}/{g.vmid} {g.name}" for g in unmanaged[:20])
        more = f" and {len(unmanaged) - 20} more" if len(unmanaged) > 20 else ""
        lines.append(f"unmanaged (live, not declared; never touched): {names}{more}")
    if pending:
        names = ", ".join(f"{g.cluster}/{g.vmid} {g.name}" for g in pending[:20])
        more = f" and {len(pending) - 20} more" if len(pending) > 20 else ""
        lines.append(
            f"pending deletion (a deletion request is open; destroyed only once approved): "
            f"{names}{more}"
        )
    if templates:
        names = ", ".join(f"{g.cluster}/{g.vmid} {g.name}" for g in templates[:20])
        more = f" and {len(templates) - 20} more" if len(templates) > 20 else ""
        lines.append(f"templates (not declared; not drift, never touched): {names}{more}")
    for finding in plan.warnings:
        lines.append(style(f"warning [{finding.code}]: {finding.message}", "magenta"))
    lines.extend(_capacity_lines(plan))
    if plan.unrefreshed:
        lines.append(unrefreshed_line(plan.unrefreshed))
    s = plan.summary
    migrate = f"{s.migrate} to migrate, " if s.migrate else ""
    summary = (
        f"Plan: {s.create} to create, {s.update} to update, {s.delete} to delete, "
        f"{migrate}{s.noop} unchanged; {s.blockers} blocker(s), {s.warnings} warning(s), "
        f"{s.drift} drifted, {s.unmanaged} unmanaged."
    )
    if lines and lines[-1] != "":
        lines.append("")
    lines.append(style(summary, "red" if s.blockers else None, True))
    for line in plan.merge_effect:
        lines.append(f"On merge: {line}")
    return "\n".join(lines) + "\n"


def _verb(action: Action) -> str:
    return {
        Action.create: "created",
        Action.update: "updated in place",
        Action.migrate: "migrated",
        Action.delete: "deleted after approval",
        Action.noop: "left alone",
    }[action]


def _capacity_lines(plan: Plan) -> list[str]:
    """One line per node (or shared storage) the change moves: memory, vCPUs, storages."""
    by_place: dict[tuple[str, str | None], list[CapacityUse]] = {}
    for use in plan.capacity:
        by_place.setdefault((use.cluster, use.node), []).append(use)
    lines = []
    for (cluster, node), uses in by_place.items():
        where = f"{cluster}/{node}" if node else f"{cluster} (shared)"
        parts = [_capacity_part(use) for use in uses]
        lines.append(f"capacity {where}: " + "; ".join(parts))
    return lines


def _capacity_part(use: CapacityUse) -> str:
    if use.resource == "vcpus":
        what, before, after, limit = "vCPUs", str(use.before), str(use.after), f"{use.limit}"
    else:
        what = "memory" if use.resource == "memory" else f"storage {use.storage}"
        before, after, limit = human_size(use.before), human_size(use.after), human_size(use.limit)
    thin = " thin" if use.thin else ""
    over = ", over" if use.over else ""
    return f"{what}{thin} {before} -> {after} of {limit} ({use.percent:g} %{over})"


def unrefreshed_line(count: int) -> str:
    return (
        f"{count} declared guest(s) this change leaves alone were not read from Proxmox; "
        "their drift is proxgit drift's job (plan --drift reads them too)."
    )
