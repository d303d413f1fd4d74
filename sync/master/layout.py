"""The master workbook as plain data: which sheets, columns and rows; and staff input read back.

Column ownership:
- tool columns are computed every sync; a tool cell staff changed becomes a staff override
  and is never overwritten again (the record keeps the form's value underneath);
- staff columns (Status, Notes, Cohort/Semester override, and any column staff add) are
  theirs: the tool only ever copies them back in.

After the state was restored from a backup (`sync.master.restore`), what the state says the tool
wrote is older than the master, so a tool cell that differs from it is not known to be
staff's: it is `unsure` until the sync knows what it writes there now. It is a staff
correction only in an answer column and only when it differs from that too; every other tool
cell (times, source rows, eligibility, features' columns) is the tool's. A row whose Record
ID the restored state does not know but that has the program's form (a record made since the
backup) is `adopted`: kept for the sync to give back to the record it makes from the same
responses, not moved away as a row staff typed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.config.programs import PROGRAMS, Program
from sync.xlsx.reading import has_content, labels
from sync.xlsx.sheet import Column, PrintSetup, Sheet, column_letter, safe_text

NEEDS_REVIEW = "Needs Review"
POSSIBLE_DUPLICATES = "Possible Duplicates"
SYNC_LOG = "Sync Log"
DECISIONS = ("Merge", "Not duplicate")

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

        def rows() -> Iterator[list[Any]]:
            for rid, data in self.records:
                computed = self.tool_values(rid, data)
                digest = hashlib.blake2b(salt + repr(computed).encode("utf-8", "surrogatepass"),
                                         digest_size=12).hexdigest()
                on_written(rid, digest, functools.partial(_read_back, headers, computed))
                staff = self.staff.get(rid)
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


def duplicates_sheet(pairs: Sequence[dict[str, Any]], title_rows: Sequence[Sequence[Any]] = ()) -> Sheet:
    cols = [Column("Program", width=20), Column("Record A", width=11), Column("Name A", width=24),
            Column("Record B", width=11), Column("Name B", width=24),
            Column("Evidence", width=48, wrap=True),
            Column("Decision", staff=True, choices=DECISIONS, width=15)]
    rows = [[p["program"], p["a"], p["name_a"], p["b"], p["name_b"], p["evidence"], p.get("decision")]
            for p in pairs]
    return Sheet(POSSIBLE_DUPLICATES, cols, rows, preamble=list(title_rows),
                 print_setup=PrintSetup(header_center=POSSIBLE_DUPLICATES))


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
    return Sheet(SYNC_LOG, cols, rows, print_setup=PrintSetup(header_center=SYNC_LOG))


# -- reading staff input back ---------------------------------------------------------------


def header_titles(program: Program) -> frozenset[str]:
    """Titles that tell a program sheet's header row from a title row above it (with ID)."""
    return frozenset({SOURCES, FIRST, LATEST, ELIGIBILITY}
                     | {c.header for c in staff_columns(program)}
                     | {f.label for f in program.fields})


@dataclass
class AdoptedRow:
    """After a restore, a row with a Record ID of the program's form that the restored state
    does not know: a record made since the backup."""

    number: int  # its row number in the sheet
    cells: dict[str, Any]  # every filled cell, as `row_cells` names them
    staff: dict[str, Any]  # its staff columns' values
    tool: dict[str, Any]  # its tool cells (but the Record ID), unsure until the sync settles them

    @property
    def sources(self) -> list[str]:
        """The responses it was made of, as its "Source rows" cell names them ("pip:57")."""
        refs = str(self.tool.get(SOURCES) or "").rpartition(": ")[2]  # "Missing from source: ..."
        return [ref.strip() for ref in refs.split(",") if ref.strip()]


@dataclass
class SheetInput:
    """What staff left in one program sheet, read back."""

    staff: dict[str, dict[str, Any]]  # record_id -> {column: value} of staff-owned values
    added: list[str]  # columns staff added
    loose: list[tuple[int, dict[str, Any]]]  # rows with no Record ID of ours: (row, {label: value})
    formulas: list[tuple[int, str]]  # (row, record ID or "") of formula text staff just typed
    # after a restore: record_id -> {column: cell} of tool cells the restored state did not write
    unsure: dict[str, dict[str, Any]] = field(default_factory=dict)
    adopted: dict[str, AdoptedRow] = field(default_factory=dict)  # after a restore, by Record ID


def read_program_sheet(rows: Sequence[tuple[Any, ...]], top: int, program: Program,
                       written: dict[str, dict[str, Any]], staff: dict[str, dict[str, Any]],
                       previous: dict[str, dict[str, Any]] | None = None,
                       known: Collection[str] | None = None,
                       restored: bool = False) -> SheetInput:
    """Staff input from a program sheet's cells, by header label (columns may have moved);
    `rows[top]` is the header row, and row numbers count from 1 at `rows[0]`.

    A tool cell whose value differs from what the tool wrote there (in the last write, or the
    one before it, should a run have stopped between saving the state and the workbook) is a
    staff edit; with `restored` (the state is older than the master) it is `unsure` instead,
    for the sheet to settle (see the module's docstring). A row whose Record ID is none of the
    program's records (`known`, by default those in `written`) and that holds something is a
    row staff typed: it is returned as `loose`, for the caller to keep elsewhere; but with
    `restored`, one whose Record ID has the program's form is `adopted`.
    """
    previous = previous or {}
    known = written if known is None else known
    header = labels(rows[top])
    id_col = header.index(ID)
    known_staff = {c.header for c in staff_columns(program)}
    found = SheetInput({}, [], [], [])
    some_written = next(iter(written.values()), {})
    computed = program.classes.computed if program.classes else frozenset()
    for h in header:
        if h and h not in known_staff and h not in some_written and h not in found.added \
                and h not in computed:
            found.added.append(h)
    own_id = re.compile(rf"{re.escape(program.prefix)}-[0-9]{{5,}}")
    for number, values in enumerate(rows[top + 1:], start=top + 2):
        rid = values[id_col] if id_col < len(values) else None
        if restored and isinstance(rid, str) and rid not in known and rid not in found.adopted \
                and own_id.fullmatch(rid):
            found.adopted[rid] = _adopted(number, header, values, known_staff | set(found.added))
            found.formulas.extend((number, rid) for v in found.adopted[rid].staff.values()
                                  if _is_formula(v))
            continue
        if not isinstance(rid, str) or rid not in written:
            if (not isinstance(rid, str) or rid not in known) and has_content([values]):
                found.loose.append((number, row_cells(header, values)))
                found.formulas.extend((number, "") for v in values if _is_formula(v))
            continue
        was, before = written[rid], previous.get(rid, {})
        typed = staff.get(rid, {})
        mine = dict(typed)
        for i, h in enumerate(header):
            if not h or h == ID:
                continue
            cell = comparable(values[i] if i < len(values) else None)
            if h in known_staff or h in found.added:
                mine[h] = cell
            elif h in was:
                if h in mine:
                    mine[h] = cell
                elif cell != was[h] and cell != before.get(h, was[h]):
                    if restored:
                        found.unsure.setdefault(rid, {})[h] = cell
                    else:
                        mine[h] = cell
            if _is_formula(cell) and h in mine and cell != typed.get(h):
                found.formulas.append((number, rid))
        found.staff[rid] = mine
    return found


def _adopted(number: int, header: Sequence[str], values: Sequence[Any],
             staff_columns: set[str]) -> AdoptedRow:
    row = AdoptedRow(number, row_cells(header, values), {}, {})
    for i, h in enumerate(header):
        if h and h != ID:
            cell = comparable(values[i] if i < len(values) else None)
            (row.staff if h in staff_columns else row.tool)[h] = cell
    return row


def _is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def unique_labels(header: Sequence[str], width: int) -> list[str]:
    """A name for each of `width` columns: its title, "Column F" when it has none, and
    " (2)", " (3)"... for a repeated one."""
    out: list[str] = []
    seen: set[str] = set()
    for i in range(max(width, len(header))):
        label = (header[i] if i < len(header) else "") or f"Column {column_letter(i + 1)}"
        name, n = label, 2
        while name in seen:
            name, n = f"{label} ({n})", n + 1
        seen.add(name)
        out.append(name)
    return out


def row_cells(header: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """{column name (`unique_labels`): value} of a row's filled cells."""
    names = unique_labels(header, len(values))
    return {names[i]: cell for i, v in enumerate(values) if (cell := comparable(v)) is not None}


def title_rows(rows: Sequence[Sequence[Any]], top: int) -> list[list[Any]]:
    """The rows above a header row (staff's titles), as they read back, without trailing blanks."""
    out = []
    for row in rows[:top]:
        cells = [comparable(v) for v in row]
        while cells and cells[-1] is None:
            cells.pop()
        out.append(cells)
    return out


DUPLICATES_HEADER = ("Record A", ("Record B", "Decision", "Program"))


def read_decisions(rows: Sequence[tuple[Any, ...]], top: int = 0) -> list[tuple[str, str, str]]:
    """(record A, record B, decision) for every pair staff decided; `rows[top]` is the header."""
    if len(rows) <= top:
        return []
    header = labels(rows[top])
    try:
        a, b, d = header.index("Record A"), header.index("Record B"), header.index("Decision")
    except ValueError:
        return []
    out = []
    for values in rows[top + 1:]:
        padded = list(values) + [None] * (max(a, b, d) + 1 - len(values))
        decision = str(padded[d] or "").strip().casefold()
        match = next((x for x in DECISIONS if x.casefold() == decision), None)
        if match and isinstance(padded[a], str) and isinstance(padded[b], str):
            out.append((padded[a], padded[b], match))
    return out
