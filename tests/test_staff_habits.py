"""Staff's workbook habits: title rows above a header, rows typed without a Record ID, formulas.

Staff are trusted but careless: whatever they type or rearrange in a workbook is kept, or
moved with a log line that says where to, never dropped. A header row that cannot be found
stops the run with one message, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import cli
from sync.classes.rosters import write_rosters
from sync.errors import SyncError
from sync.master.syncer import sync
from sync.state.store import Store
from sync.vacation import checklog
from sync.vacation.routes import write_routes
from tests.helpers import vsc_site

PIP = "Partners in Policing"
VSC = "Vacation Checks"
DUPLICATES = "Possible Duplicates"
STAFF_ROWS = "Staff rows"
DAY = dt.date(2020, 3, 5)
ANNE = '3/3/2020 10:00:00,anne.s@example.org,Anne,Smith,1/2/1980,3105550199,I live in Torrance,'
FAY = '3/3/2020 11:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,I live in Torrance,'


def ws_rows(path: Path, title: str) -> list[tuple]:
    wb = load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in wb[title].iter_rows(values_only=True)]
    finally:
        wb.close()


def header_at(rows: list[tuple], anchor: str = "Record ID") -> int:
    return next(i for i, r in enumerate(rows) if anchor in r)


def by_id(path: Path, title: str = PIP) -> dict[str, dict]:
    rows = ws_rows(path, title)
    top = header_at(rows)
    header = rows[top]
    rid = header.index("Record ID")
    return {r[rid]: dict(zip(header, r, strict=False)) for r in rows[top + 1:] if r[rid]}


def edit(path: Path, title: str, changes: dict[str, dict[str, object]]) -> None:
    """Type into a master sheet as staff would (openpyxl, as Excel saves it)."""
    wb = load_workbook(path)
    ws = wb[title]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        for column, value in changes.get(row[header.index("Record ID")].value, {}).items():
            if column not in header:
                header.append(column)
                ws.cell(1, len(header), column)
            ws.cell(row[0].row, header.index(column) + 1, value)
    wb.save(path)


def insert_title_row(path: Path, title: str, text: str) -> None:
    wb = load_workbook(path)
    wb[title].insert_rows(1)
    wb[title]["A1"] = text
    wb.save(path)


def staff_rows(path: Path) -> list[dict]:
    rows = ws_rows(path, STAFF_ROWS)
    top = header_at(rows, "Staff row")
    return [dict(zip(rows[top], r, strict=False)) for r in rows[top + 1:]]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


# -- title rows above a header -------------------------------------------------------------------


def test_title_row_above_vacation_checks_keeps_notes_status_and_staff_column(tmp_path, caplog):
    """Guards staff input on a sheet whose header staff pushed down with a title row: it used
    to be dropped with exit 0 and nothing in the log."""
    site = vsc_site(tmp_path)
    sync(site.config())
    edit(site.master, VSC, {"VSC-00001": {"Notes": "gate code at the front desk"},
                            "VSC-00004": {"Status": "Cancelled"},
                            "VSC-00002": {"Called?": "yes"}})
    insert_title_row(site.master, VSC, "Spring checks - do not share")
    caplog.set_level(logging.INFO)
    sync(site.config())
    records = by_id(site.master, VSC)
    assert records["VSC-00001"]["Notes"] == "gate code at the front desk"
    assert records["VSC-00004"]["Status"] == "Cancelled"
    assert records["VSC-00002"]["Called?"] == "yes"
    rows = ws_rows(site.master, VSC)
    assert rows[0][0] == "Spring checks - do not share" and rows[1][0] == "Record ID"
    assert f"'{VSC}': 1 title row above the header kept" in logged(caplog)
    assert "do not share" not in logged(caplog)
    # the carried-over title row changes nothing at the next syncs, and edits still count
    before = ws_rows(site.master, VSC)
    assert sync(site.config()).unchanged
    assert ws_rows(site.master, VSC) == before
    wb = load_workbook(site.master)
    ws = wb[VSC]
    header = [c.value for c in ws[2]]
    ws.cell(3, header.index("Notes") + 1, "key with Zed")
    wb.save(site.master)
    sync(site.config())
    assert by_id(site.master, VSC)["VSC-00001"]["Notes"] == "key with Zed"
    assert ws_rows(site.master, VSC)[0][0] == "Spring checks - do not share"


def test_title_row_above_possible_duplicates_keeps_the_decision(site):
    site.write_pip(site.pip_rows + [ANNE])
    sync(site.config())
    insert_title_row(site.master, DUPLICATES, "Check these by Friday")
    wb = load_workbook(site.master)
    wb[DUPLICATES]["G3"] = "Merge"
    wb.save(site.master)
    sync(site.config())
    assert "PIP-00004" not in by_id(site.master)
    assert ws_rows(site.master, DUPLICATES)[0][0] == "Check these by Friday"


def test_no_header_row_stops_the_sync_and_changes_nothing(site, capsys, restore_logging):
    """Guards against discarding staff input when the header row cannot be found."""
    sync(site.config())
    edit(site.master, PIP, {"PIP-00002": {"Notes": "called back"}})
    header = ws_rows(site.master, PIP)[0]
    wb = load_workbook(site.master)
    wb[PIP].delete_rows(1)  # the header row deleted
    wb.save(site.master)
    site.write_pip(site.pip_rows + [FAY])
    before = {p: p.read_bytes() for p in (site.master, site.out / "state.sqlite")}
    assert cli.main(["sync", "--config", str(site.config_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "master.xlsx" in err and f"sheet '{PIP}'" in err and "Record ID" in err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in before} == before
    # once the header row is back, nothing typed was lost
    wb = load_workbook(site.master)
    wb[PIP].insert_rows(1)
    for c, title in enumerate(header, start=1):
        wb[PIP].cell(1, c, title)
    wb.save(site.master)
    sync(site.config())
    assert by_id(site.master)["PIP-00002"]["Notes"] == "called back"
    assert "PIP-00004" in by_id(site.master)


def test_renamed_record_id_header_stops_the_sync(site):
    sync(site.config())
    wb = load_workbook(site.master)
    wb[PIP]["A1"] = "ID"
    wb.save(site.master)
    with pytest.raises(SyncError, match=f"master.xlsx: sheet '{PIP}': .*Record ID"):
        sync(site.config())


def test_title_row_above_vacation_checks_still_keeps_cancelled_requests_off_routes(tmp_path):
    site = vsc_site(tmp_path)
    sync(site.config())
    edit(site.master, VSC, {"VSC-00004": {"Status": "Cancelled"}})
    insert_title_row(site.master, VSC, "Spring checks")
    summary = write_routes(site.config(), start=DAY, days=1)
    assert summary.days[0].beats["Beat 1 - North"] == 1


def test_title_row_above_a_route_sheet_header_keeps_the_checks(tmp_path):
    site = vsc_site(tmp_path)
    sync(site.config())
    write_routes(site.config(), start=DAY, days=1)
    path = site.out / "routes" / f"routes-{DAY.isoformat()}.xlsx"
    wb = load_workbook(path)
    ws = wb["Beat 1 - North"]
    header = [c.value for c in ws[1]]
    ws.cell(2, header.index("Result") + 1, "Secure")
    ws.cell(2, header.index("Checked by") + 1, "Ofc. Lee")
    ws.insert_rows(1)
    ws["A1"] = "Route for Thursday"
    wb.save(path)
    sync(site.config())
    with Store(site.out / "state.sqlite") as store:
        assert [(c.result, c.checked_by) for c in checklog.stored_checks(store)] == [("Secure", "Ofc. Lee")]


def test_route_sheet_without_its_header_row_stops_the_sync(tmp_path):
    site = vsc_site(tmp_path)
    sync(site.config())
    write_routes(site.config(), start=DAY, days=1)
    path = site.out / "routes" / f"routes-{DAY.isoformat()}.xlsx"
    wb = load_workbook(path)
    ws = wb["Beat 1 - North"]
    ws.cell(2, 17, "Secure")
    ws.delete_rows(1)
    wb.save(path)
    with pytest.raises(SyncError, match=rf"routes-{DAY.isoformat()}.xlsx: sheet 'Beat 1 - North': "
                                        r".*Record ID"):
        sync(site.config())


def test_attendance_sheet_without_its_header_row_stops_the_sync(site):
    sync(site.config())
    write_rosters(site.config())
    path = site.out / "rosters" / "pip-2020-spring.xlsx"
    wb = load_workbook(path)
    ws = wb["Attendance"]
    ws.cell(4, 3, "✓")
    ws.delete_rows(3)  # the header row, with the session dates
    wb.save(path)
    with pytest.raises(SyncError, match=r"pip-2020-spring.xlsx: sheet 'Attendance': .*Record ID"):
        sync(site.config())


# -- rows without a Record ID ------------------------------------------------------------------


def type_row(path: Path, title: str, values: dict[str, object], header_row: int = 1) -> int:
    """Type a new row under the last one, as staff would; returns its row number."""
    wb = load_workbook(path)
    ws = wb[title]
    header = [c.value for c in ws[header_row]]
    row = ws.max_row + 1
    for column, value in values.items():
        ws.cell(row, header.index(column) + 1, value)
    wb.save(path)
    return row


def test_row_without_a_record_id_moves_to_staff_rows(site, caplog):
    """Guards a row staff typed into a program sheet: it used to vanish at the next sync."""
    sync(site.config())
    walk_in = {"First name": "Gus", "Last name": "Hall", "Notes": "walk-in, wants the fall class"}
    row = type_row(site.master, PIP, walk_in)
    caplog.set_level(logging.INFO)
    sync(site.config())
    kept = staff_rows(site.master)
    assert len(kept) == 1
    assert {k: kept[0][k] for k in walk_in} == walk_in
    assert kept[0]["From sheet"] == PIP and kept[0]["Row"] == row
    assert set(by_id(site.master)) == {"PIP-00001", "PIP-00002", "PIP-00003"}
    text = logged(caplog)
    assert f"'{PIP}': 1 row without a Record ID (row {row}) moved to the '{STAFF_ROWS}' sheet" in text
    assert "Gus" not in text and "walk-in" not in text
    # kept across syncs, and the same row typed again is not carried twice
    site.write_pip(site.pip_rows + [FAY])
    sync(site.config())
    assert len(staff_rows(site.master)) == 1
    type_row(site.master, PIP, walk_in)
    type_row(site.master, PIP, {"Notes": "call the school"})
    caplog.clear()
    sync(site.config())
    kept = staff_rows(site.master)
    assert [r["Notes"] for r in kept] == ["walk-in, wants the fall class", "call the school"]
    assert "1 already in the 'Staff rows' sheet" in logged(caplog)
    assert sync(site.config()).unchanged


def test_staff_rows_sheet_keeps_staff_edits_and_deleted_rows(site):
    sync(site.config())
    type_row(site.master, PIP, {"Notes": "walk-in"})
    sync(site.config())
    wb = load_workbook(site.master)
    ws = wb[STAFF_ROWS]
    header = [c.value for c in ws[1]]
    ws.cell(2, header.index("Notes") + 1, "walk-in, called back")
    ws.cell(1, len(header) + 1, "Handled by")
    ws.cell(2, len(header) + 1, "Sgt. Ames")
    wb.save(site.master)
    sync(site.config())
    assert staff_rows(site.master)[0]["Notes"] == "walk-in, called back"
    assert staff_rows(site.master)[0]["Handled by"] == "Sgt. Ames"
    wb = load_workbook(site.master)
    wb[STAFF_ROWS].delete_rows(2)
    wb.save(site.master)
    sync(site.config())
    assert staff_rows(site.master)[0]["Notes"] == "walk-in, called back"
    # a row typed into the sheet itself is kept; a row whose number was cleared is not doubled
    wb = load_workbook(site.master)
    ws = wb[STAFF_ROWS]
    ws["A2"] = None
    ws.cell(3, header.index("Notes") + 1, "second walk-in")
    wb.save(site.master)
    sync(site.config())
    assert [(r["Staff row"], r["Notes"]) for r in staff_rows(site.master)] == [
        (1, "walk-in, called back"), (2, "second walk-in")]


# -- formulas --------------------------------------------------------------------------------


def test_formula_typed_into_notes_is_kept_as_its_text(site, caplog):
    """Guards a formula staff typed in Notes: it used to read back empty and vanish."""
    sync(site.config())
    edit(site.master, PIP, {"PIP-00002": {"Notes": "=A1+B1"}})
    caplog.set_level(logging.INFO)
    sync(site.config())
    assert by_id(site.master)["PIP-00002"]["Notes"] == "=A1+B1"
    wb = load_workbook(site.master)
    ws = wb[PIP]
    header = [c.value for c in ws[1]]
    cell = ws.cell(3, header.index("Notes") + 1)
    assert cell.value == "=A1+B1" and cell.data_type == "s"  # text, never a live formula
    assert f"'{PIP}': 1 formula kept as text, not as a formula (row 3: PIP-00002)" in logged(caplog)
    site.write_pip(site.pip_rows + [FAY])
    sync(site.config())
    assert by_id(site.master)["PIP-00002"]["Notes"] == "=A1+B1"


def test_formula_in_a_row_without_a_record_id_is_carried_as_text(site):
    sync(site.config())
    type_row(site.master, PIP, {"Notes": "=SUM(1,2)"})
    sync(site.config())
    assert staff_rows(site.master)[0]["Notes"] == "=SUM(1,2)"
    wb = load_workbook(site.master)
    assert all(c.data_type != "f" for row in wb[STAFF_ROWS].iter_rows() for c in row)
