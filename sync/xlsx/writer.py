"""Every .xlsx the toolkit writes, through XlsxWriter (the only module that imports it).

A `Book` turns the sheets of `sync.xlsx.sheet` into cells that feel hand-made in Excel
(frozen header, filter, widths, real dates, text that never turns into a formula).
XlsxWriter streams rows to disk (constant memory) and writes a 50,000-row master in about
two thirds of openpyxl's time. Saving safely is `sync.xlsx.saving`; reading workbooks back
is `sync.xlsx.reading` (openpyxl).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter

from sync.errors import WorkbookError
from sync.xlsx import charts
from sync.xlsx.sheet import (
    FORMULA_PREFIXES,
    PLAIN,
    Block,
    Column,
    Formula,
    Link,
    PrintSetup,
    Section,
    Sheet,
    column_letter,
    safe_text,
    sheet_title,
)

GREY_LINE = "#808080"
HEADER = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E78", "text_wrap": True,
          "valign": "vcenter"}
STAFF_HEADER = {**HEADER, "bg_color": "#7F6000"}
FILLS = {"red": "#FFC7CE", "yellow": "#FFEB9C", "green": "#C6EFCE", "grey": "#E7E6E6"}
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TIME_FORMAT = "h:mm AM/PM"
PERCENT_FORMAT = "0%"
TITLE = {"bold": True, "font_size": 12}



class _Formats:
    """XlsxWriter formats, made once per workbook for each combination of properties."""

    def __init__(self, wb: xlsxwriter.Workbook):
        self.wb = wb
        self.made: dict[tuple[tuple[str, Any], ...], Any] = {}
        # (value's kind, column, fill) -> format: most cells repeat a few combinations
        self.cells: dict[tuple[str, Column, str | None], Any] = {}

    def get(self, **props: Any) -> Any:
        key = tuple(sorted(props.items()))
        fmt = self.made.get(key)
        if fmt is None:
            fmt = self.made[key] = self.wb.add_format(dict(props))
        return fmt

    def cell(self, value: Any, column: Column, fill: str | None = None) -> Any:
        """The format of a data cell, or None when it needs none."""
        if isinstance(value, str) and not isinstance(value, Formula) and value.startswith(FORMULA_PREFIXES):
            kind = "quoted"
        elif isinstance(value, dt.datetime):
            kind = "datetime"
        elif isinstance(value, dt.date):
            kind = "date"
        elif isinstance(value, dt.time):
            kind = "time"
        elif column.kind == "percent" and isinstance(value, (int, float)):
            kind = "percent"
        else:
            kind = ""
        key = (kind, column, fill)
        if key not in self.cells:
            self.cells[key] = self._cell(kind, column, fill)
        return self.cells[key]

    def _cell(self, kind: str, column: Column, fill: str | None) -> Any:
        props: dict[str, Any] = {}
        if kind == "quoted":
            props["quote_prefix"] = True
        elif kind:
            props["num_format"] = {"datetime": DATETIME_FORMAT, "date": DATE_FORMAT,
                                   "time": TIME_FORMAT, "percent": PERCENT_FORMAT}[kind]
        if column.wrap:
            props.update(text_wrap=True, valign="top")
        elif column.kind == "checkbox":
            props.update(align="center", border=1, border_color=GREY_LINE)
        if fill:
            props["bg_color"] = FILLS[fill]
        return self.get(**props) if props else None


_PLAIN_KINDS = {"text", "date", "datetime", "time", "int", "number"}


def _write(ws, formats: _Formats, row: int, col: int, value: Any, column: Column,
           fill: str | None = None, fmt: Any = None) -> None:
    """One cell at 0-based (row, col): text always as text, never as a formula."""
    kind = type(value)
    if fmt is None and fill is None and not column.wrap and column.kind in _PLAIN_KINDS:
        # the common cells, without working out a format (a 50,000-row master has millions)
        if value is None:
            return
        if kind is str:
            value = safe_text(value)
            if not value.startswith(FORMULA_PREFIXES):
                if value:
                    ws.write_string(row, col, value)
                return
        elif kind is int or (kind is float and math.isfinite(value)):
            ws.write_number(row, col, value)
            return
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        raise WorkbookError("internal: time-zone-aware datetime reached the workbook")
    if isinstance(value, str) and not isinstance(value, Formula):
        value = safe_text(value)
    if fmt is None:
        fmt = formats.cell(value, column, fill)
    if value is None or value == "":
        if fmt is not None:
            ws.write_blank(row, col, None, fmt)
    elif isinstance(value, Formula):
        ws.write_formula(row, col, str(value), fmt, value.value)
    elif isinstance(value, str):
        ws.write_string(row, col, value, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            ws.write_string(row, col, str(value), fmt)
        else:
            ws.write_number(row, col, value, fmt)
    elif isinstance(value, (dt.date, dt.time)):
        ws.write_datetime(row, col, value, fmt)
    else:
        ws.write_string(row, col, safe_text(str(value)), fmt)


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


def _add_sheet(wb: xlsxwriter.Workbook, formats: _Formats, sheet: Sheet, ws: Any = None) -> None:
    """Write `sheet` into `ws` (default: a new worksheet). Its rows may be any iterable: they
    are written as they come, after the first 200 have set the column widths."""
    if ws is None:
        ws = wb.add_worksheet(sheet_title(sheet.title))
    incoming = iter(sheet.rows)
    head = list(itertools.islice(incoming, 200))
    columns = list(sheet.columns)
    tables = [(columns, head)] + [(list(s.columns), list(s.rows)[:200]) for s in sheet.sections]
    widths = {}
    for i in range(max(len(c) for c, _ in tables)):
        widths[i] = max(_width(c[i], (r[i] for r in sample if i < len(r)))
                        for c, sample in tables if i < len(c))
        ws.set_column(i, i, widths[i])
    wrapped = [(i, widths[i]) for i, c in enumerate(columns) if c.wrap]
    header_row = len(sheet.preamble) + 1  # 1-based, as Excel shows it
    if sheet.freeze:
        if sheet.freeze == "A2":
            ws.freeze_panes(header_row, 0)
        else:
            ws.freeze_panes(sheet.freeze)
    if sheet.print_setup:
        _print_setup(ws, sheet.print_setup, header_row)
    r = 0
    for line in sheet.preamble:
        for c, value in enumerate(line):
            _write(ws, formats, r, c, value, PLAIN)
        r += 1
    _header(ws, formats, r, columns)
    r += 1
    for values in itertools.chain(head, incoming):
        if sheet.row_height:
            ws.set_row(r, sheet.row_height)
        elif wrapped and (lines := _lines(values, wrapped)) > 1:
            ws.set_row(r, 15 * lines)  # LibreOffice does not fit it itself
        fill = sheet.row_fill(values) if sheet.row_fill else None
        fill = fill if fill in FILLS else None
        kinds = columns if len(values) <= len(columns) else \
            columns + [PLAIN] * (len(values) - len(columns))
        for c, value in enumerate(values):
            _write(ws, formats, r, c, value, kinds[c], fill)
        r += 1
    count = r - header_row
    if sheet.print_setup and sheet.print_setup.print_columns:  # (openpyxl warns on "A:D")
        ws.print_area(0, 0, max(r - 1, header_row), sheet.print_setup.print_columns - 1)
    # the filter and dropdowns span the rows, so they come once the rows are counted
    last = column_letter(max(1, len(columns)))
    end_row = header_row + max(1, count)
    if sheet.autofilter and columns:
        ws.autofilter(f"A{header_row}:{last}{end_row}")
    for i, column in enumerate(columns):
        if column.choices:
            ws.data_validation(header_row, i, max(end_row, header_row + 1000) - 1, i, {
                "validate": "list", "source": list(column.choices), "show_error": False})
    # {table title: (header row, last row, column count)}, 1-based rows, for the charts
    where = {"": (header_row, header_row + count, len(columns))}
    r = _sections(ws, formats, sheet.sections, r, where)
    if sheet.block:
        _add_block(ws, formats, r + 1, sheet.block)
    charts.add(wb, ws, sheet_title(sheet.title), sheet.charts, where)


def _sections(ws, formats: _Formats, sections: Sequence[Section], r: int,
              where: dict[str, tuple[int, int, int]]) -> int:
    """Write each section below row `r` (0-based), noting in `where` where each table is (as
    `_add_sheet`'s); returns the row below the last."""
    for section in sections:
        r += 1
        _write(ws, formats, r, 0, section.title, PLAIN, fmt=formats.get(**TITLE))
        r += 1
        _header(ws, formats, r, list(section.columns))
        r += 1
        top = r
        for values in section.rows:
            for c, value in enumerate(values):
                _write(ws, formats, r, c, value,
                       section.columns[c] if c < len(section.columns) else PLAIN)
            r += 1
        where[section.title] = (top, top + len(section.rows), len(section.columns))
    return r


def _add_block(ws, formats: _Formats, r: int, block: Block) -> None:
    """`block` from 0-based row `r` on: its title, then its rows (text, links), pictures."""
    if block.title:
        _write(ws, formats, r, 0, block.title, PLAIN, fmt=formats.get(**TITLE))
    top = r + 1 if block.title else r
    for n, values in enumerate(block.rows):
        if n < len(block.heights) and block.heights[n]:
            ws.set_row(top + n, block.heights[n])
        for c, value in enumerate(values):
            if isinstance(value, Link):
                ws.write_url(top + n, c, value.url, formats.get(
                    valign="top", underline=1, font_color="#0563C1"), string=safe_text(value.text))
            else:
                _write(ws, formats, top + n, c, value, PLAIN,
                       fmt=formats.get(valign="top", text_wrap=True))
    for n, c, picture in block.pictures:
        options: dict[str, Any] = {
            "image_data": io.BytesIO(picture.png), "x_scale": picture.scale,
            "y_scale": picture.scale, "y_offset": round(picture.down * 4 / 3),
            "object_position": 2}  # moves with its cell, keeps its size
        if picture.url:
            options["url"] = picture.url
        ws.insert_image(top + n, c, "code.png", options)


def _header(ws, formats: _Formats, row: int, columns: Sequence[Column]) -> None:
    if not columns:
        return
    ws.set_row(row, 30)
    for c, column in enumerate(columns):
        fmt = formats.get(**(STAFF_HEADER if column.staff else HEADER))
        ws.write_string(row, c, safe_text(column.header), fmt)


def _lines(values: Sequence[Any], wrapped: list[tuple[int, float]]) -> int:
    """About how many lines the row's wrapped cells need at their column widths."""
    most = 1
    for i, width in wrapped:
        text = str(values[i]) if i < len(values) and values[i] is not None else ""
        per_line = max(1, int(width))
        if len(text) <= per_line and "\n" not in text:
            continue
        most = max(most, sum(len(textwrap.wrap(line, per_line)) or 1 for line in text.splitlines()))
    return min(most, 27)  # 409 points is Excel's tallest row


def _print_setup(ws, setup: PrintSetup, header_row: int) -> None:
    if setup.landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(1)  # Letter
    if setup.fit_width:
        ws.fit_to_pages(setup.pages_wide, setup.fit_height)
    if setup.repeat_header:
        ws.repeat_rows(header_row - 1)
    if setup.repeat_columns:
        ws.repeat_columns(0, setup.repeat_columns - 1)
    if setup.across_first:
        ws.print_across()
    if setup.gridlines:
        ws.hide_gridlines(0)  # printed as well as on screen
    ws.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.75)
    header = "".join(f"&{pos}{text.replace('&', '&&')}" for pos, text in (
        ("L", setup.header_left), ("C", setup.header_center), ("R", setup.header_right)) if text)
    if header:
        ws.set_header(header, margin=0.3)
    if setup.footer_center:
        ws.set_footer(f"&C{setup.footer_center}", margin=0.3)


class Book:
    """A workbook being written: `reserve` a sheet's place early, `add` sheets as they are
    ready (rows may still be coming), then `saving` closes and saves it."""

    helper_peak_kb = 0  # memory of a helper process, if any (see sync.xlsx.background)
    unchanged = False  # set by `saving(if_changed=True)` when the file held this already

    def __init__(self, tmp: Path, path: Path):
        self.tmp, self.path = tmp, path
        self.wb = xlsxwriter.Workbook(str(tmp), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
            "strings_to_urls": False, "tmpdir": str(tmp.parent)})
        self.formats = _Formats(self.wb)
        self.reserved: dict[str, Any] = {}

    def reserve(self, title: str) -> None:
        """Put sheet `title` here in the sheet order; `add` fills it later."""
        self.reserved[sheet_title(title)] = self.wb.add_worksheet(sheet_title(title))

    def add(self, sheet: Sheet) -> None:
        try:
            _add_sheet(self.wb, self.formats, sheet, self.reserved.pop(sheet_title(sheet.title), None))
        except OSError as err:
            raise cannot_write(self.path, err) from None

    def close(self) -> None:
        try:
            self.wb.close()
        except xlsxwriter.exceptions.XlsxWriterException as err:
            raise WorkbookError(f"{self.path}: cannot write the workbook ({err})") from None

    def abort(self) -> None:
        """Give up (nothing to do in this process: the temporary file is removed by `saving`)."""


def cannot_write(path: Path, err: OSError) -> WorkbookError:
    held = isinstance(err, PermissionError) and err.filename and Path(err.filename) != path
    where = f"{err.filename}: " if held else ""  # the file actually held: a backup, say
    return WorkbookError(f"{path}: cannot write the workbook ({where}{err.strerror or err}); "
                         "the previous version is unchanged")
