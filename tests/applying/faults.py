"""Faults injected into the in-process fakepve, one request at a time.

``pve.fail`` covers an error status (500, 596) and a task that ends with an
error; this adds what it cannot do: a connection reset before Proxmox did
anything, and a request that outlasts the client's read timeout although
Proxmox carries it out (the dangerous one: the write happened, the answer was
lost). Each fault hits the first matching request once, then is gone.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web
from fakepve import errors

# the kinds of fault; "timeout" carries the write out after the client gave up
# ("null", an answer without a task id, is armed by hand where it matters)
KINDS = ("500", "596", "reset", "timeout", "task-error")
# what Proxmox says in an injected error; it quotes the token secret, which must be
# scrubbed from everything proxgit prints or records
MESSAGE = "injected fault: storage backend said no (token {secret})"


class Faults:
    """Wraps ``pve._answer``; ``once(kind, method, path)`` arms one fault."""

    def __init__(self, pve: Any, *, secret: str, delay: float = 1.6) -> None:
        self.pve = pve
        self.secret = secret
        self.delay = delay  # longer than the cluster's timeouts.read in the tests
        self.armed: dict[tuple[str, str], str] = {}
        self.hooks: dict[tuple[str, str], Any] = {}
        self.hits: list[tuple[str, str, str]] = []
        # set when a timed-out request has been carried out by Proxmox after all
        self.done_late = threading.Event()
        self._original = pve._answer
        pve._answer = self._answer

    def restore(self) -> None:
        self.pve._answer = self._original

    def once(self, kind: str, method: str, path: str) -> None:
        """Arm one fault for the next ``method`` to a path ending with ``path``."""
        message = MESSAGE.format(secret=self.secret)
        if kind == "500":
            self.pve.fail(method, path, 500, message, times=1)
        elif kind == "596":
            self.pve.fail(method, path, 596, "Connection timed out " + message, times=1)
        elif kind == "task-error":
            names = [e["name"] for e in errors.errors_for(method, path) if e["in_task"]]
            if not names:
                raise ValueError(f"{method} {path} starts no task")
            self.pve.fail(method, path, error=names[0], times=1)
        elif kind in ("reset", "timeout", "null"):
            self.armed[(method, path)] = kind
        else:
            raise ValueError(kind)
        self.hits.append((kind, method, path))

    def before(self, method: str, path: str, action: Any) -> None:
        """Run ``action()`` once, when the first matching request arrives and before
        Proxmox answers it (the client is waiting on that request meanwhile)."""
        self.hooks[(method, path)] = action

    async def _answer(self, request: Any, handler: Any, generic: Any, path_node: Any) -> Any:
        for (method, path), action in list(self.hooks.items()):
            if request.method == method and request.path.endswith(path):
                del self.hooks[(method, path)]
                await asyncio.get_running_loop().run_in_executor(None, action)
        for (method, path), kind in list(self.armed.items()):
            if request.method != method or not request.path.endswith(path):
                continue
            del self.armed[(method, path)]
            if kind == "reset":
                request.transport.close()
                raise ConnectionResetError("injected: connection reset")
            if kind == "null":  # a 200 with no task id, and nothing done
                return web.json_response({"data": None})
            # "timeout": the client gives up waiting; Proxmox does the work anyway
            await asyncio.sleep(self.delay)
            try:
                return await self._original(request, handler, generic, path_node)
            finally:
                self.done_late.set()
        return await self._original(request, handler, generic, path_node)
