"""The vacation-check log: results typed into route sheets, kept in the state, shown in the master.

Checkers fill the blank columns of a route sheet (date, time, checked by, result, notes).
Each sync reads the route workbooks that changed since it last looked (by modification
time and size) and makes the state's `checks` table say what each sheet says for the
requests on it: a corrected row replaces the old one, a cleared row removes it. Checks of a
request stay when a later route sheet no longer lists it, or the sheet is deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.errors import WorkbookError
from sync.ingest import normalize
from sync.master.hooks import Feature
from sync.state.store import Store
from sync.xlsx.reading import find_header, has_content, header_not_found, read_sheets
from sync.xlsx.sheet import Column, PrintSetup, Sheet

log = logging.getLogger(__name__)

ROUTES_DIR = "routes"
ROUTE_FILE = re.compile(r"^routes-(\d{4}-\d{2}-\d{2})\.xlsx$")
RESULTS = ("Secure", "Insecure", "Suspicious")
ALERT_RESULTS = ("Insecure", "Suspicious")
CHECK_LOG = "Check Log"
SEEN_META = "checklog:seen"

ID = "Record ID"
CHECK_DATE = "Date checked"
CHECK_TIME = "Time checked"
CHECKED_BY = "Checked by"
RESULT = "Result"
CHECK_NOTES = "Check notes"
CHECK_HEADERS = (CHECK_DATE, CHECK_TIME, CHECKED_BY, RESULT, CHECK_NOTES)
_RECORD_ID = re.compile(r"^[A-Z]+-\d+$")
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*([ap])?\.?\s*m?\.?$")


@dataclass(frozen=True)
class Check:
    record_id: str
    date: str  # ISO date, or the text typed when it is not a date
    time: str  # "HH:MM", or the text typed
    checked_by: str
    result: str  # Secure | Insecure | Suspicious, or the text typed
    notes: str
    route_file: str


def route_path(output: Path, day: dt.date) -> Path:
    return output / ROUTES_DIR / f"routes-{day.isoformat()}.xlsx"


def route_files(output: Path) -> list[Path]:
    """Every route workbook in the output folder, oldest day first."""
    folder = output / ROUTES_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if ROUTE_FILE.match(p.name) and p.is_file())


def route_day(path: Path) -> dt.date | None:
    found = ROUTE_FILE.match(path.name)
    return dt.date.fromisoformat(found.group(1)) if found else None


# -- reading typed values ---------------------------------------------------------------------


def _text(value: Any) -> str:
    return normalize.clean_text(value) if value is not None else ""


def _date(value: Any, today: dt.date | None) -> str:
    """A typed check date as ISO text; a two-digit year is the one up to `today` (the route's
    day)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return normalize.parse_date(value, today=today).isoformat()
    except ValueError:
        return _text(value)


def _time(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        value = value.time()
    if isinstance(value, dt.time):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, float) and 0 <= value < 1:  # a time typed into a number cell
        minutes = round(value * 24 * 60)
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"
    text = _text(value)
    found = _TIME.match(text.casefold())
    if found:
        hour, minute, half = int(found.group(1)), int(found.group(2) or 0), found.group(3)
        if half == "p" and hour < 12:
            hour += 12
        elif half == "a" and hour == 12:
            hour = 0
        if hour < 24 and minute < 60 and (found.group(2) or half):
            return f"{hour:02d}:{minute:02d}"
    return text


def _result(value: Any) -> str:
    text = _text(value)
    return next((r for r in RESULTS if r.casefold() == text.casefold()), text)


def read_checks(rows: Sequence[Sequence[Any]], route_file: str,
                default_date: dt.date | None = None) -> list[Check]:
    """The checks typed into one route sheet (header row first). A row is a check when any of
    its checker cells is filled; a check without a date took place on the route's day."""
    if not rows:
        return []
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    if ID not in header or not all(h in header for h in CHECK_HEADERS):
        return []
    at = {h: header.index(h) for h in (ID, *CHECK_HEADERS)}
    out = []
    for values in rows[1:]:
        def get(h: str, values: Sequence[Any] = values) -> Any:
            i = at[h]
            return values[i] if i < len(values) else None

        rid = _text(get(ID))
        if not _RECORD_ID.match(rid):
            continue
        typed = [get(h) for h in CHECK_HEADERS]
        if all(v is None or _text(v) == "" for v in typed):
            continue
        date = _date(get(CHECK_DATE), default_date) or (default_date.isoformat() if default_date else "")
        out.append(Check(rid, date, _time(get(CHECK_TIME)), _text(get(CHECKED_BY)),
                         _result(get(RESULT)), _text(get(CHECK_NOTES)), route_file))
    return out


def listed_ids(rows: Sequence[Sequence[Any]]) -> set[str]:
    """The record IDs a route sheet lists (header row first), checked or not."""
    if not rows:
        return set()
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    if ID not in header:
        return set()
    i = header.index(ID)
    found = (_text(r[i]) for r in rows[1:] if i < len(r))
    return {rid for rid in found if _RECORD_ID.match(rid)}


def read_route_file(path: Path) -> tuple[list[Check], set[str]]:
    """Every check typed into every sheet of a route workbook, and every record ID listed.
    A sheet with content but no header row (Record ID and a check column in its first rows)
    is a `LayoutError`: its checks would be lost when the day's routes are written again."""
    sheets = read_sheets(path)
    checks: list[Check] = []
    listed: set[str] = set()
    for title, rows in sheets.items():
        top = find_header(rows, ID, CHECK_HEADERS)  # staff may add title rows above it
        if top is None:
            if has_content(rows):  # checks typed under a lost header: stop, do not lose them
                raise header_not_found(path, title, ID, "put the header row back above the stops "
                                       "(Record ID, ..., Date checked, Result, Check notes), "
                                       "then run again")
            continue
        checks.extend(read_checks(rows[top:], path.name, route_day(path)))
        listed |= listed_ids(rows[top:])
    return checks, listed


# -- the state --------------------------------------------------------------------------------


def stored_checks(store: Store, route_file: str | None = None) -> list[Check]:
    sql = ("SELECT record_id, check_date, check_time, checked_by, result, notes, route_file "
           "FROM checks")
    args: tuple[Any, ...] = ()
    if route_file is not None:
        sql += " WHERE route_file = ?"
        args = (route_file,)
    rows = store.db.execute(sql + " ORDER BY check_date, check_time, record_id, rowid", args)
    return [Check(*row) for row in rows]


def save_checks(store: Store, route_file: str, checks: Iterable[Check],
                listed: Iterable[str] = ()) -> int:
    """Make the stored checks from `route_file` match `checks` for the requests it lists
    (`listed`, and those `checks` name): a cleared row removes its check.
    Returns how many stored rows were added or removed (0 when nothing changed)."""
    checks = list(checks)
    named = {c.record_id for c in checks} | set(listed)
    before = [c for c in stored_checks(store, route_file) if c.record_id in named]
    if sorted(map(astuple, before)) == sorted(map(astuple, set(checks))):
        return 0
    with store.transaction():
        store.executemany("DELETE FROM checks WHERE route_file = ? AND record_id = ?",
                          ((route_file, rid) for rid in sorted(named)))
        store.executemany(
            "INSERT OR REPLACE INTO checks (record_id, check_date, check_time, checked_by, result, "
            "notes, route_file) VALUES (?, ?, ?, ?, ?, ?, ?)", (astuple(c) for c in checks))
    changed = len(set(map(astuple, before)) ^ set(map(astuple, checks)))
    alerts = sorted({c.record_id for c in checks if c.result in ALERT_RESULTS})
    log.info("%s: %d check(s) recorded%s", route_file, len(checks),
             f"; insecure or suspicious: {', '.join(alerts)}" if alerts else "")
    return changed


def collect(store: Store, config: Config, force: bool = False) -> int:
    """Read checks from the route workbooks that changed since last time (all when `force`).
    Returns the number of stored check rows added or removed."""
    if "vsc" not in config.programs:
        return 0
    seen: dict[str, list[int]] = store.get_meta(SEEN_META, {}) or {}
    now_seen: dict[str, list[int]] = {}
    changed = 0
    for path in route_files(config.output):
        try:
            stat = path.stat()
        except OSError:
            continue
        signature = [stat.st_mtime_ns, stat.st_size]
        if not force and seen.get(path.name) == signature:
            now_seen[path.name] = signature
            continue
        try:
            checks, listed = read_route_file(path)
        except WorkbookError as err:
            log.warning("%s; its checks are read at the next sync", err)
            continue
        changed += save_checks(store, path.name, checks, listed)
        now_seen[path.name] = signature
    if now_seen != seen:
        store.set_meta(SEEN_META, now_seen)
    return changed


def remember(store: Store, path: Path) -> None:
    """Note a route workbook the toolkit just wrote, so the next sync need not read it."""
    seen = store.get_meta(SEEN_META, {}) or {}
    stat = path.stat()
    seen[path.name] = [stat.st_mtime_ns, stat.st_size]
    store.set_meta(SEEN_META, seen)


def forget(store: Store, names: Iterable[str]) -> None:
    seen = store.get_meta(SEEN_META, {}) or {}
    for name in names:
        seen.pop(name, None)
    store.set_meta(SEEN_META, seen)


# -- the master's Check Log sheet -------------------------------------------------------------


def _as_date(text: str) -> Any:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return text or None


def _as_time(text: str) -> Any:
    try:
        return dt.time.fromisoformat(text) if re.fullmatch(r"\d{2}:\d{2}", text) else (text or None)
    except ValueError:
        return text


def check_log_sheet(checks: Iterable[Check]) -> Sheet:
    """The master's Check Log: one row per check; Insecure and Suspicious rows highlighted."""
    columns = [Column("Request", width=11), Column("Date", "date", 11), Column("Time", "time", 9),
               Column("Checked by", width=18), Column(RESULT, width=11),
               Column("Notes", width=50, wrap=True), Column("Route sheet", width=24)]
    rows = [[c.record_id, _as_date(c.date), _as_time(c.time), c.checked_by or None,
             c.result or None, c.notes or None, c.route_file] for c in checks]
    return Sheet(CHECK_LOG, columns, rows, print_setup=PrintSetup(
        fit_width=False, repeat_columns=1, across_first=True, header_center=CHECK_LOG),
                 row_fill=lambda row: "red" if row[4] in ALERT_RESULTS else None)


def check_counts(store: Store) -> dict[str, int]:
    """{record ID: number of checks}"""
    rows = store.db.execute("SELECT record_id, COUNT(*) FROM checks GROUP BY record_id")
    return {rid: n for rid, n in rows}


class CheckLog(Feature):
    """Check results typed into the route workbooks, and the master's Check Log sheet."""

    tables = ("checks",)

    def collect(self, store: Store, config: Config) -> None:
        collect(store, config)

    def sheets(self, store: Store, config: Config) -> list[Sheet]:
        if "vsc" not in config.programs:
            return []
        return [check_log_sheet(stored_checks(store))]
