"""Attendance: the ticks staff make in a roster workbook, and what they add up to.

Staff take attendance in the Attendance sheet of a class's roster workbook
(`<output>/rosters/<program>-<class id>.xlsx`, written by `sync.classes.rosters`). Each sync reads
the sheets that changed since it last looked into the state file's `attendance` table, and
the master shows "Sessions attended" and whether the person may graduate (PIP) or earn
school credit (TAP).

What staff typed is never erased: a cell that is in the sheet replaces the stored mark (an
emptied cell removes it, as staff cleared it); people and dates that are not in the sheet
keep what was stored, so a regenerated roster shows every tick again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.classes import sessions
from sync.config import Config, ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.errors import WorkbookError
from sync.master import layout
from sync.master.hooks import Feature
from sync.state import filenames
from sync.state.store import Store
from sync.xlsx.reading import find_header, has_content, header_not_found, labels, read_sheets
from sync.xlsx.sheet import Column

log = logging.getLogger(__name__)

FOLDER = "rosters"
SHEET = "Attendance"
RECORD_ID = "Record ID"
PRESENT_MARKS = ("✓", "✔", "X")  # what counts as present (case does not matter)
ELIGIBLE = {p.key: p.classes.eligible for p in PROGRAMS.values() if p.classes}
CLASS_COLUMN = {p.key: p.classes.column for p in PROGRAMS.values() if p.classes}  # computed
_PRESENT = {m.casefold() for m in PRESENT_MARKS}
_FILES = "attendance:files"  # store meta: {file name: [mtime_ns, size]} last read or written
VERSION = "attendance:version"  # store meta: bumped whenever marks or rolls change


def is_present(mark: Any) -> bool:
    """True when a cell's mark means the person attended (✓, ✔ or X)."""
    return str(mark or "").strip().casefold() in _PRESENT


def class_key(program_key: str, class_id: str) -> str:
    """The `attendance.class_id` value: PIP and TAP classes may share an id like 2020-spring."""
    return f"{program_key}:{class_id}"


def file_name(program_key: str, class_id: str) -> str:
    return filenames.class_file_name(program_key, class_id)


def roster_path(config: Config, program_key: str, class_id: str) -> Path:
    return config.output / FOLDER / file_name(program_key, class_id)


def member_class(program: ProgramConfig, data: dict[str, Any],
                 staff: dict[str, Any]) -> tuple[Session | None, str | None]:
    """The class a record belongs to, and the override staff typed when it names no class.

    Staff's "Cohort override"/"Semester override" wins, then a class staff typed over the
    master's computed column (under its header now or its former one, "Cohort"/"Semester"),
    then the class the master computed from the first submission.
    """
    unknown = None
    former = PROGRAMS[program.key].classes.former  # typed before the column was renamed
    for column in (layout.OVERRIDE[program.key], CLASS_COLUMN[program.key], former):
        wanted = staff.get(column)
        if wanted in (None, ""):
            continue
        found = sessions.find(program.cohorts, str(wanted))
        if found is not None:
            return found, None
        unknown = unknown or str(wanted)
    class_id = sessions.assigned_class(program, data)
    return next((s for s in program.cohorts if s.id == class_id), None), unknown


# -- reading a sheet -------------------------------------------------------------------------


@dataclass
class SheetMarks:
    """What one Attendance sheet holds: its people, its session dates, and the marks."""

    header_row: int | None = None  # index of the header row in the rows read; None: not found
    record_ids: list[str] = field(default_factory=list)
    dates: list[dt.date] = field(default_factory=list)
    marks: dict[tuple[str, dt.date], str] = field(default_factory=dict)  # non-empty only


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _mark(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def parse_sheet(rows: Sequence[Sequence[Any]]) -> SheetMarks:
    """The marks in an Attendance sheet's rows (header found by its "Record ID" cell)."""
    out = SheetMarks()
    top = find_header(rows, RECORD_ID)
    if top is None:
        return out
    out.header_row = top
    header = rows[top]
    id_col = labels(header).index(RECORD_ID)
    date_cols = [(i, d) for i, v in enumerate(header) if (d := _as_date(v)) is not None]
    out.dates = [d for _, d in date_cols]
    seen: set[str] = set()
    for values in rows[top + 1:]:
        rid = values[id_col] if id_col < len(values) else None
        if not isinstance(rid, str) or not rid.strip():
            continue  # the totals row, blank rows
        rid = rid.strip()
        if rid not in seen:
            seen.add(rid)
            out.record_ids.append(rid)
        for i, day in date_cols:
            mark = _mark(values[i] if i < len(values) else None)
            if mark:  # a row pasted twice: a mark in either copy counts
                out.marks.setdefault((rid, day), mark)
    return out


# -- the state -------------------------------------------------------------------------------


def marks(store: Store, program_key: str, class_id: str) -> dict[str, dict[dt.date, str]]:
    """{record_id: {session date: mark}} stored for one class."""
    out: dict[str, dict[dt.date, str]] = {}
    rows = store.db.execute(
        "SELECT record_id, session_date, mark FROM attendance WHERE class_id = ?",
        (class_key(program_key, class_id),))
    for rid, day, mark in rows:
        out.setdefault(rid, {})[dt.date.fromisoformat(day)] = mark
    return out


def save_marks(store: Store, program_key: str, class_id: str, sheet: SheetMarks) -> int:
    """Copy a sheet's cells into the state; returns how many stored marks changed."""
    key = class_key(program_key, class_id)
    stored = marks(store, program_key, class_id)
    changed = 0
    with store.transaction():
        for rid in sheet.record_ids:
            for day in sheet.dates:
                new = sheet.marks.get((rid, day), "")
                if new == stored.get(rid, {}).get(day, ""):
                    continue
                changed += 1
                if new:
                    store.db.execute(
                        "INSERT OR REPLACE INTO attendance (class_id, record_id, session_date, "
                        "mark) VALUES (?, ?, ?, ?)", (key, rid, day.isoformat(), new))
                else:
                    store.db.execute(
                        "DELETE FROM attendance WHERE class_id = ? AND record_id = ? "
                        "AND session_date = ?", (key, rid, day.isoformat()))
    return changed


def roll(store: Store, program_key: str, class_id: str) -> list[str]:
    """The record IDs on the class's Attendance sheet as last written or read."""
    return store.get_meta(f"attendance:roll:{class_key(program_key, class_id)}", [])


def _set_roll(store: Store, program_key: str, class_id: str, record_ids: list[str]) -> bool:
    name = f"attendance:roll:{class_key(program_key, class_id)}"
    if store.get_meta(name, []) == record_ids:
        return False
    store.set_meta(name, record_ids)
    return True


def _bump(store: Store) -> None:
    store.set_meta(VERSION, store.get_meta(VERSION, 0) + 1)


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_size]


def collect(store: Store, config: Config) -> int:
    """Read the Attendance sheet of every roster workbook changed since last read or written.

    Cheap when nothing changed: one stat() per configured class. A workbook that cannot be
    read is reported and skipped (and tried again next time); returns the marks changed.
    """
    folder = config.output / FOLDER
    if not folder.is_dir():
        return 0
    seen = store.get_meta(_FILES, {})
    known = dict(seen)
    changed = rolls = 0
    for key in ("pip", "tap"):
        program = config.programs.get(key)
        for session in program.cohorts if program else ():
            name = file_name(key, session.id)
            stamp = _stamp(folder / name)
            if stamp is None or seen.get(name) == stamp:
                continue
            try:
                rows = read_sheets(folder / name, [SHEET]).get(SHEET)
            except WorkbookError as err:
                log.warning("%s; its attendance was not read this time", err)
                continue
            known[name] = stamp
            if rows is None:
                log.warning("%s: no %r sheet; its attendance was not read", folder / name, SHEET)
                continue
            sheet = parse_sheet(rows)
            if sheet.header_row is None and has_content(rows):  # never read nothing silently
                raise header_not_found(folder / name, SHEET, RECORD_ID, "put the header row "
                                       "back above the names (Record ID, Name, ..., the session "
                                       "dates), then run again")
            n = save_marks(store, key, session.id, sheet)
            rolls += _set_roll(store, key, session.id, sheet.record_ids)
            changed += n
            log.info("%s: %d people, %d session dates, %d attendance marks changed",
                     name, len(sheet.record_ids), len(sheet.dates), n)
    if known != seen:
        store.set_meta(_FILES, known)
    if changed or rolls:
        _bump(store)
    return changed


def remember(store: Store, config: Config, program_key: str, class_id: str,
             record_ids: list[str]) -> None:
    """Note a roster workbook just written, so the next sync does not read it again."""
    path = roster_path(config, program_key, class_id)
    files = store.get_meta(_FILES, {})
    files[path.name] = _stamp(path)
    store.set_meta(_FILES, files)
    if _set_roll(store, program_key, class_id, record_ids):
        _bump(store)


# -- the master's columns --------------------------------------------------------------------


def tool_columns(store: Store, config: Config, key: str,
                 records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
    """"Sessions attended" and "Graduation eligible"/"Credit eligible" for everyone on a
    class's attendance sheet (or with marks in it), from the class's graduation minimum;
    none while no class of the program has an attendance sheet (they would be empty)."""
    program = config.programs[key]
    if key not in ELIGIBLE or not program.cohorts:
        return []
    staff = {rid: r["staff"] for rid, r in store.records(key).items()}
    per_class: dict[str, tuple[dict[str, dict[dt.date, str]], set[str]]] = {}
    attended: dict[str, int] = {}
    eligible: dict[str, str] = {}
    for rid, data in records.items():
        session, _ = member_class(program, data, staff.get(rid, {}))
        if session is None:
            continue
        if session.id not in per_class:
            per_class[session.id] = (marks(store, key, session.id),
                                     set(roll(store, key, session.id)))
        class_marks, on_roll = per_class[session.id]
        if rid not in on_roll and rid not in class_marks:
            continue
        n = sum(is_present(m) for m in class_marks.get(rid, {}).values())
        attended[rid] = n
        eligible[rid] = "Yes" if n >= session.graduation_minimum else "No"
    if not attended:
        return []
    return [layout.ToolColumn(Column(PROGRAMS[key].classes.attended, "int", 11), attended),
            layout.ToolColumn(Column(ELIGIBLE[key], width=12), eligible)]


# -- the features (`sync.master.hooks`) ---------------------------------------------------------------


class ClassColumn(Feature):
    """The master's "Cohort" (PIP) or "Semester" (TAP) column: the class each record joins."""

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
        program = config.programs[key]
        if key not in ELIGIBLE or not program.cohorts:
            return []
        return [layout.ToolColumn(
            layout.Column(CLASS_COLUMN[key], width=14),
            {rid: sessions.assigned_class(program, data) for rid, data in records.items()})]


class Attendance(Feature):
    """Attendance ticked in the roster workbooks, and the master's attendance columns."""

    tables = ("attendance",)
    meta = (VERSION,)

    def collect(self, store: Store, config: Config) -> None:
        collect(store, config)

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
        return tool_columns(store, config, key, records)
