"""Faults, hostile input and data safety: each ends in success or a clear error, nothing lost.

docs/hardening.md summarises what each test tries and what happens.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from sync.errors import SourceError, SyncError
from sync.master import syncer
from sync.sources.exports import read_export
from tests.conftest import PIP_HEADER, REPO, Site, temporary_files

PIP = "Partners in Policing"
HEADER = PIP_HEADER.strip().split(",")


def rows_of(path: Path, title: str = PIP) -> list[tuple]:
    wb = load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in wb[title].iter_rows(values_only=True)]
    finally:
        wb.close()


def by_id(path: Path) -> dict[str, dict]:
    rows = rows_of(path)
    return {r[0]: dict(zip(rows[0], r, strict=False)) for r in rows[1:]}


def set_cell(path: Path, record_id: str, column: str, value) -> None:
    wb = load_workbook(path)
    ws = wb[PIP]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("Record ID")].value == record_id:
            row[header.index(column)].value = value
    wb.save(path)


# -- Google faults ---------------------------------------------------------------------------


@pytest.fixture
def google_site(tmp_path, fake_google, site, no_sleep):
    key = fake_google.write_key(tmp_path)
    text = site.config_path.read_text().replace('file = "pip.csv"', 'spreadsheet = "1FaultySheet000000000"')
    site.config_path.write_text(f'[google]\ncredentials = "{key}"\napi_endpoint = "{fake_google.url}"\n'
                                "timeout_seconds = 1\nmax_attempts = 4\nretry_seconds = 30\n" + text)
    rows = [HEADER] + [next(csv.reader([r])) for r in site.pip_rows]
    fake_google.add_spreadsheet("1FaultySheet000000000", tabs={"Form Responses 1": rows})
    return site


@pytest.mark.parametrize("fault", ["429", "500-html", "503", "timeout", "expired-token"])
def test_google_faults_are_retried_and_the_sync_succeeds(google_site, fake_google, fault):
    if fault == "timeout":
        fake_google.delay_next(2.5)
    elif fault == "expired-token":
        syncer.sync(google_site.config())
        fake_google.expire_tokens()
        google_site.write_pip(google_site.pip_rows)  # nothing new: the read still happens
    elif fault == "500-html":
        fake_google.fail_next(500, html=True)
    else:
        fake_google.fail_next(int(fault), times=2)
    summary = syncer.sync(google_site.config())
    assert sum(c["records"] for c in summary.counts.values()) == 3
    assert len(by_id(google_site.master)) == 3


def test_google_down_for_good_is_a_clear_error_and_the_master_is_intact(google_site, fake_google):
    syncer.sync(google_site.config())
    before = rows_of(google_site.master)
    fake_google.fail_next(503, times=50)
    with pytest.raises(SourceError, match="1FaultySheet000000000: Google Sheets answered 503"):
        syncer.sync(google_site.config())
    assert rows_of(google_site.master) == before


def test_credentials_never_appear_in_messages(google_site, tmp_path, capsys):
    key_file = next(tmp_path.glob("*.json"))
    key = json.loads(key_file.read_text())
    key["private_key"] = key["private_key"].replace("MII", "XXX")  # corrupt the key
    key_file.write_text(json.dumps(key))
    from sync.cli import main

    code = main(["sync", "--config", str(google_site.config_path)])
    err = capsys.readouterr().err
    assert code == 1 and str(key_file) in err
    assert "PRIVATE KEY" not in err and key["private_key"][40:80] not in err


# -- a killed run ----------------------------------------------------------------------------


def big_pip_rows(n: int, offset: int = 0) -> list[str]:
    out = []
    for i in range(offset, offset + n):
        out.append(f"2/{1 + i % 28}/2020 {10 + i % 10}:{i % 60:02d}:{(i // 60) % 60:02d},p{i}@example.com,"
                   f"First{i},Last{i},1/{1 + i % 28}/{1950 + i % 50},310555{i % 10000:04d},"
                   "I live in Torrance,Org")
    return out


def test_sigkill_while_writing_leaves_a_whole_master(tmp_path):
    """Guards "a failed or interrupted run leaves the previous master intact"."""
    site = Site(tmp_path)
    site.write_pip(big_pip_rows(1500))
    syncer.sync(site.config())
    old = rows_of(site.master)
    site.write_pip(big_pip_rows(1600))
    code = ("import sys; from sync import config, syncer; "
            "syncer.sync(config.load(sys.argv[1]))")
    survived = []
    left_behind = set()
    for delay in (0.4, 0.9, 1.4, 2.0):
        proc = subprocess.Popen([sys.executable, "-c", code, str(site.config_path)], cwd=REPO)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = rows_of(site.master)  # always a whole workbook: the old one or the new one
        assert rows == old or len(rows) == 1601
        survived.append(len(rows))
        left_behind |= {p.relative_to(site.out) for p in site.out.rglob("*") if p.is_file()}
    # whatever a killed run left is in the private temporary folder, and only there
    expected = {Path("master.xlsx"), Path("state.sqlite"), Path(".tpd-programs.lock")}
    strays = {p for p in left_behind - expected if p.parts[0] not in (".tmp", "backups")
              and not p.name.startswith("state.sqlite-")}
    assert strays == set()
    summary = syncer.sync(site.config())  # and the next run finishes the job
    assert len(rows_of(site.master)) == 1601
    c = summary.counts["pip"]
    assert c["records"] == 1600
    assert list((site.out / ".tmp").iterdir()) == []  # and removes what the killed runs left


def test_leftover_temporary_files_are_removed_by_the_next_run(site):
    """Guards "none outlive the run": files a killed run left in the private temporary folder
    (XlsxWriter's row files hold every answer) are removed when the next run starts, even if
    that run then fails."""
    syncer.sync(site.config())
    tmp = site.out / ".tmp"
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o700
    (tmp / "tmpab12cd34").write_text("Ann Smith, 1200 Maple Ave")
    (tmp / ".master-x.xlsx.tmp").write_bytes(b"PK")
    (site.out / "tmpq1w2e3r4").write_text("Ann Smith")  # where earlier versions left them
    (site.out / ".master-abc.xlsx.tmp").write_bytes(b"PK")
    site.config_path.write_text(site.config_path.read_text().replace('file = "pip.csv"',
                                                                     'file = "missing.csv"'))
    from sync.cli import main

    assert main(["sync", "--config", str(site.config_path)]) == 1  # the run fails...
    assert list(tmp.iterdir()) == []  # ...and still removed the leftovers
    assert temporary_files(site.out) == []
    (tmp / "tmpab12cd34").write_text("Ann Smith, 1200 Maple Ave")
    site.config_path.write_text(site.config_path.read_text().replace('file = "missing.csv"',
                                                                     'file = "pip.csv"'))
    assert main(["sync", "--config", str(site.config_path)]) == 0
    assert list(tmp.iterdir()) == []


# -- staff reshaping the master --------------------------------------------------------------


def test_deleted_column_renamed_sheet_and_sorted_rows(site):
    syncer.sync(site.config())
    set_cell(site.master, "PIP-00002", "Status", "Accepted")
    set_cell(site.master, "PIP-00003", "Notes", "prefers email")
    syncer.sync(site.config())
    wb = load_workbook(site.master)
    ws = wb[PIP]
    header = [c.value for c in ws[1]]
    ws.delete_cols(header.index("Status") + 1)  # a column deleted
    ws.title = "PIP (edited)"  # the sheet renamed
    values = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    values.sort(key=lambda r: str(r[0]), reverse=True)  # rows sorted
    for r, row in enumerate(values, start=2):
        for c, v in enumerate(row, start=1):
            ws.cell(r, c, v)
    notes = [c.value for c in ws[1]].index("Notes") + 1
    ws.cell(2, notes, "called back")  # PIP-00003 is now the first row
    wb.save(site.master)
    site.write_pip(site.pip_rows + big_pip_rows(1))
    syncer.sync(site.config())
    records = by_id(site.master)
    assert records["PIP-00002"]["Status"] == "Accepted"
    assert records["PIP-00003"]["Notes"] == "called back"
    assert len(records) == 4
    assert PIP in load_workbook(site.master, read_only=True).sheetnames


def test_rows_deleted_from_the_master_come_back(site):
    syncer.sync(site.config())
    set_cell(site.master, "PIP-00001", "Status", "Accepted")
    syncer.sync(site.config())
    wb = load_workbook(site.master)
    wb[PIP].delete_rows(2)
    wb.save(site.master)
    syncer.sync(site.config())
    assert by_id(site.master)["PIP-00001"]["Status"] == "Accepted"


# -- hostile and odd input -------------------------------------------------------------------


HOSTILE = [
    "=cmd|' /C calc'!A0", "+SUM(A1:A9)", "-1+2", "@SUM(1)", "\t=1+1", "\r=1+1",
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")', "Ann\x00\x01\x1f", "Zoe\u200b\u200d",
    "\u202eevil\u202c", "Pat 😀", "<script>alert(1)</script>", "Ann\r\nBcc: evil@example.com",
    "Robert'); DROP TABLE records;--", "x" * 40_000,
]


@pytest.mark.parametrize("field", ["First Name", "Organization", "Connection to Torrance"])
def test_hostile_answers_in_every_field_never_crash(site, field):
    rows = []
    for i, text in enumerate(HOSTILE):
        values = dict(zip(HEADER, next(csv.reader(big_pip_rows(1, i))), strict=True))
        values[field] = text
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow([values[h] for h in HEADER])
        rows.append(buf.getvalue()[:-1])
    site.write_pip(rows)
    summary = syncer.sync(site.config())
    c = summary.counts["pip"]
    assert c["read"] == len(HOSTILE) == c["new"] + c["merged"] + c["review"]
    wb = load_workbook(site.master)
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f" or ws.title not in (PIP, "Needs Review")
                if isinstance(cell.value, str):
                    assert len(cell.value) <= 32_767
    assert syncer.sync(site.config()).unchanged


def test_ten_thousand_columns_and_duplicate_titles(site):
    extra = [f"Q{i}" for i in range(10_000 - len(HEADER))]
    header = ",".join(HEADER + extra[:-2] + ["Phone", "Phone"]) + "\n"
    row = big_pip_rows(1)[0] + "," + ",".join("a" for _ in extra)
    site.write_pip([row], header=header)
    summary = syncer.sync(site.config())
    assert summary.counts["pip"]["records"] == 1
    header_row = rows_of(site.master)[0]
    assert "Phone (2)" in header_row and "Phone (3)" in header_row


def test_empty_sheet_and_header_only_sheet(site):
    (site.root / "pip.csv").write_text("")
    assert syncer.sync(site.config()).counts["pip"]["read"] == 0
    site.write_pip([])
    assert syncer.sync(site.config()).counts["pip"]["read"] == 0
    assert rows_of(site.master)[0][0] == "Record ID"


def test_state_file_damaged_is_a_clear_error(site):
    syncer.sync(site.config())
    (site.out / "state.sqlite").write_bytes(b"this is not a database" * 100)
    for extra in ("-wal", "-shm"):
        (site.out / f"state.sqlite{extra}").unlink(missing_ok=True)
    with pytest.raises(SyncError, match="state.sqlite: the state file is damaged"):
        syncer.sync(site.config())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_export_reader_never_fails_on_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "r.csv"
    path.write_bytes(data)
    try:
        table = read_export(path)
    except SourceError:
        return
    for row in table.rows:
        assert len(row.values) <= len(table.headers)
        assert row.number >= 2


def test_output_folder_and_files_are_private(site):
    syncer.sync(site.config())
    for path in site.out.rglob("*"):
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path.name} is readable by others ({oct(mode)})"
    assert os.stat(site.out).st_mode & 0o077 == 0
