"""Read .xlsx workbooks back (the master staff edited, roster and route sheets), through
openpyxl in read-only mode."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from sync.errors import WorkbookError


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
