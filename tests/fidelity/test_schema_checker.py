"""The request-log checker behind ``schema_checked_pve`` can fail: it reports invalid
parameters, including ones fakepve itself lets through."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from tests.fidelity import pveschema
from tests.fidelity.conftest import schema_violations
from tests.support import TOKEN_ID, TOKEN_SECRET


def test_checker_reports_invalid_parameters_in_a_log() -> None:
    log = [
        ("GET", "/api2/json/cluster/resources", b""),
        ("PUT", "/api2/json/nodes/pve1/qemu/101/config", b"cores=2&memory=2048"),
        (
            "PUT",
            "/api2/json/nodes/pve1/qemu/101/config",
            b"scsi0=local-lvm%3Avm-101-disk-0%2Caio%3Dfast&sockets=0&speed=10",
        ),
        ("POST", "/api2/json/nodes/pve1/lxc", b'{"vmid": 42, "ostemplate": "x"}'),
        ("DELETE", "/api2/json/nodes/pve1/qemu/abc", b""),
        ("POST", "/api2/json/nodes/pve1/nonsense", b""),
    ]
    found = {(v.key, v.where.split(" ")[0]) for v in pveschema.check_log(log)}
    assert ("scsi0", "PUT") in found  # aio=fast: not in the enum
    assert ("sockets", "PUT") in found  # minimum 1
    assert ("speed", "PUT") in found  # no such parameter
    assert ("vmid", "POST") in found  # below 100
    assert ("vmid", "DELETE") in found  # the path's own parameter
    assert ("path", "POST") in found  # no such API path
    assert not [v for v in pveschema.check_log(log[:2])]  # the valid writes pass


def test_checker_catches_what_fakepve_accepted(
    schema_checked_pve: Any, fakepve_cafile: str
) -> None:
    """fakepve does not check CPU flags (pve-vm-cpu-conf); PVE refuses a flag a VM may not
    set. The request reaches the log and the checker reports it."""
    pve = schema_checked_pve
    pve.add_vm(150, "victim", node="pve1", config={"cores": 1, "memory": 512})
    answer = httpx.put(
        f"{pve.url}/api2/json/nodes/pve1/qemu/150/config",
        data={"cpu": "host,flags=+aes;+evil-flag"},
        headers={"Authorization": f"PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}"},
        verify=ssl.create_default_context(cafile=fakepve_cafile),
    )
    assert answer.status_code == 200, answer.text  # fakepve took it
    violations = schema_violations(pve)
    assert [(v.key, v.where) for v in violations] == [
        ("cpu", "PUT /api2/json/nodes/pve1/qemu/150/config")
    ]
    assert "flags" in violations[0].message
    # this test's invalid request is the point; teardown checks the rest
    pve.requests[:] = [r for r in pve.requests if not r[1].endswith("/qemu/150/config")]
