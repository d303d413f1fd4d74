"""The sheet model: what a workbook holds, described as plain data.

Callers build `Sheet`s of `Column`s and rows; `sync.xlsx.writer` turns them into cells that
feel hand-made in Excel, `sync.xlsx.saving` saves them safely. `Formula(str)` is the only way
to make a formula: every other string is text, whatever it starts with (`safe_text`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 32_767
CUT_MARKER = " [... cut: {n} more characters]"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
_SHEET_TITLE_BAD = re.compile(r"[\\/?*\[\]:]")

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")  # XML 1.0 cannot hold them


class Formula(str):
    """A value that is meant to be an Excel formula (only the toolkit's own, never an answer).

    `value` is what it computes to as written: the workbook stores it as the formula's
    cached result, which LibreOffice, file previews, Excel's Protected View and readers
    such as openpyxl (`data_only=True`) show without calculating (XlsxWriter would store 0).
    """

    value: str | int | float | bool

    def __new__(cls, text: str, value: str | int | float | bool) -> Formula:
        made = super().__new__(cls, text)
        made.value = value
        return made

    def __getnewargs__(self) -> tuple[str, str | int | float | bool]:  # pickled to a helper process
        return (str(self), self.value)


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
    pages_wide: int = 1  # with fit_width: the columns spread over this many pages side by side
    repeat_columns: int = 0  # this many first columns repeat on every page (e.g. Record ID)
    print_columns: int = 0  # print only this many first columns (0: every column)
    across_first: bool = False  # page order: left to right, then down (a wide table's rows together)


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


@dataclass(frozen=True)
class Link:
    """A hyperlink cell: `text` shown, `url` opened. Only the toolkit's own links (never an
    answer's text as a URL)."""

    url: str
    text: str


@dataclass(frozen=True)
class Picture:
    """A PNG image over a cell, its top-left corner `down` points below the cell's top."""

    png: bytes
    scale: float  # of the PNG's pixels (96 to the inch)
    url: str = ""  # opened by a click on it
    down: float = 0.0


@dataclass(frozen=True)
class Block:
    """Rows below a sheet's tables, one blank line apart: a bold title line (if any), then rows of
    text and `Link`s, each `heights` points tall when given, and `Picture`s over cells of
    those rows ((row, column, picture), 0-based in `rows`)."""

    title: str
    rows: Sequence[Sequence[Any]]
    heights: Sequence[float | None] = ()
    pictures: Sequence[tuple[int, int, Picture]] = ()


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
    charts: Sequence[Chart] = ()  # native charts drawn from the sheet's tables
    sections: Sequence[Section] = ()  # more tables below the rows, one blank line apart
    row_height: float | None = None  # points, for every row below the header (e.g. signatures)
    block: Block | None = None  # rows below everything else (e.g. directions to print)


def safe_text(value: str) -> str:
    """Text that Excel accepts: no illegal characters, at most 32,767 characters."""
    if not value.isprintable():  # printable text (most cells) holds none of _ILLEGAL
        value = _ILLEGAL.sub("", value)
    if len(value) > MAX_TEXT:
        keep = MAX_TEXT - len(CUT_MARKER.format(n=len(value)))
        marker = CUT_MARKER.format(n=len(value) - keep)
        value = value[:MAX_TEXT - len(marker)] + marker
    return value


def column_letter(index: int) -> str:
    """The letter(s) of the 1-based column `index` ("A", ..., "Z", "AA"), for formulas."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def sheet_title(title: str) -> str:
    """A legal, at most 31-character sheet title."""
    title = _SHEET_TITLE_BAD.sub("-", safe_text(title)).strip("'") or "Sheet"
    return title[:31]


PLAIN = Column("")
