"""The Summary sheet: the three programs at a glance, first in the master workbook.

Plain Python over the state: `figures()` counts, `summary_sheet()` lays the counts out as a
`sheet.Sheet` with native charts. Every figure is a number in its own cell, so staff can
reuse it in their own formulas. "This week" and "this month" are relative to `today` (the
department's local date); a week starts on Monday. Applicants are counted by their first
submission, so a person who applied twice counts once, in the week they first applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.classes import attendance, seating
from sync.config import Config
from sync.config.programs import PROGRAMS
from sync.master import stale
from sync.master.hooks import Feature
from sync.master.records import ProgramResult
from sync.state.store import Store
from sync.vacation import routing
from sync.xlsx.sheet import Chart, Column, PrintSetup, Section, Sheet

TITLE = "Summary"
WEEKS = 26  # the applications chart shows this many weeks, ending with the current one
VSC_DAYS = 30  # the vacation-check chart shows today and the days after it
CLASSES = "Classes"
PER_WEEK = "Applications per week"
VSC_AHEAD = f"Vacation checks, next {VSC_DAYS} days"


@dataclass(frozen=True)
class ProgramFigures:
    key: str
    this_week: int  # new applicants (first submission) this week
    this_month: int
    responses: int  # form rows read by the last sync, repeats and rejected rows included
    records: int
    waitlisted: int | None  # None: the program has no classes
    review: int
    undecided: int  # possible duplicates without a staff decision


@dataclass(frozen=True)
class ClassFigures:
    program: str
    class_id: str
    label: str  # "PIP Spring 2020"
    first: dt.date | None
    last: dt.date | None
    capacity: int
    minimum: int
    seated: int
    waitlisted: int
    held: int  # session dates up to today
    recorded: int  # of those, the sessions with attendance marks
    rate: float | None  # present marks / (people x recorded sessions); None: no marks yet


@dataclass
class Figures:
    today: dt.date
    programs: list[ProgramFigures] = field(default_factory=list)
    classes: list[ClassFigures] = field(default_factory=list)
    weeks: list[tuple[dt.date, dict[str, int]]] = field(default_factory=list)  # Monday, {key: n}
    vsc_days: list[tuple[dt.date, int]] = field(default_factory=list)  # day, active requests


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def program_records(store: Store, key: str, results: Mapping[str, ProgramResult] | None = None,
                    ) -> dict[str, dict[str, Any]]:
    """{record ID: {"data", "staff"}}: this sync's records when it built them, else the stored."""
    stored = store.records(key)
    if results and key in results:
        return {rid: {"data": data, "staff": stored[rid]["staff"] if rid in stored else {}}
                for rid, data in results[key].records.items()}
    return {rid: {"data": r["data"], "staff": r["staff"]} for rid, r in stored.items()}


def _undecided(store: Store, key: str, pairs: list[dict[str, Any]]) -> int:
    decided = {(a, b) for a, b, _ in store.decisions(key)}
    return sum(1 for p in pairs if not p.get("decision") and (p.get("a"), p.get("b")) not in decided)


def _attendance(store: Store, key: str, class_id: str, dates: list[dt.date], seated: list[str],
                today: dt.date) -> tuple[int, int, float | None]:
    held = [d for d in dates if d <= today]
    class_marks = attendance.marks(store, key, class_id)
    recorded = {d for by_day in class_marks.values() for d in by_day if d in held}
    people = set(attendance.roll(store, key, class_id) or seated) | set(class_marks)
    present = sum(1 for by_day in class_marks.values() for d, mark in by_day.items()
                  if d in recorded and attendance.is_present(mark))
    if not recorded or not people:
        return len(held), len(recorded), None
    return len(held), len(recorded), present / (len(people) * len(recorded))


def figures(store: Store, config: Config, today: dt.date,
            results: Mapping[str, ProgramResult] | None = None) -> Figures:
    """Every Summary figure as of `today`. `results` are the sync's freshly built programs
    ({key: {"records", "review", "possible", "counts"}}); programs not in it are read from
    the state as the last sync left them."""
    out = Figures(today)
    week = today - dt.timedelta(days=today.weekday())
    month = today.replace(day=1)
    out.weeks = [(week - dt.timedelta(weeks=n), {}) for n in range(WEEKS - 1, -1, -1)]
    for key, program in config.programs.items():
        records = program_records(store, key, results)
        fresh = results[key] if results and key in results else None
        review = fresh.review if fresh else store.get_meta(f"review:{key}", [])
        pairs = fresh.possible if fresh else store.get_meta(f"possible:{key}", [])
        counts = fresh.counts if fresh else store.get_meta(f"counts:{key}", {})
        firsts = [d for d in (_day(r["data"].get("first")) for r in records.values()) if d]
        for monday, by_key in out.weeks:
            by_key[key] = sum(1 for d in firsts if monday <= d < monday + dt.timedelta(weeks=1))
        waitlisted = None
        if key in seating.CLASS_KEYS and program.cohorts:
            waitlisted = 0
            groups, _ = seating.members(program, records)
            for session in sorted(program.cohorts, key=lambda s: s.start):
                roster = seating.assign(program, session, groups.get(session.id, []))
                waitlisted += len(roster.waitlist)
                seated = [p.applicant.record_id for p in roster.seated]
                held, recorded, rate = _attendance(store, key, session.id, roster.dates, seated,
                                                   today)
                out.classes.append(ClassFigures(
                    key, session.id, f"{PROGRAMS[key].prefix} {session.name}",
                    roster.dates[0] if roster.dates else None,
                    roster.dates[-1] if roster.dates else None, session.capacity,
                    session.minimum, len(roster.seated), len(roster.waitlist), held, recorded, rate))
        out.programs.append(ProgramFigures(
            key, sum(1 for d in firsts if week <= d < week + dt.timedelta(weeks=1)),
            sum(1 for d in firsts if (d.year, d.month) == (month.year, month.month)),
            int(counts.get("read", 0)), len(records), waitlisted, len(review),
            _undecided(store, key, pairs)))
        if key == "vsc":
            days = [today + dt.timedelta(days=n) for n in range(VSC_DAYS)]
            out.vsc_days = list(zip(days, routing.active_counts(records, days), strict=True))
    return out


def summary_sheet(figs: Figures, department: str, stale_notes: list[str] | None = None) -> Sheet:
    """The Summary sheet: programs, classes, applications per week and vacation checks ahead,
    with a chart beside each of the last three tables."""
    programs_columns = [
        Column("Program", width=22), Column("New this week", "int", 12),
        Column("New this month", "int", 12), Column("Responses, all time", "int", 12),
        Column("Records", "int", 12), Column("Waitlisted", "int", 12),
        Column("Needs review", "int", 12), Column("Duplicates to decide", "int", 12),
    ]
    programs = [[PROGRAMS[p.key].name, p.this_week, p.this_month, p.responses, p.records,
                 p.waitlisted, p.review, p.undecided] for p in figs.programs]
    sections = []
    charts = []
    if figs.classes:
        sections.append(Section(CLASSES, [
            Column("Class", width=22), Column("First session", "date", 12),
            Column("Last session", "date", 12), Column("Capacity", "int", 12),
            Column("Minimum", "int", 12), Column("Seats taken", "int", 12),
            Column("Waitlisted", "int", 12), Column("Sessions held", "int", 12),
            Column("Attendance rate", "percent", 13),
        ], [[c.label, c.first, c.last, c.capacity, c.minimum, c.seated, c.waitlisted, c.held,
             c.rate] for c in figs.classes]))
        charts.append(Chart("bar", "Class fill: seats taken and capacity", CLASSES, (6, 4),
                            y_title="Seats"))
    keys = [p.key for p in figs.programs]
    if keys:
        sections.append(Section(PER_WEEK, [Column("Week of (Monday)", "date", 22)] + [
            Column(PROGRAMS[k].name, "int", 12) for k in keys
        ], [[monday] + [by_key.get(k, 0) for k in keys] for monday, by_key in figs.weeks]))
        charts.append(Chart("bar", "New applicants per week, by program", PER_WEEK,
                            tuple(range(2, 2 + len(keys))), y_title="Applicants",
                            number_format="mmm d"))
    if figs.vsc_days:
        sections.append(Section(VSC_AHEAD, [Column("Date", "date", 22),
                                            Column("Homes to check", "int", 12)],
                                [[day, n] for day, n in figs.vsc_days]))
        charts.append(Chart("line", "Homes to check per day, next 30 days", VSC_AHEAD, (2,),
                            y_title="Homes", number_format="mmm d"))
    as_of = f"{figs.today:%A}, {figs.today:%B} {figs.today.day}, {figs.today.year}"
    return Sheet(
        TITLE, programs_columns, programs, freeze=None, autofilter=False,
        preamble=[[f"{department}: community programs at a glance"],
                  [f"As of {as_of}. New applicants are counted by their first submission; "
                   "weeks start on Monday. Every figure is a number you can reuse."],
                  *([note] for note in stale_notes or ())],
        sections=sections, charts=charts,
        print_setup=PrintSetup(landscape=True, fit_width=True, fit_height=1, repeat_header=False,
                               header_center="Programs at a glance",
                               header_right=f"As of {figs.today.isoformat()}", gridlines=False))


def build(store: Store, config: Config, today: dt.date,
          results: Mapping[str, ProgramResult] | None = None) -> Sheet:
    """The master's Summary sheet as of `today`."""
    return summary_sheet(figures(store, config, today, results), config.department.name,
                         stale.notes(store, config.programs))


class Summary(Feature):
    """The Summary sheet: first in the master, written last with every program's figures."""

    def first_titles(self, config: Config) -> list[str]:
        return [TITLE]

    def first_sheets(self, store: Store, config: Config, today: dt.date,
                     results: dict[str, ProgramResult]) -> list[Sheet]:
        return [build(store, config, today, results)]
