"""What a long command shows while it works: per-guest progress on stderr.

On a terminal, a status line under the log is redrawn a few times a second:
done/total, and each guest at work with what it waits for and for how long
(a Proxmox task's elapsed time). Without a terminal (CI), one line per guest
state change, each with the seconds since the command started, so a slow
clone is visible as it happens, not all at once at the end. ``verbose`` adds a
line for each Proxmox call; ``quiet`` shows nothing but the command's own
summary. Colour only on a terminal, and never when ``NO_COLOR`` is set.

It listens to :mod:`proxgit.observe`; it never sees a secret (guest names,
states, task kinds, API paths without parameters).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TextIO

from proxgit import observe

DONE = {
    "succeeded",
    "failed",
    "skipped",
    "refused",
    "pending-restart",
    "deletion-pending",
    "executed",
    "blocked",
    "rejected",
    "expired",
    "withdrawn",
    "pending",
    "read",
    "not-read",
    "imported",
}
_COLORS = {
    "succeeded": "32",
    "executed": "32",
    "imported": "32",
    "read": "32",
    "failed": "31",
    "blocked": "31",
    "not-read": "31",
    "refused": "33",
    "skipped": "33",
    "pending-restart": "33",
}


def color_allowed(stream: TextIO) -> bool:
    """Colour on a terminal unless ``NO_COLOR`` is set (https://no-color.org)."""
    return _isatty(stream) and not os.environ.get("NO_COLOR")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A :class:`proxgit.observe.Listener` that writes progress to ``stream``."""

    def __init__(
        self,
        stream: TextIO,
        *,
        verbose: bool = False,
        quiet: bool = False,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh: float = 0.2,
    ) -> None:
        self.stream = stream
        self.verbose = verbose and not quiet
        self.quiet = quiet
        self.tty = _isatty(stream) if tty is None else tty
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self.clock = clock
        self.refresh = refresh
        self.started = clock()
        self._lock = threading.Lock()
        self._guests: dict[tuple[str, int], tuple[str, str, str, float]] = {}
        self._status = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._listening: AbstractContextManager[None] | None = None

    # --- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Progress:
        self._listening = observe.listening(self)
        self._listening.__enter__()
        if self.tty and not self.quiet:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._listening is not None:
            self._listening.__exit__(kind, error, trace)
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            self._clear_status()
            self.stream.flush()

    # --- what the command says itself --------------------------------------------------

    def note(self, text: str) -> None:
        """A line of the command's own (a lock wait, an interrupt), above the status."""
        if not self.quiet:
            self._line(text)

    # --- observe.Listener --------------------------------------------------------------

    def request(self, cluster: str, method: str, path: str, outcome: str, seconds: float) -> None:
        if self.verbose:
            self._line(f"{method} {cluster} /{path}: {outcome} in {seconds * 1000:.0f} ms")

    def step(self, cluster: str, step: str, seconds: float, error: str | None) -> None:
        if self.verbose:
            how = f"failed ({error})" if error else "done"
            self._line(f"{step} {cluster or '(git)'}: {how} in {seconds:.1f}s")

    def guest(self, cluster: str, name: str, vmid: int, state: str, detail: str) -> None:
        now = self.clock()
        key = (cluster, vmid)
        with self._lock:
            before = self._guests.get(key)
            self._guests[key] = (name, state, detail, now)
        if self.quiet or state == "queued":
            return
        if before is not None and before[1] == state and state == "running" and not detail:
            return
        word = self._paint(state, state)
        self._line(f"{cluster}/{name} (vmid {vmid}): {word}{f': {detail}' if detail else ''}")

    # --- drawing -----------------------------------------------------------------------

    def _paint(self, text: str, state: str) -> str:
        code = _COLORS.get(state)
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def _line(self, text: str) -> None:
        elapsed = self.clock() - self.started
        with self._lock:
            self._clear_status()
            self.stream.write(f"[{elapsed:6.1f}s] {text}\n")
            if self.tty and not self.quiet:
                self._draw_status()
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.refresh):
            with self._lock:
                self._clear_status()
                self._draw_status()
                self.stream.flush()

    def _clear_status(self) -> None:
        if self._status:
            self.stream.write("\r\x1b[K")
            self._status = False

    def _draw_status(self) -> None:
        if not self._guests:
            return
        now = self.clock()
        done = sum(1 for _, state, _, _ in self._guests.values() if state in DONE)
        working = [
            f"{name} {detail or state} {now - since:.1f}s"
            for name, state, detail, since in self._guests.values()
            if state in ("running", "task")
        ]
        text = f"{done}/{len(self._guests)} done"
        if working:
            text += "; " + ", ".join(working[:4]) + (" ..." if len(working) > 4 else "")
        width = _width()
        self.stream.write(text[: width - 1])
        self._status = True


def _width() -> int:
    columns = shutil.get_terminal_size((100, 24)).columns
    return columns if columns >= 20 else 100
