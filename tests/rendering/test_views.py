"""The three views over one Plan: limits and stable shapes."""

from __future__ import annotations

import json

from proxgit.planning.fieldchange import FieldChange
from proxgit.planning.plan import Action, Finding, GuestChange, Plan
from proxgit.rendering import COMMENT_LIMIT, render_json, render_markdown, render_text


def big_plan(guests: int) -> Plan:
    changes = [
        GuestChange(
            cluster="lab",
            vmid=1000 + i,
            name=f"vm-{i:05d}",
            kind="VirtualMachine",
            node="pve1",
            action=Action.update,
            file=f"clusters/lab/vms/vm-{i:05d}.yaml",
            fields=[
                FieldChange(path=f"disks.scsi{j}.size", before="32G", after="64G") for j in range(5)
            ],
            warnings=[Finding(code="pending-restart", message="stays pending")] if i < 3 else [],
        )
        for i in range(guests)
    ]
    return Plan(revision="a" * 40, changes=changes).summarize()


def test_markdown_stays_under_the_comment_limit_with_a_note() -> None:
    plan = big_plan(2000)
    text = render_markdown(plan)
    assert len(text) <= COMMENT_LIMIT
    assert "| 0 | 2000 | 0 |" in text  # the summary table is always complete
    assert "were cut to fit the comment limit" in text
    assert text.count("<details>") < 2000


def test_small_markdown_is_not_cut() -> None:
    text = render_markdown(big_plan(3))
    assert "cut to fit" not in text
    assert text.count("<details><summary>") == 3


def test_json_has_the_documented_keys() -> None:
    data = json.loads(render_json(big_plan(1)))
    assert set(data) >= {"summary", "changes", "drift", "unmanaged", "blockers", "warnings"}
    change = data["changes"][0]
    assert set(change) >= {
        "cluster",
        "vmid",
        "name",
        "kind",
        "action",
        "fields",
        "blockers",
        "warnings",
    }
    assert set(change["fields"][0]) == {"path", "before", "after", "effect", "removed"}


def test_text_view_symbols_and_summary() -> None:
    text = render_text(big_plan(1))
    assert text.startswith("~ VirtualMachine vm-00000 (vmid 1000, lab/pve1) will be updated")
    assert "Plan: 0 to create, 1 to update, 0 to delete" in text
