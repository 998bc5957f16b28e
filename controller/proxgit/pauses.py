"""No garbage-collector pauses during bounded, allocation-heavy work.

Loading 5,000 documents or planning 5,000 guests allocates hundreds of
thousands of objects that all stay alive; CPython's cyclic collector, triggered
by the allocation count, walks the growing heap again and again, which took
about half of a pull request's plan. Inside :func:`gc_paused` it does not run;
reference counting still frees everything as usual, and whatever cycles were
made are collected once the collector is back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Turn the cyclic collector off for the block (unless it already was)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
