"""The watch pod's log lines: plain text, or one JSON object per line for collectors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

Log = Callable[[str], None]


def log_writer(fmt: str, stream: TextIO | None = None) -> tuple[Log, Log]:
    """``(info, error)`` writers for ``text`` or ``json``, flushed line by line to stderr.

    A JSON line is ``{"time": ISO-8601 UTC, "level": "info"|"error", "logger":
    "proxgit.watch", "message": ...}``; the message is the same one line the text
    format prints (scrubbed of secrets where it is made).
    """

    def write(level: str) -> Log:
        def emit(line: str) -> None:
            out = stream if stream is not None else sys.stderr
            if fmt == "json":
                text = json.dumps(
                    {
                        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "level": level,
                        "logger": "proxgit.watch",
                        "message": line,
                    },
                    ensure_ascii=False,
                )
            else:
                text = line
            out.write(text + "\n")
            out.flush()

        return emit

    return write("info"), write("error")
