"""Attendance: ticks made in a roster workbook flow into the state and the master, and back."""

from __future__ import annotations

import datetime as dt
import logging
import os

from openpyxl import load_workbook

from sync.classes import attendance
from sync.classes.rosters import write_rosters
from sync.master.syncer import STATE, sync
from sync.state.store import Store

SPRING = [dt.date(2020, 3, 5) + dt.timedelta(weeks=i) for i in range(12)]


def roster_path(site):
    return site.out / "rosters" / "pip-2020-spring.xlsx"


def tick(site, marks: dict[str, dict[dt.date, str | None]]) -> None:
    """Type into the Attendance sheet with openpyxl, as staff would in Excel, and save."""
    wb = load_workbook(roster_path(site))
    ws = wb["Attendance"]
    header = [c.value for c in ws[3]]
    for row in ws.iter_rows(min_row=4):
        for day, mark in marks.get(row[0].value, {}).items():
            row[header.index(day.isoformat())].value = mark
    wb.save(roster_path(site))


def attendance_rows(site) -> dict[str, dict[str, object]]:
    wb = load_workbook(roster_path(site))
    rows = list(wb["Attendance"].iter_rows(min_row=3, values_only=True))
    header = rows[0]
    return {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:] if r[0]}


def master_columns(site, *columns: str) -> dict[str, tuple]:
    wb = load_workbook(site.master, read_only=True)
    rows = list(wb["Partners in Policing"].iter_rows(values_only=True))
    header = list(rows[0])
    at = [header.index(c) for c in columns]
    return {r[header.index("Record ID")]: tuple(r[i] for i in at) for r in rows[1:]}


def test_parse_sheet_finds_the_header_dates_and_marks():
    rows = [
        ("Spring 2020: attendance", None, None, None),
        ("Tick ...", None, None, None),
        ("Record ID", "Name", "2020-03-05", dt.datetime(2020, 3, 12), "Attended"),
        ("PIP-00001", "Smith, Ann", "✓", " x ", "=COUNTIF()"),
        ("PIP-00002", "Jones, Bob", None, "late", None),
        ("PIP-00002", "Jones, Bob", "X", None, None),  # pasted twice: a mark in either counts
        (None, "Present", 2, 1, None),
    ]
    sheet = attendance.parse_sheet(rows)
    assert sheet.record_ids == ["PIP-00001", "PIP-00002"]
    assert sheet.dates == [dt.date(2020, 3, 5), dt.date(2020, 3, 12)]
    assert sheet.marks == {("PIP-00001", dt.date(2020, 3, 5)): "✓",
                           ("PIP-00001", dt.date(2020, 3, 12)): "x",
                           ("PIP-00002", dt.date(2020, 3, 12)): "late",
                           ("PIP-00002", dt.date(2020, 3, 5)): "X"}
    assert [attendance.is_present(m) for m in ("✓", "✔", "x", "X", "late", "", None)] == [
        True, True, True, True, False, False, False]
    assert attendance.parse_sheet([("no", "header")]).record_ids == []


def test_attendance_round_trip(site):
    """Ticks made in the roster workbook show in the master after the next sync; a
    regenerated roster keeps them; clearing a tick is staff input too."""
    sync(site.config())
    write_rosters(site.config())
    tick(site, {"PIP-00001": {day: "✓" for day in SPRING[:9]},
                "PIP-00002": {SPRING[0]: "x", SPRING[1]: "X", SPRING[2]: "late"}})
    summary = sync(site.config())
    assert not summary.unchanged
    cols = master_columns(site, "Sessions attended", "Graduation eligible")
    assert cols == {"PIP-00001": (9, "Yes"), "PIP-00002": (2, "No"), "PIP-00003": (0, "No")}

    again = sync(site.config())
    assert again.unchanged  # nothing new: the master is left as it was

    roster_path(site).unlink()  # even a lost roster comes back with its ticks
    result = write_rosters(site.config())
    assert result.classes[0].marks == 12
    rows = attendance_rows(site)
    assert [rows["PIP-00001"][d.isoformat()] for d in SPRING] == ["✓"] * 9 + [None] * 3
    assert rows["PIP-00002"]["2020-03-05"] == "x"
    assert rows["PIP-00002"]["2020-03-19"] == "late"
    assert rows["PIP-00003"]["2020-03-05"] is None

    tick(site, {"PIP-00001": {SPRING[8]: None}})
    sync(site.config())
    cols = master_columns(site, "Sessions attended", "Graduation eligible")
    assert cols["PIP-00001"] == (8, "No")


def test_a_changed_mark_reaches_the_master_even_when_the_count_of_marks_stays(site):
    """Guards the 'nothing changed' shortcut: ✓ -> "absent" keeps the number of stored
    marks (and SQLite may reuse the row id), yet the master must change."""
    sync(site.config())
    write_rosters(site.config())
    tick(site, {"PIP-00001": {SPRING[0]: "✓"}})
    sync(site.config())
    assert master_columns(site, "Sessions attended")["PIP-00001"] == (1,)
    tick(site, {"PIP-00001": {SPRING[0]: "absent"}})
    assert not sync(site.config()).unchanged
    assert master_columns(site, "Sessions attended")["PIP-00001"] == (0,)


def test_marks_of_people_no_longer_on_the_sheet_are_kept(site):
    """A person who withdrew after attending keeps their marks, and stays on the sheet."""
    sync(site.config())
    write_rosters(site.config())
    tick(site, {"PIP-00003": {SPRING[0]: "✓", SPRING[1]: "✓"}})
    sync(site.config())
    wb = load_workbook(site.master)
    ws = wb["Partners in Policing"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("Record ID")].value == "PIP-00003":
            row[header.index("Status")].value = "Withdrawn"
    wb.save(site.master)
    sync(site.config())
    write_rosters(site.config())
    rows = attendance_rows(site)
    assert rows["PIP-00003"]["Status"] == "Withdrawn"
    assert rows["PIP-00003"]["2020-03-05"] == "✓"
    assert master_columns(site, "Sessions attended", "Status")["PIP-00003"] == (2, "Withdrawn")


def test_unchanged_roster_files_are_not_read_again(site):
    """Cheap when nothing changed: a file whose size and time are as last seen is skipped
    (here its content is made unreadable without changing either: no error, no read)."""
    sync(site.config())
    write_rosters(site.config())
    assert not sync(site.config()).unchanged  # the new roster's people get their columns
    path = roster_path(site)
    st = path.stat()
    path.write_bytes(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with Store(site.out / STATE) as store:
        assert attendance.collect(store, site.config()) == 0
    assert sync(site.config()).unchanged


def test_an_unreadable_roster_is_reported_and_the_sync_goes_on(site, caplog):
    sync(site.config())
    write_rosters(site.config())
    roster_path(site).write_bytes(b"not a workbook")
    with caplog.at_level(logging.WARNING, logger="sync.classes.attendance"):
        sync(site.config())
    assert any("pip-2020-spring.xlsx: not a readable .xlsx workbook" in r.getMessage()
               for r in caplog.records)
    assert site.master.exists()


def test_attendance_sheet_layout(site):
    sync(site.config())
    write_rosters(site.config())
    wb = load_workbook(roster_path(site))
    ws = wb["Attendance"]
    header = [c.value for c in ws[3]]
    assert header[:3] == ["Record ID", "Name", "Status"]
    assert header[3:15] == [d.isoformat() for d in SPRING]
    assert header[15:] == ["Attended", "Graduation eligible"]
    assert ws["P4"].value == '=COUNTIF(D4:O4,"✓")+COUNTIF(D4:O4,"✔")+COUNTIF(D4:O4,"X")'
    assert ws["Q4"].value == '=IF(P4>=9,"Yes","No")'
    assert ws["B7"].value == "Present"
    assert ws["D7"].value.startswith("=COUNTIF(D4:D6,")
    assert ws["D4"].border.left.style == "thin"
    boxes = [dv for dv in ws.data_validations.dataValidation if "D4" in dv.sqref]
    assert boxes
    assert boxes[0].formula1 == '"✓,X"'
    assert ws.freeze_panes == "D4"
