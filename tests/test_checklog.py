"""The check log: results typed into route sheets reach the state and the master's Check Log."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync.master.syncer import sync
from sync.state.store import Store
from sync.vacation import checklog
from sync.vacation.routes import write_routes
from tests.helpers import VscSite, type_checks, vsc_site

DAY = dt.date(2020, 3, 5)


@pytest.fixture
def vsite(tmp_path: Path) -> VscSite:
    site = vsc_site(tmp_path)
    sync(site.config())
    write_routes(site.config(), start=DAY, days=1)
    return site


def route_path(site: VscSite, day: dt.date = DAY) -> Path:
    return site.out / "routes" / f"routes-{day.isoformat()}.xlsx"


def check_log(site: VscSite) -> list[tuple[dict, str | None]]:
    ws = load_workbook(site.master)["Check Log"]
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[0]]
    out = []
    for row in rows[1:]:
        fill = row[0].fill.fgColor.rgb if row[0].fill.fill_type == "solid" else None
        out.append(({h: c.value for h, c in zip(header, row, strict=False)}, fill))
    return out


def stored(site: VscSite) -> list[checklog.Check]:
    with Store(site.out / "state.sqlite") as store:
        return checklog.stored_checks(store)


def test_check_log_round_trip(vsite, caplog):
    assert check_log(vsite) == []  # the sheet is there before any check
    type_checks(route_path(vsite), {
        "VSC-00001": {"Date checked": dt.datetime(2020, 3, 5), "Time checked": dt.time(21, 15),
                      "Checked by": "Ofc. Diaz", "Result": "Insecure",
                      "Check notes": "Back gate open; closed it"},
        "VSC-00002": {"Result": "secure", "Checked by": "VIPS Lee", "Time checked": "9:40 pm"},
    })
    with caplog.at_level(logging.INFO):
        summary = sync(vsite.config())
    assert not summary.unchanged  # a new check is a change
    assert "Back gate" not in caplog.text
    assert "VSC-00001" in caplog.text
    log = check_log(vsite)
    assert [(r["Request"], r["Date"], r["Time"], r["Checked by"], r["Result"], r["Notes"],
             r["Route sheet"]) for r, _ in log] == [
        ("VSC-00001", dt.datetime(2020, 3, 5), dt.time(21, 15), "Ofc. Diaz", "Insecure",
         "Back gate open; closed it", "routes-2020-03-05.xlsx"),
        # No date typed: the check took place on the route's day.
        ("VSC-00002", dt.datetime(2020, 3, 5), dt.time(21, 40), "VIPS Lee", "Secure", None,
         "routes-2020-03-05.xlsx"),
    ]
    fills = [fill for _, fill in log]
    assert fills[0] is not None
    assert fills[0].endswith("FFC7CE")
    assert fills[1] is None
    # Nothing new: the second sync changes nothing and reads no route workbook again.
    assert sync(vsite.config()).unchanged


def test_corrected_and_cleared_checks_replace_the_old_ones(vsite):
    path = route_path(vsite)
    type_checks(path, {"VSC-00001": {"Result": "Secure", "Time checked": dt.time(8, 0)},
                       "VSC-00004": {"Result": "Secure"}})
    sync(vsite.config())
    type_checks(path, {"VSC-00001": {"Result": "Suspicious", "Check notes": "Light on upstairs"},
                       "VSC-00004": {"Result": None}})
    sync(vsite.config())
    log = check_log(vsite)
    assert [(r["Request"], r["Result"], r["Notes"]) for r, _ in log] == [
        ("VSC-00001", "Suspicious", "Light on upstairs")]
    assert log[0][1].endswith("FFC7CE")
    assert len(stored(vsite)) == 1


def test_rewriting_a_day_keeps_the_checks_typed_into_it(vsite):
    path = route_path(vsite)
    type_checks(path, {"VSC-00003": {"Result": "Suspicious", "Checked by": "Ofc. Kim"}})
    write_routes(vsite.config(), start=DAY, days=1)  # no sync in between
    ws = load_workbook(path)["Unassigned"]
    header = [c.value for c in ws[1]]
    row = [c.value for c in ws[2]]
    assert row[header.index("Record ID")] == "VSC-00003"
    assert (row[header.index("Result")], row[header.index("Checked by")]) == ("Suspicious",
                                                                              "Ofc. Kim")
    assert len(stored(vsite)) == 1
    sync(vsite.config())
    assert [r["Result"] for r, _ in check_log(vsite)] == ["Suspicious"]


def test_unchanged_route_workbooks_are_not_read_again(vsite, caplog):
    path = route_path(vsite)
    type_checks(path, {"VSC-00001": {"Result": "Secure"}})
    sync(vsite.config())
    info = path.stat()
    path.write_bytes(b"\0" * info.st_size)  # same size, same time: not opened at all
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert sync(vsite.config()).unchanged
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # now it looks edited
    with caplog.at_level(logging.WARNING):
        sync(vsite.config())
    assert "routes-2020-03-05.xlsx" in caplog.text
    assert "next sync" in caplog.text
    assert [r["Result"] for r, _ in check_log(vsite)] == ["Secure"]  # kept, not lost


@pytest.mark.parametrize(("typed", "expected"), [
    (dt.time(7, 5), "07:05"), (dt.datetime(2020, 3, 5, 22, 30), "22:30"), (0.75, "18:00"),
    ("9:30 pm", "21:30"), ("12:10 AM", "00:10"), ("14:45", "14:45"), ("7pm", "19:00"),
    ("around noon", "around noon"), ("25:00", "25:00"),
])
def test_time_as_typed(typed, expected):
    rows = [("Record ID", *checklog.CHECK_HEADERS), ("VSC-00001", None, typed, None, None, None)]
    assert checklog.read_checks(rows, "f.xlsx", DAY)[0].time == expected


def test_read_checks_skips_rows_without_a_check_or_a_record_id():
    h = ("Record ID", *checklog.CHECK_HEADERS)
    rows = [h, ("VSC-00001", None, None, None, None, None),
            ("note to self", None, None, "x", None, None),
            ("VSC-00002", "3/6/2020", None, None, "SUSPICIOUS", "=1+1"),
            ("VSC-00003", "yesterday", None, None, "ok", None)]
    checks = checklog.read_checks(rows, "f.xlsx", DAY)
    assert [(c.record_id, c.date, c.result, c.notes) for c in checks] == [
        ("VSC-00002", "2020-03-06", "Suspicious", "=1+1"), ("VSC-00003", "yesterday", "ok", "")]
    assert checklog.read_checks([("Something else",)], "f.xlsx") == []
