"""The printed route sheet of a beat: what an officer reads in the car and writes on.

One row per stop, in route order, so that a stop and its check boxes always print on one
page (a spreadsheet row never breaks across pages): the stop number, the Record ID, the
residence (address, resident, phone, dates away), one "Notes for the officer" cell with
every detail the resident gave (each on a labelled line, empty ones left out), then the
blank check columns (date, time, checked by, result, notes) that `sync.vacation.checklog`
reads back by their headings. Ten columns fit a landscape US Letter page at about 90% of
the 11-point text, so nothing prints below 9 points. Phone numbers and dates are glued
with no-break spaces and hyphens, so none is split across two lines.

Below the stops: the route as Google Maps directions (`sync.vacation.maps`), one link and
one QR code per leg.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sync.ingest.normalize import phone_display
from sync.vacation import checklog, maps, routing
from sync.vacation.checklog import Check
from sync.xlsx.sheet import Block, Column, Link, Picture, PrintSetup, Sheet, sheet_title

NO_REQUESTS = "No requests"
NOTES = "Notes for the officer"
NBSP, NBHYPHEN = "\u00a0", "\u2011"
_PHONE = re.compile(r"(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?: ?(?:ext\.?|x) ?\d+)?")
_UNBREAKABLE = re.compile("|".join((
    _PHONE.pattern,
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?"
    r"(?:,? \d{4})?\b",  # March 10, 2020
    r"\b\d{4}-\d{2}-\d{2}\b",  # 2020-03-10
    r"\b[A-Z]{2,5}-\d{3,}\b",  # a record ID
)))

# Every cell wraps, so that each row's text starts at the top of the row.
STOP_COLUMNS = (
    Column("#", "int", 3, wrap=True),
    Column(checklog.ID, width=10, wrap=True),
    Column("Residence", width=22, wrap=True),
    Column(NOTES, width=30, wrap=True),
)
CHECK_COLUMNS = (
    Column(checklog.CHECK_DATE, "date", 9, staff=True, wrap=True),
    Column(checklog.CHECK_TIME, "time", 7, staff=True, wrap=True),
    Column(checklog.CHECKED_BY, width=9, staff=True, wrap=True),
    Column(checklog.RESULT, width=9, staff=True, choices=checklog.RESULTS, wrap=True),
    Column(checklog.CHECK_NOTES, width=14, staff=True, wrap=True),
)
COLUMNS = STOP_COLUMNS + CHECK_COLUMNS
QR_POINTS = 112.0  # a code's side on the sheet; printed at the page's scale (about 1.3 inches)
QR_SCALE = 8  # PNG pixels per module
CAPTION_POINTS = 16.0


# -- cells ------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value).strip()


def glue(text: str) -> str:
    """`text` with no-break spaces and hyphens inside each phone number, date and record ID,
    so that a wrapped cell never splits one across lines."""
    return _UNBREAKABLE.sub(lambda m: m.group().replace(" ", NBSP).replace("-", NBHYPHEN), text)


def phone_text(value: Any) -> str:
    """"+13105550101" -> "(310) 555-0101" (glued: it never wraps); anything else as given."""
    return glue(phone_display(_show(value)))


def _day(d: Any, year: bool = False) -> str:
    if not isinstance(d, dt.date):
        return _show(d)
    return f"{d:%a %b} {d.day}{f', {d.year}' if year else ''}".replace(" ", NBSP)


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def address(values: Mapping[str, Any], state: str = "", city: str = "") -> str:
    """The residence's address on one line, for a map: "1200 Maple Ave, Torrance, CA 90501"."""
    region = " ".join(p for p in (state, _show(values.get("zip"))) if p)
    return ", ".join(p for p in (_show(values.get("street")), _show(values.get("city")) or city,
                                 region) if p)


def stop_cells(number: int, stop: routing.Stop) -> list[Any]:
    v = stop.values
    place = " ".join(p for p in (_show(v.get("city")), _show(v.get("zip"))) if p)
    name = " ".join(p for p in (_show(v.get("first_name")), _show(v.get("last_name"))) if p)
    residence = _lines(_show(v.get("street")), place, name, phone_text(v.get("phone")),
                       f"Away: {_day(v.get('leave_date'))}", f"Back: {_day(v.get('return_date'), True)}")
    contact = ", ".join(p for p in (_show(v.get("emergency_contact_name")),
                                    phone_text(v.get("emergency_contact_phone"))) if p)
    notes = [("Emergency contact", contact), ("Key holder", _show(v.get("key_holder"))),
             ("Alarm", _show(v.get("alarm_company"))), ("Vehicles", _show(v.get("vehicles"))),
             ("Lights on timers", _show(v.get("lights_on_timers"))), ("Pets", _show(v.get("pets"))),
             ("Authorized", _show(v.get("authorized_persons"))),
             ("Instructions", _show(v.get("instructions")))]
    return [number, stop.record_id, residence,
            _lines(*(glue(f"{label}: {text}") for label, text in notes if text))]


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


# -- directions -------------------------------------------------------------------------------


def _pixels(width: float) -> float:
    return int(width * 7 + 0.5) + 5  # a column's width in pixels, as Excel draws it


def directions(stops: Sequence[routing.Stop], station: str, state: str = "",
               city: str = "") -> Block | None:
    """The beat's route as Google Maps links and QR codes, one per leg, left to right (two a
    row) under a title line; a leg's code sits below its link, in the same row (one row
    never breaks across pages)."""
    if not stops:
        return None
    places = [address(s.values, state, city) for s in stops]
    legs = [leg for leg in maps.legs(station, places) if leg.url] if station else []
    if not legs:
        return None
    side = QR_POINTS * 4 / 3  # pixels
    # A code sits inside one column: spread over several, LibreOffice stretches it to its own
    # (wider) column widths, and a code is then no longer square.
    anchors = [i for i, c in enumerate(COLUMNS) if _pixels(c.width or 8) >= side + 4]
    rows: list[list[Any]] = []
    pictures: list[tuple[int, int, Picture]] = []
    for at in range(0, len(legs), len(anchors)):
        row: list[Any] = [None] * len(COLUMNS)
        for leg, column in zip(legs[at:at + len(anchors)], anchors, strict=False):
            row[column] = Link(leg.url, f"{leg.label}: Google Maps")
            modules = len(maps.qr_modules(leg.url)) + 8  # with the quiet zone
            pictures.append((len(rows), column, Picture(
                maps.qr_png(leg.url, QR_SCALE), side / (modules * QR_SCALE), leg.url,
                CAPTION_POINTS)))
        rows.append(row)
    for row in rows:  # the note beside the codes: a separate title line could print a page apart
        row[1] = "Directions in Google Maps from the station, in stop order: scan each code"
    return Block("", rows, [CAPTION_POINTS + QR_POINTS + 6] * len(rows), pictures)


# -- sheets -----------------------------------------------------------------------------------


def day_sheets(plan: routing.DayPlan, department: str,
               checks: Mapping[str, Sequence[Check]] | None = None, station: str = "",
               state: str = "", city: str = "") -> list[Sheet]:
    """One print-ready sheet per beat; a stop with checks already recorded shows them (one row
    per check). Below the stops, the route from `station` as Google Maps directions."""
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
                            print_setup=_print(beat, title_day, department),
                            block=directions(stops, station, state, city)))
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
