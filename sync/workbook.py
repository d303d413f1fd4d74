"""Every .xlsx the toolkit writes or reads back, through openpyxl (the only module that imports it).

Callers describe sheets as plain data (`Sheet`, `Column`); this module makes them feel
hand-made in Excel (frozen header, filter, widths, real dates, text that never turns into a
formula) and saves them safely: a temporary file, then an atomic replace, with the previous
version kept as a backup, and the file readable by its owner only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
import textwrap
import zipfile
from collections.abc import Callable, Iterable, Sequence
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties

from sync.errors import WorkbookError

log = logging.getLogger(__name__)

MAX_TEXT = 32_767
CUT_MARKER = " [... cut: {n} more characters]"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
_BAD_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")
_SHEET_TITLE_BAD = re.compile(r"[\\/?*\[\]:]")

HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
STAFF_FILL = PatternFill("solid", fgColor="7F6000")
HEADER_FONT = Font(bold=True, color="FFFFFF")
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
FILLS = {
    "red": PatternFill("solid", fgColor="FFC7CE"),
    "yellow": PatternFill("solid", fgColor="FFEB9C"),
    "green": PatternFill("solid", fgColor="C6EFCE"),
    "grey": PatternFill("solid", fgColor="E7E6E6"),
}
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TIME_FORMAT = "h:mm AM/PM"
PERCENT_FORMAT = "0%"
TITLE_FONT = Font(bold=True, size=12)
CHART_COLOURS = ("1F4E78", "C55A11", "548235", "7F6000", "7030A0")  # series 1, 2, ...
ROW_CM = 0.53  # a default-height row, for placing charts below one another


class Formula(str):
    """A value that is meant to be an Excel formula (only the toolkit's own, never an answer)."""


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"  # text | date | datetime | time | int | number | percent | checkbox
    width: float | None = None
    staff: bool = False  # staff-owned: a different header colour
    choices: tuple[str, ...] = ()  # a dropdown of these values
    wrap: bool = False


@dataclass(frozen=True)
class PrintSetup:
    landscape: bool = True
    fit_width: bool = True
    repeat_header: bool = True
    header_left: str = ""
    header_center: str = ""
    header_right: str = ""
    footer_center: str = "Page &P of &N"
    gridlines: bool = True
    fit_height: int = 0  # with fit_width: at most this many pages tall (0: as many as needed)


@dataclass(frozen=True)
class Section:
    """A titled table below a sheet's main rows: a bold title line, a header row, the rows."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Chart:
    """A native Excel chart drawn from one of the sheet's tables, as plain data.

    `table` is "" for the sheet's main table or a `Section` title; `categories` and `values`
    are 1-based columns of that table (each value column's header names its series). Charts
    sit to the right of the tables, one below the other, unless `anchor` names a cell.
    """

    kind: str  # bar (vertical bars, clustered) | line
    title: str
    table: str
    values: tuple[int, ...]
    categories: int = 1
    x_title: str = ""
    y_title: str = ""
    anchor: str = ""
    width: float = 16.0  # centimetres
    height: float = 7.5
    number_format: str = ""  # of the category labels, e.g. "mmm d" for dates


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    freeze: str | None = "A2"
    autofilter: bool = True
    print_setup: PrintSetup | None = None
    row_fill: Callable[[Sequence[Any]], str | None] | None = None  # -> a FILLS key
    preamble: Sequence[Sequence[Any]] = field(default_factory=list)  # title lines above the header
    charts: Sequence[Any] = ()  # `Chart`s, or callables (ws) -> None that add native charts
    sections: Sequence[Section] = ()  # more tables below the rows, one blank line apart
    row_height: float | None = None  # points, for every row below the header (e.g. signatures)


def safe_text(value: str) -> str:
    """Text that openpyxl and Excel accept: no illegal characters, at most 32,767 characters."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    value = _BAD_XML.sub("", value)
    if len(value) > MAX_TEXT:
        keep = MAX_TEXT - len(CUT_MARKER.format(n=len(value)))
        marker = CUT_MARKER.format(n=len(value) - keep)
        value = value[:MAX_TEXT - len(marker)] + marker
    return value


def column_letter(index: int) -> str:
    """The letter(s) of the 1-based column `index` ("A", ..., "Z", "AA"), for formulas."""
    return get_column_letter(index)


def sheet_title(title: str) -> str:
    """A legal, at most 31-character sheet title."""
    title = _SHEET_TITLE_BAD.sub("-", safe_text(title)).strip("'") or "Sheet"
    return title[:31]


PLAIN = Column("")
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center")


def _plain(ws, value: Any, column: Column) -> Any:
    """A data cell: the bare value where it needs no styling (most cells; much faster to
    write), else a styled cell. Text that looks like a formula is always a styled text cell."""
    if column.kind == "checkbox" or (value is not None and (column.wrap or column.kind == "percent")):
        return _styled(ws, value, column)
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, Formula):
        value = safe_text(value)
        return _styled(ws, value, column) if value.startswith(FORMULA_PREFIXES) else value
    if isinstance(value, (bool, int, float, dt.date)) and not (
            isinstance(value, dt.datetime) and value.tzinfo is not None):
        return value
    return _cell(ws, value, column)


def _styled(ws, value: Any, column: Column) -> WriteOnlyCell:
    """`_cell` for a data cell, its style worked out once per workbook for each kind of cell
    (openpyxl otherwise looks every style up again, cell by cell)."""
    is_text = isinstance(value, str) and not isinstance(value, Formula)
    key = (column.kind, column.wrap, type(value), is_text and value.startswith(FORMULA_PREFIXES))
    cache = ws.parent.__dict__.setdefault("_styles_by_kind", {})
    style = cache.get(key)
    if style is None:
        cell = _cell(ws, value, column)
        cache[key] = copy(cell._style)
        return cell
    cell = WriteOnlyCell(ws, value=safe_text(value) if is_text else value)
    if is_text:
        cell.data_type = "s"  # never a formula, whatever it starts with
    cell._style = copy(style)
    return cell


def _cell(ws, value: Any, column: Column, header: bool = False) -> WriteOnlyCell:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        raise WorkbookError("internal: time-zone-aware datetime reached the workbook")
    if isinstance(value, str) and not isinstance(value, Formula):
        value = safe_text(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, Formula):
        pass
    elif isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever it starts with
        if value.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True
    elif isinstance(value, dt.datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, dt.time):
        cell.number_format = TIME_FORMAT
    elif column.kind == "percent" and isinstance(value, (int, float)):
        cell.number_format = PERCENT_FORMAT
    if header:
        cell.font = HEADER_FONT
        cell.fill = STAFF_FILL if column.staff else HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    elif column.wrap:
        cell.alignment = WRAP_TOP
    elif column.kind == "checkbox":
        cell.alignment = CENTER
        cell.border = BOX
    return cell


def _width(column: Column, sample: Iterable[Any]) -> float:
    if column.width:
        return column.width
    longest = len(column.header) * 0.9
    for value in sample:
        if isinstance(value, dt.datetime):
            n = 16
        elif isinstance(value, dt.date):
            n = 10
        else:
            n = max((len(line) for line in str(value or "").splitlines()), default=0)
        longest = max(longest, n)
    return max(8.0, min(longest + 2, 50.0))


def _add_sheet(wb: Workbook, sheet: Sheet) -> None:
    ws = wb.create_sheet(sheet_title(sheet.title))
    rows = sheet.rows if isinstance(sheet.rows, list) else list(sheet.rows)
    columns = list(sheet.columns)
    tables = [(columns, rows[:200])] + [(list(s.columns), list(s.rows)[:200]) for s in sheet.sections]
    for i in range(max(len(c) for c, _ in tables)):
        ws.column_dimensions[get_column_letter(i + 1)].width = max(
            _width(c[i], (r[i] for r in sample if i < len(r))) for c, sample in tables if i < len(c))
    wrapped = [(i, ws.column_dimensions[get_column_letter(i + 1)].width)
               for i, c in enumerate(columns) if c.wrap]
    header_row = len(sheet.preamble) + 1
    if sheet.freeze:
        ws.freeze_panes = f"A{header_row + 1}" if sheet.freeze == "A2" else sheet.freeze
    last = get_column_letter(max(1, len(columns)))
    end_row = header_row + max(1, len(rows))
    if sheet.autofilter and columns:
        ws.auto_filter.ref = f"A{header_row}:{last}{end_row}"
    for i, column in enumerate(columns):
        if column.choices:
            dv = DataValidation(
                type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True,
                showErrorMessage=False,
            )
            letter = get_column_letter(i + 1)
            dv.add(f"{letter}{header_row + 1}:{letter}{max(end_row, header_row + 1000)}")
            ws.data_validations.append(dv)
    if sheet.print_setup:
        _print_setup(ws, sheet.print_setup, header_row)
    for line in sheet.preamble:
        ws.append([_cell(ws, v, Column("")) for v in line])
    if len(columns) > 0:
        ws.row_dimensions[header_row].height = 30
    ws.append([_cell(ws, c.header, c, header=True) for c in columns])
    for number, values in enumerate(rows, start=header_row + 1):
        if sheet.row_height:
            ws.row_dimensions[number].height = sheet.row_height
        elif wrapped and (lines := _lines(values, wrapped)) > 1:
            ws.row_dimensions[number].height = 15 * lines  # LibreOffice does not fit it itself
        fill = FILLS.get(sheet.row_fill(values)) if sheet.row_fill else None
        if fill is None:
            ws.append([_plain(ws, value, columns[i] if i < len(columns) else PLAIN)
                       for i, value in enumerate(values)])
            continue
        cells = []
        for i, value in enumerate(values):
            cell = _cell(ws, value, columns[i] if i < len(columns) else PLAIN)
            cell.fill = fill
            cells.append(cell)
        ws.append(cells)
    # {table title: (header row, last row, column count)}, for the charts
    where = {"": (header_row, header_row + len(rows), len(columns))}
    row = header_row + len(rows)
    for section in sheet.sections:
        ws.append([])
        ws.append([_title_cell(ws, section.title)])
        ws.row_dimensions[row + 3].height = 30
        ws.append([_cell(ws, c.header, c, header=True) for c in section.columns])
        for values in section.rows:
            ws.append([_cell(ws, v, section.columns[i] if i < len(section.columns) else Column(""))
                       for i, v in enumerate(values)])
        where[section.title] = (row + 3, row + 3 + len(section.rows), len(section.columns))
        row += 3 + len(section.rows)
    _add_charts(ws, sheet.charts, where)


def _lines(values: Sequence[Any], wrapped: list[tuple[int, float]]) -> int:
    """About how many lines the row's wrapped cells need at their column widths."""
    most = 1
    for i, width in wrapped:
        text = str(values[i]) if i < len(values) and values[i] is not None else ""
        per_line = max(1, int(width))
        most = max(most, sum(len(textwrap.wrap(line, per_line)) or 1 for line in text.splitlines()))
    return min(most, 27)  # 409 points is Excel's tallest row


def _title_cell(ws, text: str) -> WriteOnlyCell:
    cell = _cell(ws, text, Column(""))
    cell.font = TITLE_FONT
    return cell


def _add_charts(ws, charts: Sequence[Any], where: dict[str, tuple[int, int, int]]) -> None:
    """Add each chart (a `Chart`, or a callable for a chart made by hand); charts without an
    anchor go right of the widest table, each below the one before."""
    column = get_column_letter(max(n for _, _, n in where.values()) + 2)
    free = 1  # the first row below the charts placed so far
    for chart in charts:
        if not isinstance(chart, Chart):
            chart(ws)
            continue
        if chart.table not in where:
            raise WorkbookError(f"internal: chart {chart.title!r} names no table {chart.table!r}")
        header, last, _ = where[chart.table]
        if last <= header:
            continue  # no rows: nothing to draw
        anchor = chart.anchor or f"{column}{max(free, header - 1)}"
        if not chart.anchor:
            free = max(free, header - 1) + int(chart.height / ROW_CM) + 2
        ws.add_chart(_native_chart(ws, chart, header, last), anchor)


def _native_chart(ws, chart: Chart, header: int, last: int) -> BarChart | LineChart:
    native: BarChart | LineChart
    if chart.kind == "line":
        native = LineChart()
    elif chart.kind == "bar":
        native = BarChart()
        native.type, native.grouping = "col", "clustered"
    else:
        raise WorkbookError(f"internal: chart {chart.title!r}: unknown kind {chart.kind!r}")
    native.title = chart.title
    native.width, native.height = chart.width, chart.height
    native.legend.position = "b"
    for column in chart.values:
        native.add_data(Reference(ws, min_col=column, min_row=header, max_row=last),
                        titles_from_data=True)
    native.set_categories(Reference(ws, min_col=chart.categories, min_row=header + 1, max_row=last))
    for i, series in enumerate(native.series):
        colour = CHART_COLOURS[i % len(CHART_COLOURS)]
        series.graphicalProperties.line.solidFill = colour
        if chart.kind == "line":
            series.graphicalProperties.line.width = 28575  # 2.25 pt
            series.smooth = False
        else:
            series.graphicalProperties.solidFill = colour
    native.x_axis.delete = native.y_axis.delete = False  # openpyxl 3.1 hides axes otherwise
    if chart.x_title:
        native.x_axis.title = chart.x_title
    if chart.y_title:
        native.y_axis.title = chart.y_title
    if chart.number_format:
        native.x_axis.number_format = chart.number_format
    return native


def _print_setup(ws, setup: PrintSetup, header_row: int) -> None:
    ws.page_setup.orientation = "landscape" if setup.landscape else "portrait"
    ws.page_setup.paperSize = 1  # Letter (write-only sheets lack the PAPERSIZE_* names)
    if setup.fit_width:
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = setup.fit_height
    if setup.repeat_header:
        ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_options.gridLines = setup.gridlines
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.75
    ws.page_margins.header = ws.page_margins.footer = 0.3
    for part, text in (
        (ws.oddHeader.left, setup.header_left),
        (ws.oddHeader.center, setup.header_center),
        (ws.oddHeader.right, setup.header_right),
        (ws.oddFooter.center, setup.footer_center),
    ):
        if text:
            part.text = text if text == setup.footer_center else text.replace("&", "&&")
            part.size = 10


def write_workbook(path: Path, sheets: Sequence[Sheet], backups: int = 0,
                   before_replace: Callable[[Path], None] | None = None) -> None:
    """Write `sheets` to `path` atomically (owner-only), keeping `backups` older versions.

    `before_replace(tmp)` runs once the new file is complete and before it replaces the old
    one (the sync records the new file's digest there); if it raises, nothing is replaced.
    """
    path = Path(path)
    _refuse_if_open(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    for sheet in sheets:
        _add_sheet(wb, sheet)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        os.chmod(tmp, 0o600)
        wb.save(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace(tmp)
        if backups and path.exists():
            _backup(path, backups)
        try:
            os.replace(tmp, path)
        except PermissionError:
            raise WorkbookError(
                f"{path}: cannot replace the workbook: it is open in another program or read-only; "
                "close it and run again (the previous version is unchanged)"
            ) from None
    except OSError as err:
        raise WorkbookError(
            f"{path}: cannot write the workbook ({err.strerror or err}); the previous version is unchanged"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _refuse_if_open(path: Path) -> None:
    for lock in (path.parent / f"~${path.name}", path.parent / f".~lock.{path.name}#"):
        if lock.exists():
            raise WorkbookError(
                f"{path}: the workbook is open in another program ({lock.name} exists); "
                "close it and run again (the previous version is unchanged)"
            )


def _backup(path: Path, keep: int) -> None:
    folder = path.parent / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{path.stem}-{stamp}{path.suffix}"
    shutil.copy2(path, target)
    os.chmod(target, 0o600)
    old = sorted(folder.glob(f"{path.stem}-*{path.suffix}"))
    for stale in old[:-keep]:
        stale.unlink(missing_ok=True)


def read_sheets(path: Path, titles: Iterable[str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Values of the named sheets (all when None) as lists of row tuples, header first."""
    path = Path(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise WorkbookError(f"{path}: workbook not found") from None
    except PermissionError:
        raise WorkbookError(f"{path}: cannot open the workbook: permission denied") from None
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as err:
        raise WorkbookError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})") from None
    try:
        wanted = set(titles) if titles is not None else None
        out = {}
        for ws in wb.worksheets:
            if wanted is None or ws.title in wanted:
                out[ws.title] = [tuple(r) for r in ws.iter_rows(values_only=True)]
        return out
    finally:
        wb.close()
