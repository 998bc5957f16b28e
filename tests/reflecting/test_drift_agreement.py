"""``proxgit plan --drift`` and ``proxgit drift`` agree, through the CLI against fakepve.

One cluster holds every kind of guest the drift model knows: a template (fakepve's
9000), an unmanaged guest, a drifted guest, a missing one and one pending deletion.
"""

from __future__ import annotations

import json
from typing import Any

from tests.planning.test_plan import WEB, client, create_from_desired
from tests.reflecting.conftest import run
from tests.support import GitRepo, vm_path, vm_yaml


def test_plan_and_drift_agree_on_every_kind_of_guest(repo: GitRepo, pve: Any) -> None:
    repo.commit(
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            vm_path("app-01"): vm_yaml("app-01", 102),
        },
        "Add guests",
    )
    create_from_desired(repo, pve)
    client(repo).put("nodes/pve1/qemu/101/config", cores=4)
    pve.add_vm(150, "hand-made", node="pve2", status="running")
    pve.add_vm(160, "leaving", node="pve1", config={"tags": "proxgit-pending-deletion"})
    repo.commit({vm_path("gone"): vm_yaml("gone", 190)}, "Declare gone")
    assert pve.guest(9000).template

    planned = run(repo, "plan", "--base", "HEAD", "--drift", "--output", "json")
    assert planned.exit_code in (0, 2), planned.output
    plan = json.loads(planned.stdout)
    drifted = run(repo, "drift", "--output", "json")
    assert drifted.exit_code == 2, drifted.output
    report = json.loads(drifted.stdout)

    plan_drift = {(d["vmid"], "missing" if d["missing"] else "changed") for d in plan["drift"]}
    report_drift = {(g["vmid"], g["drift"]) for g in report["guests"] if g["drift"] != "unmanaged"}
    assert plan_drift == report_drift == {(101, "changed"), (190, "missing")}

    counted = {u["vmid"] for u in plan["unmanaged"] if not (u["template"] or u["pending_deletion"])}
    unmanaged = {g["vmid"] for g in report["guests"] if g["drift"] == "unmanaged"}
    assert counted == unmanaged == {150}
    assert plan["summary"]["unmanaged"] == report["summary"]["unmanaged"] == 1

    apart = {
        u["vmid"]: "template" if u["template"] else "deletion requested"
        for u in plan["unmanaged"]
        if u["template"] or u["pending_deletion"]
    }
    assert apart == {i["vmid"]: i["reason"] for i in report["ignored"]}
    assert apart == {9000: "template", 160: "deletion requested"}

    # one model: a drifted guest is the same entry in both, field for field (a plan
    # reads config only where it must, so its field list is the one compared here)
    by_vmid = {g["vmid"]: g for g in report["guests"]}
    for entry in plan["drift"]:
        assert entry == by_vmid[entry["vmid"]], entry["vmid"]
    changed = by_vmid[101]
    assert [f["path"] for f in changed["fields"]] == ["cores"], changed
    assert changed["node"] == "pve1" and changed["missing"] is False
    assert by_vmid[190]["missing"] is True and by_vmid[190]["drift"] == "missing"
    # and an undeclared guest is the same entry too: plan lists every one, drift lists
    # the counted ones among its guests and the rest as ignored
    ignored = {i["vmid"]: i for i in report["ignored"]}
    for entry in plan["unmanaged"]:
        if entry["reason"] is None:
            assert by_vmid[entry["vmid"]]["drift"] == "unmanaged"
            assert by_vmid[entry["vmid"]]["node"] == entry["node"]
        else:
            assert entry == ignored[entry["vmid"]]

    # the text views say it once, apart from the unmanaged guests
    text = run(repo, "plan", "--base", "HEAD", "--drift").output
    lines = text.splitlines()
    unmanaged_line = next(line for line in lines if line.startswith("unmanaged"))
    assert "hand-made" in unmanaged_line and "9000" not in unmanaged_line
    assert [line for line in lines if "9000" in line] == [
        "templates (not declared; not drift, never touched): lab/9000 ubuntu-2404-tpl"
    ]
    assert ", 1 unmanaged." in text
    drift_text = run(repo, "drift").output
    assert [line for line in drift_text.splitlines() if "9000" in line] == [
        "  VirtualMachine ubuntu-2404-tpl (vmid 9000, lab) not declared: template"
    ]
    assert "Drift: 1 changed, 1 missing, 1 unmanaged" in drift_text
