"""Secrets resolved at apply time, and the scrubber that keeps them out of every record.

A secret's value is read from the environment or a file only when a guest is
created or its password changes, remembered here, and replaced by ``***`` in
any text proxgit writes: results, task logs, the journal, error messages.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from proxgit.models import SecretRef
from proxgit.secrets import resolve_secret

MASK = "***"


class SecretBox:
    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, ref: SecretRef, *, what: str) -> str:
        value = resolve_secret(ref, what=what, base_dir=self.base_dir)
        self.remember(value)
        return value

    def remember(self, value: str) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def scrub(self, value: Any) -> Any:
        """``value`` with every known secret masked (strings, lists and dicts, recursively)."""
        if isinstance(value, str):
            for secret in sorted(self._values, key=len, reverse=True):
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value
