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
from sync.vacation.routesheet import day_sheets
from sync.xlsx.reading import find_header, header_not_found, labels, read_sheets
from sync.xlsx.saving import write_workbook

log = logging.getLogger(__name__)

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
            line = f"{d.day.isoformat()}: {d.stops} stop{'' if d.stops == 1 else 's'} ({beats})"
            lines.append("; ".join([line, *self._to_look_at(d)]) + f" -> {d.path}")
        return "\n".join(lines)

    def attention(self) -> list[str]:
        """What `-q` prints: each day with requests that match no beat or have no coordinates."""
        return [f"{d.day.isoformat()}: " + "; ".join(notes)
                for d in self.days if (notes := self._to_look_at(d))]

    @staticmethod
    def _to_look_at(d: DayRoutes) -> list[str]:
        notes = []
        if d.unassigned:
            notes.append(f"{len(d.unassigned)} match no beat (add their street or ZIP to a "
                         f"beat): {', '.join(d.unassigned)}")
        if d.without_coordinates:
            notes.append(f"{d.without_coordinates} without coordinates, ordered by street")
        return notes


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


def write_routes(config: Config, start: dt.date | None = None, days: int | None = None,
                 ) -> RoutesSummary:
    """Write the route workbooks for `days` days (default `routing.days` in the config) from
    `start` (default today in the department's time zone)."""
    program = config.program("vsc")
    rules = program.vsc
    assert rules is not None
    start = start or clock.today(config)
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
                sheets = day_sheets(plan, config.department.name, recorded, config.department.station,
                                config.department.state, config.department.city)
                write_workbook(path, sheets,
                               scratch=scratch.folder(config.output), if_changed=True)
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
