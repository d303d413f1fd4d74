"""Keep Python's garbage collector off the whole heap during a long, allocation-heavy job.

A sync, or a command generating rosters, builds millions of small objects (answers,
records, rows) that live until the job ends and hold almost no reference cycles; plain
reference counting frees them. CPython's cyclic collector nevertheless re-scans the whole
heap each time it has grown by a quarter. Measured on 50,000 responses (a re-sync with 1%
new rows), that was about 40% of the sync's own CPU time.

`young_collections_only()` keeps the two younger generations collected as usual, so any
short-lived cycle is still freed at once, but never starts a full collection while the
block runs. The collector's settings are restored afterwards, error or not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

NEVER = 1 << 30  # collections of the middle generation before a full one: never, in practice


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Within the block, collect young objects only (see the module's docstring)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)
