"""A real NetBox for the NetBox tests: the one ``scripts/netbox-test-server`` started.

``make test-netbox`` starts the server, points ``PROXGIT_NETBOX_ENV`` at its
connection file and runs these tests. Without that file the tests skip with a
line saying how to run them; with ``PROXGIT_NETBOX_REQUIRED=1`` (CI) a missing
server fails them instead, so a CI run can never pass by skipping.

Every test starts from an empty inventory (VMs, devices, clusters, addresses,
MACs, VLANs removed through the API; tags, custom fields and the node site,
role and type stay), so tests may share one NetBox but not see each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netbox.server import ENV_FILE, NetBoxServer, connect, wipe

__all__ = ["TOKEN_ENV", "NetBoxServer", "wipe"]

REQUIRED = "PROXGIT_NETBOX_REQUIRED"
TOKEN_ENV = "PROXGIT_TEST_NETBOX_TOKEN"


@pytest.fixture(scope="session")
def netbox_server() -> NetBoxServer:
    where = os.environ.get(ENV_FILE)
    problem = None
    if not where:
        problem = f"{ENV_FILE} is not set: run 'make test-netbox' (it starts a real NetBox)"
    elif not Path(where).is_file():
        problem = f"{where} does not exist: scripts/netbox-test-server could not start NetBox"
    if problem is not None:
        if os.environ.get(REQUIRED) == "1":
            pytest.fail(f"NetBox tests required ({REQUIRED}=1) but {problem}", pytrace=False)
        pytest.skip(f"no NetBox: {problem}")
    return connect(Path(str(where)))


@pytest.fixture
def netbox(netbox_server: NetBoxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetBoxServer]:
    """The server, emptied of inventory, with the v1 token in proxgit's token variable."""
    wipe(netbox_server.api())
    monkeypatch.setenv(TOKEN_ENV, netbox_server.token_v1)
    yield netbox_server
