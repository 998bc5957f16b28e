"""fakepve in its own process, with a small control port for faults injected at run time.

Run as ``python -m tests.applying.pveproc --cert C --key K --time-scale S``; it
prints ``READY <api url> <control url>`` once both listen. The control port
takes ``POST /`` with a JSON ``{"op": ..., ...}`` and answers JSON. Besides
fakepve's own faults (``fail``), ``answer`` makes a call answer HTTP 200 with any
JSON ``data`` (a non-UPID task answer, an empty or null resource list), and
``raw`` with any text body (a non-JSON answer). :class:`PveProcess` is the
test side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import seed_pve


def _make_server(time_scale: float) -> Any:
    from aiohttp import web
    from fakepve.server import FakePve

    class ScriptedPve(FakePve):  # type: ignore[misc]
        """fakepve plus scripted answers: ``(method, suffix) -> (times, response maker)``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.scripted: dict[tuple[str, str], dict[str, Any]] = {}

        async def _answer(self, request: Any, handler: Any, generic: Any, path_node: Any) -> Any:
            for key, rule in list(self.scripted.items()):
                if request.method != key[0] or not request.path.endswith(key[1]):
                    continue
                if rule["times"] is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        del self.scripted[key]
                if "raw" in rule:
                    return web.Response(status=200, text=rule["raw"], content_type="text/html")
                return web.json_response({"data": rule["data"]})
            return await super()._answer(request, handler, generic, path_node)

    pve = ScriptedPve(user="root@pam", password="secret", host="127.0.0.1", port=0)
    pve.time_scale = time_scale
    return pve


def _guest_view(pve: Any, vmid: int) -> dict[str, Any] | None:
    try:
        vm = pve.guest(vmid)
    except Exception:
        return None
    if vm is None:
        return None
    return {
        "vmid": vm.vmid,
        "name": vm.name,
        "node": vm.node,
        "status": vm.status,
        "lock": vm.lock,
        "config": {k: str(v) for k, v in vm.config.items()},
        "pending": {
            k: None if v is None else str(v) for k, v in (getattr(vm, "pending", {}) or {}).items()
        },
    }


def _control(pve: Any, body: dict[str, Any]) -> Any:
    op = body.pop("op")
    if op == "fail":
        pve.fail(**body)
        return None
    if op == "answer":
        pve.scripted[(body["method"], body["suffix"])] = {
            "times": body.get("times"),
            **({"raw": body["raw"]} if "raw" in body else {"data": body.get("data")}),
        }
        return None
    if op == "clear":
        pve.failures.clear()
        pve.scripted.clear()
        return None
    if op == "add_vm":
        pve.add_vm(**body)
        return None
    if op == "set_config":
        pve.guest(body["vmid"]).config[body["key"]] = body["value"]
        return None
    if op == "lock":
        pve.guest(body["vmid"]).lock = body["lock"]
        return None
    if op == "time_scale":
        pve.time_scale = body["value"]
        return None
    if op == "guest":
        return _guest_view(pve, int(body["vmid"]))
    if op == "vmids":
        return sorted(int(vm.vmid) for vm in pve.vms) + sorted(
            int(ct.vmid) for ct in getattr(pve, "cts", [])
        )
    if op == "guests":
        return [_guest_view(pve, int(g.vmid)) for g in [*pve.vms, *getattr(pve, "cts", [])]]
    if op == "requests":
        start = int(body.get("since", 0))
        return {
            "total": pve.request_total,
            "items": [list(r[:2]) for r in pve.requests[start:]],
        }
    raise ValueError(f"unknown op {op}")


async def _serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    pve = _make_server(args.time_scale)
    seed_pve(pve)
    pve.max_requests = 10**7
    pve.request_total = 0
    original_record = pve._record

    def counting_record(request: Any, body: Any) -> None:
        pve.request_total += 1
        original_record(request, body)

    pve._record = counting_record
    await pve.start(args.cert, args.key)

    async def control(request: Any) -> Any:
        body = await request.json()
        try:
            return web.json_response({"ok": True, "result": _control(pve, body)})
        except Exception as err:  # the test sees the reason
            return web.json_response({"ok": False, "error": f"{type(err).__name__}: {err}"})

    app = web.Application()
    app.router.add_post("/", control)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY {pve.url} http://127.0.0.1:{port}/", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--time-scale", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


class PveProcess:
    """The test side: starts the server process and drives its control port."""

    def __init__(self, workdir: Path, *, time_scale: float = 0.0) -> None:
        from fakepve.certs import make_cert

        pki = workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        cert, key = make_cert(str(pki), hosts=("127.0.0.1",))[:2]
        self.cafile = str(cert)
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.applying.pveproc",
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--time-scale",
                str(time_scale),
            ],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line or line[0] != "READY":
            self.process.kill()
            raise RuntimeError("fakepve process did not start")
        self.url, self.control_url = line[1], line[2]

    def call(self, op: str, **args: Any) -> Any:
        data = json.dumps({"op": op, **args}).encode()
        request = urllib.request.Request(
            self.control_url, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            reply = json.loads(answer.read())
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def guest(self, vmid: int) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.call("guest", vmid=vmid)
        return result

    def request_total(self) -> int:
        return int(self.call("requests", since=10**9)["total"])

    def requests(self, since: int = 0) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.call("requests", since=since)["items"]]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    main()
