"""The master workbook as plain data: which sheets, columns and rows (staff input is read
back from them by `sync.master.sheetinput`).

Column ownership:
- tool columns are computed every sync; a tool cell staff changed becomes a staff override
  and is never overwritten again (the record keeps the form's value underneath);
- staff columns (Status, Notes, Cohort/Semester override, and any column staff add) are
  theirs: the tool only ever copies them back in.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.config.programs import PROGRAMS, Program
from sync.xlsx.sheet import Column, PrintSetup, Sheet, safe_text

NEEDS_REVIEW = "Needs Review"
POSSIBLE_DUPLICATES = "Possible Duplicates"
SYNC_LOG = "Sync Log"

ID = "Record ID"
SOURCES = "Source rows"
FIRST = "First submitted"
LATEST = "Latest submitted"
ELIGIBILITY = "Eligibility"
STATUS = "Status"
NOTES = "Notes"
OVERRIDE = {p.key: p.classes.override for p in PROGRAMS.values() if p.classes}  # staff columns


def staff_columns(program: Program) -> list[Column]:
    cols = [Column(STATUS, staff=True, choices=program.statuses, width=13),
            Column(NOTES, staff=True, width=40, wrap=True)]
    if program.key in OVERRIDE:
        cols.append(Column(OVERRIDE[program.key], staff=True, width=16))
    return cols


@dataclass
class ToolColumn:
    """A computed column added by a feature (attendance, confirmations, check log...)."""

    column: Column
    values: dict[str, Any]  # record_id -> value


@dataclass
class ProgramSheet:
    program: Program
    mapped: list[str]  # canonical fields the config maps, in program order
    extra_titles: list[str]  # unmapped question titles, in form order
    records: list[tuple[str, dict[str, Any]]]  # (record_id, data) in record-ID order
    staff: dict[str, dict[str, Any]]  # record_id -> {column: value}
    tool: list[ToolColumn] = field(default_factory=list)
    staff_extra: list[str] = field(default_factory=list)  # columns staff added
    title_rows: list[list[Any]] = field(default_factory=list)  # staff's titles above the header
    # after a restore: record_id -> {column: cell} read back that the restored state did not
    # write (see the module's docstring); each such record's staff values, with the cells
    # kept as staff corrections, are handed to `on_staff(record_id, staff, kept)`
    unsure: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_staff: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None

    def tool_columns(self) -> list[Column]:
        p = self.program
        cols = [Column(ID, width=11), Column(SOURCES, width=16, wrap=True), Column(FIRST, "datetime", 17),
                Column(LATEST, "datetime", 17)]
        for name in self.mapped:
            if name == "submitted_at":
                continue
            f = p.field(name)
            kind = {"date": "date", "datetime": "datetime", "int": "int"}.get(f.kind, "text")
            cols.append(Column(f.label, kind, wrap=name in ("instructions", "vehicles")))
        cols.append(Column(ELIGIBILITY, width=30, wrap=True))
        taken = {c.header for c in cols} | {c.header for c in staff_columns(p)}
        taken |= {t.column.header for t in self.tool}
        for title in self.extra_titles:
            cols.append(Column(extra_header(title, taken), wrap=True))
        cols.extend(t.column for t in self.tool)
        return cols

    def answer_columns(self) -> set[str]:
        """Headers of the tool columns that show answers (the ones staff correct)."""
        features = {t.column.header for t in self.tool}
        return {c.header for c in self.tool_columns()[4:]} - {ELIGIBILITY} - features

    def tool_values(self, record_id: str, data: dict[str, Any]) -> list[Any]:
        values = data["values"]
        row: list[Any] = [record_id, sources_text(data), data["first"], data["latest"]]
        for name in self.mapped:
            if name != "submitted_at":
                row.append(display(values.get(name)))
        row.append(data.get("eligibility") or "Eligible")
        extra = data.get("extra", {})
        row.extend(display(extra.get(title)) for title in self.extra_titles)
        row.extend(t.values.get(record_id) for t in self.tool)
        return row

    def sheet(self, on_written: Callable[[str, str, Callable[[], dict[str, Any]]], None]) -> Sheet:
        """The sheet, its rows made as they are written. For each row, `on_written(record_id,
        digest, values)` hears a digest of its tool values, and `values()` gives them as
        {column: value} as they read back (made only when asked: most rows are as before)."""
        tool_cols = self.tool_columns()
        staff_cols = staff_columns(self.program) + [Column(h, staff=True) for h in self.staff_extra]
        headers = [c.header for c in tool_cols]
        salt = repr(headers).encode()
        answers = self.answer_columns() if self.unsure else set()
        classes = self.program.classes
        renamed, former = (classes.column, classes.former) if classes and classes.former else ("", None)

        def rows() -> Iterator[list[Any]]:
            for rid, data in self.records:
                computed = self.tool_values(rid, data)
                digest = hashlib.blake2b(salt + repr(computed).encode("utf-8", "surrogatepass"),
                                         digest_size=12).hexdigest()
                on_written(rid, digest, functools.partial(_read_back, headers, computed))
                staff = self.staff.get(rid)
                if staff and former in staff and renamed not in staff:  # typed under the old name
                    staff = {**staff, renamed: staff[former]}
                if rid in self.unsure:
                    now = _read_back(headers, computed)
                    kept = {h: v for h, v in self.unsure[rid].items()
                            if h in answers and v != now.get(h)}
                    staff = {**(staff or {}), **kept}
                    if self.on_staff is not None:
                        self.on_staff(rid, staff, kept)
                if staff:
                    row = [staff.get(c.header, v) if c.header in staff else v
                           for c, v in zip(tool_cols, computed, strict=True)]
                    row.extend(staff.get(c.header, "New" if c.header == STATUS else None)
                               for c in staff_cols)
                else:
                    row = computed + ["New" if c.header == STATUS else None for c in staff_cols]
                yield row

        return Sheet(self.program.name, tool_cols + staff_cols, rows(),
                     freeze=f"B{len(self.title_rows) + 2}", preamble=self.title_rows,
                     print_setup=program_print_setup(self.program.name))


def sources_text(data: dict[str, Any]) -> str:
    """The "Source rows" cell: the form rows merged into the record ("pip:2, pip:57"), after
    "Missing from source: " when none of them is in the source any more."""
    sources = ", ".join(data["sources"])
    return f"{data['source_state']}: {sources}" if data.get("source_state") else sources


def program_print_setup(title: str) -> PrintSetup:
    """A program sheet on paper: landscape at full size, the header row and the Record ID
    column on every page, and the columns that do not fit on the pages to the right of
    theirs (left to right, then down: a block of records is printed whole before the next)."""
    return PrintSetup(fit_width=False, repeat_columns=1, across_first=True, header_center=title)


def _read_back(headers: list[str], values: list[Any]) -> dict[str, Any]:
    return {h: comparable(v) for h, v in zip(headers, values, strict=True)}


def extra_header(title: str, taken: set[str]) -> str:
    return title if title not in taken else f"{title} (form)"


def display(value: Any) -> Any:
    """A normalised value as a cell shows it."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return value


def comparable(value: Any) -> Any:
    """A cell value as it reads back from the saved workbook, for spotting staff edits."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dt.timedelta):  # a duration staff typed ("25:00"): the state keeps text
        return str(value)
    return value


# -- other sheets ----------------------------------------------------------------------------


def needs_review_sheet(problems: Sequence[Any]) -> Sheet:
    """Each rejected response: program, source, row, every reason, then the original answers
    (a question no rejected response answered has no column). On paper: the first four
    columns, one page wide."""
    titles: list[str] = []
    seen: set[str] = set()
    for p in problems:
        for title, value in p.answers.items():
            if title not in seen and value not in (None, ""):
                seen.add(title)
                titles.append(title)
    fixed = ["Program", "Source", "Source row", "Reasons"]
    taken = set(fixed)
    headers = [extra_header(t, taken) for t in titles]
    cols = [Column("Program", width=20), Column("Source", wrap=True), Column("Source row", "int", 10),
            Column("Reasons", width=60, wrap=True)] + [Column(h) for h in headers]
    rows = []
    for p in problems:
        answers = p.answers
        rows.append([PROGRAMS[p.program].name, p.source, p.row, "\n".join(p.reasons)]
                    + [_raw(answers.get(t)) for t in titles])
    return Sheet(NEEDS_REVIEW, cols, rows, print_setup=PrintSetup(
        header_center=NEEDS_REVIEW, print_columns=len(fixed)))


def _raw(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


LOG_COUNTS = ("read", "new", "updated", "unchanged", "merged", "review", "records", "possible",
              "missing")
LOG_LABELS = ("Rows read", "New records", "Updated", "Unchanged", "Merged into a record",
              "Needs review", "Records", "Possible duplicates", "Source rows missing")


def sync_log_sheet(runs: Sequence[tuple[str, str | None, str, dict[str, Any]]]) -> Sheet:
    cols = [Column("Started", "datetime", 17), Column("Finished", "datetime", 17),
            Column("Program", width=20)] + [Column(label, "int", 12) for label in LOG_LABELS]
    rows = []
    for started, finished, program, counts in runs:
        rows.append([dt.datetime.fromisoformat(started),
                     dt.datetime.fromisoformat(finished) if finished else None,
                     PROGRAMS[program].name if program in PROGRAMS else program]
                    + [counts.get(k, 0) for k in LOG_COUNTS])
    # at full size, the counts on the pages to the right, each with the run's start on it
    return Sheet(SYNC_LOG, cols, rows, print_setup=PrintSetup(
        fit_width=False, repeat_columns=1, across_first=True, header_center=SYNC_LOG))


def header_titles(program: Program) -> frozenset[str]:
    """Titles that tell a program sheet's header row from a title row above it (with ID)."""
    return frozenset({SOURCES, FIRST, LATEST, ELIGIBILITY}
                     | {c.header for c in staff_columns(program)}
                     | {f.label for f in program.fields})
