"""The one clock: now, and today, in the department's time zone, or as of another day.

Every stamp the toolkit writes for staff (the Sync Log, records' created and updated times,
staff decisions, the confirmation ledger, a message's Date) and every "today" a command
works from (what is due, what is active, "this week", the route day, retention) comes from
here, so that a server set to another zone (UTC on most hosts) never shifts them.

`--as-of YYYY-MM-DD` sets the clock on the configuration (`Config.as_of`, an `AsOf`): the
command runs as if today were that day. The clock then reads the real time of day on that
day and keeps running, shifted by whole days: two runs as of the same day are in the order
they ran, a run's "Finished" is after its "Started", and a run that crosses midnight
crosses into the next day as a real one would.

Time that is not the department's business stays real on purpose: backup and lock file
names, a lock's age, the log file's line stamps (when a command really ran), a sign-in
token's expiry and an HTTP Retry-After (the server's and Google's clocks). `system_today`
and `system_moment` are the server's, for a two-digit year parsed or a message composed
with no configuration at hand (a test, a one-off script); every command passes the
configured clock's instead.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class HasDepartment(Protocol):
    @property
    def department(self) -> object: ...


@dataclass(frozen=True)
class AsOf:
    """Run as if today were `day`: the real clock shifted by `shift` whole days."""

    day: dt.date
    shift: dt.timedelta


def as_of(day: dt.date, zone: dt.tzinfo) -> AsOf:
    """The clock setting that makes today `day` in `zone`, from this moment on."""
    return AsOf(day, day - dt.datetime.now(zone).date())


def parse_day(text: str) -> dt.date:
    """A day written YYYY-MM-DD, or ValueError saying how to write it."""
    if not _ISO_DAY.fullmatch(text.strip()):
        raise ValueError(f"not a date like 2020-03-05: {text!r}")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"no such day: {text!r}") from None


def moment(config: HasDepartment) -> dt.datetime:
    """Now, with the department's zone attached (a message's Date header)."""
    zone = config.department.timezone  # type: ignore[attr-defined]
    real = dt.datetime.now(zone)
    setting: AsOf | None = getattr(config, "as_of", None)
    # wall-clock arithmetic: the time of day is kept across a daylight-saving change
    return real + setting.shift if setting is not None else real


def now(config: HasDepartment) -> dt.datetime:
    """The department's wall-clock time now, to the second, without a zone (as Excel shows it)."""
    return moment(config).replace(tzinfo=None, microsecond=0)


def today(config: HasDepartment) -> dt.date:
    """The department's date now."""
    return now(config).date()


def system_moment() -> dt.datetime:
    """The server's time in its own zone, where no configuration is at hand (see the module's
    docstring)."""
    return dt.datetime.now().astimezone()


def system_today() -> dt.date:
    """The server's date, where no configuration is at hand."""
    return system_moment().date()
