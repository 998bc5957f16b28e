"""Proxmox's ``protection`` flag is read one way: ``LiveGuest.protected``."""

from __future__ import annotations

from typing import Any

import pytest

from proxgit.proxmox.live import LiveGuest


@pytest.mark.parametrize(
    ("config", "protected"),
    [
        (None, False),
        ({}, False),
        ({"protection": 0}, False),
        ({"protection": "0"}, False),
        ({"protection": 1}, True),
        ({"protection": "1"}, True),
        ({"protection": True}, True),
        ({"protection": "true"}, True),
    ],
)
def test_protection_is_read_through_the_boolean_codec(
    config: dict[str, Any] | None, protected: bool
) -> None:
    guest = LiveGuest(100, "lxc", "ct", "pve1", "stopped", config=config)
    assert guest.protected is protected
