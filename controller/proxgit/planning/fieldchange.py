"""One field that differs between two states, and when the change takes effect.

Shared by a plan's changes and the drift model (``plan.py`` and ``drift.py``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class Effect(StrEnum):
    live = "live"
    restart = "restart"


class FieldChange(BaseModel):
    """One field that differs: ``path`` in desired-spec terms (``disks.scsi0.size``).

    ``removed``: the previous applied revision declared the field and this one does
    not, so apply removes it from Proxmox (``after`` is None, ``before`` what live holds).
    """

    path: str
    before: Any = None
    after: Any = None
    effect: Effect = Effect.live
    removed: bool = False


__all__ = ["Effect", "FieldChange"]
