"""Staff input read back from the master workbook into the state, at each sync (or purge)
that finds the workbook changed since the tool wrote it.

The master is the staff's input channel (Status, Notes, overrides, their own columns, cells
they corrected, duplicate decisions), and staff are trusted but careless with it: whatever
they type or rearrange is kept, or moved with a log line saying where, never dropped.

- A header row is found by its titles (`xlsxread.find_header`), not by its place: staff
  insert title rows above it. Their title rows are carried over into every later master
  (the state's meta "title_rows", by sheet); the text is kept, not the formatting. A sheet
  whose header row cannot be found stops the run with a `LayoutError` naming the workbook
  and the sheet, before anything is written: reading on would lose what was typed into it.
- A row with no Record ID of ours (a walk-in typed below the last row, a row pasted from
  elsewhere) is not a record, so it cannot stay on a program sheet: it moves to the
  "Staff rows" sheet, kept in the state (meta "staff_rows") and written at every sync. A
  row already carried (the same sheet, the same cells) is not carried twice. Staff edit that
  sheet like the others: cells and columns are read back by its "Staff row" number, a row
  typed there is kept too, and a row deleted there comes back, as a record's row does.
- Formulas read as their text (`read_sheets(formulas_as_text=True)`) and are written back as
  text: "=A1+B1" typed into Notes stays "=A1+B1", never a live formula in our output.
- After the state was restored from an older backup (`sync.master.restore`), the master is newer
  than the state: tool cells the restored state did not write are settled by the sync once
  it knows what it writes (`master`'s docstring), and rows whose Record ID the state does not
  know but that has the program's form are records made since the backup, given back their
  ID and staff columns by the sync (`sync.master.records`). One that no record takes back moves to
  "Staff rows" with a log line naming its Record ID and why (`keep_unclaimed`).

`read` writes nothing, so a layout error leaves the master and the state byte for byte as
they were; `save` copies what was read into the state. Log lines name sheets, row numbers,
record IDs and counts only: never a cell's content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.config.programs import PROGRAMS, Program
from sync.errors import WorkbookError
from sync.master import layout, pairs, sheetinput, stale
from sync.state import clock
from sync.state import store as store_mod
from sync.xlsx.reading import find_header, has_content, header_not_found, labels, read_sheets
from sync.xlsx.sheet import Column, Sheet

log = logging.getLogger(__name__)

STAFF_ROWS = "Staff rows"
NUMBER, FROM, ROW, MOVED = "Staff row", "From sheet", "Row", "Moved on"
ROWS_META = "staff_rows"  # [{"n": number, "key": digest of where from + cells, "cells": [[label, value]]}]
TITLES_META = "title_rows"  # {sheet title: [[value, ...], ...] above its header}
_FIX = ("put the header row back above the rows (the newest copy in backups/ shows it), then "
        "run again; the master and the state were left as they were")


@dataclass
class StaffInput:
    """What staff left in the master, read back and not yet saved."""

    path: Path
    programs: dict[str, sheetinput.SheetInput] = field(default_factory=dict)  # by program key
    read_from: dict[str, str] = field(default_factory=dict)  # program key -> sheet title read
    decisions: list[tuple[str, str, str]] = field(default_factory=list)
    titles: dict[str, list[list[Any]]] = field(default_factory=dict)  # sheet -> its title rows
    edits: dict[int, dict[str, Any]] = field(default_factory=dict)  # Staff row number -> cells
    cleared: dict[int, set[str]] = field(default_factory=dict)  # Staff row number -> columns shown
    typed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # new in Staff rows


def collect(store: store_mod.Store, config: Config, path: Path, today: dt.date) -> None:
    """Copy staff input from the master at `path` into the state (`today`: the run's date)."""
    found = read(store, config, path)
    if found is not None:
        save(store, found, today, clock.now(config))


def read(store: store_mod.Store, config: Config, path: Path,
         restored: bool = False) -> StaffInput | None:
    """Staff input in the master, or None when the workbook cannot be read at all (logged:
    the next write rebuilds it from the state, and keeps the old file as a backup).
    `restored`: the state was restored from a backup older than the master (`sync.master.restore`),
    so tool cells it did not write are `unsure` (`sheetinput.read_program_sheet`)."""
    try:
        sheets = read_sheets(path, formulas_as_text=True)
    except WorkbookError as err:
        log.error("%s; rebuilding it from the saved state", err)
        return None
    found = StaffInput(path)
    for key in config.programs:
        program = PROGRAMS[key]
        title, rows = program.name, sheets.get(program.name)
        if rows is None:
            title, rows = _renamed_sheet(sheets, program)
            if rows is not None:
                log.warning("%s: sheet %r was renamed; reading staff columns from the sheet "
                            "that holds its records, and restoring the name",
                            path.name, program.name)
        if rows is None:
            log.warning("%s: sheet %r is missing; staff columns are kept from the last sync",
                        path.name, program.name)
            continue
        top = find_header(rows, layout.ID, layout.header_titles(program))
        if top is None:
            raise header_not_found(path, title, layout.ID, _FIX)
        records = store.records(key, include_merged=True)
        both = store.written(key)
        found.programs[key] = sheetinput.read_program_sheet(
            rows, top, program, written={rid: w for rid, (w, _prev) in both.items()},
            staff={rid: r["staff"] for rid, r in records.items()},
            previous={rid: prev for rid, (_w, prev) in both.items()}, known=records,
            restored=restored)
        found.read_from[key] = title
        above = stale.without_note(rows[:top])  # the tool's note is not staff's title
        found.titles[program.name] = sheetinput.title_rows(above, len(above))
    rows = sheets.get(layout.POSSIBLE_DUPLICATES)
    if rows is not None:
        anchor, others = pairs.DUPLICATES_HEADER
        top = find_header(rows, anchor, others)
        if top is None:
            raise header_not_found(path, layout.POSSIBLE_DUPLICATES, anchor, _FIX)
        found.decisions = pairs.read_decisions(rows, top)
        found.titles[layout.POSSIBLE_DUPLICATES] = sheetinput.title_rows(rows, top)
    rows = sheets.get(STAFF_ROWS)
    if rows is not None:
        top = find_header(rows, NUMBER, (FROM, ROW, MOVED))
        if top is None:
            raise header_not_found(path, STAFF_ROWS, NUMBER, _FIX)
        found.titles[STAFF_ROWS] = sheetinput.title_rows(rows, top)
        _read_staff_rows(rows, top, found)
    return found


def _renamed_sheet(sheets: dict[str, list[tuple[Any, ...]]], program: Program,
                   ) -> tuple[str, list[tuple[Any, ...]] | None]:
    """The title and rows of a sheet staff renamed: the one whose Record IDs carry the
    program's prefix."""
    for title, rows in sheets.items():
        if title == STAFF_ROWS:
            continue
        top = find_header(rows, layout.ID, layout.header_titles(program))
        if top is None:
            continue
        i = labels(rows[top]).index(layout.ID)
        ids = [r[i] for r in rows[top + 1:] if i < len(r) and isinstance(r[i], str)]
        if ids and all(x.startswith(f"{program.prefix}-") for x in ids):
            return title, rows
    return program.name, None


def _read_staff_rows(rows: list[tuple[Any, ...]], top: int, found: StaffInput) -> None:
    header = labels(rows[top])
    at = header.index(NUMBER)
    for number, values in enumerate(rows[top + 1:], start=top + 2):
        if not has_content([values]):
            continue
        n = values[at] if at < len(values) else None
        cells = sheetinput.row_cells(header, values)
        cells.pop(NUMBER, None)
        if isinstance(n, (int, float)) and not isinstance(n, bool) and n == int(n) \
                and int(n) not in found.edits:
            found.edits[int(n)] = cells
            found.cleared[int(n)] = set(sheetinput.unique_labels(header, len(values))) - {NUMBER}
        else:
            found.typed.append((number, cells))


def save(store: store_mod.Store, found: StaffInput, today: dt.date, now: dt.datetime) -> None:
    """Copy what `read` found into the state, and say in the log what moved where (`now`:
    the department's time, which stamps staff decisions)."""
    name = found.path.name
    with store.transaction():
        for key, sheet in found.programs.items():
            store.executemany("UPDATE records SET staff = ? WHERE record_id = ?",
                              ((store_mod.dumps(v), rid) for rid, v in sheet.staff.items()))
            store.set_meta(f"staff_columns:{key}", sheet.added)
        for a, b, decision in found.decisions:
            program = a.split("-")[0].lower()
            store.db.execute(
                "INSERT OR REPLACE INTO decisions (program, record_a, record_b, decision, decided) "
                "VALUES (?, ?, ?, ?, COALESCE((SELECT decided FROM decisions WHERE program = ? AND "
                "record_a = ? AND record_b = ? AND decision = ?), ?))",
                (program, a, b, decision, program, a, b, decision, now.isoformat()))
        titles = store.get_meta(TITLES_META, {})
        for title, rows in found.titles.items():
            if rows and store_mod.loads(store_mod.dumps(rows)) != titles.get(title):
                log.info("%s: sheet %r: %s above the header kept (written above it at every sync)",
                         name, title, _count(len(rows), "title row"))
        if {**titles, **found.titles} != titles:
            store.set_meta(TITLES_META, {**titles, **found.titles})
        _carry(store, found, today)
    for key, sheet in found.programs.items():
        if sheet.formulas:
            where = ", ".join(f"row {n}: {rid}" if rid else f"row {n}" for n, rid in sheet.formulas)
            log.warning("%s: sheet %r: %s kept as text, not as a formula (%s)", name,
                        found.read_from[key], _count(len(sheet.formulas), "formula"), where)


def _carry(store: store_mod.Store, found: StaffInput, today: dt.date) -> None:
    """Apply staff's edits to the Staff rows sheet and add the rows newly found without a
    Record ID, each once."""
    stored = store.get_meta(ROWS_META, [])
    # cells as [label, value] pairs in the state: the state's JSON sorts an object's keys
    entries = [{**e, "cells": dict(e["cells"])} for e in stored]
    by_number = {e["n"]: e for e in entries}
    typed = list(found.typed)
    for n, cells in found.edits.items():
        entry = by_number.get(n)
        if entry is None:  # a number staff typed that no carried row has
            typed.append((0, cells))
            continue
        kept = {k: v for k, v in entry["cells"].items() if k not in found.cleared[n]}
        entry["cells"] = {**kept, **cells}
    shown = {store_mod.dumps(e["cells"]) for e in entries}  # a carried row whose number was lost
    sources = [(found.read_from[k], sheet.loose) for k, sheet in found.programs.items()]
    for title, rows in [*sources, (STAFF_ROWS, typed)]:
        _add(entries, title, rows, today, found.path.name, shown, "without a Record ID",
             "only rows with a Record ID are records")
    _keep(store, stored, entries)


def keep_unclaimed(store: store_mod.Store, path: Path, title: str,
                   rows: list[sheetinput.AdoptedRow], today: dt.date) -> None:
    """After a restore, keep in the Staff rows sheet the rows of sheet `title` whose Record
    IDs the restored state does not know and that no record of this sync took back
    (`sync.master.records`): staff's cells are never dropped."""
    stored = store.get_meta(ROWS_META, [])
    entries = [{**e, "cells": dict(e["cells"])} for e in stored]
    ids = ", ".join(str(row.cells.get(layout.ID)) for row in rows)
    _add(entries, title, [(row.number, row.cells) for row in rows], today, path.name, set(),
         f"with a Record ID the restored state does not know ({ids})",
         "no response read now is theirs (by the Source rows and the name)")
    with store.transaction():
        _keep(store, stored, entries)


def _add(entries: list[dict[str, Any]], title: str, rows: list[tuple[int, dict[str, Any]]],
         today: dt.date, name: str, shown: set[str], what: str, why: str) -> None:
    """Add `rows` of sheet `title` to `entries`, each once; say in the log `what` rows moved
    and `why`."""
    if not rows:
        return
    keys = {e["key"] for e in entries}
    next_number = max((e["n"] for e in entries), default=0) + 1
    already = []
    for number, cells in rows:
        key = _key(title, cells)
        if key in keys or (title == STAFF_ROWS and store_mod.dumps(cells) in shown):
            already.append(number)
            continue
        keys.add(key)
        extra = {} if title == STAFF_ROWS else {FROM: title, ROW: number, MOVED: today.isoformat()}
        entries.append({"n": next_number, "key": key, "cells": {**extra, **cells}})
        next_number += 1
    numbers = ", ".join(str(n) for n, _ in rows if n)
    where = f" ({'rows' if len(rows) > 1 else 'row'} {numbers})" if numbers else ""
    also = f" ({len(already)} already in the {STAFF_ROWS!r} sheet)" if already else ""
    if title == STAFF_ROWS:
        log.info("%s: sheet %r: %s typed without a %s number%s kept%s", name,
                 STAFF_ROWS, _count(len(rows), "row"), NUMBER, where, also)
    else:
        log.warning("%s: sheet %r: %s %s%s moved to the %r sheet%s: %s", name, title,
                    _count(len(rows), "row"), what, where, STAFF_ROWS, also, why)


def _keep(store: store_mod.Store, stored: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    entries = [{**e, "cells": [[k, v] for k, v in e["cells"].items()]} for e in entries]
    if store_mod.loads(store_mod.dumps(entries)) != stored:
        store.set_meta(ROWS_META, entries)


def carried(store: store_mod.Store) -> list[tuple[int, dict[str, Any]]]:
    """(Staff row number, {column: value}) of each row in the Staff rows sheet; a row moved
    from a program sheet has its FROM, ROW and MOVED cells."""
    return [(e["n"], dict(e["cells"])) for e in store.get_meta(ROWS_META, [])]


def forget(store: store_mod.Store, numbers: set[int]) -> None:
    """Remove the rows numbered `numbers` from the Staff rows sheet for good (the purge: rows
    holding a vacation request past retention). The caller holds a transaction."""
    entries = store.get_meta(ROWS_META, [])
    kept = [e for e in entries if e["n"] not in numbers]
    if len(kept) != len(entries):
        store.set_meta(ROWS_META, kept)


def _key(title: str, cells: dict[str, Any]) -> str:
    return hashlib.blake2b(store_mod.dumps([title, cells]).encode("utf-8", "surrogatepass"),
                           digest_size=12).hexdigest()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# -- writing them ----------------------------------------------------------------------------


def title_rows(store: store_mod.Store, title: str) -> list[list[Any]]:
    """Staff's title rows above sheet `title`'s header, as the last read found them."""
    return store.get_meta(TITLES_META, {}).get(title, [])


def staff_rows_sheet(store: store_mod.Store) -> Sheet | None:
    """The rows staff typed that are not records, with where they came from (None: none)."""
    entries = store.get_meta(ROWS_META, [])
    if not entries:
        return None
    cells = [dict(e["cells"]) for e in entries]
    names = [FROM, ROW, MOVED]
    for row in cells:
        names.extend(k for k in row if k not in names)
    columns = [Column(NUMBER, "int", 10), Column(FROM, width=20), Column(ROW, "int", 8),
               Column(MOVED, width=11)] + [Column(n) for n in names[3:]]
    rows = [[e["n"], *(row.get(n) for n in names)] for e, row in zip(entries, cells, strict=True)]
    return Sheet(STAFF_ROWS, columns, rows, preamble=title_rows(store, STAFF_ROWS))
