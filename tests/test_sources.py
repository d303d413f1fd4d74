"""Export files as Google Forms downloads them, and mapping question titles to fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from sync.errors import SourceError
from sync.sources import unique_headers
from sync.sources.exports import read_export
from sync.sources.responses import map_table


def test_csv_with_bom_multiline_answers_and_commas(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_bytes(
        "\ufeffTimestamp,Name,Options,Notes\r\n"
        '3/5/2020 18:04:11,Ann,"A, B (x, y)","line one\r\nline two"\r\n'
        "\r\n"
        "3/6/2020 09:00:00,Bob\r\n".encode()
    )
    table = read_export(path)
    assert table.headers == ("Timestamp", "Name", "Options", "Notes")
    assert [r.number for r in table.rows] == [2, 4]  # the blank row 3 keeps its number
    first = table.answers(table.rows[0])
    assert first["Options"] == "A, B (x, y)"
    assert first["Notes"] == "line one\r\nline two"
    assert table.answers(table.rows[1])["Notes"] is None


def test_cp1252_csv_is_read_not_refused(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_bytes("Timestamp,Name\r\n3/5/2020,Jos\xe9\r\n".encode("latin-1"))
    assert read_export(path).answers(read_export(path).rows[0])["Name"] == "José"


def test_xlsx_export_keeps_types(tmp_path: Path):
    path = tmp_path / "r.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["Timestamp", "ZIP", "Phone", "Phone"])
    ws.append([dt.datetime(2020, 12, 1, 9, 30), 90501, 3105550143, "0612"])
    wb.save(path)
    table = read_export(path)
    assert table.headers == ("Timestamp", "ZIP", "Phone", "Phone (2)")
    row = table.answers(table.rows[0])
    assert row["Timestamp"] == dt.datetime(2020, 12, 1, 9, 30)
    assert row["ZIP"] == 90501 and row["Phone (2)"] == "0612"


def test_cells_beyond_the_titled_columns_are_kept(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_text("Timestamp,Name\n3/5/2020,Ann,stray\n")
    table = read_export(path)
    assert table.headers == ("Timestamp", "Name", "Column 3")
    assert table.answers(table.rows[0])["Column 3"] == "stray"


def test_missing_and_unreadable_exports_are_clear_errors(tmp_path: Path):
    with pytest.raises(SourceError, match="export file not found"):
        read_export(tmp_path / "missing.csv")
    bad = tmp_path / "bad.xlsx"
    bad.write_text("not a zip")
    with pytest.raises(SourceError, match="bad.xlsx: not a readable .xlsx"):
        read_export(bad)


def test_unique_headers():
    assert unique_headers(["Phone", "Phone", "", "Phone", None]) == (
        "Phone", "Phone (2)", "Column 3", "Phone (3)", "Column 5")


def test_renamed_question_names_the_question_and_closest_titles(site):
    site.write_pip(["3/1/2020 10:00:00,a@example.com,Ann,Smith,1/2/1980,3105550101,I live in Torrance,"],
                   header="Timestamp,Email address (required),First Name,Last Name,Date of Birth,"
                          "Phone,Connection to Torrance,Organization\n")
    cfg = site.config()
    table = read_export(cfg.program("pip").source.file)
    with pytest.raises(SourceError) as err:
        map_table(table, cfg.program("pip"))
    message = str(err.value)
    assert "pip.csv: question 'Email Address' (programs.pip.questions.email)" in message
    assert "'Email address (required)'" in message


def test_unmapped_questions_are_kept(site):
    site.write_pip(["3/1/2020 10:00:00,a@example.com,Ann,Smith,1/2/1980,3105550101,I live in Torrance,,"
                    "Friday evenings"],
                   header="Timestamp,Email Address,First Name,Last Name,Date of Birth,Phone,"
                          "Connection to Torrance,Organization,Best time to call\n")
    cfg = site.config()
    [response] = map_table(read_export(cfg.program("pip").source.file), cfg.program("pip"))
    assert response.extra == {"Best time to call": "Friday evenings"}
    assert response.fields["first_name"] == "Ann" and response.ref == "pip:2"


def test_empty_sheet_and_header_only_sheet_give_no_responses(site, tmp_path: Path):
    cfg = site.config()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert map_table(read_export(empty), cfg.program("pip")) == []
    site.write_pip([])
    assert map_table(read_export(cfg.program("pip").source.file), cfg.program("pip")) == []
