"""The sheets of a class's roster workbook, as plain data.

Roster, Waitlist, Declined or withdrawn, Attendance (ticks read back by
`sync.classes.attendance`), Contacts, and one Sign-in sheet per session night, printed and
passed around the room: a signature needs a wide box that twelve nights side by side on one
page could not give. Each sign-in page's header carries the class, that night's date and
the hours, each short enough to stay clear of the others; the place, which can be long,
is a line of the sheet above the names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sync.classes import attendance
from sync.classes.attendance import PRESENT_MARKS
from sync.classes.seating import Applicant, ClassRoster, Placement
from sync.config import Config, ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.ingest.normalize import phone_display
from sync.xlsx.sheet import Column, Formula, PrintSetup, Sheet, column_letter


def _names(key: str, values: dict[str, Any]) -> tuple[str, str]:
    prefix = "student_" if key == "tap" else ""
    return (str(values.get(f"{prefix}first_name") or ""),
            str(values.get(f"{prefix}last_name") or ""))


def full_name(key: str, values: dict[str, Any]) -> str:
    return " ".join(_names(key, values)).strip()


def _listed_name(a: Applicant, key: str) -> str:
    first, last = _names(key, a.values)
    return f"{last}, {first}" if last and first else (last or first)


def _text(name: str) -> Callable[[dict[str, Any]], Any]:
    """The answer `name` of an applicant's answers, "" when none."""
    return lambda values: values.get(name) or ""


def _phone(name: str) -> Callable[[dict[str, Any]], str]:
    """The phone number `name` of an applicant's answers, as people write it."""
    return lambda values: phone_display(str(values.get(name) or ""))


# Contact columns per program: (header, width, value of an applicant's answers).
CONTACT_FIELDS: dict[str, list[tuple[str, float, Any]]] = {
    "pip": [("Email", 28, _text("email")), ("Phone", 16, _phone("phone")),
            ("Emergency contact", 22, _text("emergency_contact_name")),
            ("Emergency phone", 16, _phone("emergency_contact_phone"))],
    "tap": [("Grade", 7, _text("grade")), ("Student ID", 11, _text("student_id")),
            ("Student email", 26, _text("student_email")), ("Student phone", 16, _phone("student_phone")),
            ("Guardian", 22, _text("guardian_name")), ("Guardian phone", 16, _phone("guardian_phone")),
            ("Guardian email", 26, _text("guardian_email")), ("Counselor", 20, _text("counselor_name")),
            ("Counselor email", 26, _text("counselor_email"))],
}


def _answer(get: Any) -> Any:
    return lambda p: get(p.applicant.values)


@dataclass
class ClassWorkbook:
    """The sheets of one class's roster workbook, and who is on its attendance roll."""

    sheets: list[Sheet]
    roll: list[str]  # record IDs on the Attendance sheet


Spec = list[tuple[Column, Any]]  # (column, value of a Placement)
NAME_HEADERS = ("Name", "Student")  # the name column's header (PIP, TAP)


def _table(title: str, spec: Spec, items: list[Placement], **options: Any) -> Sheet:
    rows = [[get(p) for _, get in spec] for p in items]
    return readable(Sheet(title, [c for c, _ in spec], rows, **options))


PAGE_WIDTH = 115  # column-width units a landscape page holds with text at 9 pt or more


def readable(sheet: Sheet) -> Sheet:
    """`sheet` printed over as many pages side by side as keep its text readable, the
    columns up to the name repeated on each, when one page would need it too small."""
    setup, columns = sheet.print_setup, list(sheet.columns)
    widths = [c.width or 10 for c in columns]
    names = [i for i, c in enumerate(columns) if c.header in NAME_HEADERS]
    if setup is None or sum(widths) <= PAGE_WIDTH or not names:
        return sheet
    keep = names[0] + 1
    pages = math.ceil((sum(widths) - sum(widths[:keep])) / (PAGE_WIDTH - sum(widths[:keep])))
    sheet.print_setup = dataclasses.replace(setup, pages_wide=pages, repeat_columns=keep,
                                            across_first=True)
    return sheet


def workbook_sheets(config: Config, program: ProgramConfig, roster: ClassRoster,
                    class_marks: dict[str, dict[dt.date, str]]) -> ClassWorkbook:
    """Every sheet of one class's roster workbook, as plain data."""
    key, session, dates = program.key, roster.session, roster.dates
    tap = key == "tap"
    span = (f", {dates[0]:%B} {dates[0].day} to {dates[-1]:%B} {dates[-1].day}, {dates[-1].year}"
            if dates else "")
    when = f"{WEEKDAYS[session.weekday]}s {hours(session)}"

    def setup(what: str) -> PrintSetup:
        # three short parts, as on the sign-in pages, so that none runs into another
        return PrintSetup(header_left=f"{PROGRAMS[key].name}: {session.name}",
                          header_center=f"{what[0].upper()}{what[1:]}{span}", header_right=when)

    name = (Column(NAME_HEADERS[tap], width=24),
            lambda p: full_name(key, p.applicant.values))
    school: Spec = [(Column("School", width=22), lambda p: p.applicant.school)] if tap else []
    rid = (Column("Record ID", width=11), lambda p: p.applicant.record_id)
    status = (Column("Status", width=12), lambda p: p.applicant.status or "New")
    first = (Column("First submitted", "datetime", 17), lambda p: p.applicant.first)
    contacts: Spec = [(Column(h, "int" if h == "Grade" else "text", w), _answer(get))
                      for h, w, get in CONTACT_FIELDS[key]]
    brief = contacts[2:6] if tap else contacts[:2]
    groups = {s: i for i, s in enumerate(dict.fromkeys(p.applicant.school for p in roster.seated))}
    released = [Placement(a, 0) for a in roster.released]
    seat = (Column("Seat", "int", 6), lambda p: p.number)
    position = (Column("Position", "int", 9), lambda p: p.number)
    reason = (Column("Reason", width=26), lambda p: p.reason)
    by_school = (lambda row: "grey" if groups.get(row[0], 0) % 2 else None) if tap else None
    sheets = [
        _table("Roster", [*school, seat, rid, name, *contacts, status, first], roster.seated,
               print_setup=setup("roster"), row_fill=by_school),
        _table("Waitlist", [position, rid, name, *school, *brief, first, status, reason],
               roster.waitlist, print_setup=setup("waitlist")),
        _table("Declined or withdrawn", [rid, name, *school, *brief, first, status], released,
               print_setup=setup("declined or withdrawn")),
    ]
    # Attendance and sign-in sheets list people by name (TAP: by school, then name); the
    # Attendance sheet also keeps anyone no longer seated who has marks (never hidden).
    by_name = sorted(roster.seated, key=lambda p: (groups.get(p.applicant.school, 0),
                                                    _listed_name(p.applicant, key).casefold()))
    listed = [(Column(name[0].header, width=24), lambda p: _listed_name(p.applicant, key)), *school]
    shown = [*listed, status]
    people = [(p.applicant.record_id, [get(p) for _, get in shown]) for p in by_name]
    unseated = {p.applicant.record_id: p for p in [*roster.waitlist, *released]}
    for r in sorted(set(class_marks) - {r for r, _ in people}):
        p = unseated.get(r)
        people.append((r, [get(p) for _, get in shown] if p else
                       [*([""] * len(listed)), "Not in this class"]))
    sheets.append(readable(attendance_sheet(
        key, session, dates, [c for c, _ in shown], people, class_marks,
        setup("attendance"))))
    sheets.append(_contacts(key, roster, [name, *school], setup("contacts")))
    sheets.extend(sign_in_sheets(
        PROGRAMS[key].name, session, dates, [c for c, _ in listed],
        [[get(p) for _, get in listed] for p in by_name]))
    return ClassWorkbook(sheets, [r for r, _ in people])


def _contacts(key: str, roster: ClassRoster, who: Spec, print_setup: PrintSetup) -> Sheet:
    """One row per person to reach: the participant, and their emergency contact (PIP) or
    guardian and counselor (TAP)."""
    roles = {"pip": [("Participant", None, "email", "phone"),
                     ("Emergency contact", "emergency_contact_name", "",
                      "emergency_contact_phone")],
             "tap": [("Student", None, "student_email", "student_phone"),
                     ("Guardian", "guardian_name", "guardian_email", "guardian_phone"),
                     ("Counselor", "counselor_name", "counselor_email", "")]}[key]
    rows = []
    for p in roster.seated:
        v = p.applicant.values
        for role, contact, email, phone in roles:
            cells = [full_name(key, v) if contact is None else str(v.get(contact) or ""),
                     str(v.get(email) or ""), phone_display(str(v.get(phone) or ""))]
            if any(cells):
                rows.append([p.applicant.record_id, *(get(p) for _, get in who), role, *cells])
    return readable(Sheet("Contacts", [Column("Record ID", width=11), *(c for c, _ in who),
                                       Column("Role", width=18), Column("Contact", width=24),
                                       Column("Email", width=28), Column("Phone", width=16)],
                          rows, print_setup=print_setup))


# -- attendance and sign-in sheets ---------------------------------------------------------


def attendance_sheet(program_key: str, session: Session, dates: Sequence[dt.date],
                     leading: Sequence[Column], people: Sequence[tuple[str, Sequence[Any]]],
                     class_marks: dict[str, dict[dt.date, str]],
                     print_setup: PrintSetup | None = None) -> Sheet:
    """The Attendance sheet: Record ID, the `leading` columns (name, status...), one box per
    session date, then the total and eligibility formulas, and a Present row per date. Each
    formula carries its result for the marks written, so it shows before anything calculates."""
    head = 1 + len(leading)
    marks = PRESENT_MARKS[::2]  # the dropdown offers ✓ and X
    columns = [Column(attendance.RECORD_ID, width=11), *leading,
               *(Column(day.isoformat(), "checkbox", 11, choices=marks) for day in dates),
               Column("Attended", "int", 10),
               Column(attendance.ELIGIBLE[program_key], width=len(attendance.ELIGIBLE[program_key]) + 2)]
    preamble = [
        [f"{session.name}: attendance"],
        # short: it stays within the Record ID and name columns that every page repeats
        [f"Tick {PRESENT_MARKS[0]} or X if present. Keep Record IDs."],
    ]
    first_row = len(preamble) + 2
    first, last = column_letter(head + 1), column_letter(head + max(1, len(dates)))

    def present(cells: str, count: int) -> Formula:
        return Formula("=" + "+".join(f'COUNTIF({cells},"{m}")' for m in PRESENT_MARKS), count)

    rows: list[list[Any]] = []
    for n, (rid, values) in enumerate(people):
        row = first_row + n
        boxes = [class_marks.get(rid, {}).get(day) or None for day in dates]
        count = sum(attendance.is_present(m) for m in boxes)
        total = present(f"{first}{row}:{last}{row}", count) if dates else 0
        passed = "Yes" if count >= session.graduation_minimum else "No"
        rows.append([rid, *values, *boxes, total,
                     Formula(f'=IF({column_letter(head + len(dates) + 1)}{row}>='
                             f'{session.graduation_minimum},"Yes","No")', passed)])
    if people and dates:
        end = first_row + len(people) - 1
        per_day = [sum(attendance.is_present(r[head + i]) for r in rows) for i in range(len(dates))]
        rows.append(["", "Present", *([""] * (len(leading) - 1)),
                     *(present(f"{column_letter(head + 1 + i)}{first_row}:"
                               f"{column_letter(head + 1 + i)}{end}", per_day[i])
                       for i in range(len(dates))),
                     "", ""])
    return Sheet(attendance.SHEET, columns, rows, freeze=f"{column_letter(head + 1)}{first_row}",
                 autofilter=False, print_setup=print_setup, preamble=preamble)


HEADER_PART = 40  # characters: the page header's left and right parts stay clear of its centre
PLACE_LINE = 80  # characters of the place per line above a sign-in sheet's names


def header_part(text: str) -> str:
    """`text` short enough for one part of a landscape page header (cut with "..." if not)."""
    return text if len(text) <= HEADER_PART else text[:HEADER_PART - 3].rstrip() + "..."


def sign_in_sheets(program_name: str, session: Session, dates: Sequence[dt.date],
                   leading: Sequence[Column], people: Sequence[Sequence[Any]]) -> list[Sheet]:
    """One printable sign-in sheet per session night: #, the `leading` columns (name...), a
    wide signature box and a time-in box. The page header holds the class (left), the
    night's date (centre) and the hours (right); lines above the names repeat the date and
    hours and give the place, wrapped to fit the page."""
    columns = [Column("#", "int", 5), *leading, Column("Signature", "checkbox", 48),
               Column("Time in", "checkbox", 12)]
    rows = [[i, *values, None, None] for i, values in enumerate(people, 1)]
    place = textwrap.wrap(f"Place: {session.location}", PLACE_LINE) if session.location else []
    return [Sheet(f"Sign-in {day.isoformat()}", columns, rows, autofilter=False, row_height=26,
                  preamble=[[f"Sign-in: {long_date(day)}, {hours(session)}"],
                            *([line] for line in place)],
                  print_setup=PrintSetup(header_left=header_part(f"{program_name}: {session.name}"),
                                         header_center=f"Sign-in: {long_date(day)}",
                                         header_right=header_part(hours(session))))
            for day in dates]


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _clock(t: dt.time) -> str:
    return f"{t.hour % 12 or 12}:{t.minute:02d}"


def hours(session: Session) -> str:
    """The class hours as staff write them: "6:00-8:00 p.m."."""
    start, end = session.start_time, session.end_time
    half = lambda t: "a.m." if t.hour < 12 else "p.m."  # noqa: E731
    if half(start) == half(end):
        return f"{_clock(start)}-{_clock(end)} {half(end)}"
    return f"{_clock(start)} {half(start)}-{_clock(end)} {half(end)}"


def long_date(day: dt.date) -> str:
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"

