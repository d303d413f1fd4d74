"""A class's table in the configuration: a PIP cohort (`cohorts`) or a TAP semester
(`semesters`), with its dates, times, seats and the attendance it takes to graduate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sync.config.tomltable import TableReader
from sync.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Session:
    """A class: a PIP cohort or a TAP semester."""

    id: str
    name: str
    start: dt.date
    sessions: int
    weekday: int  # Monday = 0
    start_time: dt.time
    end_time: dt.time
    capacity: int
    minimum: int
    skip: tuple[dt.date, ...]
    location: str
    graduation_minimum: int
    registration_opens: dt.date | None
    registration_closes: dt.date | None
    school_capacity: dict[str, int] = field(default_factory=dict)


def read_session(r: TableReader, kind: str) -> Session:
    r.only({
        "id", "name", "start", "sessions", "weekday", "start_time", "end_time", "capacity",
        "minimum", "skip", "location", "graduation_minimum", "credit_minimum",
        "registration_opens", "registration_closes", "school_capacity",
    })
    weekday = r.text("weekday", "thursday").strip().lower()
    if weekday not in WEEKDAYS:
        raise r.fail("weekday", f"must be a day name like Thursday, got {weekday!r}")
    sessions = r.number("sessions", 12, minimum=1)
    capacity = r.number("capacity", 40, minimum=1)
    skips = r.get("skip", list, [])
    skip = []
    for i, value in enumerate(skips):
        sub = TableReader(r.path, {"skip": value}, r.where)
        try:
            skip.append(sub.date("skip"))
        except ConfigError:
            raise r.fail(f"skip[{i}]", f"must be a date like 2020-04-09, got {value!r}") from None
    graduation_key = "credit_minimum" if "credit_minimum" in r.table else "graduation_minimum"
    graduation = r.number(graduation_key, max(1, (sessions * 3 + 3) // 4), minimum=0)
    if graduation > sessions:
        raise r.fail(graduation_key, f"{graduation} is more than the {sessions} sessions")
    start_time = r.time("start_time", dt.time(18, 0))
    end_time = r.time("end_time", dt.time(20, 0))
    if end_time <= start_time:
        raise r.fail("end_time", "must be after start_time")
    school_capacity = r.sub("school_capacity").table
    for school, seats in school_capacity.items():
        if not isinstance(seats, int) or isinstance(seats, bool) or seats < 0:
            raise r.fail(f"school_capacity.{school}", "must be a whole number of seats")
    opens = r.date("registration_opens", None)
    closes = r.date("registration_closes", None)
    if opens and closes and closes < opens:
        raise r.fail("registration_closes", "is before registration_opens")
    return Session(
        id=r.text("id"),
        name=r.text("name"),
        start=r.date("start"),
        sessions=sessions,
        weekday=WEEKDAYS.index(weekday),
        start_time=start_time,
        end_time=end_time,
        capacity=capacity,
        minimum=r.number("minimum", 0),
        skip=tuple(skip),
        location=r.text("location", ""),
        graduation_minimum=graduation,
        registration_opens=opens,
        registration_closes=closes,
        school_capacity=dict(school_capacity),
    )
