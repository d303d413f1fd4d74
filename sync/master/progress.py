"""Progress of long steps: a counter on a terminal, silence (and one log line) under a scheduler.

Any module can wrap a loop: `for item in progress.iterate(items, "programs"): ...`. When
standard error is a terminal the counter is redrawn in place ("programs: 2/3"); otherwise
nothing is drawn and only a DEBUG log line records how many items took how long. Labels are
fixed words chosen by the caller, never data, so nothing personal reaches the screen or log.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import TextIO, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_show: bool | None = None  # None: draw only when standard error is a terminal
MIN_INTERVAL = 0.1  # seconds between redraws


def configure(show: bool | None) -> None:
    """Force progress on (True) or off (False, e.g. for --quiet), or back to automatic (None)."""
    global _show
    _show = show


def showing(stream: TextIO | None = None) -> bool:
    """Whether progress is drawn on `stream` (default: standard error)."""
    if _show is not None:
        return _show
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def iterate(items: Iterable[T], label: str, *, total: int | None = None,
            stream: TextIO | None = None) -> Iterator[T]:
    """Yield every item of `items`, showing "label: done/total" on a terminal."""
    if total is None and isinstance(items, Sized):
        total = len(items)
    out = stream if stream is not None else sys.stderr
    draw = showing(out)
    started = last = time.monotonic()
    done = 0
    width = 0

    def redraw(final: bool = False) -> None:
        nonlocal width
        text = f"{label}: {done}/{total}" if total is not None else f"{label}: {done}"
        if final:
            text += f" ({time.monotonic() - started:.1f} s)"
        out.write("\r" + text.ljust(width) + ("\n" if final else ""))
        out.flush()
        width = len(text)

    try:
        for item in items:
            yield item
            done += 1
            now = time.monotonic()
            if draw and now - last >= MIN_INTERVAL:
                redraw()
                last = now
    finally:
        if draw:
            redraw(final=True)
        log.debug("%s: %d done in %.1f s", label, done, time.monotonic() - started)
