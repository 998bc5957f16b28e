"""The plan as JSON: the stable, documented contract of ``--output json`` (docs/plan-json.md)."""

from __future__ import annotations

import json

from proxgit.planning.plan import Plan


def render_json(plan: Plan) -> str:
    return json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"
