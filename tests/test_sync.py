"""The sync's invariants, end to end over real export files and real workbooks."""

from __future__ import annotations

import datetime as dt
import gc
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync.errors import LockedError, WorkbookError
from sync.ingest.validate import validate
from sync.master import syncer
from sync.master.records import build_records
from sync.sources.responses import map_table, read_tables
from sync.state import store as store_mod
from tests.conftest import REPO, temporary_files
from tests.helpers import PIP, cells, rows_by_id
from tests.windows import simulated


def edit(path: Path, sheet: str, record_id: str, column: str, value) -> None:
    wb = load_workbook(path)
    ws = wb[sheet]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[0].value == record_id:
            row[header.index(column)].value = value
    wb.save(path)


def test_first_sync_writes_every_sheet_with_real_types(site):
    summary = syncer.sync(site.config())
    assert summary.counts["pip"]["read"] == 3 and summary.counts["pip"]["new"] == 3
    data = cells(site.master)
    assert list(data)[:5] == ["Summary", PIP, "Needs Review", "Possible Duplicates", "Sync Log"]
    ann = rows_by_id(site.master)["PIP-00001"]
    assert ann["First name"] == "Ann" and ann["Phone"] == "+13105550101"
    assert ann["Date of birth"].year == 1980 and ann["First submitted"].hour == 10
    assert ann["Status"] == "New" and ann["Assigned cohort"] == "2020-spring"
    wb = load_workbook(site.master)
    ws = wb[PIP]
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref
    status_col = [c.value for c in ws[1]].index("Status")
    assert any("New,Accepted,Waitlisted" in (dv.formula1 or "") for dv in ws.data_validations.dataValidation)
    assert ws.cell(2, status_col + 1).value == "New"
    assert ws.cell(2, [c.value for c in ws[1]].index("Phone") + 1).data_type == "s"


def test_counts_add_up_and_nothing_is_lost(site):
    site.write_pip(site.pip_rows + [
        '3/3/2020 10:00:00,ANN@Example.com,Ann,Smith,1/2/1980,310.555.0101,I live in Torrance,',  # same
        '3/3/2020 11:00:00,dee@example.com,Dee,,1/2/1980,310.555.0104,I live in Torrance,',  # no last name
        '3/3/2020 12:00:00,eve@example.com,Eve,Park,2/30/1985,310.555.0105,I live in Torrance,',  # no date
    ])
    summary = syncer.sync(site.config())
    c = summary.counts["pip"]
    assert c["read"] == 6
    assert c["read"] == c["new"] + c["updated"] + c["unchanged"] + c["merged"] + c["review"]
    assert (c["new"], c["merged"], c["review"]) == (3, 1, 2)
    records = rows_by_id(site.master)
    sources = sorted(s for r in records.values() for s in r["Source rows"].split(", "))
    review = cells(site.master)["Needs Review"]
    assert sorted(sources + [f"pip:{r[2]}" for r in review[1:]]) == [f"pip:{n}" for n in range(2, 8)]
    assert records["PIP-00001"]["Source rows"] == "pip:2, pip:5"
    reasons = {r[2]: r[3] for r in review[1:]}
    assert reasons[6] == "'Last Name': an answer is required"
    assert "date 2/30/1985 does not exist" in reasons[7]
    log = cells(site.master)["Sync Log"]
    assert log[-1][3:9] == (6, 3, 0, 0, 1, 2)


def test_second_sync_with_no_new_responses_changes_nothing(site):
    syncer.sync(site.config())
    before, mtime = cells(site.master), site.master.stat().st_mtime_ns
    summary = syncer.sync(site.config())
    assert summary.unchanged
    assert site.master.stat().st_mtime_ns == mtime
    assert cells(site.master) == before


def test_rebuilt_master_is_cell_for_cell_the_same(site):
    """Guards idempotency when a write does happen: same inputs give the same cells."""
    syncer.sync(site.config())
    before = cells(site.master)
    site.master.unlink()
    syncer.sync(site.config())
    after = cells(site.master)
    assert after[PIP] == before[PIP]
    assert after["Needs Review"] == before["Needs Review"]


def test_staff_edits_survive_new_responses(site):
    syncer.sync(site.config())
    edit(site.master, PIP, "PIP-00001", "Status", "Accepted")
    edit(site.master, PIP, "PIP-00002", "Notes", "Called 3/4, will bring ID")
    edit(site.master, PIP, "PIP-00003", "Email", "cy.lee@example.org")  # staff fixed a tool cell
    edit(site.master, PIP, "PIP-00001", "Cohort override", "2020-fall")
    site.write_pip(site.pip_rows + [
        '3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,310.555.0106,I live in Torrance,',
        '3/3/2020 11:00:00,CY@example.com,Cy,Lee,7/8/1990,310.555.0103,I live in Torrance,Kiwanis',
    ])
    summary = syncer.sync(site.config())
    assert summary.counts["pip"]["new"] == 1 and summary.counts["pip"]["updated"] == 1
    records = rows_by_id(site.master)
    assert records["PIP-00001"]["Status"] == "Accepted"
    assert records["PIP-00001"]["Cohort override"] == "2020-fall"
    assert records["PIP-00002"]["Notes"] == "Called 3/4, will bring ID"
    assert records["PIP-00003"]["Email"] == "cy.lee@example.org"  # never overwritten
    assert records["PIP-00003"]["Organization"] == "Kiwanis"  # the new answer still arrives
    assert records["PIP-00004"]["First name"] == "Fay"
    # and a sync after that keeps them too
    syncer.sync(site.config())
    assert rows_by_id(site.master)["PIP-00001"]["Status"] == "Accepted"


def test_staff_added_column_and_moved_columns_survive(site):
    syncer.sync(site.config())
    wb = load_workbook(site.master)
    ws = wb[PIP]
    ws.move_range("A1:A4", cols=ws.max_column + 1)  # Record ID moved to the far right
    extra = ws.max_column + 1
    ws.cell(1, extra, "Called?")
    ws.cell(2, extra, "yes")
    status = [c.value for c in ws[1]].index("Status") + 1
    ws.cell(3, status, "Declined")
    wb.save(site.master)
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,'
                                    'I live in Torrance,'])
    syncer.sync(site.config())
    records = rows_by_id(site.master)
    assert records["PIP-00002"]["Status"] == "Declined"
    assert records["PIP-00001"]["Called?"] == "yes"


def test_deleted_source_rows_keep_record_ids_and_the_record(site):
    syncer.sync(site.config())
    site.write_pip(site.pip_rows[1:])  # staff deleted Ann's row from the response sheet
    summary = syncer.sync(site.config())
    records = rows_by_id(site.master)
    assert records["PIP-00001"]["Source rows"] == "Missing from source: pip:2"
    assert records["PIP-00002"]["First name"] == "Bob" and records["PIP-00003"]["First name"] == "Cy"
    assert summary.counts["pip"]["missing"] == 1


def test_rows_moved_up_update_their_records_sources(site):
    syncer.sync(site.config())
    site.write_pip(site.pip_rows[1:])  # Ann's row deleted: Bob and Cy move up one row
    summary = syncer.sync(site.config())
    assert summary.counts["pip"]["updated"] == 2 and summary.counts["pip"]["unchanged"] == 0
    records = rows_by_id(site.master)
    assert records["PIP-00002"]["Source rows"] == "pip:2" and records["PIP-00003"]["Source rows"] == "pip:3"
    with store_mod.Store(site.out / "state.sqlite") as store:
        assert store.records("pip")["PIP-00003"]["data"]["sources"] == ["pip:3"]


def test_unchanged_records_are_not_decoded_from_the_state(site):
    syncer.sync(site.config())
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,'
                                    'I live in Torrance,'])
    config = site.config()
    with store_mod.Store(site.out / "state.sqlite") as store:
        program = config.program("pip")
        table = read_tables(config, ["pip"])["pip"]
        candidates, problems = validate(map_table(table, program), program, config,
                                        known=store.validated("pip"))
        result = build_records(store, program, config, candidates, problems,
                               dt.datetime(2020, 3, 4), reuse=True)
        assert result.counts["unchanged"] == 3 and result.counts["new"] == 1
        assert result.unchanged == {"PIP-00001", "PIP-00002", "PIP-00003"}
        assert not any(dict.__contains__(r, "data") for r in store.records("pip").values())
        result = build_records(store, program, config, candidates, problems,
                               dt.datetime(2020, 3, 4), reuse=False)  # e.g. the configuration changed
        assert result.counts["unchanged"] == 3 and not result.unchanged
        assert all(dict.__contains__(r, "data") for r in store.records("pip").values())


def test_a_changed_configuration_renormalises_every_answer_and_keeps_it_so(site):
    """A configuration change can change what an unchanged answer means (here the minimum
    age), so every response's cached normalisation is rewritten; the next sync reuses them
    as they are now, not as they were first found."""
    syncer.sync(site.config())
    assert {r["Eligibility"] for r in rows_by_id(site.master).values()} == {"Eligible"}
    site.config_path.write_text(site.config_path.read_text() + "\n[programs.pip]\nminimum_age = 41\n")
    syncer.sync(site.config())
    under_age = {rid for rid, r in rows_by_id(site.master).items() if "under 41" in r["Eligibility"]}
    assert under_age == {"PIP-00001", "PIP-00003"}  # 40 and 29 on the class start date

    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,'
                                    '3105550106,I live in Torrance,'])
    summary = syncer.sync(site.config())  # same configuration: cached answers are reused
    assert summary.counts["pip"]["unchanged"] == 3 and summary.counts["pip"]["new"] == 1
    rows = rows_by_id(site.master)
    assert {rid for rid, r in rows.items() if "under 41" in r["Eligibility"]} == under_age
    assert rows["PIP-00004"]["Eligibility"] == "Eligible"


def test_a_state_file_from_before_row_digests_is_brought_up_to_date(site):
    syncer.sync(site.config())
    db = sqlite3.connect(site.out / "state.sqlite")
    db.execute("ALTER TABLE records DROP COLUMN written_hash")  # as an earlier version made it
    db.close()
    edit(site.master, PIP, "PIP-00002", "Status", "Accepted")
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,'
                                    'I live in Torrance,'])
    summary = syncer.sync(site.config())
    assert summary.counts["pip"]["new"] == 1 and summary.counts["pip"]["unchanged"] == 3
    assert rows_by_id(site.master)["PIP-00002"]["Status"] == "Accepted"
    with store_mod.Store(site.out / "state.sqlite") as store:
        assert all(r["written_hash"] for r in store.records("pip").values())
    summary = syncer.sync(site.config())  # and the next sync finds nothing changed
    assert summary.unchanged


def test_fixed_row_in_the_source_is_accepted_next_sync(site):
    site.write_pip(site.pip_rows + ['3/3/2020 12:00:00,eve@example.com,Eve,Park,2/30/1985,3105550105,'
                                    'I live in Torrance,'])
    syncer.sync(site.config())
    assert len(cells(site.master)["Needs Review"]) == 2
    site.write_pip(site.pip_rows[:3] + ['3/3/2020 12:00:00,eve@example.com,Eve,Park,2/3/1985,3105550105,'
                                        'I live in Torrance,'])
    syncer.sync(site.config())
    assert len(cells(site.master)["Needs Review"]) == 1
    assert rows_by_id(site.master)["PIP-00004"]["First name"] == "Eve"


def test_possible_duplicate_decisions_are_honoured(site):
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,anne.s@example.org,Anne,Smith,1/2/1980,3105550199,'
                                    'I live in Torrance,'])
    syncer.sync(site.config())
    pairs = cells(site.master)["Possible Duplicates"]
    assert pairs[1][1:5] == ("PIP-00001", "Ann Smith", "PIP-00004", "Anne Smith")
    assert "same birthdate" in pairs[1][5]
    wb = load_workbook(site.master)
    wb["Possible Duplicates"]["G2"] = "Merge"
    wb.save(site.master)
    syncer.sync(site.config())
    records = rows_by_id(site.master)
    assert "PIP-00004" not in records
    assert records["PIP-00001"]["Source rows"] == "pip:2, pip:5"
    assert len(cells(site.master)["Possible Duplicates"]) == 1


def test_not_duplicate_decision_removes_the_pair_for_good(site):
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,anne.s@example.org,Anne,Smith,1/2/1980,3105550199,'
                                    'I live in Torrance,'])
    syncer.sync(site.config())
    wb = load_workbook(site.master)
    wb["Possible Duplicates"]["G2"] = "Not duplicate"
    wb.save(site.master)
    syncer.sync(site.config())
    site.write_pip(site.pip_rows + ['3/4/2020 10:00:00,gus@example.org,Gus,Hall,1/2/1960,3105550198,'
                                    'I live in Torrance,'])
    syncer.sync(site.config())
    assert len(cells(site.master)["Possible Duplicates"]) == 1
    assert "PIP-00004" in rows_by_id(site.master)


def test_hostile_answers_are_stored_as_safe_text(site):
    long_text = "x" * 40_000
    site.write_pip(site.pip_rows + [
        f'3/3/2020 10:00:00,fay@example.com,"=HYPERLINK(""http://x"")",Wong,5/6/1970,3105550106,'
        f'I live in Torrance,"@SUM(1+1)\x07\u200b{long_text}"',
        '3/3/2020 11:00:00,gil@example.com,"-2+3",Ruiz,5/6/1971,3105550107,I live in Torrance,'
        '"+cmd|\' /C calc\'!A0"',
    ])
    syncer.sync(site.config())
    wb = load_workbook(site.master)
    ws = wb[PIP]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} became a formula"
    fay = {h: c for h, c in zip(header, next(r for r in ws.iter_rows(min_row=2)
                                          if r[header.index("Last name")].value == "Wong"), strict=False)}
    assert fay["First name"].value.startswith("=HYPERLINK") and fay["First name"].quotePrefix
    org = fay["Organization"].value
    assert org.startswith("@SUM(1+1)x") and "\x07" not in org and "\u200b" not in org
    assert len(org) == 32_767 and org.endswith("more characters]")


def test_files_are_owner_only(site):
    syncer.sync(site.config())
    for path in (site.master, site.out / "state.sqlite"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(site.out.stat().st_mode) == 0o700


def test_failed_write_leaves_previous_master_intact(site, monkeypatch):
    syncer.sync(site.config())
    before = cells(site.master)
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,'
                                    'I live in Torrance,'])

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("xlsxwriter.workbook.Workbook.close", boom)
    with pytest.raises(WorkbookError, match="No space left on device.*previous version is unchanged"):
        syncer.sync(site.config())
    assert cells(site.master) == before
    assert temporary_files(site.out) == []
    gc.collect()  # anything the failed save left behind is finalised inside this test
    monkeypatch.undo()
    summary = syncer.sync(site.config())  # the state was not advanced: Fay is still new
    assert summary.counts["pip"]["new"] == 1
    assert "PIP-00004" in rows_by_id(site.master)


def test_backup_of_the_previous_master_is_kept(site):
    syncer.sync(site.config())
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,'
                                    'I live in Torrance,'])
    syncer.sync(site.config())
    backups = list((site.out / "backups").glob("master-*.xlsx"))
    assert len(backups) == 1
    assert "PIP-00004" not in rows_by_id(backups[0])


@simulated
def test_master_open_in_another_program_is_a_clear_error(site, windows_like):
    syncer.sync(site.config())
    (site.out / "~$master.xlsx").write_text("owner")
    windows_like.hold(site.master)  # Excel locks the workbooks it has open (simulated)
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,'
                                    'I live in Torrance,'])
    with pytest.raises(WorkbookError, match="open in another program"):
        syncer.sync(site.config())


def test_two_runs_never_overlap(site):
    cfg = site.config()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from sync.state.lock import run_lock\n"
         "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(cfg.output)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match="another run is in progress"):
            syncer.sync(cfg)
        assert not site.master.exists()
    finally:
        holder.kill()
        holder.wait()
    syncer.sync(cfg)  # the lock of a killed run frees itself
    assert site.master.exists()


def test_mangled_master_is_rebuilt_from_state(site):
    syncer.sync(site.config())
    edit(site.master, PIP, "PIP-00001", "Status", "Accepted")
    syncer.sync(site.config())  # copies the status into the state
    site.master.write_bytes(b"garbage")
    syncer.sync(site.config())
    assert rows_by_id(site.master)["PIP-00001"]["Status"] == "Accepted"


def test_cli_sync_through_python_m(site):
    result = subprocess.run([sys.executable, "-m", "sync", "sync", "--config", str(site.config_path)],
                            capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    assert "Partners in Policing: 3 rows read: 3 new" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "sync", "sync", "--config", str(site.root / "no.toml")],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert bad.returncode == 1 and "no.toml: configuration file not found" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "sync", "sync", "--program", "xyz"],
                           capture_output=True, text=True, cwd=REPO, check=False)
    assert usage.returncode == 2


def test_example_data_sync(example_site):
    from sync import config

    cfg = config.load(example_site)
    summary = syncer.sync(cfg)
    for key in ("pip", "tap", "vsc"):
        c = summary.counts[key]
        assert c["read"] > 0
        assert c["read"] == c["new"] + c["updated"] + c["unchanged"] + c["merged"] + c["review"]
    assert os.path.exists(cfg.output / "master.xlsx")


@pytest.mark.parametrize("background", [False, True])
def test_syncing_one_program_keeps_the_others_sheets(example_site, monkeypatch, background):
    from sync import config

    monkeypatch.setattr(syncer, "BACKGROUND_ROWS", 0 if background else 10**9)
    cfg = config.load(example_site)
    syncer.sync(cfg)
    edit(cfg.output / "master.xlsx", "Vacation Checks", "VSC-00001", "Notes", "called")
    before = cells(cfg.output / "master.xlsx")
    summary = syncer.sync(cfg, ["vsc"])  # `tpd-programs sync --program vsc`
    assert list(summary.counts) == ["vsc"] and not summary.unchanged
    after = cells(cfg.output / "master.xlsx")
    assert list(after) == list(before)
    assert after["Partners in Policing"] == before["Partners in Policing"]
    assert after["Vacation Checks"] == before["Vacation Checks"]
    assert [r[0] for r in after["Teens and Policing"]] == [r[0] for r in before["Teens and Policing"]]


def test_a_change_in_the_last_source_read_still_rebuilds_every_program(example_site):
    """Sources are read smallest program first, and the no-change check stops at the first
    that differs: when only the last one (PIP, the biggest) changed, the two read before it
    are built all the same and the master matches a sync from scratch."""
    from sync import config

    cfg = config.load(example_site)
    first = syncer.sync(cfg)
    assert max(first.counts, key=lambda k: first.counts[k]["read"]) == "pip"
    pip_csv = example_site.parent / "examples" / "partners-in-policing-responses.csv"
    with pip_csv.open("a", encoding="utf-8") as fh:
        fh.write(next(line for line in reversed(pip_csv.read_text(encoding="utf-8").splitlines())
                      if line).replace("@", "+again@", 1) + "\n")  # one more response

    summary = syncer.sync(cfg)

    assert not summary.unchanged and list(summary.counts) == ["pip", "tap", "vsc"]
    assert summary.counts["pip"]["read"] == first.counts["pip"]["read"] + 1
    for key in ("tap", "vsc"):
        assert summary.counts[key]["unchanged"] == first.counts[key]["new"]
        assert summary.counts[key]["records"] == first.counts[key]["records"]
    fresh = shutil.copytree(example_site.parent, example_site.parent.parent / "fresh" / "config")
    scratch = syncer.sync(config.load(fresh / "example.toml"))  # its output: fresh/out
    assert scratch.counts["pip"]["records"] == summary.counts["pip"]["records"]
    rebuilt, again = cells(cfg.output / "master.xlsx"), cells(scratch.master)
    for title in ("Teens and Policing", "Vacation Checks", "Needs Review"):
        assert rebuilt[title] == again[title], title
