"""Reflecting: live Proxmox state committed back to Git, and drift against the desired tree.

``reading`` reads a whole cluster cheaply (one listing, then per guest only
what is cheap), ``snapshot`` turns a reading into deterministic, scrubbed
files under ``snapshot/<cluster>/``, ``summary`` says what changed for the
commit message, ``run`` ties it to Git, and ``drift`` compares live with
desired the way the planner does.
"""

from proxgit.reflecting.drift import (
    DriftKind,
    DriftReport,
    compute_drift,
    render_drift_json,
    render_drift_markdown,
    render_drift_text,
    run_drift,
)
from proxgit.reflecting.run import ReflectOptions, ReflectResult, reflect_repository

__all__ = [
    "DriftKind",
    "DriftReport",
    "ReflectOptions",
    "ReflectResult",
    "compute_drift",
    "reflect_repository",
    "render_drift_json",
    "render_drift_markdown",
    "render_drift_text",
    "run_drift",
]
