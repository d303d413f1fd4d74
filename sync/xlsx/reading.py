"""Read .xlsx workbooks back (the master staff edited, roster and route sheets), through
openpyxl in read-only mode.

Staff insert title rows above a sheet's header, so a header row is found by its titles
(`find_header`, in the first `HEADER_SCAN` rows), never assumed to be row 1; a sheet whose
header cannot be found is a `LayoutError` naming the workbook and the sheet
(`header_not_found`), never a reason to read nothing.

Formula cells read as their cached value by default. The master is read with
`formulas_as_text`: a formula staff typed (in Notes, say) reads as its text ("=A1+B1"),
which the toolkit keeps and writes back as text; a workbook openpyxl saved has no cached
values, so the default would read such a cell as empty and lose it.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.formula import ArrayFormula

from sync.errors import LayoutError, WorkbookError

HEADER_SCAN = 20  # rows searched for a sheet's header row


def read_sheets(path: Path, titles: Iterable[str] | None = None, formulas_as_text: bool = False,
                ) -> dict[str, list[tuple[Any, ...]]]:
    """Values of the named sheets (all when None) as lists of row tuples, row 1 first; with
    `formulas_as_text`, a formula cell gives its text ("=A1+B1") instead of its cached value."""
    path = Path(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=not formulas_as_text)
    except FileNotFoundError:
        raise WorkbookError(f"{path}: workbook not found") from None
    except PermissionError:
        raise WorkbookError(f"{path}: cannot open the workbook: permission denied") from None
    except _DAMAGED as err:
        raise _unreadable(path, err) from None
    try:
        wanted = set(titles) if titles is not None else None
        out = {}
        for ws in wb.worksheets:
            if wanted is None or ws.title in wanted:
                if formulas_as_text:
                    out[ws.title] = [_formula_texts(r) for r in ws.iter_rows(values_only=True)]
                else:
                    out[ws.title] = [tuple(r) for r in ws.iter_rows(values_only=True)]
        return out
    except _DAMAGED as err:  # read-only mode reads each sheet's XML only now
        raise _unreadable(path, err) from None
    finally:
        wb.close()


# A damaged workbook: not a zip, a part missing or cut short (zlib, EOF), or XML that does
# not parse (ElementTree's ParseError and lxml's XMLSyntaxError are SyntaxErrors).
_DAMAGED = (OSError, EOFError, zlib.error, zipfile.BadZipFile, InvalidFileException, KeyError,
            ValueError, SyntaxError)


def _unreadable(path: Path, err: BaseException) -> WorkbookError:
    if isinstance(err, PermissionError):
        return WorkbookError(f"{path}: cannot open the workbook: permission denied")
    return WorkbookError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})")


def _formula_texts(row: Iterable[Any]) -> tuple[Any, ...]:
    """An array formula's text, as a plain formula's reads ("=SUM(A1:A3)")."""
    return tuple(v.text if isinstance(v, ArrayFormula) else v for v in row)


def labels(row: Sequence[Any]) -> list[str]:
    """A header row's cells as stripped text ("" for an empty cell)."""
    return [str(v).strip() if v is not None else "" for v in row]


def find_header(rows: Sequence[Sequence[Any]], anchor: str, others: Collection[str] = ()) -> int | None:
    """Index in `rows` of the header row: the first of the first `HEADER_SCAN` rows holding
    `anchor` and, when `others` are given, at least one of them, each as a whole cell."""
    for i, row in enumerate(rows[:HEADER_SCAN]):
        texts = set(labels(row))
        if anchor in texts and (not others or not texts.isdisjoint(others)):
            return i
    return None


def has_content(rows: Iterable[Sequence[Any]]) -> bool:
    """True when any cell holds something other than blanks."""
    return any(v is not None and str(v).strip() for row in rows for v in row)


def header_not_found(path: Path, title: str, anchor: str, fix: str) -> LayoutError:
    """The error for a sheet whose header row cannot be found; `fix` says how to put it back."""
    return LayoutError(f"{path}: sheet {title!r}: no header row with {anchor!r} in its first "
                       f"{HEADER_SCAN} rows, so what was typed into it cannot be read back; {fix}")
