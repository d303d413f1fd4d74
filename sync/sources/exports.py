"""Read Google Forms' downloaded exports: .csv (UTF-8, with or without BOM) and .xlsx."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from pathlib import Path

from sync.errors import SourceError
from sync.sources import Row, Table, Value, unique_headers

log = logging.getLogger(__name__)

csv.field_size_limit(10_000_000)  # a long answer must not stop the run


def read_export(path: Path) -> Table:
    """The export at `path` as a Table; a missing or unreadable file is a SourceError."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise SourceError(f"{path}: export file not found")
    if suffix == ".csv":
        table = _read_csv(path)
    elif suffix == ".xlsx":
        table = _read_xlsx(path)
    else:
        raise SourceError(f"{path}: not a .csv or .xlsx export")
    log.debug("%s: %d rows, %d columns", path.name, len(table.rows), len(table.headers))
    return table


def _read_csv(path: Path) -> Table:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SourceError(f"{path}: cannot read: {err.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # Excel on Windows saves CSV as cp1252; take it rather than stop the run.
        log.warning("%s: not UTF-8 (byte %d); reading it as Windows-1252", path.name, err.start)
        text = raw.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as err:
        raise SourceError(f"{path}:{reader.line_num}: not a valid CSV file: {err}") from None
    return _table(path.name, records)


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook  # the only openpyxl use in sources

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        raise SourceError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})") from None
    try:
        ws = wb.worksheets[0]
        records = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return _table(path.name, records)


def _table(name: str, records: list[list[Value]]) -> Table:
    # Records are already in row order; row 1 is the header.
    while records and _blank(records[-1]):
        records.pop()
    if not records:
        return Table(name, (), ())
    width = max(len(_trim(r)) for r in records)
    titles = _trim(records[0])
    # A cell beyond the last titled column still gets a column ("Column N"): nothing is lost.
    headers = unique_headers(titles + [None] * (width - len(titles)))
    rows = tuple(
        Row(number, tuple(_trim(values)))
        for number, values in enumerate(records[1:], start=2)
        if not _blank(values)
    )
    return Table(name, headers, rows)


def _blank(values: list[Value]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _trim(values: list[Value]) -> list[Value]:
    out = list(values)
    while out and (out[-1] is None or out[-1] == ""):
        out.pop()
    return out
