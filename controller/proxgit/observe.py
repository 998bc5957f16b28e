"""What proxgit's work reports as it goes, to whoever listens: metrics, progress lines.

A tiny fan-out with no dependencies, low enough for every layer to call: the
Proxmox client reports each API request, the apply, execute, reflect and plan
steps report their duration and how they ended, and the executor reports each
guest's progress. The watch pod's metrics and the CLI's progress view
subscribe with :func:`listening`; nobody listening costs nothing but a loop
over an empty list. Listeners never see a secret: labels are cluster names,
HTTP methods, step names and fixed error types.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

STEPS = ("sync", "plan", "apply", "execute", "reflect")


class Listener(Protocol):
    def request(self, cluster: str, method: str, path: str, outcome: str, seconds: float) -> None:
        """One Proxmox API request ended: ``outcome`` is ``ok`` or an error type."""

    def step(self, cluster: str, step: str, seconds: float, error: str | None) -> None:
        """One step for one cluster ended; ``error`` is its error type, None on success."""

    def guest(self, cluster: str, name: str, vmid: int, state: str, detail: str) -> None:
        """One guest changed state (``running``, ``waiting``, ``succeeded``, ...)."""


_listeners: list[Listener] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Subscribe ``listener`` for the duration of the block."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def request(cluster: str, method: str, path: str, outcome: str, seconds: float) -> None:
    for listener in list(_listeners):
        listener.request(cluster, method, path, outcome, seconds)


def guest(cluster: str, name: str, vmid: int, state: str, detail: str = "") -> None:
    for listener in list(_listeners):
        listener.guest(cluster, name, vmid, state, detail)


def error_type(err: BaseException) -> str:
    """A fixed, short type for an error: a metric label, never a message."""
    from proxgit.errors import (
        ConfigError,
        GateRefused,
        LockTimeout,
        ProxmoxError,
        RepositoryError,
    )

    if isinstance(err, ProxmoxError):
        return err.kind
    if isinstance(err, GateRefused):
        return "refused"
    if isinstance(err, LockTimeout):
        return "lock-timeout"
    if isinstance(err, RepositoryError):
        return "git"
    if isinstance(err, ConfigError):
        return "config"
    return "internal" if not hasattr(err, "exit_code") else "failed"


@dataclass
class Step:
    """A running step; set ``error`` to a type when it ends badly without raising."""

    cluster: str
    name: str
    error: str | None = None


@contextmanager
def step(cluster: str, name: str) -> Iterator[Step]:
    """Time one step for one cluster; an exception escaping it is its error type."""
    current = Step(cluster, name)
    started = time.monotonic()
    try:
        yield current
    except BaseException as err:
        current.error = error_type(err)
        raise
    finally:
        seconds = time.monotonic() - started
        for listener in list(_listeners):
            listener.step(cluster, name, seconds, current.error)
