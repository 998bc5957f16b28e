"""Reflecting: live Proxmox state committed back to Git, and drift against the desired tree.

``reading`` reads a whole cluster cheaply (one listing, then per guest only
what is cheap), ``snapshot`` turns a reading into deterministic, scrubbed
files under ``snapshot/<cluster>/``, ``summary`` says what changed for the
commit message, ``run`` ties it to Git, and ``drift`` reads what ``proxgit drift``
compares (the model and the comparison are in ``planning``, shared with
``proxgit plan``).
"""

from proxgit.reflecting.drift import run_drift
from proxgit.reflecting.run import ReflectOptions, ReflectResult, reflect_repository

__all__ = [
    "ReflectOptions",
    "ReflectResult",
    "reflect_repository",
    "run_drift",
]
