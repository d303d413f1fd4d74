"""Rosters: seats and waitlist order, staff overrides, session dates, the roster workbook."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from openpyxl import load_workbook

from sync.classes import seating
from sync.classes import sessions as classes
from sync.classes.rosters import write_rosters
from sync.classes.seating import Applicant, assign
from sync.cli import main
from sync.master.syncer import sync
from tests.conftest import soffice_to_pdf
from tests.helpers import seats, waiting


def applicant(n: int, day: int, hour: int, status: str = "", eligible: bool = True,
              school: str = "") -> Applicant:
    values = {"first_name": f"P{n}", "last_name": "Test", "school": school}
    return Applicant(f"PIP-{n:05d}", dt.datetime(2020, 2, day, hour), status, values, eligible)


@pytest.fixture
def pip(site):
    return site.config().programs["pip"]


@pytest.fixture
def spring(pip):
    return dataclasses.replace(pip.cohorts[0], capacity=3, minimum=2)


# -- seats and waitlist ------------------------------------------------------------------------


def test_seats_first_come_first_served_then_waitlist_in_order(pip, spring):
    # Record IDs do not follow submission order: the first submission decides.
    people = [applicant(1, 5, 9), applicant(2, 3, 9), applicant(3, 4, 9), applicant(4, 3, 8),
              applicant(5, 6, 9), applicant(6, 4, 10)]
    roster = assign(pip, spring, people)
    assert seats(roster) == ["PIP-00004", "PIP-00002", "PIP-00003"]
    assert [p.number for p in roster.seated] == [1, 2, 3]
    assert waiting(roster) == ["PIP-00006", "PIP-00001", "PIP-00005"]
    assert [p.number for p in roster.waitlist] == [1, 2, 3]
    assert {p.reason for p in roster.waitlist} == {"Class full"}
    assert roster.released == []
    assert roster.warnings == []


def test_ineligible_applicants_get_no_seat_unless_staff_accept_them(pip, spring):
    people = [applicant(1, 1, 9, eligible=False), applicant(2, 2, 9),
              applicant(3, 3, 9, status="Accepted", eligible=False)]
    roster = assign(pip, spring, people)
    assert seats(roster) == ["PIP-00002", "PIP-00003"]
    assert waiting(roster) == []


def test_staff_accepted_takes_a_seat_out_of_order_and_counts_against_capacity(pip, spring):
    people = [applicant(1, 1, 9), applicant(2, 2, 9), applicant(3, 3, 9),
              applicant(4, 4, 9, status="Accepted")]
    roster = assign(pip, spring, people)
    assert seats(roster) == ["PIP-00001", "PIP-00002", "PIP-00004"]
    assert waiting(roster) == ["PIP-00003"]


def test_withdrawn_and_declined_free_a_seat_and_are_listed_apart(pip, spring):
    people = [applicant(1, 1, 9, status="Withdrawn"), applicant(2, 2, 9),
              applicant(3, 3, 9, status="declined"), applicant(4, 4, 9), applicant(5, 5, 9),
              applicant(6, 6, 9)]
    roster = assign(pip, spring, people)
    assert seats(roster) == ["PIP-00002", "PIP-00004", "PIP-00005"]
    assert waiting(roster) == ["PIP-00006"]
    assert [a.record_id for a in roster.released] == ["PIP-00001", "PIP-00003"]


def test_waitlisted_by_staff_stays_on_the_waitlist_even_with_seats_free(pip, spring):
    people = [applicant(1, 1, 9, status="Waitlisted"), applicant(2, 2, 9), applicant(3, 3, 9)]
    roster = assign(pip, spring, people)
    assert seats(roster) == ["PIP-00002", "PIP-00003"]
    assert waiting(roster) == ["PIP-00001"]
    assert roster.waitlist[0].reason == "Waitlisted by staff"


def test_staff_accepting_more_than_capacity_is_reported(pip, spring):
    people = [applicant(n, n, 9, status="Accepted") for n in range(1, 5)] + [applicant(9, 9, 9)]
    roster = assign(pip, spring, people)
    assert len(roster.seated) == 4
    assert waiting(roster) == ["PIP-00009"]
    assert any("staff accepted 4, more than the 3 seats" in w for w in roster.warnings)


def test_tap_per_school_capacity(site):
    config = site.config()
    tap = dataclasses.replace(config.programs["pip"], key="tap", schools=("North High School",
                                                                          "West High School"))
    semester = dataclasses.replace(tap.cohorts[0], capacity=4, minimum=0,
                                   school_capacity={"North High School": 2})
    people = [applicant(1, 1, 9, school="North High School"),
              applicant(2, 2, 9, school="North High School"),
              applicant(3, 3, 9, school="North High School"),
              applicant(4, 4, 9, school="West High School"),
              applicant(5, 5, 9, school="West High School")]
    roster = assign(tap, semester, people)
    assert seats(roster) == ["PIP-00001", "PIP-00002", "PIP-00004", "PIP-00005"]
    assert waiting(roster) == ["PIP-00003"]
    assert roster.waitlist[0].reason == "North High School seats full (2)"


# -- session dates and warnings ----------------------------------------------------------------


def test_twelve_thursdays_from_march_5_2020_end_on_may_21(spring):
    dates = classes.session_dates(spring)
    assert len(dates) == 12
    assert dates[0] == dt.date(2020, 3, 5)
    assert dates[-1] == dt.date(2020, 5, 21)
    assert {d.weekday() for d in dates} == {3}


def test_skipped_dates_push_the_end_back(spring):
    skipping = dataclasses.replace(spring, skip=(dt.date(2020, 4, 9), dt.date(2020, 5, 7)))
    dates = classes.session_dates(skipping)
    assert len(dates) == 12
    assert dt.date(2020, 4, 9) not in dates
    assert dt.date(2020, 5, 7) not in dates
    assert dates[-1] == dt.date(2020, 6, 4)


def test_start_on_another_weekday_begins_on_the_first_class_day(spring):
    dates = classes.session_dates(dataclasses.replace(spring, start=dt.date(2020, 3, 2)))
    assert dates[0] == dt.date(2020, 3, 5)


def test_capacity_below_minimum_and_no_session_dates_are_reported(pip, spring):
    roster = assign(pip, dataclasses.replace(spring, capacity=20, minimum=25, sessions=0), [],
                    "programs.pip.cohorts[0]")
    text = "\n".join(roster.warnings)
    assert "capacity 20 is below the class minimum of 25 (programs.pip.cohorts[0].capacity" in text
    assert "no session dates" in text
    assert "0 seated, fewer than the minimum of 25" in text


# -- the workbook ------------------------------------------------------------------------------


def _staff_edit(site, edits: dict[str, dict[str, str]]) -> None:
    """Type into the master's staff columns as staff would, and save."""
    wb = load_workbook(site.master)
    ws = wb["Partners in Policing"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        rid = row[header.index("Record ID")].value
        for column, value in edits.get(rid, {}).items():
            row[header.index(column)].value = value
    wb.save(site.master)


def _rows(path, title):
    wb = load_workbook(path)
    return [tuple(r) for r in wb[title].iter_rows(values_only=True)]


def test_staff_status_in_the_master_decides_the_roster(site):
    site.write_pip(site.pip_rows + [
        '3/3/2020 08:00:00,di@example.com,Di,Park,7/8/1990,310 555 0104,I live in Torrance,'])
    sync(site.config())
    _staff_edit(site, {"PIP-00001": {"Status": "Withdrawn"}, "PIP-00004": {"Status": "Accepted"}})
    sync(site.config())
    summary = write_rosters(site.config())
    path = site.out / "rosters" / "pip-2020-spring.xlsx"
    assert summary.classes[0].path == path
    roster = _rows(path, "Roster")
    assert roster[0][:3] == ("Seat", "Record ID", "Name")
    assert [(r[0], r[1], r[2], r[7]) for r in roster[1:]] == [
        (1, "PIP-00002", "Bob Jones", "New"), (2, "PIP-00003", "Cy Lee", "New"),
        (3, "PIP-00004", "Di Park", "Accepted")]
    assert roster[1][4] == "(310) 555-0102"
    assert _rows(path, "Waitlist")[1:] == []
    assert [r[:2] for r in _rows(path, "Declined or withdrawn")[1:]] == [("PIP-00001", "Ann Smith")]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert ((site.out / "rosters").stat().st_mode & 0o777) == 0o700


def test_status_typed_but_not_synced_is_pointed_out(site):
    sync(site.config())
    _staff_edit(site, {"PIP-00001": {"Status": "Withdrawn"}})
    summary = write_rosters(site.config())
    assert any("master.xlsx changed since the last sync: run `tpd-programs sync` first" in w
               for w in summary.warnings)
    assert seats(summary.classes[0].roster)[0] == "PIP-00001"  # the state has not heard yet


def test_cohort_override_moves_a_person_to_another_class(site):
    text = site.config_path.read_text() + """
[[programs.pip.cohorts]]
id = "2020-fall"
name = "Fall 2020"
start = 2020-09-10
capacity = 40
minimum = 0
registration_opens = 2020-06-01
registration_closes = 2020-09-09
"""
    site.config_path.write_text(text)
    sync(site.config())
    _staff_edit(site, {"PIP-00002": {"Cohort override": "Fall 2020"},
                       "PIP-00003": {"Cohort override": "Winter 2031"}})
    sync(site.config())
    summary = write_rosters(site.config(), "pip")
    spring, fall = summary.classes
    assert seats(spring.roster) == ["PIP-00001", "PIP-00003"]
    assert seats(fall.roster) == ["PIP-00002"]
    assert any(w.startswith("PIP-00003: Cohort override 'Winter 2031' names no configured class")
               for w in summary.warnings)
    only_fall = write_rosters(site.config(), cohort="2020-fall")
    assert [c.roster.session.id for c in only_fall.classes] == ["2020-fall"]


def test_sign_in_and_attendance_sheets_carry_print_settings(site):
    sync(site.config())
    write_rosters(site.config())
    wb = load_workbook(site.out / "rosters" / "pip-2020-spring.xlsx")
    sign_ins = [t for t in wb.sheetnames if t.startswith("Sign-in ")]
    assert len(sign_ins) == 12
    assert sign_ins[0] == "Sign-in 2020-03-05"
    assert sign_ins[-1] == "Sign-in 2020-05-21"
    for title in ["Roster", "Attendance", "Contacts", sign_ins[0]]:
        ws = wb[title]
        assert ws.page_setup.orientation == "landscape", title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, title
        # side by side over as many pages as keep the text at 9 pt or more (twelve dates: 3)
        wide = {"Roster": 2, "Attendance": 3, "Contacts": 2}.get(title, 1)
        assert (ws.page_setup.fitToWidth or 1) == wide, title  # absent means 1 (ECMA-376)
        if wide > 1:  # Record ID and the name on every page, a row's pages one after another
            assert ws.print_title_cols == "$A:$B" or title == "Roster", (title, ws.print_title_cols)
            assert ws.page_setup.pageOrder == "overThenDown", title
        assert ws.page_setup.fitToHeight == 0, title
        assert ws.print_title_rows, title
        assert "Spring 2020" in (ws.oddHeader.left.text or "") + (ws.oddHeader.center.text or "")
        assert "&P" in ws.oddFooter.center.text
        assert "&N" in ws.oddFooter.center.text
    sign_in = wb[sign_ins[0]]
    rows = [list(r) for r in sign_in.iter_rows(values_only=True)]
    top = next(i for i, r in enumerate(rows) if r[0] == "#")  # the title lines above it
    assert sign_in.print_title_rows == f"${top + 1}:${top + 1}"
    assert sign_in.oddHeader.center.text == "Sign-in: Thursday, March 5, 2020"
    assert sign_in.oddHeader.left.text == "Partners in Policing: Spring 2020"
    assert sign_in.oddHeader.right.text == "6:00-8:00 p.m."
    assert rows[0][0] == "Sign-in: Thursday, March 5, 2020, 6:00-8:00 p.m."
    assert rows[top] == ["#", "Name", "Signature", "Time in"]
    assert [r[1] for r in rows[top + 1:]] == ["Jones, Bob", "Lee, Cy", "Smith, Ann"]
    assert sign_in.row_dimensions[top + 2].height == pytest.approx(26, abs=0.5)  # whole pixels
    assert sign_in[f"C{top + 2}"].border.left.style == "thin"
    assert wb["Attendance"].print_title_rows == "$3:$3"
    assert wb["Attendance"].print_title_cols == "$A:$B"  # Record ID and Name on both pages


def test_example_tap_roster_groups_students_by_school(example_site, tmp_path):
    from sync import config as config_mod

    config = config_mod.load(example_site)
    config = dataclasses.replace(config, output=tmp_path / "out")
    sync(config)
    summary = write_rosters(config, "tap", "2020-spring")
    (result,) = summary.classes
    rows = _rows(result.path, "Roster")
    header = rows[0]
    assert header[:4] == ("School", "Seat", "Record ID", "Student")
    assert {"Guardian", "Guardian phone", "Counselor", "Counselor email"} <= set(header)
    schools = [r[0] for r in rows[1:]]
    order = [s for s in config.programs["tap"].schools if s in schools]
    assert schools == sorted(schools, key=order.index)  # grouped, in the configured order
    assert [r[1] for r in rows[1:]] == list(range(1, len(rows)))
    contacts = _rows(result.path, "Contacts")
    assert {r[3] for r in contacts[1:]} == {"Student", "Guardian", "Counselor"}
    soffice_to_pdf(result.path, tmp_path / "pdf")


# -- the command line --------------------------------------------------------------------------


def test_rosters_command_prints_a_summary_per_class(site, capsys):
    sync(site.config())
    assert main(["rosters", "--config", str(site.config_path)]) == 0
    out = capsys.readouterr().out
    assert ("Partners in Policing, Spring 2020 (2020-spring): 3 of 3 seats taken, 0 waitlisted, "
            "0 declined or withdrawn; 12 sessions, Thursday 2020-03-05 to 2020-05-21; "
            "0 attendance marks") in out
    assert "pip-2020-spring.xlsx" in out


def test_rosters_command_names_an_unknown_cohort(site, capsys):
    assert main(["rosters", "--config", str(site.config_path), "--cohort", "1999-fall"]) == 1
    err = capsys.readouterr().err
    assert "no cohort or semester '1999-fall' is configured (known: pip:2020-spring)" in err


def test_rosters_command_refuses_vacation_checks(site, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rosters", "--config", str(site.config_path), "--program", "vsc"])
    assert exit_info.value.code == 2


def test_rosters_without_a_sync_say_so(site):
    summary = write_rosters(site.config())
    assert any("no records yet: run `tpd-programs sync` first" in w for w in summary.warnings)
    assert seating.CLASS_KEYS == {"pip": "cohorts", "tap": "semesters"}


def test_a_corrected_answer_keeps_the_applicants_place_in_the_queue(site):
    """Guards the first-come queue: a respondent who edits a response (a linked Sheet then
    shows the edit's time as the Timestamp) keeps the place they first took, at the sync of
    the edit and at every sync after it."""
    site.write_pip(site.pip_rows + [
        '3/3/2020 08:00:00,di@example.com,Di,Park,7/8/1990,310 555 0104,I live in Torrance,'])
    sync(site.config())
    assert seats(write_rosters(site.config()).classes[0].roster) == [
        "PIP-00001", "PIP-00002", "PIP-00003"]
    # Ann corrects her phone number on March 4: her row's Timestamp becomes the edit's time
    edited = site.pip_rows[:]
    edited[0] = '3/4/2020 09:00:00,ann@example.com,Ann,Smith,1/2/1980,(310) 555-0199,I live in Torrance,'
    eve = '3/4/2020 10:00:00,eve@example.com,Eve,Ortiz,2/2/1992,310 555 0105,I live in Torrance,'
    for later in ([], [eve]):  # the sync that sees the edit, and the next one with a newcomer
        site.write_pip(edited + later)
        sync(site.config())
        roster = write_rosters(site.config()).classes[0].roster
        assert seats(roster) == ["PIP-00001", "PIP-00002", "PIP-00003"]
        assert waiting(roster) == ["PIP-00004", "PIP-00005"][:1 + len(later)]
        wb = load_workbook(site.master, read_only=True)
        rows = list(wb["Partners in Policing"].iter_rows(values_only=True))
        wb.close()
        ann = dict(zip(rows[0], rows[1], strict=False))
        assert ann["Record ID"] == "PIP-00001"
        assert ann["Phone"] == "+13105550199"
        assert ann["First submitted"] == dt.datetime(2020, 3, 1, 10, 0)
        assert ann["Latest submitted"] == dt.datetime(2020, 3, 4, 9, 0)
