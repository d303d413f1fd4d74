"""The vacation-check letters that follow the checks: welcome home, and the staff notice.

- `vsc-welcome-home`: the day after a request's return date the resident gets a letter
  listing every check logged for the home (date, time, result) and thanking them; one that
  had no check logged says so kindly. It is due for `WELCOME_DAYS` days from then (a
  department that turns it on does not write to everyone who came back in the past), not
  for a request staff set Cancelled, one declined as ineligible (unless set Active) or one
  purged. `[programs.vsc.rules] welcome_home = false` turns it off;
  `welcome_home_without_checks = false` sends it only when a check was logged.
- `vsc-check-alert`: a check whose result is Insecure or Suspicious, typed into a route
  sheet, is a notice to the staff addresses (`[smtp] notify`), never to the resident:
  record ID, date, time, result, who checked and the notes. Once per check: its ledger
  entry is the template name with the check's date and a short digest of its time and
  checker (`alert_key`), so a second alert for the same home is a message of its own, and
  notes corrected after the notice went do not send it again; an address added to `notify`
  later does not get the notices sent before (`per_check`).

Both go through the ledger like every confirmation (`sync.confirmations`): sent once, across
reruns and across a run that stopped while sending.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from sync.state.store import Store
from sync.vacation import checklog, routing

WELCOME = "vsc-welcome-home"
ALERT = "vsc-check-alert"
WELCOME_DAYS = 7  # the letter is due from the day after the return date for this many days
WELCOME_FIELDS = ("checks",)  # beside the request's own fields
ALERT_FIELDS = ("record_id", "check", "department", "program")


def checks_by_record(store: Store) -> dict[str, list[checklog.Check]]:
    out: dict[str, list[checklog.Check]] = {}
    for check in checklog.stored_checks(store):
        out.setdefault(check.record_id, []).append(check)
    return out


def _date(text: str) -> Any:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return text


def _time(text: str) -> Any:
    try:
        return dt.time.fromisoformat(text) if re.fullmatch(r"\d\d:\d\d", text) else text
    except ValueError:
        return text


def check_context(check: checklog.Check) -> dict[str, Any]:
    """A check as templates see it: real dates and times where they were typed as such."""
    return {"date": _date(check.date), "time": _time(check.time), "result": check.result,
            "checked_by": check.checked_by, "notes": check.notes}


def welcome_due(data: Mapping[str, Any], staff: Mapping[str, Any], checked: bool,
                welcome_home: bool, without_checks: bool, today: dt.date) -> bool | None:
    """Whether the welcome-home letter is due today (True), not yet or not at all (None), or
    no longer (False: counted as past)."""
    back = data.get("values", {}).get("return_date")
    if not welcome_home or not isinstance(back, dt.date) or (not checked and not without_checks):
        return None
    if not routing.is_active(data, staff, back):  # Cancelled, declined, purged
        return None
    if today <= back:
        return None
    return today <= back + dt.timedelta(days=WELCOME_DAYS)


def alert_key(check: checklog.Check) -> str:
    """The ledger's name for one check's notice: `vsc-check-alert.2020-12-20.1a2b3c4d`."""
    digest = hashlib.blake2b(f"{check.date}|{check.time}|{check.checked_by}".encode(),
                             digest_size=4).hexdigest()
    day = re.sub(r"[^0-9-]", "", check.date)[:10] or "undated"
    return f"{ALERT}.{day}.{digest}"


def alerts(checks: Mapping[str, list[checklog.Check]]) -> list[checklog.Check]:
    """The checks that call for a notice to staff."""
    return [c for found in checks.values() for c in found if c.result in checklog.ALERT_RESULTS]


def per_check(ledger: Mapping[tuple[str, str, str], Any], alert_dues: list[Any],
              aliases: Mapping[str, list[str]]) -> dict[tuple[str, str, str], Any]:
    """The ledger as a check's notice sees it: a notice is once per check, not per address,
    so a row for any address (an earlier `notify` list, or one a purge or a restore
    rewrote) stands for every address the notice would go to now."""
    found: dict[tuple[str, str], Any] = {}
    for (rid, entry, _), state in ledger.items():
        if entry.startswith(ALERT + ".") and state[0] in ("sent", "sending", "refused"):
            found[(rid, entry)] = max(state, found.get((rid, entry), state))
    view = dict(ledger)
    for due in alert_dues:
        for rid in aliases.get(due.record_id, [due.record_id]):
            if (rid, due.entry) in found:
                view.update({(rid, due.entry, a.lower()): found[(rid, due.entry)]
                             for a in due.recipients})
    return view
