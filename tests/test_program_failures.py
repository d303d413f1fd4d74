"""One broken form does not stop the others: each program is synced on its own.

A program whose source fails (a question renamed on the form, an export missing, a
spreadsheet Google will not serve) keeps the records of its last good read, and its sheet
and the Summary say since when; the other programs sync, and rosters, confirmations and
route sheets go on for them; `sync` and `run` exit 1 with one line per failed program.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from sync import cli
from sync.master import syncer
from sync.sources import google as google_source
from sync.sources.forms import read_forms
from tests import configs
from tests.conftest import Site
from tests.fake_forms import FakeForms, text
from tests.fake_google import FakeGoogle, Fault
from tests.helpers import PIP_CSV, TAP_CSV, VSC_CSV, cells, make_site, step_lines
from tests.loopback_smtp import LoopbackSmtp

TAP_SHEET, PIP_SHEET, VSC_SHEET = "Teens and Policing", "Partners in Policing", "Vacation Checks"
NEW_PIP = "3/4/2020 08:00:00,fay@example.com,Fay,Moss,1/1/2015,310 555 0106,I live in Torrance\n"
NEW_TAP = ("3/4/2020 10:00:00,counselor@tusd.example,Pat Gomez,North High School,Fall 2030,Uma,"
           "Reed,11,uma@example.com,Ian Reed,310-555-0203,ian@example.com,Yes\n")
NEW_VSC = ("3/4/2020 10:00:00,xia@example.com,Xia,Chen,310-555-0303,12 Oak Ave,Torrance,90503,"
           "7/1/2030,7/9/2030,Lin Chen\n")


def rename_tap_grade(root: Path) -> None:
    """TAP's "Grade" question renamed on the form, and one new answer in every form."""
    renamed = TAP_CSV.replace(",Grade,", ",Grade level,")
    assert renamed != TAP_CSV
    (root / "tap.csv").write_text(renamed + NEW_TAP)
    (root / "pip.csv").write_text(PIP_CSV + NEW_PIP)
    (root / "vsc.csv").write_text(VSC_CSV + NEW_VSC)


def first_cell(path: Path, sheet: str) -> str | None:
    return cells(path)[sheet][0][0]


def note(path: Path, sheet: str) -> str:
    """The lines above a program sheet's header, as one text."""
    rows = cells(path)[sheet]
    top = next(i for i, r in enumerate(rows) if r and r[0] == "Record ID")
    return " ".join(str(r[0]).strip() for r in rows[:top])


def records(path: Path, sheet: str) -> dict[str, dict]:
    """{record ID: row} of a program sheet, its header found below any line above it."""
    rows = cells(path)[sheet]
    top = next(i for i, r in enumerate(rows) if r and r[0] == "Record ID")
    return {r[0]: dict(zip(rows[top], r, strict=False)) for r in rows[top + 1:]}


def test_a_renamed_question_stops_only_its_program(tmp_path: Path, capsys, restore_logging):
    site = make_site(tmp_path)  # three programs from exports, synced once
    tap_before = records(site.master, TAP_SHEET)
    rename_tap_grade(tmp_path)

    assert cli.main(["run", "--config", str(site.config_path)]) == 1
    out = capsys.readouterr().out
    assert step_lines(out) == {"sync": "FAILED", "rosters": "ok", "confirmations": "ok",
                               "routes": "ok"}
    failure = [line for line in out.splitlines() if "Teens and Policing (tap)" in line]
    assert len(failure) == 1
    assert "'Grade' (programs.tap.questions.grade) is not in the form" in failure[0]
    assert "closest titles: 'Grade level'" in failure[0] and "Next: run `tpd-programs check`" in failure[0]

    # the others synced: the new PIP and VSC answers are records
    assert "fay@example.com" in {r["Email"] for r in records(site.master, PIP_SHEET).values()}
    assert "xia@example.com" in {r["Email"] for r in records(site.master, VSC_SHEET).values()}
    # TAP keeps the records of its last good read, and says since when
    assert records(site.master, TAP_SHEET) == tap_before
    assert re.match(r"Not up to date: data from \d{4}-\d\d-\d\d \d\d:\d\d; the last read "
                    r"failed: tap.csv: question 'Grade' .* closest titles: 'Grade level'",
                    note(site.master, TAP_SHEET))
    assert all(len(r[0]) <= 60 for r in cells(site.master)[TAP_SHEET][:2])  # fits a page
    assert first_cell(site.master, PIP_SHEET) == "Record ID"
    summary = [r[0] for r in cells(site.master)["Summary"] if r and isinstance(r[0], str)]
    assert any(line.startswith("Teens and Policing: Not up to date: data from ") for line in summary)
    # rosters and confirmations went on for the programs that synced
    outbox = "".join(p.read_text() for p in (site.out / "outbox").rglob("*.eml"))
    assert "fay@example.com" in outbox and "xia@example.com" in outbox
    assert "uma@example.com" not in outbox
    assert (site.out / "rosters").is_dir()


def test_the_same_failure_again_changes_nothing_and_the_fix_clears_the_note(tmp_path: Path, restore_logging,
                                                                            capsys):
    site = make_site(tmp_path)
    rename_tap_grade(tmp_path)
    first = syncer.sync(site.config())
    assert set(first.failures) == {"tap"} and set(first.counts) == {"pip", "vsc"}
    master = site.master.read_bytes()

    again = syncer.sync(site.config())  # nothing new: the master is left alone, the failure named
    assert again.unchanged and set(again.failures) == {"tap"}
    assert site.master.read_bytes() == master

    # `sync` prints what it did and exits 1 with one line per failed program
    (tmp_path / "vsc.csv").unlink()
    assert cli.main(["sync", "--config", str(site.config_path)]) == 1
    captured = capsys.readouterr()
    assert "Partners in Policing: 6 rows read" in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("tpd-programs: error: Teens and Policing (tap): ")
    assert errors[1].startswith("Vacation Checks (vsc): ") and "export file not found" in errors[1]
    assert first_cell(site.master, VSC_SHEET).startswith("Not up to date: data from ")

    # the form's question is mapped again and the export is back: fresh data, no note
    cfg = configs.edited(configs.CONFIRMATIONS, {"programs": {"tap": {"questions": {
        "grade": configs.Replace("Grade level")}}}})
    site.config_path.write_text(configs.toml(cfg))
    (tmp_path / "vsc.csv").write_text(VSC_CSV + NEW_VSC)
    assert cli.main(["sync", "--config", str(site.config_path)]) == 0
    assert first_cell(site.master, TAP_SHEET) == "Record ID"
    assert first_cell(site.master, VSC_SHEET) == "Record ID"
    assert "uma@example.com" in {r["Student email"] for r in records(site.master, TAP_SHEET).values()}
    summary = [r[0] for r in cells(site.master)["Summary"] if r and isinstance(r[0], str)]
    assert not any("Not up to date" in line for line in summary)


def test_staff_titles_above_a_stale_sheet_are_kept_and_the_note_is_not(tmp_path: Path):
    """The tool's line above a stale sheet's header is never read back as a title staff
    typed: once the program reads again it is gone, and the staff's own title stays."""
    site = make_site(tmp_path)
    rename_tap_grade(tmp_path)
    syncer.sync(site.config())
    top = [r[0] for r in cells(site.master)[TAP_SHEET]].index("Record ID")
    assert top > 1  # the note takes more than one line
    wb = load_workbook(site.master)
    ws = wb[TAP_SHEET]
    ws.insert_rows(top + 1)
    ws.cell(top + 1, 1).value = "Fall 2030 nominations"  # staff's own title, below the note
    wb.save(site.master)
    syncer.sync(site.config())  # still failing: the staff's title is read and kept
    assert [r[0] for r in cells(site.master)[TAP_SHEET][top:top + 2]] == [
        "Fall 2030 nominations", "Record ID"]
    assert note(site.master, TAP_SHEET).startswith("Not up to date: ")
    (tmp_path / "tap.csv").write_text(TAP_CSV + NEW_TAP)
    assert not syncer.sync(site.config()).failures
    assert [r[0] for r in cells(site.master)[TAP_SHEET][:2]] == ["Fall 2030 nominations",
                                                                 "Record ID"]


def test_a_partly_failed_sync_still_sends_the_others_confirmations(tmp_path: Path, capsys,
                                                                 restore_logging):
    with LoopbackSmtp() as server:
        smtp = f"""
            [smtp]
            host = "127.0.0.1"
            port = {server.port}
            security = "none"
            from = "Community Programs <programs@example.org>"
            send = true
            rate_per_minute = 6000
            """
        site = make_site(tmp_path, smtp)
        assert cli.main(["run", "--config", str(site.config_path)]) == 0
        sent = len(server.messages)
        rename_tap_grade(tmp_path)
        assert cli.main(["run", "--config", str(site.config_path)]) == 1
        out = capsys.readouterr().out
        assert "not sent for tap: its sync failed" in out
        recipients = {r for _s, rs, _m in server.messages[sent:] for r in rs}
        assert "fay@example.com" in recipients and "xia@example.com" in recipients
        assert not recipients & {"uma@example.com", "counselor@tusd.example"}


# -- Google: one spreadsheet failing -------------------------------------------------------

PIP_KEY, TAP_KEY = "1PipResponses00000000", "1TapResponses00000000"


def sheet_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text))]


def google_site(root: Path, fake: FakeGoogle) -> Site:
    """The three-program configuration with PIP and TAP in spreadsheets of their own."""
    key = fake.write_key(root)
    cfg = configs.edited(configs.CONFIRMATIONS, {
        "programs": {"pip": {"source": configs.Replace({"spreadsheet": PIP_KEY})},
                     "tap": {"source": configs.Replace({"spreadsheet": TAP_KEY})}},
        "google": {"credentials": str(key), "api_endpoint": fake.url, "max_attempts": 2,
                   "retry_seconds": 1}})
    site = Site(root, configs.toml(cfg))
    (root / "vsc.csv").write_text(VSC_CSV)
    fake.add_spreadsheet(PIP_KEY, tabs={"Form Responses 1": sheet_rows(PIP_CSV)})
    fake.add_spreadsheet(TAP_KEY, tabs={"Form Responses 1": sheet_rows(TAP_CSV)})
    return site


@pytest.mark.parametrize("fault", ["unshared", "503"])
def test_one_spreadsheet_failing_leaves_the_others_synced(tmp_path: Path, fake_google: FakeGoogle,
                                                          monkeypatch, fault: str):
    monkeypatch.setattr(google_source, "_sleep", lambda seconds: None)
    site = google_site(tmp_path, fake_google)
    syncer.sync(site.config())
    pip_before = records(site.master, PIP_SHEET)
    fake_google.spreadsheets[TAP_KEY].tab("Form Responses 1").rows.append(sheet_rows(NEW_TAP)[0])
    fake_google.spreadsheets[PIP_KEY].tab("Form Responses 1").rows.append(sheet_rows(NEW_PIP)[0])
    (tmp_path / "vsc.csv").write_text(VSC_CSV + NEW_VSC)
    if fault == "unshared":
        fake_google.spreadsheets[PIP_KEY].shared = False
        expected = f"{PIP_KEY}: Google Sheets refused access"
    else:  # PIP (the bigger) is read last: TAP's two requests answer, then PIP's fail
        fake_google.queue(Fault(), Fault(), *[Fault(503)] * 4)
        expected = f"{PIP_KEY}: Google Sheets answered 503"
    requests = len(fake_google.sheets_requests)

    summary = syncer.sync(site.config())
    assert set(summary.failures) == {"pip"} and expected in str(summary.failures["pip"])
    assert summary.counts["tap"]["new"] == 1 and summary.counts["vsc"]["new"] == 1
    assert len(fake_google.sheets_requests) - requests == (3 if fault == "unshared" else 4)
    assert records(site.master, PIP_SHEET) == pip_before
    assert first_cell(site.master, PIP_SHEET).startswith("Not up to date: data from ")
    assert "uma@example.com" in {r["Student email"] for r in records(site.master, TAP_SHEET).values()}


# -- Google Forms: one form failing ---------------------------------------------------------

FORM = "1PipRegistrationForm_0123456789abcdefghijklmn"


def test_one_form_failing_leaves_the_other_forms_and_sources_read(tmp_path: Path):
    """A form not shared with the account fails alone: the other form is read, and the
    programs whose sources are exports sync."""
    with FakeForms() as fake:
        fake.add_form(FORM, [text("First Name")], shared=False)
        fake.add_form("1OtherForm_0123456789abcdefghijklmnopqrs", [text("First Name")])
        settings = fake.settings(fake.write_key(tmp_path))
        failed: dict = {}
        tables = read_forms([FORM, "1OtherForm_0123456789abcdefghijklmnopqrs"], settings,
                            ZoneInfo(configs.DEPARTMENT["timezone"]), failed=failed)
        assert list(tables) == ["1OtherForm_0123456789abcdefghijklmnopqrs"]
        assert list(failed) == [FORM] and "refused access to form" in str(failed[FORM])

        cfg = configs.edited(configs.CONFIRMATIONS, {
            "programs": {"pip": {"source": configs.Replace({"form": FORM})}},
            "google": {"credentials": str(fake.write_key(tmp_path)), "api_endpoint": fake.url,
                       "forms_endpoint": fake.url, "max_attempts": 1}})
        site = Site(tmp_path, configs.toml(cfg))
        (tmp_path / "tap.csv").write_text(TAP_CSV)
        (tmp_path / "vsc.csv").write_text(VSC_CSV)
        summary = syncer.sync(site.config())
    assert set(summary.failures) == {"pip"} and set(summary.counts) == {"tap", "vsc"}
    assert f"form/{FORM}: Google Forms refused access" in str(summary.failures["pip"])
    assert note(site.master, PIP_SHEET).startswith("Not up to date: no data read yet; ")
    assert len(records(site.master, TAP_SHEET)) == 2


def test_google_failing_again_for_longer_is_no_change(tmp_path: Path, fake_google: FakeGoogle,
                                                     monkeypatch):
    """The same outage on the next run, whose retries took longer ("over 2 s" instead of
    "over 0 s"), leaves the master as it is: no rewrite and no new backup each hour."""
    monkeypatch.setattr(google_source, "_sleep", lambda seconds: None)
    site = google_site(tmp_path, fake_google)
    syncer.sync(site.config())
    fake_google.queue(Fault(), Fault(), Fault(503), Fault(503))  # TAP reads, PIP fails
    first = str(syncer.sync(site.config()).failures["pip"])
    master = site.master.read_bytes()
    fake_google.queue(Fault(), Fault(), Fault(503), Fault(503, delay=1.6))
    again = syncer.sync(site.config())
    took = [re.search(r"answered 503 twice over (\d+) s", text)
            for text in (first, str(again.failures["pip"]))]
    assert took[0] and took[1] and int(took[1][1]) > int(took[0][1]), (first, again.failures)
    assert again.unchanged and site.master.read_bytes() == master
