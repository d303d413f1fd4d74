"""Read Google Forms' downloaded exports: .csv (UTF-8, with or without BOM) and .xlsx.

A .csv file's encoding is decided from the whole file, never from its first bad byte. Forms
writes UTF-8; Excel on Windows saves "CSV" as Windows-1252 ("Zoë" with ë as the one byte 0xEB).
A file with a UTF-8 byte-order mark is UTF-8 (the mark is removed). Otherwise a file that is
not valid UTF-8 is still UTF-8 when it has at least as many valid multi-byte UTF-8 characters
as bad byte sequences: a few rows with bad bytes (a line pasted in from another program, a
character cut short) must not turn every "Zoë" in the file into "ZoÃ«". A file with fewer is
Windows-1252, as Excel wrote it; a cp1252 file almost never holds a valid UTF-8 sequence
(an accented capital followed by a symbol such as "É’"), while its accents are each a bad one.
Counting is used, not a detector such as charset-normalizer: a detector names one encoding a
whole file decodes in without error, so it cannot say "UTF-8 but for these bytes", which is
exactly the case to find, and it may pick neither of the two encodings exports come in.

Bytes that are not text in the chosen encoding are kept through the CSV parser as lone
surrogates (Python's "surrogateescape"), so the reader knows which answer held them. Each such
answer is kept with the bytes shown as "\ufffd", and its row carries a problem naming the
question (`Row.problems`), which sends that row, and no other, to Needs Review.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
import zipfile
import zlib
from pathlib import Path

from sync.errors import SourceError
from sync.sources import Row, Table, Value, unique_headers

log = logging.getLogger(__name__)

csv.field_size_limit(10_000_000)  # a long answer must not stop the run

_BOM = b"\xef\xbb\xbf"
_CODECS = {"UTF-8": "utf-8", "Windows-1252": "cp1252"}  # the encodings exports come in
_NOT_TEXT = re.compile("[\udc80-\udcff]+")  # bytes "surrogateescape" kept: not text
_MULTIBYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")  # a valid character beyond ASCII
_LOGGED_ROWS = 10  # rows with bad bytes logged one by one; Needs Review lists them all


def read_export(path: Path, setting: str = "") -> Table:
    """The export at `path` as a Table; a missing or unreadable file is a SourceError, which
    names the configuration `setting` that names the file (like "programs.pip.source.file
    in config/programs.toml")."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise SourceError(f"{path}: export file not found" + (
            f" ({setting}): put the form's responses there, or correct the path"
            if setting else ""))
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
    text, encoding, whole = decode(raw)
    if encoding != "UTF-8":
        log.warning("%s: not UTF-8; reading it as %s", path.name, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as err:
        raise SourceError(f"{path}:{reader.line_num}: not a valid CSV file: {err}") from None
    table = _table(path.name, records)
    return table if whole else _marked(table, encoding)


def decode(raw: bytes) -> tuple[str, str, bool]:
    """The text of a .csv file (an export, or any CSV staff save from Excel), its encoding
    ("UTF-8" or "Windows-1252"), decided from the whole file, and whether every byte was text
    in it; bytes that were not are kept as lone surrogates."""
    body = raw[len(_BOM):] if raw.startswith(_BOM) else raw
    try:
        return body.decode("utf-8"), "UTF-8", True
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "surrogateescape")
    bad = sum(1 for _ in _NOT_TEXT.finditer(text))
    if body is not raw or len(_MULTIBYTE.findall(text)) >= bad:
        return text, "UTF-8", False
    try:
        return raw.decode("cp1252"), "Windows-1252", True
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        return raw.decode("cp1252", "surrogateescape"), "Windows-1252", False


def _marked(table: Table, encoding: str) -> Table:
    """`table` with each answer's bytes that are not text shown as "\ufffd", and a problem on
    each row that had any, naming the question; logged by file, row and question only."""
    codec = _CODECS[encoding]

    def shown(run: re.Match[str]) -> str:  # "\ufffd" for each bad sequence, as "replace" does
        return run[0].encode(codec, "surrogateescape").decode(codec, "replace")

    def text(value: str) -> str:
        return _NOT_TEXT.sub(shown, value)

    def spoilt(value: object) -> bool:
        return isinstance(value, str) and _NOT_TEXT.search(value) is not None

    headers = table.headers
    if any(spoilt(h) for h in headers):
        for column, title in enumerate(headers, start=1):
            if spoilt(title):
                log.warning("%s: the title of column %d has bytes that are not valid text (%s)",
                            table.source, column, encoding)
        headers = unique_headers(text(h) if spoilt(h) else h for h in headers)  # still unique
    rows = []
    marked = 0
    for row in table.rows:
        columns = [i for i, v in enumerate(row.values) if spoilt(v)]
        if columns:
            values = tuple(text(v) if isinstance(v, str) and i in columns else v
                           for i, v in enumerate(row.values))
            problems = tuple(f"{headers[i]!r}: the answer has bytes that are not valid text "
                             f"({encoding}), shown as \ufffd; check it in the form's responses"
                             for i in columns)
            row = dataclasses.replace(row, values=values, problems=row.problems + problems)
            marked += 1
            if marked <= _LOGGED_ROWS:
                log.warning("%s: row %d: the answer to %s has bytes that are not valid text (%s); "
                            "the row goes to Needs Review", table.source, row.number,
                            ", ".join(repr(headers[i]) for i in columns), encoding)
        rows.append(row)
    if marked > _LOGGED_ROWS:
        log.warning("%s: %d more rows have bytes that are not valid text (%s); see Needs Review",
                    table.source, marked - _LOGGED_ROWS, encoding)
    return dataclasses.replace(table, headers=headers, rows=tuple(rows))


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook  # the only openpyxl use in sources

    # a damaged file: not a zip, a part missing or cut short, or XML that does not parse
    # (read-only mode parses a sheet only while its rows are read)
    damaged = (OSError, EOFError, zlib.error, zipfile.BadZipFile, KeyError, ValueError,
               IndexError, SyntaxError)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except damaged as err:
        raise SourceError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})") from None
    try:
        ws = wb.worksheets[0]
        records = [list(r) for r in ws.iter_rows(values_only=True)]
    except damaged as err:
        raise SourceError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})") from None
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
