"""The NetBox of ``scripts/netbox-test-server`` as tests and bench/netbox.py see it.

Plain code, no pytest: ``tests/netbox/conftest.py`` makes fixtures of it, and
``bench/netbox.py`` uses it directly (the connection file, the request log,
emptying the inventory).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynetbox
import requests

ENV_FILE = "PROXGIT_NETBOX_ENV"
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
        """Where the log ends once every request answered so far is in it.

        runserver writes a request's line after it answered, so a write just made may not
        be logged yet: a marker request is sent, and the offset is taken after its line.
        """
        marker = uuid.uuid4().hex
        requests.get(
            f"{self.url}/api/status/",
            params={"mark": marker},
            headers={"Authorization": f"Token {self.token_v1}"},
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while True:
            text = self.log.read_bytes()
            at = text.find(marker.encode())
            if at >= 0:
                end = text.find(b"\n", at)
                return len(text) if end < 0 else end + 1
            if time.monotonic() > deadline:
                return len(text)
            time.sleep(0.05)

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


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def connect(where: Path) -> NetBoxServer:
    """The server whose connection file (``scripts/netbox-test-server env``) is ``where``."""
    env = read_env(where)
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
