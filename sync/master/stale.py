"""Programs whose source could not be read: since when their data in the master is stale.

A sync reads each program on its own. When one program's source fails (Google unreachable,
a question renamed on the form, an export that is not a workbook), that program keeps the
records its last good read made, and the others sync as usual. The state's meta `STALE`
remembers, per failed program, when its data was last read well and what the last read
said to fix; the program's sheet then opens with a note saying so (`rows`), and the Summary
repeats it (`notes`). The note is the tool's: read back from the workbook, it is never taken
for title rows staff typed (`without_note`). The next good read of the program clears it.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from sync.config.programs import PROGRAMS
from sync.state.store import Store

STALE = "stale_sources"  # meta: {program key: {"since": ISO time or None, "error": text}}
MARK = "Not up to date: "  # how the note begins, in the sheet and on the Summary
INDENT = "    "  # how its later lines begin in the sheet
WIDTH = 60  # characters a line of the note holds: the first printed page of a portrait sheet


def mark(store: Store, read: Iterable[str], failures: dict[str, str]) -> None:
    """Record this sync's outcome for the programs it read (`read`): each key of `failures`
    ({key: what to fix}) is stale since its last good read; the others are fresh again."""
    stale = dict(store.get_meta(STALE, {}))
    for key in read:
        if key not in failures:
            stale.pop(key, None)
            continue
        since = stale[key]["since"] if key in stale else last_read(store, key)
        stale[key] = {"since": since, "error": failures[key]}
    store.set_meta(STALE, stale)


def last_read(store: Store, key: str) -> str | None:
    """When program `key`'s source was last read well (the start of its last logged run)."""
    row = store.db.execute("SELECT MAX(started) FROM runs WHERE program = ?", (key,)).fetchone()
    return row[0] if row else None


def note(entry: dict[str, Any]) -> str:
    """The line for one stale program: "Not up to date: data from 2020-03-05 10:04; the
    last read failed: <what to fix>"."""
    since = entry.get("since")
    when = (f"data from {dt.datetime.fromisoformat(since):%Y-%m-%d %H:%M}" if since
            else "no data read yet")
    return f"{MARK}{when}; the last read failed: {entry['error']}"


def rows(store: Store, key: str) -> list[list[Any]]:
    """The lines that open program `key`'s sheet while its data is stale, else none: the
    note wrapped to the width of a printed page, its later lines indented (`INDENT`)."""
    entry = store.get_meta(STALE, {}).get(key)
    if not entry:
        return []
    lines = textwrap.wrap(note(entry), WIDTH, subsequent_indent=INDENT, break_long_words=False,
                          break_on_hyphens=False)
    return [[line] for line in lines]


def notes(store: Store, keys: Iterable[str]) -> list[str]:
    """One line per stale program among `keys`, named, for the Summary."""
    stale = store.get_meta(STALE, {})
    return [f"{PROGRAMS[k].name}: {note(stale[k])}" for k in keys if k in stale]


def without_note(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """The rows above a program sheet's header as read back, without the tool's note."""
    out = list(rows)
    if out and _starts(out[0], MARK):
        out.pop(0)
        while out and _starts(out[0], INDENT):
            out.pop(0)
    return out


def _starts(row: Sequence[Any], text: str) -> bool:
    return bool(row) and isinstance(row[0], str) and row[0].startswith(text)
