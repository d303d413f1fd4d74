"""Read every configured program's responses and map question titles to canonical fields.

A renamed or missing question is an error naming the question and the closest titles the
form has now; unmapped questions are kept (as `extra`), never dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from sync.config import Config, ProgramConfig, Source
from sync.errors import SourceError
from sync.sources import Table, Value

if TYPE_CHECKING:
    from sync.sources.forms import Cache
from sync.sources.exports import read_export

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    """One form response: its origin, its mapped answers and every other answer."""

    program: str
    source: str  # file name, "<spreadsheet key>/<tab>" or "form/<form ID>"
    row: int  # 1-based row in the source; header = row 1
    fields: dict[str, Value]  # canonical field -> value as read
    extra: dict[str, Value]  # unmapped question title -> value as read
    timezone: ZoneInfo | None = None  # zone of serial-number dates in this source
    key: str | None = None  # the source's stable ID of the response (a Forms responseId)
    created: dt.datetime | None = None  # first submitted, when an edit changed the timestamp
    problems: tuple[str, ...] = ()  # what the source found wrong in the row (Row.problems)

    @property
    def ref(self) -> str:
        """Short reference staff see in "Source rows", e.g. "pip:57"."""
        return f"{self.program}:{self.row}"


def closest_titles(title: str, titles: Iterable[str], limit: int = 3) -> list[str]:
    """The form's titles that look most like `title`, best first."""
    found = process.extract(title, list(titles), scorer=fuzz.WRatio, limit=limit, score_cutoff=50)
    return [match for match, _score, _index in found]


def map_table(table: Table, program: ProgramConfig) -> list[Response]:
    """Map a source table's rows to Responses using the program's `questions` config."""
    if not table.headers:
        log.warning("%s: the sheet is empty (no header row); no responses read", table.source)
        return []
    index: dict[str, str] = {}
    lowered = {h.casefold(): h for h in table.headers}
    for name, title in program.questions.items():
        header = title if title in table.headers else lowered.get(" ".join(title.split()).casefold())
        if header is None:
            near = closest_titles(title, table.headers)
            hint = f"; closest titles: {', '.join(repr(t) for t in near)}" if near else ""
            raise SourceError(
                f"{table.source}: question {title!r} (programs.{program.key}.questions.{name}) "
                f"is not in the form{hint}"
            )
        index[header] = name
    # where each field and each other question is in a row; a row is padded with None to
    # one past its last question, where fields without a question point
    width = len(table.headers)
    position = {h: i for i, h in enumerate(table.headers)}
    field_at = dict.fromkeys(program.questions, width)
    for header, name in index.items():
        field_at[name] = position[header]
    fields_at = list(field_at.items())
    extra_at = [(h, i) for i, h in enumerate(table.headers) if h not in index]
    responses = []
    for row in table.rows:
        values = row.values + (None,) * (width + 1 - len(row.values))
        responses.append(Response(
            program.key, table.source, row.number,
            {name: values[i] for name, i in fields_at},
            {title: values[i] for title, i in extra_at},
            table.timezone, row.key, row.created, row.problems))
    return responses


def read_tables(config: Config, keys: Iterable[str], *, cache: Cache | None = None) -> dict[str, Table]:
    """The source table of each program in `keys`: one batched read per spreadsheet, one
    `forms.get` and the new responses per form.

    `cache` (the state `Store`) keeps each form's responses between syncs, so that a form is
    read incrementally; without it every response is read every time.
    """
    return {key: table for key, table in iter_tables(config, keys, cache=cache)
            if isinstance(table, Table)}  # without keep_going, a failure raises


def export_setting(config: Config, key: str) -> str:
    """Where the configuration names program `key`'s export file, for an error message."""
    return f"programs.{key}.source.file in {config.path}"


def iter_tables(config: Config, keys: Iterable[str], *, cache: Cache | None = None,
                keep_going: bool = False) -> Iterator[tuple[str, Table | SourceError]]:
    """(program key, source table) in the order of `keys`, each source read when its turn
    comes, so that the caller can work on one program while the next is still unread. Each
    spreadsheet is read once, all its wanted tabs in one request, when its first program
    comes; forms are all read before the first table (see `read_tables` for `cache`).

    With `keep_going`, a program whose source cannot be read comes with its `SourceError`
    in place of the table, and the others are still read; without it, the error is raised."""
    sources = {key: config.program(key).source for key in keys}
    read, failed_forms = _forms(config, sources, cache, keep_going)
    wanted = Counter((s.spreadsheet, s.worksheet) for s in sources.values() if s.spreadsheet)
    spreadsheets: Iterator[dict[tuple[str, str], Table | SourceError]] | None = None
    got: dict[tuple[str, str], Table | SourceError] = {}
    try:
        for key, source in sources.items():
            if source.file is not None:
                yield key, _export(source.file, export_setting(config, key), keep_going)
            elif source.form is not None:
                yield key, read.get(source.form) or failed_forms[source.form]
            else:
                assert source.spreadsheet is not None
                tab = (source.spreadsheet, source.worksheet)
                if spreadsheets is None:
                    from sync.sources.google import iter_spreadsheets  # only runs that use Google

                    spreadsheets = iter_spreadsheets(list(wanted), config.google,
                                                     keep_going=keep_going)
                while tab not in got:
                    try:
                        got.update(next(spreadsheets))
                    except SourceError as err:  # the sign-in: no spreadsheet can be read
                        if not keep_going:
                            raise
                        got.update(dict.fromkeys(wanted, err))
                wanted[tab] -= 1
                yield key, got[tab] if wanted[tab] else got.pop(tab)  # kept no longer than needed
    finally:
        if spreadsheets is not None:
            spreadsheets.close()  # signs out even when the caller stopped early


def _forms(config: Config, sources: dict[str, Source], cache: Cache | None,
           keep_going: bool) -> tuple[dict[str, Table], dict[str, SourceError]]:
    """Every wanted form's table, and (with `keep_going`) the error of each that failed."""
    forms = [s.form for s in sources.values() if s.form]
    failed: dict[str, SourceError] = {}
    if not forms:
        return {}, failed
    from sync.sources.forms import read_forms  # only runs that read a form import it

    try:
        return read_forms(forms, config.google, config.department.timezone, cache=cache,
                          failed=failed if keep_going else None), failed
    except SourceError as err:  # the sign-in: no form can be read
        if not keep_going:
            raise
        return {}, dict.fromkeys(forms, err)


def _export(path: Path, setting: str, keep_going: bool) -> Table | SourceError:
    try:
        return read_export(path, setting)
    except SourceError as err:
        if not keep_going:
            raise
        return err


def read_responses(config: Config, keys: Iterable[str]) -> dict[str, list[Response]]:
    """Every response of each program in `keys`, mapped to canonical fields."""
    tables = read_tables(config, keys)
    return {key: map_table(table, config.program(key)) for key, table in tables.items()}
