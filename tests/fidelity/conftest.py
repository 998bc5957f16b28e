"""``schema_checked_pve``: the seeded fakepve, whose every write request must be one PVE's
schema accepts (checked at teardown with tests/fidelity/pveschema.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fidelity import pveschema


def schema_violations(pve: Any) -> list[pveschema.Violation]:
    """Violations of every POST, PUT and DELETE in fakepve's request log
    (``pve.requests``: ``(method, path, raw body)``, secrets redacted by fakepve)."""
    return pveschema.check_log(pve.requests)


@pytest.fixture
def schema_checked_pve(pve: Any) -> Iterator[Any]:
    """``pve`` (tests/conftest.py), and at teardown a failure listing each write request
    that breaks PVE's API schema. fakepve keeps the last ``max_requests`` requests; the
    fixture raises the limit so none goes unchecked."""
    pve.max_requests = max(pve.max_requests, 1_000_000)
    yield pve
    violations = schema_violations(pve)
    if violations:
        listing = "\n".join(f"  {v}" for v in violations)
        pytest.fail(
            f"{len(violations)} write request parameter(s) PVE's schema refuses:\n{listing}",
            pytrace=False,
        )
