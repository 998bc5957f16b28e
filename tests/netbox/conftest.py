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
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynetbox
import pytest

ENV_FILE = "PROXGIT_NETBOX_ENV"
REQUIRED = "PROXGIT_NETBOX_REQUIRED"
TOKEN_ENV = "PROXGIT_TEST_NETBOX_TOKEN"
_ONE_OBJECT = re.compile(r"/\d+/$")
_REQUEST_LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (/api/\S*) HTTP/[\d.]+" (\d{3})')


@dataclass
class NetBoxServer:
    url: str
    token_v1: str
    token_v2: str
    log: Path

    def api(self, token: str | None = None) -> Any:
        return pynetbox.api(self.url, token=token or self.token_v1)

    def log_offset(self) -> int:
        return self.log.stat().st_size

    def requests_since(self, offset: int) -> list[tuple[str, str, int]]:
        """(method, path, status) of every API request the server logged after ``offset``."""
        with self.log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        return [(m[1], m[2], int(m[3])) for m in _REQUEST_LINE.finditer(text)]

    def writes_since(self, offset: int) -> Counter[str]:
        """Write requests since ``offset`` by ``METHOD /api/app/endpoint/``."""
        return Counter(
            f"{method} {_ONE_OBJECT.sub('/N/', path.split('?')[0])}"
            for method, path, _ in self.requests_since(offset)
            if method != "GET"
        )


def _read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


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
    env = _read_env(Path(str(where)))
    return NetBoxServer(
        url=env["NETBOX_URL"],
        token_v1=env["NETBOX_TOKEN_V1"],
        token_v2=env["NETBOX_TOKEN_V2"],
        log=Path(env["NETBOX_RUNSERVER_LOG"]),
    )


def wipe(nb: Any) -> None:
    """Remove every inventory object tests create, children first (bulk deletes)."""
    for app, name in (
        ("virtualization", "virtual_machines"),
        ("ipam", "ip_addresses"),
        ("dcim", "mac_addresses"),
        ("dcim", "devices"),
        ("virtualization", "clusters"),
        ("ipam", "vlans"),
    ):
        endpoint = getattr(getattr(nb, app), name)
        ids = [item.id for item in endpoint.all(limit=1000)]
        for start in range(0, len(ids), 500):
            endpoint.delete(ids[start : start + 500])


@pytest.fixture
def netbox(netbox_server: NetBoxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetBoxServer]:
    """The server, emptied of inventory, with the v1 token in proxgit's token variable."""
    wipe(netbox_server.api())
    monkeypatch.setenv(TOKEN_ENV, netbox_server.token_v1)
    yield netbox_server
