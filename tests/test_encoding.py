"""How a .csv export's bytes become text: the encoding is decided from the whole file, and a
row holding bytes that are not text goes to Needs Review instead of changing every other row."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from sync.errors import SourceError
from sync.ingest.validate import validate
from sync.master import syncer
from sync.sources import Row, Table
from sync.sources.exports import read_export
from sync.sources.responses import map_table
from tests.conftest import PIP_HEADER
from tests.helpers import cells, rows_by_id

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


def test_one_bad_byte_does_not_turn_a_utf8_export_into_windows_1252(tmp_path: Path, caplog):
    """Regression: one invalid byte in one row made the whole file Windows-1252, so every
    accented name in it was garbled ("ZoÃ«"), with only a warning to show for it."""
    clean, broken = tmp_path / "clean.csv", tmp_path / "broken.csv"
    clean.write_bytes(_export(ROWS))
    broken.write_bytes(_export(ROWS, bad=(1, b"Bob", b"Bo\xff")))
    with caplog.at_level(logging.DEBUG):
        table = read_export(broken)
    expected = read_export(clean)
    assert table.headers == expected.headers
    assert table.answers(table.rows[0])["First Name"] == "Zoë"
    assert table.answers(table.rows[0])["Last Name"] == "Nuñez"
    bad = table.rows[1]
    assert table.answers(bad)["First Name"] == "Bo\ufffd"  # kept, the bad byte shown as �
    assert bad.number == 3
    assert bad.problems == ("'First Name': the answer has bytes that are not valid text "
                            "(UTF-8), shown as \ufffd; check it in the form's responses",)
    # every other row is exactly what the file without the bad byte gives
    others = [r for r in table.rows if r.number != 3]
    assert others == [r for r in expected.rows if r.number != 3]
    assert all(not r.problems for r in others)
    logged = caplog.text
    assert "broken.csv" in logged and "row 3" in logged and "'First Name'" in logged
    assert "Windows-1252" not in logged
    for name in ("Zoë", "Nuñez", "Bo\ufffd", "José", "Renée", "example.com", "555-01"):
        assert name not in logged  # no personal data in the log


def test_bom_and_a_bad_byte_still_find_the_timestamp_question(tmp_path: Path):
    """Regression: with a byte-order mark, one bad byte made the BOM cp1252 garbage glued to
    the first title ("ï»¿Timestamp"), so the "Timestamp" question was not found."""
    path = tmp_path / "r.csv"
    path.write_bytes(_export(ROWS, bad=(3, b"Ren\xc3\xa9e", b"Ren\xe9e"), bom=True))
    table = read_export(path)
    assert table.headers[0] == "Timestamp"
    assert table.answers(table.rows[0])["First Name"] == "Zoë"
    assert table.answers(table.rows[3])["First Name"] == "Ren\ufffde"
    assert [r.number for r in table.rows if r.problems] == [5]


def test_a_truncated_character_is_one_problem_per_answer(tmp_path: Path):
    """Two answers of one row with bad bytes: one reason for each question, in column order;
    a multi-byte character cut short is one replacement character."""
    path = tmp_path / "r.csv"
    data = _export(ROWS, bad=(2, b"Jos\xc3\xa9,M\xc3\xbcller", b"Jos\xc3,M\x80\x80ller"))
    path.write_bytes(data)
    table = read_export(path)
    row = table.rows[2]
    assert table.answers(row)["First Name"] == "Jos\ufffd"
    assert table.answers(row)["Last Name"] == "M\ufffd\ufffdller"
    assert [p.split(":")[0] for p in row.problems] == ["'First Name'", "'Last Name'"]


def test_windows_1252_export_is_still_read_as_windows_1252(tmp_path: Path, caplog):
    """Excel on Windows saves "CSV" as Windows-1252 ("Zoë" with ë as the byte 0xEB): every
    name reads correctly and no row is sent to review."""
    path = tmp_path / "r.csv"
    path.write_bytes(_export(ROWS, encoding="cp1252"))
    assert b"Zo\xeb," in path.read_bytes()
    with caplog.at_level(logging.WARNING):
        table = read_export(path)
    names = [(table.answers(r)["First Name"], table.answers(r)["Last Name"]) for r in table.rows]
    assert names == [("Zoë", "Nuñez"), ("Bob", "Jones"), ("José", "Müller"), ("Renée", "Ødegård")]
    assert not any(r.problems for r in table.rows)
    assert "Windows-1252" in caplog.text


def test_a_byte_windows_1252_does_not_define_is_a_problem_not_a_silent_change(tmp_path: Path):
    """In a Windows-1252 file, a byte that is no character there (0x81) was silently replaced;
    its row now goes to review like a bad byte in a UTF-8 file."""
    path = tmp_path / "r.csv"
    path.write_bytes(_export(ROWS, encoding="cp1252", bad=(1, b"Jones", b"Jo\x81nes")))
    table = read_export(path)
    assert table.answers(table.rows[0])["First Name"] == "Zoë"
    assert table.answers(table.rows[1])["Last Name"] == "Jo\ufffdnes"
    assert table.rows[1].problems == ("'Last Name': the answer has bytes that are not valid "
                                      "text (Windows-1252), shown as \ufffd; check it in the "
                                      "form's responses",)
    assert [r.number for r in table.rows if r.problems] == [3]


def test_a_bad_byte_in_a_title_is_replaced_and_logged(tmp_path: Path, caplog):
    path = tmp_path / "r.csv"
    data = _export(ROWS).replace(b"Organization", b"Organizaci\xf3n", 1)
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        table = read_export(path)
    assert table.headers[-1] == "Organizaci\ufffdn"
    assert "r.csv" in caplog.text and "column 8" in caplog.text
    assert table.answers(table.rows[0])["First Name"] == "Zoë"


def test_titles_stay_unique_when_bad_bytes_make_two_alike(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_bytes("Timestamp,Name,Pr\xe9nom\n3/1/2020,Zoë,Zoë\n".encode().replace(
        "Name,Pr\xe9nom".encode(), b"N\xffme,N\xfeme"))
    table = read_export(path)
    assert table.headers == ("Timestamp", "N\ufffdme", "N\ufffdme (2)")


def test_only_the_first_rows_with_bad_bytes_are_logged_one_by_one(tmp_path: Path, caplog):
    path = tmp_path / "r.csv"
    path.write_bytes(_export(ROWS * 3) + b"3/3/2020 10:00:00,x@example.com,B\xffb,Ray,,,,\n" * 14)
    with caplog.at_level(logging.WARNING):
        table = read_export(path)
    assert len([r for r in table.rows if r.problems]) == 14
    assert len(caplog.records) == 11 and "4 more rows" in caplog.records[-1].getMessage()


_PIECES = st.one_of(st.text(max_size=12).map(str.encode), st.binary(max_size=3),
                    st.sampled_from([b",", b"\n", b'"', b"\r\n", "é".encode(), b"\xe9", BOM]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=40).map(b"".join))
def test_no_undecoded_byte_ever_leaves_the_reader(tmp_path_factory, data):
    """Guards the surrogateescape step: text mixed with bad bytes gives titles and answers
    without lone surrogates (which no workbook or database could store), unique titles, and
    a problem on every row whose answers hold a byte shown as \ufffd that was not text."""
    path = tmp_path_factory.mktemp("enc") / "r.csv"
    path.write_bytes(data)
    try:
        table = read_export(path)
    except SourceError:
        return
    surrogate = re.compile("[\ud800-\udfff]")
    assert not any(surrogate.search(h) for h in table.headers)
    assert len(set(table.headers)) == len(table.headers)
    for row in table.rows:
        assert not any(isinstance(v, str) and surrogate.search(v) for v in row.values)
        for problem in row.problems:
            assert problem.startswith(tuple(f"{h!r}: " for h in table.headers))


def test_a_real_replacement_character_is_an_answer_not_a_problem(tmp_path: Path):
    """Guards the check: only bytes that were not text are problems; a "�" that the form's
    respondent typed (valid UTF-8, or in a workbook) is kept as it is."""
    csv_path = tmp_path / "r.csv"
    csv_path.write_bytes(_export(ROWS, bad=(1, b"Bob", "Bob\ufffd".encode())))
    xlsx_path = tmp_path / "r.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["Timestamp", "First Name"])
    ws.append(["3/1/2020 10:00:00", "Bob\ufffd"])
    wb.save(xlsx_path)
    for path in (csv_path, xlsx_path):
        table = read_export(path)
        assert any(table.answers(r)["First Name"] == "Bob\ufffd" for r in table.rows)
        assert not any(r.problems for r in table.rows)


def test_sync_sends_only_the_row_with_a_bad_byte_to_needs_review(site, caplog):
    """End to end: the other rows are records with their accents, the bad row is in Needs
    Review with the file, its row, the question and the answer (with �), and the log
    names no one."""
    (site.root / "pip.csv").write_bytes(_export(ROWS, bad=(0, b"Nu\xc3\xb1ez", b"Nu\xf1ez"),
                                                bom=True))
    with caplog.at_level(logging.DEBUG):
        summary = syncer.sync(site.config())
    counts = summary.counts["pip"]
    assert (counts["read"], counts["new"], counts["review"]) == (4, 3, 1)
    names = sorted((r["First name"], r["Last name"]) for r in rows_by_id(site.master).values())
    assert names == [("Bob", "Jones"), ("José", "Müller"), ("Renée", "Ødegård")]
    review = cells(site.master)["Needs Review"]
    header, [item] = review[0], review[1:]
    entry = dict(zip(header, item, strict=False))
    assert (entry["Source"], entry["Source row"]) == ("pip.csv", 2)
    assert entry["Reasons"].startswith("'Last Name': the answer has bytes that are not valid "
                                       "text (UTF-8)")
    assert entry["Last Name"] == "Nu\ufffdez" and entry["First Name"] == "Zoë"
    for text in ("Zoë", "Nuñez", "Nu\ufffdez", "José", "Müller", "Renée", "example.com", "555-01"):
        assert text not in caplog.text
