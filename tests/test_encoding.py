"""How a .csv export's bytes become text: the encoding is decided from the whole file, and a
row holding bytes that are not text goes to Needs Review instead of changing every other row."""

from __future__ import annotations

from sync.responses import map_table
from sync.sources import Row, Table
from sync.sources.exports import read_export
from sync.validate import validate
from tests.conftest import PIP_HEADER

BOM = b"\xef\xbb\xbf"
ROWS = [
    "3/1/2020 10:00:00,zoe@example.com,Zoë,Nuñez,1/2/1980,(310) 555-0101,I live in Torrance,",
    "3/1/2020 11:00:00,bob@example.com,Bob,Jones,4/5/1975,310-555-0102,I work in Torrance,Rotary",
    "3/2/2020 09:30:00,jo@example.com,José,Müller,7/8/1990,310 555 0103,I live in Torrance,",
    "3/2/2020 10:30:00,ren@example.com,Renée,Ødegård,7/8/1991,310 555 0104,I live in Torrance,",
]


def _export(rows: list[str], *, bad: tuple[int, bytes, bytes] | None = None,
            bom: bool = False, encoding: str = "utf-8") -> bytes:
    """The PIP export as bytes; `bad` = (index in rows, text to find, bytes to put there)."""
    lines = [PIP_HEADER.encode(encoding)] + [(r + "\n").encode(encoding) for r in rows]
    if bad is not None:
        index, old, new = bad
        assert old in lines[index + 1]
        lines[index + 1] = lines[index + 1].replace(old, new, 1)
    return (BOM if bom else b"") + b"".join(lines)


def test_a_problem_found_while_reading_a_row_sends_that_row_to_needs_review(site):
    """Guards the path from a source to Needs Review: a problem the source found in a row
    (plain data on the Row) is a reason of that row, and of no other."""
    cfg = site.config()
    program = cfg.program("pip")
    table = read_export(program.source.file)
    reason = "'First Name': the answer has bytes that are not valid text (UTF-8)"
    marked = Table(table.source, table.headers,
                   (Row(table.rows[0].number, table.rows[0].values, problems=(reason,)),)
                   + table.rows[1:])
    candidates, problems = validate(map_table(marked, program), program, cfg)
    assert [(p.response.row, p.reasons) for p in problems] == [(2, [reason])]
    assert [c.response.row for c in candidates] == [3, 4]
