"""Class rosters: who has a seat, who waits, and the workbook staff run a class from.

Seats go first come, first served by first submission among the eligible applicants of a
class (PIP cohort or TAP semester); the rest wait in the same order. The staff's Status in
the master always wins: Accepted/Enrolled (and Graduated/Completed) hold a seat whatever
their place in line, Waitlisted stays on the waitlist, Declined/Withdrawn frees the seat.
A TAP semester may also cap the seats of each school.

One workbook per class, `<output>/rosters/<program>-<class id>.xlsx`: Roster, Waitlist,
Declined or withdrawn, Attendance (ticks read back by `sync.classes.attendance`), Contacts, and one
Sign-in sheet per session night, printed and passed around the room: a signature needs a
wide box that twelve nights side by side on one page could not give, and each page header
then carries that night's date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.classes import attendance
from sync.classes import sessions as classes
from sync.config import Config, ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.errors import ConfigError, HeldError
from sync.master import layout
from sync.state import files, scratch
from sync.state.lock import run_lock
from sync.state.store import MASTER, STATE, Store
from sync.xlsx.saving import write_workbook
from sync.xlsx.sheet import Column, PrintSetup, Sheet

log = logging.getLogger(__name__)

SEATED = ("accepted", "enrolled", "graduated", "completed")
WAITING = ("waitlisted",)
RELEASED = ("declined", "withdrawn", "cancelled")
CLASS_KEYS = {p.key: p.classes.config_key for p in PROGRAMS.values() if p.classes}


@dataclass(frozen=True)
class Applicant:
    record_id: str
    first: dt.datetime  # first submission
    status: str  # the staff's Status in the program's spelling; "" when none
    values: dict[str, Any]
    eligible: bool = True

    @property
    def school(self) -> str:
        return str(self.values.get("school") or "")

    def order(self) -> tuple[dt.datetime, int]:
        return (self.first, int(re.sub(r"\D", "", self.record_id) or 0))


@dataclass(frozen=True)
class Placement:
    applicant: Applicant
    number: int  # seat number, or position on the waitlist
    reason: str = ""  # why someone waits


@dataclass
class ClassRoster:
    program: str  # pip | tap
    session: Session
    dates: list[dt.date]
    seated: list[Placement] = field(default_factory=list)
    waitlist: list[Placement] = field(default_factory=list)
    released: list[Applicant] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{PROGRAMS[self.program].name}, {self.session.name} ({self.session.id})"


def status_of(program_key: str, staff: dict[str, Any]) -> str:
    """The staff's Status in the program's own spelling ("accepted " -> "Accepted")."""
    typed = " ".join(str(staff.get("Status") or "").split())
    for known in PROGRAMS[program_key].statuses:
        if typed.casefold() == known.casefold():
            return known
    return typed


def members(program: ProgramConfig, records: dict[str, dict[str, Any]],
            ) -> tuple[dict[str, list[Applicant]], list[str]]:
    """Applicants by class id, from the state's records ({record_id: {"data", "staff"}})."""
    by_class: dict[str, list[Applicant]] = {}
    warnings: list[str] = []
    homeless = 0
    override = layout.OVERRIDE[program.key]
    for rid, record in records.items():
        data, staff = record["data"], record.get("staff") or {}
        session, unknown = attendance.member_class(program, data, staff)
        if unknown is not None:
            warnings.append(f"{rid}: {override} {unknown!r} names no configured class "
                            f"(known: {', '.join(s.id for s in program.cohorts)}); "
                            f"using {session.id if session else 'none'}")
        if session is None:
            homeless += not data.get("eligibility")
            continue
        by_class.setdefault(session.id, []).append(Applicant(
            rid, data["first"], status_of(program.key, staff), data.get("values", {}),
            eligible=not data.get("eligibility")))
    if homeless:
        warnings.append(f"{PROGRAMS[program.key].name}: {homeless} eligible records belong to no "
                        f"configured class (first applied after the last class started)")
    return by_class, warnings


def assign(program: ProgramConfig, session: Session, applicants: list[Applicant],
           where: str = "") -> ClassRoster:
    """Seats, waitlist and the released for one class; `where` names its config key."""
    where = where or f"programs.{program.key}.{CLASS_KEYS[program.key]}"
    roster = ClassRoster(program.key, session, classes.session_dates(session))
    label = roster.label
    ordered = sorted(applicants, key=Applicant.order)
    caps = {school.casefold(): seats for school, seats in session.school_capacity.items()}
    taken: dict[str, int] = {}
    held = [a for a in ordered if a.status.casefold() in SEATED]
    for a in held:
        taken[a.school.casefold()] = taken.get(a.school.casefold(), 0) + 1
    left = session.capacity - len(held)
    seated, waiting = list(held), []
    for a in ordered:
        state = a.status.casefold()
        if state in SEATED:
            continue
        if state in RELEASED:
            roster.released.append(a)
        elif not a.eligible:
            continue  # ineligible, and staff did not accept them anyway
        elif state in WAITING:
            waiting.append((a, "Waitlisted by staff"))
        elif left <= 0:
            waiting.append((a, "Class full"))
        elif (school := a.school.casefold()) in caps and taken.get(school, 0) >= caps[school]:
            waiting.append((a, f"{a.school} seats full ({caps[school]})"))
        else:
            seated.append(a)
            left -= 1
            taken[school] = taken.get(school, 0) + 1
    if program.key == "tap":
        rank = {s.casefold(): i for i, s in enumerate(program.schools)}
        seated.sort(key=lambda a: (a.school == "", rank.get(a.school.casefold(), len(rank)),
                                   a.school.casefold(), a.order()))
    else:
        seated.sort(key=Applicant.order)
    roster.seated = [Placement(a, i) for i, a in enumerate(seated, 1)]
    roster.waitlist = [Placement(a, i, why) for i, (a, why) in
                       enumerate(sorted(waiting, key=lambda w: w[0].order()), 1)]
    warn = roster.warnings.append
    if session.capacity < session.minimum:
        warn(f"{label}: capacity {session.capacity} is below the class minimum of "
             f"{session.minimum} ({where}.capacity / .minimum)")
    if not roster.dates:
        warn(f"{label}: no session dates: check start, weekday, sessions and skip ({where})")
    elif len(roster.dates) < session.sessions:
        warn(f"{label}: only {len(roster.dates)} of {session.sessions} session dates "
             f"(too many skip dates? {where}.skip)")
    if len(held) > session.capacity:
        warn(f"{label}: staff accepted {len(held)}, more than the {session.capacity} seats")
    for school, seats in session.school_capacity.items():
        if taken.get(school.casefold(), 0) > seats:
            warn(f"{label}: {school} has {taken[school.casefold()]} seated, "
                 f"more than its {seats} seats")
    if session.minimum and len(roster.seated) < session.minimum:
        warn(f"{label}: {len(roster.seated)} seated, fewer than the minimum of "
             f"{session.minimum} to hold the class")
    return roster


# -- the workbook's sheets -------------------------------------------------------------------


def phone_text(value: Any) -> str:
    """A stored phone number as people write it: "+13105550101" -> "(310) 555-0101"."""
    text = str(value or "")
    found = re.fullmatch(r"\+1(\d{3})(\d{3})(\d{4})(?:;ext=(\d+))?", text)
    if not found:
        return text
    area, exchange, line, ext = found.groups()
    return f"({area}) {exchange}-{line}" + (f" ext. {ext}" if ext else "")


def _names(key: str, values: dict[str, Any]) -> tuple[str, str]:
    prefix = "student_" if key == "tap" else ""
    return (str(values.get(f"{prefix}first_name") or ""),
            str(values.get(f"{prefix}last_name") or ""))


def full_name(key: str, values: dict[str, Any]) -> str:
    return " ".join(_names(key, values)).strip()


def _listed_name(a: Applicant, key: str) -> str:
    first, last = _names(key, a.values)
    return f"{last}, {first}" if last and first else (last or first)


# Contact columns per program: (header, width, value of an applicant's answers).
_V = lambda name: (lambda v: v.get(name) or "")  # noqa: E731
_P = lambda name: (lambda v: phone_text(v.get(name)))  # noqa: E731
CONTACT_FIELDS: dict[str, list[tuple[str, float, Any]]] = {
    "pip": [("Email", 28, _V("email")), ("Phone", 16, _P("phone")),
            ("Emergency contact", 22, _V("emergency_contact_name")),
            ("Emergency phone", 16, _P("emergency_contact_phone"))],
    "tap": [("Grade", 7, _V("grade")), ("Student ID", 11, _V("student_id")),
            ("Student email", 26, _V("student_email")), ("Student phone", 16, _P("student_phone")),
            ("Guardian", 22, _V("guardian_name")), ("Guardian phone", 16, _P("guardian_phone")),
            ("Guardian email", 26, _V("guardian_email")), ("Counselor", 20, _V("counselor_name")),
            ("Counselor email", 26, _V("counselor_email"))],
}


def _answer(get: Any) -> Any:
    return lambda p: get(p.applicant.values)


@dataclass
class ClassWorkbook:
    """The sheets of one class's roster workbook, and who is on its attendance roll."""

    sheets: list[Sheet]
    roll: list[str]  # record IDs on the Attendance sheet


Spec = list[tuple[Column, Any]]  # (column, value of a Placement)


def _table(title: str, spec: Spec, items: list[Placement], **options: Any) -> Sheet:
    rows = [[get(p) for _, get in spec] for p in items]
    return Sheet(title, [c for c, _ in spec], rows, **options)


def workbook_sheets(config: Config, program: ProgramConfig, roster: ClassRoster,
                    class_marks: dict[str, dict[dt.date, str]]) -> ClassWorkbook:
    """Every sheet of one class's roster workbook, as plain data."""
    key, session, dates = program.key, roster.session, roster.dates
    tap = key == "tap"
    span = (f"{session.name}, {dates[0]:%B} {dates[0].day} to {dates[-1]:%B} {dates[-1].day}, "
            f"{dates[-1].year}" if dates else session.name)
    when = f"{attendance.WEEKDAYS[session.weekday]}s {attendance.hours(session)}"

    def setup(what: str, right: str = when) -> PrintSetup:
        return PrintSetup(header_left=config.department.name,
                          header_center=f"{PROGRAMS[key].name}: {span} {what}",
                          header_right=right)

    name = (Column("Student" if tap else "Name", width=24),
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
    sheets.append(attendance.sheet(
        key, session, dates, [c for c, _ in shown], people, class_marks,
        setup("attendance", f"{len(dates)} sessions, {when}")))
    sheets.append(_contacts(key, roster, [name, *school], setup("contacts")))
    sheets.extend(attendance.sign_in_sheets(
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
                     str(v.get(email) or ""), phone_text(v.get(phone))]
            if any(cells):
                rows.append([p.applicant.record_id, *(get(p) for _, get in who), role, *cells])
    return Sheet("Contacts", [Column("Record ID", width=11), *(c for c, _ in who),
                              Column("Role", width=18), Column("Contact", width=24),
                              Column("Email", width=28), Column("Phone", width=16)],
                 rows, print_setup=print_setup)


# -- writing the workbooks -------------------------------------------------------------------


@dataclass
class ClassResult:
    roster: ClassRoster
    path: Path
    marks: int


@dataclass
class RostersSummary:
    classes: list[ClassResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        for c in self.classes:
            r, s = c.roster, c.roster.session
            dates = (f"{len(r.dates)} sessions, {r.dates[0]:%A} {r.dates[0]} to {r.dates[-1]}"
                     if r.dates else "no session dates")
            lines.append(f"{r.label}: {len(r.seated)} of {s.capacity} seats taken, "
                         f"{len(r.waitlist)} waitlisted, {len(r.released)} declined or withdrawn; "
                         f"{dates}; {c.marks} attendance marks")
            lines.append(f"  {c.path}")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        if not self.classes:
            lines.append("No rosters written.")
        return "\n".join(lines)


def _selected(config: Config, program_key: str | None,
              cohort: str | None) -> list[tuple[ProgramConfig, Session, str]]:
    if program_key is not None:
        program = config.program(program_key)
        if program_key not in CLASS_KEYS:
            raise ConfigError(f"{config.path}: programs.{program_key}: has no classes "
                              "to make rosters for")
        programs = [program]
    else:
        programs = [config.programs[k] for k in CLASS_KEYS if k in config.programs]
    chosen = []
    for program in programs:
        for i, session in enumerate(program.cohorts):
            if cohort is None or classes.find([session], cohort) is not None:
                where = f"programs.{program.key}.{CLASS_KEYS[program.key]}[{i}]"
                chosen.append((program, session, where))
    if cohort is not None and not chosen:
        known = ", ".join(f"{p.key}:{s.id}" for p in programs for s in p.cohorts) or "none"
        raise ConfigError(f"{config.path}: no cohort or semester {cohort!r} is configured "
                          f"(known: {known})")
    return chosen


def _digest(path: Path) -> str | None:
    """The master's digest as the sync records it, to tell whether staff saved it since."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "blake2b").hexdigest()
    except FileNotFoundError:
        return None


def write_rosters(config: Config, program_key: str | None = None,
                  cohort: str | None = None) -> RostersSummary:
    """Write the roster workbook of every selected class; ticks already made are kept."""
    chosen = _selected(config, program_key, cohort)
    summary = RostersSummary()
    keys = [k for k in CLASS_KEYS if (program_key in (None, k)) and k in config.programs]
    for key in keys:
        if not config.programs[key].cohorts:
            summary.warnings.append(f"{config.path}: programs.{key}.{CLASS_KEYS[key]}: "
                                    "no classes configured")
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    (config.output / attendance.FOLDER).mkdir(mode=0o700, exist_ok=True)
    with run_lock(config.output), Store(config.output / STATE, backups=config.backups) as store:
        master_digest = _digest(config.output / MASTER)
        if master_digest is not None and master_digest != store.get_meta("master_digest"):
            summary.warnings.append(f"{config.output / MASTER} changed since the last sync: run "
                                    "`tpd-programs sync` first so Status changes made there count")
        attendance.collect(store, config)  # ticks made in the current files are kept
        groups: dict[str, dict[str, list[Applicant]]] = {}
        held: list[Path] = []
        for program, session, where in chosen:
            if program.key not in groups:
                records = store.records(program.key)
                if not records:
                    summary.warnings.append(f"{PROGRAMS[program.key].name}: no records yet: "
                                            "run `tpd-programs sync` first")
                groups[program.key], warnings = members(program, records)
                summary.warnings.extend(warnings)
            roster = assign(program, session, groups[program.key].get(session.id, []), where)
            summary.warnings.extend(roster.warnings)
            class_marks = attendance.marks(store, program.key, session.id)
            book = workbook_sheets(config, program, roster, class_marks)
            path = attendance.roster_path(config, program.key, session.id)
            try:
                write_workbook(path, book.sheets, backups=config.backups,
                               scratch=scratch.folder(config.output), if_changed=True)
            except HeldError:  # open in Excel: the other classes are written all the same
                held.append(path)
                continue
            attendance.remember(store, config, program.key, session.id, book.roll)
            n = sum(len(v) for v in class_marks.values())
            summary.classes.append(ClassResult(roster, path, n))
            log.info("%s %s: %d seated, %d waitlisted, %d released, %d marks", program.key,
                     session.id, len(roster.seated), len(roster.waitlist), len(roster.released), n)
    if held:
        raise files.held_error(held, f"{len(summary.classes)} other roster(s) were written",
                               "tpd-programs rosters")
    return summary
