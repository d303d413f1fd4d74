"""Retention: vacation-check personal data leaves the state, the master and the route sheets."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import cli
from sync.master.syncer import sync
from sync.state.lock import LOCK_NAME
from sync.state.store import Store
from sync.vacation.purge import purge
from sync.vacation.routes import write_routes
from tests.helpers import TODAY, VSC_ROWS, VscSite, leaks, type_checks, vsc_site
from tests.windows import simulated

EVE = ("2/22/2020 10:00:00,eve@example.com,Eve,Stone,310-555-0105,1300 Maple Ave,Torrance,90501,"
       "4/10/2020,4/15/2020,Rex Friend,310-555-0198,,,,,,,Water the plants,green")
FAY = ("2/23/2020 9:00:00,fay@example.com,Fay,Moss,310-555-0106,40 Oak St,Torrance,90503,"
       "5/1/2020,5/5/2020,,,,,,,,,,")


@pytest.fixture
def vsite(tmp_path: Path) -> VscSite:
    site = vsc_site(tmp_path, VSC_ROWS)
    cfg = site.config()
    sync(cfg)
    site.write_vsc(VSC_ROWS + [EVE])
    sync(cfg)  # the master changes: a backup of the first one is kept
    write_routes(cfg, start=dt.date(2020, 3, 5), days=1)
    write_routes(cfg, start=dt.date(2020, 4, 12), days=1)
    type_checks(site.out / "routes" / "routes-2020-03-05.xlsx", {
        "VSC-00001": {"Result": "Secure", "Checked by": "Ofc. Diaz",
                      "Check notes": "Called the daughter, all fine"}})
    wb = load_workbook(site.master)  # staff notes, typed before the purge and never synced
    ws = wb["Vacation Checks"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("Record ID")].value == "VSC-00001":
            row[header.index("Status")].value = "Completed"
            row[header.index("Notes")].value = "Called the daughter on 3/9"
    wb.save(site.master)
    return site


def sheet(path: Path, title: str) -> dict[str, dict]:
    ws = load_workbook(path)[title]
    rows = list(ws.iter_rows(values_only=True))
    return {r[0]: dict(zip(rows[0], r, strict=False)) for r in rows[1:]}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def output_digests(out: Path) -> dict[Path, str]:
    """Every file under the output folder but the run lock, which each run (a dry run too)
    stamps with its process and start time."""
    return {p: digest(p) for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}


def test_dry_run_lists_record_ids_and_changes_nothing(vsite):
    before = output_digests(vsite.out)
    report = purge(vsite.config(), today=TODAY)
    assert not report.applied
    assert report.cutoff == dt.date(2020, 3, 21)
    assert report.records == ["VSC-00001", "VSC-00002", "VSC-00003", "VSC-00004"]
    assert report.route_files == ["routes-2020-03-05.xlsx"]
    text = report.render()
    assert "Would remove personal data of: VSC-00001, VSC-00002, VSC-00003, VSC-00004" in text
    assert "Dry run" in text
    assert "Smith" not in text
    assert "Maple" not in text
    assert output_digests(vsite.out) == before
    found = leaks(vsite.out)  # the detector the apply test relies on does find the data
    assert any(f.startswith("master.xlsx") for f in found)
    assert any(f.startswith("state.sqlite") for f in found)
    assert any(f.startswith("routes/routes-2020-03-05.xlsx") for f in found)
    assert any(f.startswith("backups/master-") for f in found)


def test_apply_removes_personal_data_and_keeps_counts(vsite):
    report = purge(vsite.config(), apply=True, today=TODAY)
    assert report.applied
    assert report.master_rewritten
    assert report.records == ["VSC-00001", "VSC-00002", "VSC-00003", "VSC-00004"]
    assert report.checks == 1
    assert report.backups >= 1
    assert "Removed personal data of: VSC-00001" in report.render()

    master = sheet(vsite.master, "Vacation Checks")
    ann, eve = master["VSC-00001"], master["VSC-00005"]
    for label in ("First name", "Last name", "Email", "Phone", "Street address",
                  "Emergency contact", "Emergency contact phone", "Key holder", "Alarm company",
                  "Vehicles at the house", "Lights on timers", "Pets", "Authorized persons",
                  "Special instructions", "Notes"):
        assert ann[label] is None, label
    assert (ann["ZIP"], ann["Leaving"], ann["Returning"], ann["Status"]) == (
        "90501", dt.datetime(2020, 3, 1), dt.datetime(2020, 3, 10), "Completed")
    assert (eve["First name"], eve["Special instructions"], eve["Favourite colour"]) == (
        "Eve", "Water the plants", "green")  # not due yet: untouched
    log = sheet(vsite.master, "Check Log")
    assert (log["VSC-00001"]["Result"], log["VSC-00001"]["Notes"]) == ("Secure", None)

    routes = vsite.out / "routes"
    assert sorted(p.name for p in routes.iterdir()) == ["routes-2020-04-12.xlsx"]
    assert leaks(vsite.out) == []  # state, WAL, master, backups, route sheets

    with Store(vsite.out / "state.sqlite") as store:
        data = store.records("vsc")["VSC-00001"]["data"]
        assert data["purged"] == {"on": TODAY, "beat": "Beat 1 - North", "checks": 1}
        assert sorted(data["values"]) == ["city", "leave_date", "return_date", "submitted_at",
                                          "zip"]
        assert store.records("vsc")["VSC-00002"]["data"]["purged"]["beat"] == "Beat 2 - West"
    assert purge(vsite.config(), today=TODAY).records == []  # done once


def test_purged_requests_stay_purged_through_later_syncs(vsite):
    purge(vsite.config(), apply=True, today=TODAY)
    assert sync(vsite.config()).unchanged  # the rewrite counts as the sync's own master
    vsite.write_vsc(VSC_ROWS + [EVE, FAY])
    summary = sync(vsite.config())  # a new answer: every record is rebuilt from the form
    counts = summary.counts["vsc"]
    assert (counts["new"], counts["updated"], counts["unchanged"]) == (1, 0, 5)
    master = sheet(vsite.master, "Vacation Checks")
    assert master["VSC-00001"]["First name"] is None
    assert master["VSC-00006"]["First name"] == "Fay"
    assert leaks(vsite.out) == []
    # A purged request is never routed again.
    day = write_routes(vsite.config(), start=dt.date(2020, 3, 6), days=1).days[0]
    assert day.stops == 0


@pytest.mark.usefixtures("restore_logging")
def test_purge_command(vsite, capsys):
    master = digest(vsite.master)
    assert cli.main(["purge", "--config", str(vsite.config_path)]) == 0
    out = capsys.readouterr().out
    assert "Would remove personal data of: VSC-00001" in out
    assert "--apply" in out
    assert digest(vsite.master) == master
    assert cli.main(["purge", "--config", str(vsite.config_path), "--apply"]) == 0
    assert "Removed personal data of" in capsys.readouterr().out
    assert sheet(vsite.master, "Vacation Checks")["VSC-00005"]["First name"] is None


@simulated
@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("finisher", ["sync", "purge"])
def test_a_purge_stopped_by_an_open_master_is_finished_by_the_next_run(vsite, capsys, finisher,
                                                                       windows_like):
    """Guards "purged personal data survives nowhere": a purge stopped half-way (the master
    open in Excel) used to leave the data in the master and its backups, and the next sync
    said "Nothing changed". The next sync or purge now finishes it, backups included."""
    owner = vsite.out / f"~${vsite.master.name}"
    owner.write_bytes(b"\x05Staff")
    windows_like.hold(vsite.master)  # Excel locks the workbooks it has open (simulated)
    config = ["--config", str(vsite.config_path)]
    assert cli.main(["purge", *config, "--apply"]) == 1
    err = capsys.readouterr().err
    assert f"{vsite.master} (open by Staff): open in another program" in err
    assert leaks(vsite.out)  # the master still holds the data...
    owner.unlink()
    windows_like.release(vsite.master)
    if finisher == "sync":
        assert cli.main(["sync", *config]) == 0
    else:
        assert cli.main(["purge", *config, "--apply"]) == 0
    assert leaks(vsite.out) == []  # ...until the next run finishes the purge
    assert sheet(vsite.master, "Vacation Checks")["VSC-00001"]["First name"] is None
    with Store(vsite.out / "state.sqlite") as store:
        assert store.get_meta("purge:pending") is None


def test_purge_forgets_what_a_google_form_source_keeps(tmp_path):
    """Guards "purged personal data survives nowhere": a Google Form source keeps every
    response it read in the state (so that later syncs fetch only new ones); a purged
    request's answers must leave that cache too, and stay out of it."""
    from tests.fake_forms import FakeForms, date, text

    form_id = "1VscForm_0000000000000000000000000000000000"
    titles = ["First Name", "Last Name", "Phone", "Street", "City", "ZIP", "Emergency contact",
              "Emergency phone", "Key holder", "Alarm company", "Vehicles", "Lights", "Pets",
              "Authorized", "Instructions", "Favourite colour"]
    with FakeForms() as fake:
        form = fake.add_form(form_id, [text(t) for t in titles]
                             + [date("Leaving"), date("Returning")], title="Vacation check")
        form.submit({"First Name": "Ann", "Last Name": "Smith", "Phone": "3105550101",
                     "Street": "1200 Maple Ave", "City": "Torrance", "ZIP": "90501",
                     "Leaving": "2020-03-01", "Returning": "2020-03-10",
                     "Emergency contact": "Zed Neighbour", "Alarm company": "ADT"},
                    at=dt.datetime(2020, 2, 20, 18, 0, tzinfo=dt.UTC), email="ann@example.com")
        key = fake.write_key(tmp_path)
        site = vsc_site(tmp_path, [])
        site.config_path.write_text(site.config_path.read_text().replace(
            'file = "vsc.csv"', f'form = "https://docs.google.com/forms/d/{form_id}/edit"')
            + f'\n[google]\ncredentials = "{key}"\napi_endpoint = "{fake.url}"\n'
            f'forms_endpoint = "{fake.url}"\nmax_attempts = 1\n')
        cfg = site.config()
        sync(cfg)
        assert "Smith" in (site.out / "state.sqlite").read_bytes().decode("utf-8", "replace")
        report = purge(cfg, apply=True, today=TODAY)
        assert report.records == ["VSC-00001"]
        assert leaks(site.out) == []  # the state's cache of the form's responses included
        summary = sync(cfg)  # the next read fetches only newer responses: it stays gone
        assert summary.counts["vsc"]["records"] == 1
        assert sheet(site.master, "Vacation Checks")["VSC-00001"]["First name"] is None
        assert leaks(site.out) == []
