"""Who has a seat in a class, who waits, and who let their seat go.

Seats go first come, first served by first submission among the eligible applicants of a
class (PIP cohort or TAP semester); the rest wait in the same order. The staff's Status in
the master always wins: Accepted/Enrolled (and Graduated/Completed) hold a seat whatever
their place in line, Waitlisted stays on the waitlist, Declined/Withdrawn frees the seat.
A TAP semester may also cap the seats of each school.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sync.classes import attendance, sessions
from sync.config import ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.master import layout

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
    roster = ClassRoster(program.key, session, sessions.session_dates(session))
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
    _check(roster, len(held), taken, where)
    return roster


def _check(roster: ClassRoster, held: int, taken: dict[str, int], where: str) -> None:
    """Warn about a class that cannot run as configured: too few seats or session dates,
    more seated than seats (staff accepted `held`), a school over its seats (`taken`)."""
    session, label, warn = roster.session, roster.label, roster.warnings.append
    if session.capacity < session.minimum:
        warn(f"{label}: capacity {session.capacity} is below the class minimum of "
             f"{session.minimum} ({where}.capacity / .minimum)")
    if not roster.dates:
        warn(f"{label}: no session dates: check start, weekday, sessions and skip ({where})")
    elif len(roster.dates) < session.sessions:
        warn(f"{label}: only {len(roster.dates)} of {session.sessions} session dates "
             f"(too many skip dates? {where}.skip)")
    if held > session.capacity:
        warn(f"{label}: staff accepted {held}, more than the {session.capacity} seats")
    for school, seats in session.school_capacity.items():
        if taken.get(school.casefold(), 0) > seats:
            warn(f"{label}: {school} has {taken[school.casefold()]} seated, "
                 f"more than its {seats} seats")
    if session.minimum and len(roster.seated) < session.minimum:
        warn(f"{label}: {len(roster.seated)} seated, fewer than the minimum of "
             f"{session.minimum} to hold the class")
