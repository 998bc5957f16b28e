"""Deterministic YAML: the same data always gives the same bytes.

Snapshot files are compared byte for byte to decide whether to commit, so the
writer allows no freedom: keys sorted, block style, no line folding, UTF-8,
one trailing newline, and only plain data (str, int, float, bool, None, lists
and dicts). Callers sort lists themselves, since only they know the order that
means something. Sizes are written with :func:`size_text` (``32G``) and
usage figures with :func:`usage_text` (``12.5G``), never as raw floats.
"""

from __future__ import annotations

from typing import Any

from proxgit.models import format_size
from proxgit.yamlio import dump as _dump

HEADER = "# Written by proxgit reflect from live Proxmox state; edits are overwritten.\n"

_GIB = 1 << 30


def dump(data: Any, *, header: str = HEADER) -> bytes:
    """``data`` as YAML bytes, identical for equal data."""
    return _dump(data, header=header, style="snapshot").encode("utf-8")


def size_text(size: int | None) -> str | None:
    """An exact size in Proxmox's own notation (``32G``, ``1536M``, bytes when odd)."""
    return None if size is None else format_size(int(size))


def usage_text(size: Any) -> str | None:
    """A usage figure rounded to 0.1 GiB, so a few bytes written don't change the snapshot."""
    try:
        value = int(size)
    except (TypeError, ValueError):
        return None
    return f"{value / _GIB:.1f}G"
