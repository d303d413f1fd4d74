"""The one clock: now, and today, in the department's time zone.

Every stamp the toolkit writes for staff (the Sync Log, records' created and updated times,
staff decisions, the confirmation ledger) and every "today" a command works from comes from
here, so that a server set to another zone (UTC on most hosts) never shifts them. File
names of backups and the lock's stamp are the server's business and keep its local time.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class HasDepartment(Protocol):
    @property
    def department(self) -> object: ...


def now(config: HasDepartment) -> dt.datetime:
    """The department's wall-clock time now, to the second, without a zone (as Excel shows it)."""
    zone = config.department.timezone  # type: ignore[attr-defined]
    return dt.datetime.now(zone).replace(tzinfo=None, microsecond=0)


def moment(config: HasDepartment) -> dt.datetime:
    """Now, with the department's zone attached (a message's Date header)."""
    return dt.datetime.now(config.department.timezone)  # type: ignore[attr-defined]


def today(config: HasDepartment) -> dt.date:
    """The department's date now."""
    return now(config).date()
