"""Form sources: every response as read, with its source and 1-based row number.

A source returns a `Table`: the header titles exactly as the form wrote them (duplicate
titles made unique with " (2)", " (3)", ...), and one `Row` per response row. Values keep
the type the source gave them (text, a number, a datetime), because only the program's field
kinds can say whether `43831` is a date or a ZIP; `sync.ingest.normalize` does that.

A row the source could read only in part (an answer with bytes that are not text) is kept,
with what was wrong in `Row.problems`: plain sentences naming the question, which validation
makes reasons of that row alone, so it goes to Needs Review and every other row is unaffected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

Value = str | int | float | dt.datetime | dt.date | None


@dataclass(frozen=True)
class Row:
    number: int  # 1-based row number in the source; the header is row 1
    values: tuple[Value, ...]  # aligned with Table.headers; trailing empties may be missing
    key: str | None = None  # the source's own stable ID of the response (a Forms responseId)
    created: dt.datetime | None = None  # first submitted, where the source keeps it apart from
    # the last edit (a Forms createTime), as the department's wall clock
    problems: tuple[str, ...] = ()  # what the source found wrong in the row as read, if anything


@dataclass(frozen=True)
class Table:
    source: str  # shown to staff: the export's file name or "<spreadsheet key>/<tab title>"
    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    timezone: ZoneInfo | None = None  # zone of serial-number dates; None = department's

    def answers(self, row: Row) -> dict[str, Value]:
        """The row as {question title: value}, with every header present."""
        values = row.values
        return {h: (values[i] if i < len(values) else None) for i, h in enumerate(self.headers)}


def unique_headers(titles: Iterable[object]) -> tuple[str, ...]:
    """Header titles made unique: a repeated title becomes "Title (2)", "Title (3)".

    Google Forms repeats a title when two sections ask the same question ("Phone"). Blank
    titles become "Column N" so no answer is dropped.
    """
    seen: dict[str, int] = {}
    out: list[str] = []
    for i, raw in enumerate(titles, start=1):
        title = " ".join(str(raw if raw is not None else "").split()) or f"Column {i}"
        count = seen.get(title, 0) + 1
        seen[title] = count
        candidate = title if count == 1 else f"{title} ({count})"
        while candidate in seen and count > 1:
            count += 1
            candidate = f"{title} ({count})"
        if count > 1:
            seen[candidate] = 1
        out.append(candidate)
    return tuple(out)
