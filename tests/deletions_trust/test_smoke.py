from __future__ import annotations

from collections.abc import Callable

from tests.deletions_trust.harness import REQUEST, Scene


def test_signed_happy_path(scene: Callable[..., Scene]) -> None:
    s = scene()
    s.requested()
    assert s.destroys() == 0
    s.approve("bob")
    listed = s.cli("deletions", "list")
    assert "approved" in listed.output, listed.output
    result = s.execute()
    assert result.exit_code == 0, result.output
    assert s.destroys() == 1
    assert not (s.repo.path / REQUEST).exists()
