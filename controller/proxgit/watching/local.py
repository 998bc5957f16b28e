"""``proxgit plan --watch``: re-render the plan whenever a desired-state file changes.

For editing desired YAML with the plan beside it. The repository's
``proxgit.yaml``, ``clusters/`` and ``deletions/`` are watched (with watchfiles,
so inotify on Linux and FSEvents on macOS, no polling); ``.git``, ``snapshot/``,
editor swap files and everything else is ignored. Changes arriving within
``debounce_ms`` of each other cause one render, not one per file.

A render that fails (a YAML error half-way through typing, Proxmox unreachable)
shows its one-line error in place of the plan and the watch goes on: the next
save renders again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from watchfiles import Change, watch

from proxgit.errors import ProxgitError
from proxgit.layout import CONFIG_FILE, DESIRED_ROOTS, YAML_SUFFIXES

#: ANSI: cursor home, clear screen, clear scrollback.
CLEAR_SCREEN = "\x1b[H\x1b[2J\x1b[3J"

#: How long watchfiles waits for changes before yielding an empty set.
_ARM_MS = 200


def watch_plan(
    repo: Path,
    render: Callable[[], str],
    *,
    out: Callable[[str], None],
    stop_event: threading.Event,
    debounce_ms: int = 300,
    clear: bool | None = None,
    force_polling: bool | None = None,
) -> int:
    """Call ``render()`` now and after every relevant change under ``repo``; write to ``out``.

    Runs until ``stop_event`` is set (checked every 50 ms; set before the
    watcher is armed, nothing renders) and returns how many times it rendered.
    ``clear`` clears the screen before each render; by default it does so when
    ``out`` is the bound ``write`` of a terminal stream (``sys.stdout.write``).
    ``force_polling`` is passed to watchfiles, for file systems without change
    notification (some network and container mounts).
    """
    root = repo.resolve()
    if not root.is_dir():
        raise ProxgitError(f"plan --watch: {repo} is not a directory")
    if clear is None:
        clear = _writes_to_tty(out)

    def show(reason: str) -> None:
        if clear:
            out(CLEAR_SCREEN)
        try:
            text = render()
        except ProxgitError as exc:
            text = f"error: {exc}\n"
        if text and not text.endswith("\n"):
            text += "\n"
        out(text)
        stamp = time.strftime("%H:%M:%S")
        out(f"[{stamp}] {reason}; watching {repo} for changes (Ctrl-C to stop)\n")

    # The watcher is armed before the first render, so a save made while that
    # render reads Proxmox is not lost: watchfiles yields an empty set every
    # ``_ARM_MS`` without changes, and the first yield means "armed".
    renders = 0
    relevant = desired_tree_filter(root)
    for changes in watch(
        root,
        watch_filter=relevant,
        debounce=debounce_ms,
        stop_event=stop_event,
        rust_timeout=_ARM_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
        force_polling=force_polling,
    ):
        if stop_event.is_set():
            break
        if renders == 0:
            show("rendered")  # also covers changes made before the watcher was armed
        elif changes:
            show(f"re-rendered after changes to {_describe(root, (p for _, p in changes))}")
        else:
            continue
        renders += 1
    return renders


def desired_tree_filter(root: Path) -> Callable[[Change, str], bool]:
    """A watchfiles filter that passes changes to the desired tree under ``root`` only.

    Passes ``proxgit.yaml`` and, under ``clusters/`` and ``deletions/``, YAML
    files and directories (a renamed or removed directory reports only itself);
    refuses hidden paths (``.git``, editor temporaries) and anything else.
    """
    root = root.resolve()

    def relevant(_change: Change, path: str) -> bool:
        try:
            rel = PurePosixPath(Path(path).relative_to(root).as_posix())
        except ValueError:
            return False
        parts = rel.parts
        if not parts or any(part.startswith(".") for part in parts):
            return False
        if parts == (CONFIG_FILE,):
            return True
        if parts[0] not in DESIRED_ROOTS:
            return False
        name = parts[-1]
        # A directory (or a file removed before we could look) has no suffix.
        return name.endswith(YAML_SUFFIXES) or "." not in name

    return relevant


def _describe(root: Path, paths: Iterable[str]) -> str:
    rels = sorted({Path(p).relative_to(root).as_posix() for p in paths})
    if len(rels) <= 3:
        return ", ".join(rels)
    return f"{', '.join(rels[:3])} and {len(rels) - 3} more"


def _writes_to_tty(out: Callable[[str], None]) -> bool:
    stream: Any = getattr(out, "__self__", None)
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty):
        return False
    try:
        return bool(isatty())
    except (OSError, ValueError):
        return False
