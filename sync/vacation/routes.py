"""Route workbooks: one file per day (`<output>/routes/routes-YYYY-MM-DD.xlsx`), one sheet per beat.

Each row is a stop in driving order with what the checker must know at the door, then blank
columns for the check itself. Results already typed into a day's workbook are read into the
state before it is rewritten, and written back into the new rows, so regenerating a day
never loses a check. The files list empty homes: they are created readable by their owner
only, in a folder only the owner can open, with no backups.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.config.programs import VSC
from sync.errors import HeldError, SyncError, WorkbookError
from sync.master import layout
from sync.state import clock, files, scratch
from sync.state.lock import run_lock
from sync.state.store import MASTER, STATE, Store
from sync.vacation import checklog, geocoding, routing
from sync.vacation.checklog import Check
from sync.xlsx.reading import find_header, header_not_found, labels, read_sheets
from sync.xlsx.saving import write_workbook
from sync.xlsx.sheet import Column, PrintSetup, Sheet, sheet_title

log = logging.getLogger(__name__)

NO_REQUESTS = "No requests"

# Every cell wraps, so that each row's text starts at the top of the row.
STOP_COLUMNS = (
    Column("#", "int", 4, wrap=True),
    Column(checklog.ID, width=12, wrap=True),
    Column("Address", width=24, wrap=True),
    Column("Resident", width=16, wrap=True),
    Column("Phone", width=14, wrap=True),
    Column("Away", width=14, wrap=True),
    Column("Emergency contact / key holder", width=22, wrap=True),
    Column("Alarm company", width=14, wrap=True),
    Column("Vehicles", width=18, wrap=True),
    Column("Lights on timers", width=12, wrap=True),
    Column("Pets", width=12, wrap=True),
    Column("Authorized persons", width=16, wrap=True),
    Column("Special instructions", width=26, wrap=True),
)
CHECK_COLUMNS = (
    Column(checklog.CHECK_DATE, "date", 11, staff=True, wrap=True),
    Column(checklog.CHECK_TIME, "time", 9, staff=True, wrap=True),
    Column(checklog.CHECKED_BY, width=13, staff=True, wrap=True),
    Column(checklog.RESULT, width=11, staff=True, choices=checklog.RESULTS, wrap=True),
    Column(checklog.CHECK_NOTES, width=24, staff=True, wrap=True),
)
COLUMNS = STOP_COLUMNS + CHECK_COLUMNS


@dataclass
class DayRoutes:
    day: dt.date
    path: Path
    beats: dict[str, int] = field(default_factory=dict)  # beat -> stops
    unassigned: list[str] = field(default_factory=list)  # record IDs
    without_coordinates: int = 0

    @property
    def stops(self) -> int:
        return sum(self.beats.values())


@dataclass
class RoutesSummary:
    days: list[DayRoutes] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        for d in self.days:
            if not d.stops:
                lines.append(f"{d.day.isoformat()}: no active requests -> {d.path}")
                continue
            beats = ", ".join(f"{name}: {n}" for name, n in d.beats.items())
            line = f"{d.day.isoformat()}: {d.stops} stops ({beats})"
            if d.unassigned:
                line += (f"; {len(d.unassigned)} match no beat (add their street or ZIP to a "
                         f"beat): {', '.join(d.unassigned)}")
            if d.without_coordinates:
                line += f"; {d.without_coordinates} without coordinates, ordered by street"
            lines.append(f"{line} -> {d.path}")
        return "\n".join(lines)


# -- cells ------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value).strip()


def phone_text(value: Any) -> str:
    """"+13105550101" -> "(310) 555-0101"; anything else as given."""
    text = _show(value)
    number, _, ext = text.partition(";ext=")
    if len(number) == 12 and number.startswith("+1") and number[1:].isdigit():
        text = f"({number[2:5]}) {number[5:8]}-{number[8:]}" + (f" ext. {ext}" if ext else "")
    return text


def _day(d: Any) -> str:
    return f"{d:%a %b} {d.day}" if isinstance(d, dt.date) else _show(d)


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def stop_cells(number: int, stop: routing.Stop) -> list[Any]:
    v = stop.values
    place = " ".join(p for p in (_show(v.get("city")), _show(v.get("zip"))) if p)
    contact = ", ".join(p for p in (_show(v.get("emergency_contact_name")),
                                    phone_text(v.get("emergency_contact_phone"))) if p)
    key_holder = _show(v.get("key_holder"))
    back = v.get("return_date")
    year = f", {back.year}" if isinstance(back, dt.date) else ""
    return [
        number,
        stop.record_id,
        _lines(_show(v.get("street")), place),
        " ".join(p for p in (_show(v.get("first_name")), _show(v.get("last_name"))) if p),
        phone_text(v.get("phone")),
        f"{_day(v.get('leave_date'))} - {_day(back)}{year}",
        _lines(contact, f"Key: {key_holder}" if key_holder else ""),
        _show(v.get("alarm_company")),
        _show(v.get("vehicles")),
        _show(v.get("lights_on_timers")),
        _show(v.get("pets")),
        _show(v.get("authorized_persons")),
        _show(v.get("instructions")),
    ]


def check_cells(check: Check | None) -> list[Any]:
    if check is None:
        return [None] * len(CHECK_COLUMNS)
    try:
        date: Any = dt.date.fromisoformat(check.date)
    except ValueError:
        date = check.date or None
    try:
        time: Any = dt.time.fromisoformat(check.time) if len(check.time) == 5 else check.time
    except ValueError:
        time = check.time
    return [date, time or None, check.checked_by or None, check.result or None,
            check.notes or None]


def day_sheets(plan: routing.DayPlan, department: str,
               checks: Mapping[str, Sequence[Check]] | None = None) -> list[Sheet]:
    """One print-ready sheet per beat; a stop with checks already recorded shows them (one row
    per check)."""
    checks = checks or {}
    title_day = f"{plan.day:%A, %B} {plan.day.day}, {plan.day.year}"
    sheets: list[Sheet] = []
    used: set[str] = set()
    for beat, stops in plan.beats.items():
        rows = []
        for number, stop in enumerate(stops, start=1):
            cells = stop_cells(number, stop)
            for check in checks.get(stop.record_id) or [None]:
                rows.append(cells + check_cells(check))
        sheets.append(Sheet(_unique(beat, used), COLUMNS, rows, freeze="C2",
                            print_setup=_print(beat, title_day, department)))
    if not sheets:
        sheets.append(Sheet(NO_REQUESTS, COLUMNS, [],
                            print_setup=_print(NO_REQUESTS, title_day, department)))
    return sheets


def _unique(name: str, used: set[str]) -> str:
    title, n = sheet_title(name), 2
    while title.casefold() in used:
        suffix = f" ({n})"
        title, n = sheet_title(name)[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.casefold())
    return title


def _print(beat: str, day: str, department: str) -> PrintSetup:
    return PrintSetup(landscape=True, fit_width=True, repeat_header=True, header_left=beat,
                      header_center=f"Vacation checks: {day}",
                      header_right=f"{department} - CONFIDENTIAL")


# -- writing ----------------------------------------------------------------------------------


def master_statuses(path: Path) -> dict[str, Any]:
    """{record ID: Status} as staff last left them in the master workbook ({} without one)."""
    if not path.exists():
        return {}
    try:
        rows = read_sheets(path, [VSC.name]).get(VSC.name) or []
    except WorkbookError as err:
        log.warning("%s; using the statuses of the last sync", err)
        return {}
    if not rows:
        return {}
    top = find_header(rows, checklog.ID, layout.header_titles(VSC))
    if top is None:
        raise header_not_found(path, VSC.name, checklog.ID, "put the header row back above the "
                               "rows (the newest copy in backups/ shows it), then run again")
    header = labels(rows[top])
    if "Status" not in header:
        return {}
    i, s = header.index(checklog.ID), header.index("Status")
    return {r[i]: (r[s] if s < len(r) else None) for r in rows[top + 1:]
            if i < len(r) and isinstance(r[i], str)}


def today(config: Config) -> dt.date:
    return clock.today(config)


def write_routes(config: Config, start: dt.date | None = None, days: int | None = None,
                 ) -> RoutesSummary:
    """Write the route workbooks for `days` days (default `routing.days` in the config) from
    `start` (default today in the department's time zone)."""
    program = config.program("vsc")
    rules = program.vsc
    assert rules is not None
    start = start or today(config)
    days = days if days is not None else config.route_days
    if days < 1:
        raise SyncError(f"--days must be at least 1, got {days}")
    try:
        start + dt.timedelta(days=days - 1)
    except OverflowError:
        raise SyncError(f"--date {start.isoformat()} and --days {days} go past the last date "
                        "a calendar has (9999-12-31)") from None
    state = config.output / STATE
    if not state.exists():
        raise SyncError(f"{state}: no saved state yet: run `tpd-programs sync` first")
    sheet = routing.read_geocodes(rules.geocodes) if rules.geocodes else {}
    folder = config.output / checklog.ROUTES_DIR
    summary = RoutesSummary()
    with run_lock(config.output), Store(state, backups=config.backups) as store:
        checklog.collect(store, config)  # typed results survive the rewrite below
        statuses = master_statuses(config.output / MASTER)
        records = store.records("vsc")
        geocodes, station = geocoding.route_points(store, config, records, sheet)
        if geocodes and station is None:
            log.warning("the station's address has no coordinates (add it to the geocode "
                        "CSV): routes start at the first stop instead of the station")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        held: list[Path] = []
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            plan = routing.plan_day(records, day, rules.beats, geocodes, station, statuses)
            path = checklog.route_path(config.output, day)
            _refuse_unreadable(path, folder)
            recorded: dict[str, list[Check]] = {}
            for check in checklog.stored_checks(store, path.name):
                recorded.setdefault(check.record_id, []).append(check)
            try:
                write_workbook(path, day_sheets(plan, config.department.name, recorded),
                               scratch=scratch.folder(config.output))
            except HeldError:  # open in Excel: the other days are written all the same
                held.append(path)
                continue
            checklog.remember(store, path)
            summary.days.append(DayRoutes(day, path, {b: len(s) for b, s in plan.beats.items()},
                                          plan.unassigned, plan.without_coordinates))
            log.info("%s: %d stops in %d beats", day.isoformat(), plan.stops, len(plan.beats))
    if held:
        raise files.held_error(held, f"{len(summary.days)} other day(s) were written",
                               "tpd-programs routes")
    return summary


def _refuse_unreadable(path: Path, folder: Path) -> None:
    """Stop before writing over a day's workbook whose typed checks could not be read (a
    damaged file): the checks in it would be lost for good (route workbooks have no backup)."""
    if not path.exists():
        return
    try:
        checklog.read_route_file(path)
    except WorkbookError as err:
        raise WorkbookError(f"{err}: the checks typed into it cannot be read, and writing the "
                            "day's routes over it would lose them; open it in Excel and save it "
                            f"again as an Excel workbook (.xlsx), or move it out of {folder}, "
                            "then run again") from None
