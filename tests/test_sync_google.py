"""The whole sync reading Google Sheets through real google-auth and the loopback fake."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import config as config_mod
from sync.errors import SourceError
from sync.master import syncer
from tests.conftest import REPO, temporary_files
from tests.helpers import cells

PIP_CSV = REPO / "config" / "examples" / "partners-in-policing-responses.csv"
TAP_CSV = REPO / "config" / "examples" / "teens-and-policing-responses.csv"
VSC_XLSX = REPO / "config" / "examples" / "vacation-check-responses.xlsx"


def typed(value: str):
    """A cell as Sheets stores a form answer: all-digit answers become numbers."""
    if value.isdigit() and not value.startswith("0"):
        return int(value)
    return value


def csv_rows(path: Path) -> list[list]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return [rows[0]] + [[typed(v) for v in r] for r in rows[1:]]


def xlsx_rows(path: Path) -> list[list]:
    wb = load_workbook(path, read_only=True)
    try:
        return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()


def program_sheets(path: Path) -> dict[str, list[tuple]]:
    wb = load_workbook(path, read_only=True)
    try:
        out = {}
        for title in ("Partners in Policing", "Teens and Policing", "Vacation Checks", "Needs Review"):
            rows = [tuple(r) for r in wb[title].iter_rows(values_only=True)]
            header = rows[0]
            keep = [i for i, h in enumerate(header) if h not in ("Source", "Source rows")]
            if title == "Needs Review":  # the original answers differ in type by source
                keep = keep[:3]
            out[title] = [tuple(r[i] if i < len(r) else None for i in keep) for r in rows]
        return out
    finally:
        wb.close()


def google_config(tmp_path: Path, key_path: Path, endpoint: str) -> Path:
    shutil.copytree(REPO / "config", tmp_path / "config")
    path = tmp_path / "config" / "example.toml"
    text = path.read_text()
    text = text.replace('file = "examples/partners-in-policing-responses.csv"',
                        'spreadsheet = "https://docs.google.com/spreadsheets/d/1PipAndTapResponses000/edit"\n'
                        'worksheet = "PIP Responses"')
    text = text.replace('file = "examples/teens-and-policing-responses.csv"',
                        'spreadsheet = "1PipAndTapResponses000"\nworksheet = "TAP Responses"')
    text = text.replace('file = "examples/vacation-check-responses.xlsx"',
                        'spreadsheet = "1VacationChecks0000000"')
    text = text.replace("[google]\n", f'[google]\ncredentials = "{key_path}"\n'
                        f'api_endpoint = "{endpoint}"\n', 1)
    path.write_text(text)
    return path


def test_sheets_source_gives_the_same_records_as_the_exports(tmp_path, fake_google, example_site):
    pip_rows = csv_rows(PIP_CSV)
    # Form timestamps become real date cells in the sheet, in the spreadsheet's time zone.
    from sync.ingest.normalize import parse_datetime

    la = config_mod.load(example_site).department.timezone
    for row in pip_rows[1:]:
        row[0] = parse_datetime(row[0], source_tz=la, target_tz=la)
    fake_google.add_spreadsheet("1PipAndTapResponses000", time_zone="America/Los_Angeles", tabs={
        "PIP Responses": pip_rows, "TAP Responses": csv_rows(TAP_CSV), "Summary": [["x"]]})
    fake_google.add_spreadsheet("1VacationChecks0000000", time_zone="America/Los_Angeles",
                                tabs={"Form Responses 1": xlsx_rows(VSC_XLSX)})
    key = fake_google.write_key(tmp_path)
    cfg = config_mod.load(google_config(tmp_path / "g", key, fake_google.url))

    summary = syncer.sync(cfg)
    assert len(fake_google.sheets_requests) == 4  # metadata + one batchGet per spreadsheet
    batch = [r for r in fake_google.sheets_requests if "batchGet" in r.path]
    assert len(batch) == 2

    files = config_mod.load(example_site)
    expected = syncer.sync(files)
    assert summary.counts == expected.counts
    assert program_sheets(cfg.output / "master.xlsx") == program_sheets(files.output / "master.xlsx")


def test_sheets_times_are_read_in_the_spreadsheet_time_zone(tmp_path, fake_google, site):
    site.config_path.write_text(site.config_path.read_text().replace(
        'file = "pip.csv"', 'spreadsheet = "1EasternTimeSheet00000"'))
    key = fake_google.write_key(tmp_path)
    text = site.config_path.read_text()
    site.config_path.write_text(
        f'[google]\ncredentials = "{key}"\napi_endpoint = "{fake_google.url}"\n' + text)
    fake_google.add_spreadsheet("1EasternTimeSheet00000", time_zone="America/New_York", tabs={
        "Form Responses 1": [
            ["Timestamp", "Email Address", "First Name", "Last Name", "Date of Birth", "Phone",
             "Connection to Torrance", "Organization"],
            [dt.datetime(2020, 3, 1, 13, 0), "ann@example.com", "Ann", "Smith", dt.date(1980, 1, 2),
             3105550101, "I live in Torrance", ""],
        ]})
    syncer.sync(site.config())
    wb = load_workbook(site.master, read_only=True)
    header, row = list(wb["Partners in Policing"].iter_rows(values_only=True))[:2]
    record = dict(zip(header, row, strict=False))
    wb.close()
    assert record["First submitted"] == dt.datetime(2020, 3, 1, 10, 0)  # 1 p.m. New York = 10 a.m. here
    assert record["Date of birth"] == dt.datetime(1980, 1, 2)
    assert record["Phone"] == "+13105550101"


def _two_spreadsheets(fake_google) -> None:
    fake_google.add_spreadsheet("1PipAndTapResponses000", time_zone="America/Los_Angeles", tabs={
        "PIP Responses": csv_rows(PIP_CSV), "TAP Responses": csv_rows(TAP_CSV)})
    fake_google.add_spreadsheet("1VacationChecks0000000", time_zone="America/Los_Angeles",
                                tabs={"Form Responses 1": xlsx_rows(VSC_XLSX)})


def test_each_spreadsheet_is_read_when_its_first_program_comes(tmp_path, fake_google):
    """The sync reads one program's source, builds its records and hands them to the
    workbook writer before it reads the next spreadsheet; each still takes two requests."""
    from sync.sources.responses import iter_tables

    _two_spreadsheets(fake_google)
    cfg = config_mod.load(google_config(tmp_path / "g", fake_google.write_key(tmp_path),
                                        fake_google.url))
    tables = iter_tables(cfg, ["vsc", "tap", "pip"])

    key, table = next(tables)
    assert key == "vsc" and table.source == "1VacationChecks0000000/Form Responses 1"
    assert {r.path.split("/")[3] for r in fake_google.sheets_requests} == {"1VacationChecks0000000"}
    assert next(tables)[0] == "tap"  # both of this spreadsheet's tabs in one request...
    assert next(tables)[0] == "pip"  # ...so PIP needs none of its own
    assert len(fake_google.sheets_requests) == 4
    assert sum("batchGet" in r.path for r in fake_google.sheets_requests) == 2


def test_a_source_failing_after_others_were_built_keeps_its_last_records(tmp_path, fake_google,
                                                                         caplog):
    """One spreadsheet no longer shared: the programs of the other one are synced and saved,
    the failed one keeps the records of its last good read; when no spreadsheet can be read
    at all, nothing is saved."""
    _two_spreadsheets(fake_google)
    cfg = config_mod.load(google_config(tmp_path / "g", fake_google.write_key(tmp_path),
                                        fake_google.url))
    first = syncer.sync(cfg)
    assert first.counts["tap"]["read"] <= first.counts["vsc"]["read"]  # TAP comes before VSC
    master = cfg.output / "master.xlsx"
    vsc_before = cells(master)["Vacation Checks"]
    tap = fake_google.spreadsheets["1PipAndTapResponses000"].tab("TAP Responses")
    tap.rows[1][-1] = "She organised the school food drive."  # an updated answer
    vsc = fake_google.spreadsheets.pop("1VacationChecks0000000")  # no longer shared

    caplog.set_level(logging.INFO, logger="sync.master.syncer")
    caplog.clear()
    summary = syncer.sync(cfg)
    assert summary.counts["tap"]["updated"] == 1 and "vsc" not in summary.counts
    assert "1VacationChecks0000000" in str(summary.failures["vsc"])
    built = [r.getMessage().split(":")[0] for r in caplog.records if r.name == "sync.master.syncer"]
    assert built == ["tap", "vsc", "pip"]  # TAP built, VSC failed, PIP built after it
    vsc_now = cells(master)["Vacation Checks"]
    top = [r[0] for r in vsc_now].index("Record ID")
    note = " ".join(r[0].strip() for r in vsc_now[:top])
    assert note.startswith("Not up to date: data from ") and "1VacationChecks0000000" in note
    assert vsc_now[top:] == vsc_before  # the header and every record as they were
    assert temporary_files(cfg.output) == []

    before = {p.name: p.read_bytes() for p in (master, cfg.output / "state.sqlite")}
    fake_google.spreadsheets.pop("1PipAndTapResponses000")
    with pytest.raises(SourceError, match="1VacationChecks0000000"):
        syncer.sync(cfg)
    assert {p.name: p.read_bytes() for p in (master, cfg.output / "state.sqlite")} == before
    assert temporary_files(cfg.output) == []
    fake_google.spreadsheets["1VacationChecks0000000"] = vsc
