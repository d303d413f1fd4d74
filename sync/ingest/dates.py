"""Dates and times as forms, Google Sheets and their exports give them.

Values arrive as Sheets serial numbers (days since 1899-12-30, the fraction is the time of
day), as `date`/`datetime` objects (.xlsx exports) or as text in any of the ways forms and
people write dates. Parsing is strict: every part of a date must be present (nothing is
filled in from today), impossible dates are rejected, and every failure is a `ValueError`
with a short reason staff can act on.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata

from dateutil import parser as dateutil_parser

from sync.sources import Value
from sync.state import clock

SERIAL_EPOCH = dt.datetime(1899, 12, 30)
MAX_SERIAL = 2958465  # 9999-12-31
MIN_DATE = dt.date(1899, 12, 31)  # serial 1

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}  # fmt: skip

# US zone abbreviations as Google Forms writes them; "CST" is US Central, not China.
_ZONE_HOURS = {
    "z": 0, "utc": 0, "gmt": 0, "ut": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
    "mst": -7, "mdt": -6, "pst": -8, "pdt": -7, "akst": -9, "akdt": -8, "hst": -10,
}  # fmt: skip

_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_ORD = r"(?:st|nd|rd|th)?"
_NUMERIC = re.compile(r"(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})")
_MONTH_FIRST = re.compile(
    _WEEKDAY + r"([a-z]+)\.?\s*(\d{1,2})" + _ORD + r",?\s+(\d{4}|\d{2})", re.I
)
_DAY_FIRST = re.compile(
    _WEEKDAY + r"(?:the\s+)?(\d{1,2})" + _ORD + r"(?:\s+of)?[\s-]+([a-z]+)\.?,?[\s-]+(\d{4}|\d{2})",
    re.I,
)
_TIME_TAIL = re.compile(
    r"(?P<date>.+?)(?:,?\s+(?:at\s+)?|t)"
    r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<ampm>[ap]\.?\s?m\.?)?"
    r"\s*(?P<zone>z|[+-]\d{2}(?::?\d{2})?|(?:gmt|utc)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?"
    r"|[a-z]{2,5})?",
    re.I,
)
_OFFSET = re.compile(r"(?:gmt|utc)?\s*([+-])\s*(\d{1,2}):?(\d{2})?", re.I)


def _clean(value: str) -> str:
    """Invisible characters removed, whitespace collapsed."""
    text = "".join(c for c in value if unicodedata.category(c)[0] != "C" or c.isspace())
    return " ".join(text.split())


def _full_year(year: str, month: int, day: int, today: dt.date, future: bool) -> int:
    """A four-digit year as is; a two-digit one resolved against `today`.

    Past (default): the latest such date not after today (for birth dates: "3/5/90" is 1990,
    and a "25" that would be in the future is 1925). With `future`: the year within
    today.year - 50 ... today.year + 49 (for leave and return dates).
    """
    if len(year) != 2:
        return int(year)
    yy = int(year)
    if future:
        base = today.year - 50
        return base + (yy - base) % 100
    full = today.year - (today.year - yy) % 100
    if (full, month, day) > (today.year, today.month, today.day):
        full -= 100
    return full


def _no_such_date(text: str, why: str = "does not exist") -> ValueError:
    return ValueError(f"date {text} {why}" if len(text) <= 40 else f"date {why}")


def _make_date(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        result = dt.date(year, month, day)
    except ValueError:
        raise _no_such_date(text) from None
    if result < MIN_DATE:
        raise _no_such_date(text, "is out of range")
    return result


def _date_from_text(text: str, dayfirst: bool, today: dt.date, future: bool) -> dt.date:
    """Parse a cleaned date with no time part, or raise ValueError."""
    if m := _NUMERIC.fullmatch(text):
        first, _, middle, last = m.groups()
        if len(first) == 4 and len(last) <= 2:  # 2020-03-05, 2020/3/5
            year, month, day = first, int(middle), int(last)
        elif len(first) <= 2 and len(last) in (2, 4):
            month, day = (int(middle), int(first)) if dayfirst else (int(first), int(middle))
            year = last
        else:
            raise ValueError("not a date")
        if not 1 <= month <= 12:
            raise _no_such_date(text)
        return _make_date(_full_year(year, month, day, today, future), month, day, text)
    for pattern, order in ((_MONTH_FIRST, (0, 1, 2)), (_DAY_FIRST, (1, 0, 2))):
        m = pattern.fullmatch(text)
        if m and m.group(order[0] + 1).lower() in _MONTHS:
            month = _MONTHS[m.group(order[0] + 1).lower()]
            day = int(m.group(order[1] + 1))
            year = m.group(order[2] + 1)
            return _make_date(_full_year(year, month, day, today, future), month, day, text)
    return _date_from_dateutil(text)


def _date_from_dateutil(text: str) -> dt.date:
    """Other spellings ("2020 March 5") when a month name and a four-digit year are present.

    Parsed twice with different defaults: if the results differ, a part was missing and
    dateutil filled it in, so the text is not a complete date.
    """
    words = set(re.findall(r"[a-z]+", text.lower()))
    if not words & _MONTHS.keys() or not re.search(r"(?<!\d)\d{4}(?!\d)", text):
        raise ValueError("not a date")
    try:
        a = dateutil_parser.parse(text, default=dt.datetime(2000, 1, 1))
        b = dateutil_parser.parse(text, default=dt.datetime(2001, 2, 2, 1, 1))
    except dateutil_parser.ParserError as err:
        if "out of range" in str(err):
            raise _no_such_date(text) from None
        raise ValueError("not a date") from None
    except (ValueError, OverflowError):
        raise ValueError("not a date") from None
    if a.date() != b.date() or a.time() != dt.time() or b.time() != dt.time(1, 1):
        raise ValueError("not a date")
    return _make_date(a.year, a.month, a.day, text)


def _serial(value: float) -> dt.datetime:
    """A Sheets serial number as a naive datetime, rounded to the second."""
    if not math.isfinite(value) or not 1 <= value < MAX_SERIAL + 1:
        raise ValueError("date serial number is out of range")
    seconds = round(value * 86400)
    return SERIAL_EPOCH + dt.timedelta(seconds=min(seconds, (MAX_SERIAL + 1) * 86400 - 1))


def parse_date(
    value: Value,
    *,
    dayfirst: bool = False,
    today: dt.date | None = None,
    future: bool = False,
) -> dt.date:
    """A date from a serial number, a date/datetime object or text.

    Text: "3/5/2020", "03/05/2020", "3-5-2020", "2020-03-05", "2020/03/05", "March 5, 2020",
    "Thu, Mar. 5th 2020", "5 March 2020", "05-Mar-2020"; a trailing time is ignored. Month
    before day unless `dayfirst`. Two-digit years: see `_full_year` (`today` defaults to
    the server's date; a run passes the clock's). Empty values raise ValueError("no date given").
    """
    if isinstance(value, bool):
        raise ValueError("not a date")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float):
        return _serial(value).date()
    text = _clean(str(value if value is not None else ""))
    if not text:
        raise ValueError("no date given")
    if m := _TIME_TAIL.fullmatch(text):
        text = m.group("date")
    return _date_from_text(text, dayfirst, today or clock.system_today(), future)


def _zone(text: str) -> dt.tzinfo:
    """A fixed offset from "PST", "Z", "+05:30", "-0800", "GMT-8", "UTC+3"."""
    if text in _ZONE_HOURS:
        return dt.timezone(dt.timedelta(hours=_ZONE_HOURS[text]))
    m = _OFFSET.fullmatch(text)
    if not m:
        raise ValueError(f"unknown time zone {text.upper()[:10]}")
    sign, hours, minutes = m.groups()
    # Google writes "GMT-8" for UTC-8 (not the POSIX sign that dateutil follows).
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    if offset >= dt.timedelta(hours=24) or int(minutes or 0) >= 60:
        raise ValueError(f"unknown time zone {text.upper()[:10]}")
    return dt.timezone(-offset if sign == "-" else offset)


def _to_target(moment: dt.datetime, source: dt.tzinfo, target: dt.tzinfo) -> dt.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=source)
    if moment.date() < MIN_DATE:
        raise ValueError("date is out of range")
    try:
        return moment.astimezone(target).replace(tzinfo=None, microsecond=0)
    except (OverflowError, ValueError):
        raise ValueError("date is out of range") from None


def _datetime_from_text(text: str, dayfirst: bool, today: dt.date) -> dt.datetime:
    """A naive or aware datetime from cleaned text, or raise ValueError."""
    m = _TIME_TAIL.fullmatch(text)
    if m is None:
        try:
            day = _date_from_text(text, dayfirst, today, False)
        except ValueError as err:
            if str(err) != "not a date" or not re.match(r"\d{4}-?\d\d", text):
                raise
            try:  # ISO 8601 spellings the patterns above do not cover, e.g. 20200305T1804Z
                return dt.datetime.fromisoformat(text.upper())
            except ValueError:
                raise ValueError("not a date") from None
        return dt.datetime.combine(day, dt.time())
    day = _date_from_text(m.group("date"), dayfirst, today, False)
    hour, minute, second = int(m.group("h")), int(m.group("m")), int(m.group("s") or 0)
    if ampm := (m.group("ampm") or "").lower():
        if not 1 <= hour <= 12 and not (hour == 0 and ampm[0] == "a"):
            raise ValueError(f"time {m.group('h')}:{m.group('m')} {ampm} does not exist")
        hour = hour % 12 + (12 if ampm[0] == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time {m.group('h')}:{m.group('m')} does not exist")
    zone = _zone(m.group("zone").lower()) if m.group("zone") else None
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=zone)


def parse_datetime(
    value: Value,
    *,
    source_tz: dt.tzinfo | None = None,
    target_tz: dt.tzinfo,
    dayfirst: bool = False,
    today: dt.date | None = None,
) -> dt.datetime:
    """A naive local datetime in `target_tz`, seconds precision.

    Serial numbers, naive datetime objects and text without a zone are wall-clock times in
    `source_tz` (`target_tz` when None). Text: Sheets display ("3/5/2020 18:04:11",
    "3/5/2020 6:04:11 PM"), Forms CSV ("2020/03/05 6:04:11 PM PST", "... GMT-8" meaning
    UTC-8, "... p.m. EST"), ISO 8601 with "Z" or an offset. A date alone is midnight.
    Aware values are converted. Two-digit years are in the 100 years up to `today` (as
    `parse_date`).
    """
    source = source_tz or target_tz
    if isinstance(value, bool):
        raise ValueError("not a date")
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, int | float):
        moment = _serial(value)
    else:
        text = _clean(str(value if value is not None else ""))
        if not text:
            raise ValueError("no date given")
        moment = _datetime_from_text(text, dayfirst, today or clock.system_today())
    return _to_target(moment, source, target_tz)
