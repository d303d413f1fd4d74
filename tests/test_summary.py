"""The Summary sheet: figures on a small known data set, its place in the master, its charts."""

from __future__ import annotations

import datetime as dt
import re
import zipfile

from sync import summary
from sync.classes import attendance
from sync.master.assemble import SUMMARY_DAY
from sync.master.syncer import STATE, sync
from sync.state.store import Store
from sync.xlsx.reading import read_sheets

ROWS = [  # (first submission, first name, last name); capacity 3, so two wait
    ("2/24/2020 10:00:00", "Ann", "Smith"),  # Monday
    ("2/26/2020 11:00:00", "Bob", "Jones"),
    ("3/1/2020 09:30:00", "Cy", "Lee"),  # Sunday: still the week of February 24
    ("3/2/2020 08:00:00", "Dee", "Park"),  # Monday
    ("3/3/2020 12:00:00", "Eve", "Diaz"),
    ("3/3/2020 13:00:00", "Fay", ""),  # no last name: Needs Review
]
SPRING = attendance.class_key("pip", "2020-spring")


def _write(site) -> None:
    site.write_pip([
        f"{when},{first.lower()}@example.com,{first},{last},1/2/1980,(310) 555-01{i:02d},"
        "I live in Torrance," for i, (when, first, last) in enumerate(ROWS)
    ])


def _ids_by_name(store: Store) -> dict[str, str]:
    return {r["data"]["values"]["first_name"]: rid for rid, r in store.records("pip").items()}


def test_program_and_class_figures(site):
    _write(site)
    config = site.config()
    sync(config)
    with Store(config.output / STATE) as store:
        figs = summary.figures(store, config, dt.date(2020, 3, 3))
    (pip,) = figs.programs
    assert (pip.this_week, pip.this_month, pip.responses, pip.records) == (2, 3, 6, 5)
    assert (pip.waitlisted, pip.review, pip.undecided) == (2, 1, 0)
    assert figs.weeks[-1] == (dt.date(2020, 3, 2), {"pip": 2})
    assert figs.weeks[-2] == (dt.date(2020, 2, 24), {"pip": 3})
    assert len(figs.weeks) == summary.WEEKS and sum(w["pip"] for _, w in figs.weeks) == 5
    (spring,) = figs.classes
    assert (spring.label, spring.capacity, spring.minimum, spring.seated, spring.waitlisted) == (
        "PIP Spring 2020", 3, 2, 3, 2)
    assert (spring.first, spring.last) == (dt.date(2020, 3, 5), dt.date(2020, 5, 21))
    assert (spring.held, spring.recorded, spring.rate) == (0, 0, None)
    assert figs.vsc_days == []  # no vacation-check program configured


def test_attendance_rate_counts_only_sessions_with_marks(site):
    _write(site)
    config = site.config()
    sync(config)
    with Store(config.output / STATE) as store:
        ids = _ids_by_name(store)
        marks = [("Ann", "2020-03-05", "✓"), ("Bob", "2020-03-05", "✓"), ("Cy", "2020-03-05", "X"),
                 ("Ann", "2020-03-12", "✓"), ("Bob", "2020-03-12", "x"), ("Cy", "2020-03-12", "A"),
                 ("Ann", "2020-03-26", "✓")]  # after "today": not counted yet
        store.executemany("INSERT INTO attendance VALUES (?, ?, ?, ?)",
                          [(SPRING, ids[name], day, mark) for name, day, mark in marks])
        (spring,) = summary.figures(store, config, dt.date(2020, 3, 20)).classes
    # held: March 5, 12 and 19; marks taken on two of them; 5 of 3 people x 2 sessions present
    assert (spring.held, spring.recorded) == (3, 2)
    assert abs(spring.rate - 5 / 6) < 1e-9


def test_possible_duplicates_awaiting_a_decision(site):
    _write(site)
    config = site.config()
    sync(config)
    with Store(config.output / STATE) as store:
        store.set_meta("possible:pip", [
            {"a": "PIP-00001", "b": "PIP-00002", "decision": None},  # waiting
            {"a": "PIP-00001", "b": "PIP-00003", "decision": "Merge"},  # decided in the sheet
            {"a": "PIP-00002", "b": "PIP-00003", "decision": None},  # decided since
        ])
        store.db.execute("INSERT INTO decisions VALUES ('pip', 'PIP-00002', 'PIP-00003', "
                         "'Not duplicate', '2020-03-03T10:00:00')")
        (pip,) = summary.figures(store, config, dt.date(2020, 3, 3)).programs
    assert pip.undecided == 1


def test_summary_is_first_with_numbers_and_two_charts(site):
    _write(site)
    sync(site.config())
    sheets = read_sheets(site.master)
    assert list(sheets)[0] == "Summary"
    rows = sheets["Summary"]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Program")
    assert rows[header][:8] == ("Program", "New this week", "New this month", "Responses, all time",
                                "Records", "Waitlisted", "Needs review", "Duplicates to decide")
    pip = rows[header + 1]
    assert pip[0] == "Partners in Policing"
    assert pip[3:8] == (6, 5, 2, 1, 0) and all(type(v) is int for v in pip[1:8])
    classes = next(i for i, r in enumerate(rows) if r and r[0] == "Class")
    assert rows[classes + 1][:8] == ("PIP Spring 2020", dt.datetime(2020, 3, 5),
                                     dt.datetime(2020, 5, 21), 3, 2, 3, 2, 12)
    charts = _charts(site.master)
    assert len(charts) == 2  # class fill and applications per week; no vacation checks here
    assert any("Class fill: seats taken and capacity" in x for x in charts)
    assert any("New applicants per week, by program" in x for x in charts)


def test_example_data_has_three_charts_on_the_summary(example_site):
    from sync import config as config_mod

    config = config_mod.load(example_site)
    sync(config)
    charts = _charts(config.output / "master.xlsx")
    assert len(charts) == 3
    assert any(re.search(r"<(?:c:)?lineChart>", x) and "Homes to check per day" in x for x in charts)
    for xml in charts:  # every series is drawn from the Summary sheet's cells
        refs = re.findall(r"<(?:c:)?f>([^<]*)</(?:c:)?f>", xml)
        assert refs and all(r.startswith(("'Summary'!", "Summary!")) for r in refs), refs
    with Store(config.output / STATE) as store:
        figs = summary.figures(store, config, dt.date(2020, 12, 24))
    # the route sheets for these days list 15, 15 and 17 homes (tests/test_routes.py)
    assert figs.vsc_days[:3] == [(dt.date(2020, 12, 24), 15), (dt.date(2020, 12, 25), 15),
                                 (dt.date(2020, 12, 26), 17)]
    assert len(figs.vsc_days) == summary.VSC_DAYS
    by_key = {p.key: p for p in figs.programs}
    assert (by_key["pip"].responses, by_key["pip"].records, by_key["pip"].review) == (47, 41, 3)
    assert by_key["vsc"].waitlisted is None and by_key["tap"].waitlisted == 0
    assert [c.label for c in figs.classes] == ["PIP Spring 2020", "PIP Fall 2020",
                                               "TAP Spring 2020", "TAP Fall 2020"]


def test_a_new_day_rewrites_the_summary_once(site):
    """Guards the no-change path: a re-sync the same day leaves the master alone, the first
    sync of a new day rewrites it so "this week" and the days ahead are current."""
    _write(site)
    config = site.config()
    sync(config)
    assert sync(config).unchanged
    with Store(config.output / STATE) as store:
        store.set_meta(SUMMARY_DAY, "2000-01-01")  # as if the last write was on another day
    assert not sync(config).unchanged
    assert sync(config).unchanged
    rows = read_sheets(site.master, ["Summary"])["Summary"]
    today = dt.datetime.now(config.department.timezone).date()
    assert f"{today.year}." in rows[1][0] and f"{today:%B} {today.day}," in rows[1][0]


def _charts(path) -> list[str]:
    """The chart parts of the workbook that hang off its first sheet's drawing."""
    with zipfile.ZipFile(path) as z:
        rels = z.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
        drawing = re.search(r'Target="/?(?:xl/)?(?:\.\./)?(drawings/drawing\d+\.xml)"', rels)
        assert drawing, rels
        drawing_rels = z.read(f"xl/drawings/_rels/{drawing.group(1).split('/')[1]}.rels").decode()
        names = re.findall(r'Target="/?(?:xl/)?(?:\.\./)?(charts/chart\d+\.xml)"', drawing_rels)
        return [z.read(f"xl/{n}").decode() for n in names]
