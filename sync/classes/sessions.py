"""Classes (PIP cohorts, TAP semesters): session dates and which class an application joins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sync.config import ProgramConfig, Session


def session_dates(session: Session) -> list[dt.date]:
    """The class nights: `sessions` dates on the weekday from `start`, skipping `skip` dates."""
    day = session.start
    while day.weekday() != session.weekday:
        day += dt.timedelta(days=1)
    skip = set(session.skip)
    dates: list[dt.date] = []
    limit = session.sessions + len(skip) + 60  # never loop forever on a bad skip list
    while len(dates) < session.sessions and limit > 0:
        if day not in skip:
            dates.append(day)
        day += dt.timedelta(weeks=1)
        limit -= 1
    return dates


def registration_window(session: Session, previous: Session | None) -> tuple[dt.date, dt.date]:
    """When applications count for `session`: configured dates, else after the previous class
    started and until the day before this one starts."""
    opens = session.registration_opens
    if opens is None:
        opens = previous.start if previous is not None else dt.date.min
    closes = session.registration_closes or (session.start - dt.timedelta(days=1))
    return opens, closes


def class_for(applied: dt.date, sessions: Sequence[Session]) -> Session | None:
    """The class whose registration was open on `applied`; else the next class to start."""
    if not isinstance(sessions, tuple):
        return _class_for(applied, sessions)
    known = _memo("class_for", sessions, _no_answers)
    try:
        return known[applied]
    except KeyError:
        found = known[applied] = _class_for(applied, sessions)
        return found


def _no_answers(_sessions: tuple[Session, ...]) -> dict[dt.date, Session | None]:
    return {}


# {(what, id(sessions)): (sessions, what was worked out)}: a tuple (the configuration's
# classes) cannot change, and holding it keeps its id from being reused
_memos: dict[tuple[str, int], tuple[tuple[Session, ...], Any]] = {}


def _memo(what: str, sessions: tuple[Session, ...], work: Callable[[tuple[Session, ...]], Any]) -> Any:
    kept = _memos.get((what, id(sessions)))
    if kept is None or kept[0] is not sessions:
        if len(_memos) > 16:
            _memos.clear()
        kept = _memos[(what, id(sessions))] = (sessions, work(sessions))
    return kept[1]


def _class_for(applied: dt.date, sessions: Sequence[Session]) -> Session | None:
    ordered = sorted(sessions, key=lambda s: s.start)
    for i, session in enumerate(ordered):
        opens, closes = registration_window(session, ordered[i - 1] if i else None)
        if opens <= applied <= closes:
            return session
    upcoming = [s for s in ordered if s.start > applied]
    return upcoming[0] if upcoming else None


def find(sessions: Sequence[Session], wanted: str) -> Session | None:
    """The class named by id or name (as staff type it in an override column)."""
    key = " ".join(str(wanted).split()).casefold()
    names = _memo("names", sessions, _names) if isinstance(sessions, tuple) else _names(sessions)
    return names.get(key)


def _names(sessions: Sequence[Session]) -> dict[str, Session]:
    """{casefolded id or name: class}; the first class wins a name two share."""
    out: dict[str, Session] = {}
    for session in sessions:
        out.setdefault(session.id.casefold(), session)
        out.setdefault(session.name.casefold(), session)
    return out


def age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def assigned_class(program: ProgramConfig, data: dict[str, Any]) -> str:
    """The class id the record belongs to by the form's answer or its first submission."""
    answer = data["values"].get("cohort" if program.key == "pip" else "semester")
    if answer:
        found = find(program.cohorts, answer)
        if found:
            return found.id
    first = data["first"]
    session = class_for(first.date() if isinstance(first, dt.datetime) else first,
                                program.cohorts)
    return session.id if session else ""
