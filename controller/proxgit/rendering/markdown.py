"""The Markdown view for pull-request comments.

Summary table first, blockers and warnings next, then each guest's field
changes in a collapsible block. It stays under GitHub's 65,536-character
comment limit: when the details would not fit, the later guests' blocks are
cut and a note says so (the full plan is in the CI job's log and summary).
"""

from __future__ import annotations

import json
from typing import Any

from proxgit.planning.capacity import human_size
from proxgit.planning.plan import Action, CapacityUse, Finding, GuestChange, Plan
from proxgit.rendering.text import unrefreshed_line

COMMENT_LIMIT = 65_536
_ICON = {
    Action.create: "🆕",
    Action.update: "🔄",
    Action.migrate: "🚚",
    Action.delete: "🗑️",
    Action.noop: "✔️",
}


def _cell(value: Any) -> str:
    text = "_unset_" if value is None else f"`{json.dumps(value, default=str)}`"
    return text.replace("|", "\\|")


def render_markdown(plan: Plan, *, limit: int = COMMENT_LIMIT, title: str = "proxgit plan") -> str:
    s = plan.summary
    head: list[str] = [f"### {title}"]
    revision = plan.revision or "working tree"
    base = f" against base `{plan.base_revision[:12]}`" if plan.base_revision else ""
    head.append(
        f"Computed for `{revision[:12]}`{base}"
        + (f", as `{plan.actor}`" if plan.actor else "")
        + "."
    )
    head.append("")
    head.append(
        "| create | update | delete | migrate | unchanged | blockers | warnings | drift "
        "| unmanaged |"
    )
    head.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    head.append(
        f"| {s.create} | {s.update} | {s.delete} | {s.migrate} | {s.noop} | {s.blockers} | "
        f"{s.warnings} | {s.drift} | {s.unmanaged} |"
    )
    head.append("")
    if plan.unrefreshed:
        head.append(f"_{unrefreshed_line(plan.unrefreshed)}_")
        head.append("")
    if plan.blocker_count:
        head.append(f"**❌ {plan.blocker_count} blocker(s): this plan can't be applied.**")
        head.append("")
        for finding in plan.blockers:
            head.append(f"- ❌ `{finding.code}`: {finding.message}")
        for change in plan.changes:
            for finding in change.blockers:
                head.append(
                    f"- ❌ `{finding.code}` **{change.cluster}/{change.name}**: {finding.message}"
                )
        head.append("")
    warnings: list[tuple[GuestChange | None, Finding]] = [(None, w) for w in plan.warnings] + [
        (c, w) for c in plan.changes for w in c.warnings
    ]
    if warnings:
        head.append("**Warnings**")
        head.append("")
        for owner, finding in warnings:
            who = f" **{owner.cluster}/{owner.name}**" if owner else ""
            head.append(f"- ⚠️ `{finding.code}`{who}: {finding.message}")
        head.append("")
    head.extend(_capacity_table(plan))
    head.append("**Merging this pull request will:**")
    for line in plan.merge_effect or ["change nothing in Proxmox"]:
        head.append(f"- {line}")
    if any(c.action == Action.delete for c in plan.changes):
        head.append(
            "- deletions are not executed on merge: each opens a deletion request that "
            "a second person approves with their own commit"
        )
    head.append("")

    blocks = [_guest_block(c) for c in plan.changes if c.action != Action.noop]
    tail: list[str] = []
    if plan.drift:
        tail.append(
            "<details><summary>Drift (live differs, file unchanged in this PR): "
            f"{len(plan.drift)}</summary>\n"
        )
        for drifted in plan.drift:
            if drifted.missing:
                tail.append(f"- **{drifted.cluster}/{drifted.name}** ({drifted.vmid}): missing")
            for f in drifted.fields:
                tail.append(
                    f"- **{drifted.cluster}/{drifted.name}** `{f.path}`: live "
                    f"{_cell(f.before)}, declared {_cell(f.after)}"
                )
        tail.append("\n</details>\n")
    for title, guests in (
        ("Unmanaged guests (never touched)", [g for g in plan.unmanaged if g.counted]),
        (
            "Pending deletion (request open; destroyed only once approved)",
            [g for g in plan.unmanaged if g.pending_deletion],
        ),
        ("Templates (not drift, never touched)", [g for g in plan.unmanaged if g.template]),
    ):
        if not guests:
            continue
        tail.append(f"<details><summary>{title}: {len(guests)}</summary>\n")
        for g in guests[:200]:
            tail.append(f"- {g.cluster}/{g.vmid} `{g.name}` ({g.kind}, {g.node}, {g.status})")
        if len(guests) > 200:
            tail.append(f"- … and {len(guests) - 200} more")
        tail.append("\n</details>\n")

    text = "\n".join(head)
    footer = "\n".join(tail)
    note_template = (
        "\n> ✂️ Details of {n} more guest(s) were cut to fit the comment limit; "
        "the full plan is in the CI job's log and step summary.\n"
    )
    budget = limit - len(text) - len(footer) - len(note_template) - 16
    kept: list[str] = []
    used = 0
    for index, block in enumerate(blocks):
        if used + len(block) + 1 > budget:
            text += "\n" + "\n".join(kept) + note_template.format(n=len(blocks) - index)
            break
        kept.append(block)
        used += len(block) + 1
    else:
        text += "\n" + "\n".join(kept)
    if len(text) + len(footer) + 1 <= limit:
        text += "\n" + footer
    return text[:limit]


def _guest_block(change: GuestChange) -> str:
    icon = _ICON[change.action]
    restart = (
        " (restart needed)"
        if change.needs_restart and change.action in (Action.update, Action.migrate)
        else ""
    )
    moving = ""
    if change.migration is not None:
        m = change.migration
        disks = ", with local disks" if m.with_local_disks else ""
        moving = f" {m.source} → {m.target} ({m.mode.value}{disks})"
    lines = [
        f"<details><summary>{icon} <b>{change.action.value}</b> {change.kind} "
        f"<code>{change.cluster}/{change.name}</code> (vmid {change.vmid}){moving}{restart}"
        "</summary>",
        "",
    ]
    if change.file:
        lines.append(f"File: `{change.file}`")
        lines.append("")
    if change.fields:
        lines.append("| field | before | after | takes effect |")
        lines.append("|---|---|---|---|")
        for f in change.fields:
            lines.append(
                f"| `{f.path}` | {_cell(f.before)} | "
                f"{'_removed_' if f.removed else _cell(f.after)} | {f.effect.value} |"
            )
    lines.append("")
    lines.append("</details>")
    return "\n".join(lines)


def _capacity_table(plan: Plan) -> list[str]:
    """What the change moves on each node and storage; nothing when it moves nothing."""
    if not plan.capacity:
        return []
    lines = [
        "**Capacity**",
        "",
        "| where | what | before → after | use | limit |",
        "|---|---|---:|---:|---:|",
    ]
    for use in plan.capacity:
        mark = (" ❌" if not use.thin and use.resource == "storage" else " ⚠️") if use.over else ""
        lines.append(
            f"| {_capacity_where(use)} | {_capacity_what(use)} | "
            f"{_capacity_amount(use, use.before)} → {_capacity_amount(use, use.after)} | "
            f"{use.percent:g} %{mark} | {_capacity_limit(use)} |"
        )
    lines.append("")
    return lines


def _capacity_where(use: CapacityUse) -> str:
    return f"{use.cluster}/{use.node}" if use.node else f"{use.cluster} (shared)"


def _capacity_what(use: CapacityUse) -> str:
    if use.resource == "storage":
        thin = ", thin" if use.thin else ""
        detail = f" ({use.detail}{thin})" if use.detail else ""
        return f"storage `{use.storage}`{detail}"
    what = "memory" if use.resource == "memory" else "vCPUs"
    return f"{what} ({use.detail})" if use.detail else what


def _capacity_amount(use: CapacityUse, value: int) -> str:
    return str(value) if use.resource == "vcpus" else human_size(value)


def _capacity_limit(use: CapacityUse) -> str:
    size = _capacity_amount(use, use.limit)
    if use.resource == "vcpus":
        size = f"{use.limit} CPUs"
    return f"{size}, threshold {use.threshold} %" if use.threshold is not None else size
