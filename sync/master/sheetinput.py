"""What staff left in the master's sheets, read from their cells: a program sheet's staff
columns and the tool cells staff corrected, its rows without a record, title rows above a
header, and the duplicate decisions.

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

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.config.programs import Program
from sync.master import layout
from sync.master.layout import comparable
from sync.xlsx.reading import has_content, labels
from sync.xlsx.sheet import column_letter


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
        refs = str(self.tool.get(layout.SOURCES) or "").rpartition(": ")[2]  # "Missing from source: ..."
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
    id_col = header.index(layout.ID)
    known_staff = {c.header for c in layout.staff_columns(program)}
    found = SheetInput({}, _added(header, program, known_staff, written), [], [])
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
        _record_row(found, number, rid, header, values, known_staff | set(found.added),
                    (written[rid], previous.get(rid, {}), staff.get(rid, {})), restored)
    return found


def _added(header: Sequence[str], program: Program, known_staff: set[str],
           written: dict[str, dict[str, Any]]) -> list[str]:
    """The columns staff added: neither the tool's (as last written, or computed by the
    program's classes) nor a staff column of ours."""
    some_written = next(iter(written.values()), {})
    computed = program.classes.computed if program.classes else frozenset()
    added: list[str] = []
    for h in header:
        if h and h not in known_staff and h not in some_written and h not in added \
                and h not in computed:
            added.append(h)
    return added


def _record_row(found: SheetInput, number: int, rid: str, header: Sequence[str],
                values: Sequence[Any], staff_owned: set[str],
                before: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
                restored: bool) -> None:
    """Read the row of record `rid` into `found`: its staff columns, and each tool cell that
    differs from both writes `before` (last, the one before it, staff's values stored)."""
    was, prev, typed = before
    mine = dict(typed)
    for i, h in enumerate(header):
        if not h or h == layout.ID:
            continue
        cell = comparable(values[i] if i < len(values) else None)
        if h in staff_owned:
            mine[h] = cell
        elif h in was:
            if h in mine:
                mine[h] = cell
            elif cell != was[h] and cell != prev.get(h, was[h]):
                if restored:
                    found.unsure.setdefault(rid, {})[h] = cell
                else:
                    mine[h] = cell
        if _is_formula(cell) and h in mine and cell != typed.get(h):
            found.formulas.append((number, rid))
    found.staff[rid] = mine


def _adopted(number: int, header: Sequence[str], values: Sequence[Any],
             staff_columns: set[str]) -> AdoptedRow:
    row = AdoptedRow(number, row_cells(header, values), {}, {})
    for i, h in enumerate(header):
        if h and h != layout.ID:
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

