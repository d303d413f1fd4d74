"""Vacation-check routes as plain data: who is away on a day, in which beat, in what order.

A request is active on a day when leave date <= day <= return date, staff have not set its
Status to Cancelled, and it is eligible (or staff accepted it anyway by setting Active).
Each residence goes to a beat by the configured street ranges (which win, for beat lines
that do not follow ZIP lines), then by ZIP code, else to "Unassigned".

Stops are ordered as a drive from the station: with coordinates (the staff's geocode CSV,
or the form's latitude/longitude) as `sync.vacation.tour` orders them (nearest neighbour,
then 2-opt and Or-opt, never longer than nearest neighbour); a residence without coordinates on
a street that has some borrows its nearest house number's; the rest follow by street
name and house number so that neighbours are adjacent.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import UNASSIGNED, Beat
from sync.errors import ConfigError
from sync.ingest import normalize
from sync.sources import exports
from sync.vacation.tour import Point, plan_route

log = logging.getLogger(__name__)

CANCELLED = "Cancelled"
ACTIVE = "Active"
_DIRECTIONS = {"n", "s", "e", "w", "ne", "nw", "se", "sw"}



# -- which requests ---------------------------------------------------------------------------


def _away(data: Mapping[str, Any]) -> tuple[dt.date, dt.date] | None:
    """The request's leave and return dates, or None when either is missing."""
    values = data.get("values", {})
    leave, back = values.get("leave_date"), values.get("return_date")
    if not isinstance(leave, dt.date) or not isinstance(back, dt.date):
        return None
    return leave, back


def is_active(data: Mapping[str, Any], staff: Mapping[str, Any], day: dt.date) -> bool:
    """Whether the request in record `data` (with staff columns `staff`) is checked on `day`."""
    if data.get("purged"):
        return False
    away = _away(data)
    if away is None or not away[0] <= day <= away[1]:
        return False
    status = str(staff.get("Status") or "").strip().casefold()
    if status == CANCELLED.casefold():
        return False
    return not data.get("eligibility") or status == ACTIVE.casefold()


def active_counts(records: Mapping[str, Mapping[str, Any]], days: list[dt.date]) -> list[int]:
    """How many requests `active_requests` would list on each of `days` (in one pass)."""
    counts = dict.fromkeys(days, 0)
    first, last = min(days, default=dt.date.max), max(days, default=dt.date.min)
    for record in records.values():
        away = _away(record["data"])
        if away is None or away[1] < first or away[0] > last:
            continue
        for day in days:
            if is_active(record["data"], record.get("staff") or {}, day):
                counts[day] += 1
    return [counts[day] for day in days]


def active_requests(records: Mapping[str, Mapping[str, Any]], day: dt.date,
                    statuses: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(record ID, values) of every request active on `day`, in record-ID order.

    `records` is {record ID: {"data": ..., "staff": ...}} as the store returns them;
    `statuses` ({record ID: Status}) overrides the stored staff Status when given.
    """
    out = []
    for rid, record in records.items():
        staff = dict(record.get("staff") or {})
        if statuses is not None and rid in statuses:
            staff["Status"] = statuses[rid]
        if is_active(record["data"], staff, day):
            out.append((rid, dict(record["data"].get("values", {}))))
    return sorted(out, key=lambda item: _id_order(item[0]))


def _id_order(rid: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", rid)
    return (int(digits) if digits else 0, rid)


# -- addresses and beats ----------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    number: int | None  # the house number, when the street starts with one
    street: str  # the street name, normalised for comparison ("maple ave")
    unit: str  # the unit designator and number, normalised ("unit 4"), or ""
    key: str  # the whole normalised address ("1200 maple ave unit 4")


def split_street(street: Any) -> Address:
    """A street address taken apart for comparison (never shown)."""
    key = normalize.address_key(street or "")
    tokens = key.split()
    number = None
    if tokens and (found := re.match(r"\d+", tokens[0])):
        number = int(found.group())
        tokens = tokens[1:]
    unit = ""
    if "unit" in tokens:
        at = tokens.index("unit")
        unit, tokens = " ".join(tokens[at:]), tokens[:at]
    return Address(number, " ".join(tokens), unit, key)


def same_street(a: str, b: str) -> bool:
    """Whether two normalised street names are one street ("s maple ave" = "maple ave")."""
    if a == b:
        return bool(a)

    def bare(s: str) -> str:
        words = s.split()
        return " ".join(words[1:]) if len(words) > 1 and words[0] in _DIRECTIONS else s

    return bool(a and b) and bare(a) == bare(b)


def assign_beat(values: Mapping[str, Any], beats: Sequence[Beat]) -> str:
    """The beat of a residence: a street range first, then its ZIP code, else Unassigned."""
    address = split_street(values.get("street"))
    if address.number is not None:
        for beat in beats:
            for street, low, high in beat.streets:
                if low <= address.number <= high and same_street(
                        address.street, split_street(street).street):
                    return beat.name
    zip_code = str(values.get("zip") or "").strip()[:5]
    for beat in beats:
        if zip_code and zip_code in beat.zip_codes:
            return beat.name
    return UNASSIGNED


# -- coordinates ------------------------------------------------------------------------------


def parse_point(latitude: Any, longitude: Any) -> Point | None:
    """(lat, lon) when both are numbers in range, else None."""
    try:
        lat, lon = float(str(latitude).strip()), float(str(longitude).strip())
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        return None
    return (lat, lon)


def geocode_key(address: Any) -> str:
    """The lookup key of an address in the geocode CSV: the part before the first comma."""
    return split_street(str(address or "").split(",")[0]).key


def read_geocodes(path: Path) -> dict[str, Point]:
    """{normalised address: (lat, lon)} from the staff's CSV (columns address, latitude,
    longitude). A row without usable coordinates is skipped with a warning naming its row.
    The bytes are decoded as form exports are (`exports.decode`): UTF-8, with or without a
    byte-order mark, else Windows-1252, which is what Excel on Windows saves as "CSV"."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: programs.vsc.rules.geocodes: file not found") from None
    except OSError as err:
        raise ConfigError(
            f"{path}: programs.vsc.rules.geocodes: cannot read the CSV ({err.strerror})") from None
    text, encoding, whole = exports.decode(raw)  # Excel on Windows saves Windows-1252
    if encoding != "UTF-8":
        log.warning("%s: not UTF-8; reading it as %s", path.name, encoding)
    if not whole:
        log.warning("%s: some bytes are not text in %s; an address holding them is not found",
                    path.name, encoding)
        text = text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogate goes on
    try:
        with io.StringIO(text, newline="") as fh:
            reader = csv.DictReader(fh)
            headers = {(h or "").strip().casefold(): h for h in reader.fieldnames or ()}
            missing = [c for c in ("address", "latitude", "longitude") if c not in headers]
            if missing:
                raise ConfigError(f"{path}: programs.vsc.rules.geocodes: the CSV needs the columns "
                                  f"address, latitude, longitude (missing: {', '.join(missing)})")
            out: dict[str, Point] = {}
            for row_number, row in enumerate(reader, start=2):
                key = geocode_key(row.get(headers["address"]))
                point = parse_point(row.get(headers["latitude"]), row.get(headers["longitude"]))
                if not key or point is None:
                    log.warning("%s:%d: no address or no valid latitude/longitude; row skipped",
                                path.name, row_number)
                    continue
                out[key] = point
            return out
    except csv.Error as err:
        raise ConfigError(
            f"{path}: programs.vsc.rules.geocodes: cannot read the CSV ({err})") from None


def locate(values: Mapping[str, Any], geocodes: Mapping[str, Point]) -> Point | None:
    """A residence's coordinates: the geocode CSV (by address, then without the unit), else
    the form's latitude/longitude."""
    address = split_street(values.get("street"))
    for key in (address.key, address.key.removesuffix(" " + address.unit) if address.unit else ""):
        if key and key in geocodes:
            return geocodes[key]
    return parse_point(values.get("latitude"), values.get("longitude"))


# -- a day's plan -----------------------------------------------------------------------------


@dataclass
class Stop:
    record_id: str
    values: dict[str, Any]
    beat: str
    address: Address
    point: Point | None = None
    borrowed: bool = False  # coordinates of a neighbour on the same street


@dataclass
class DayPlan:
    day: dt.date
    beats: dict[str, list[Stop]] = field(default_factory=dict)  # beat -> stops in route order

    @property
    def stops(self) -> int:
        return sum(len(s) for s in self.beats.values())

    @property
    def unassigned(self) -> list[str]:
        return [s.record_id for s in self.beats.get(UNASSIGNED, [])]

    @property
    def without_coordinates(self) -> int:
        return sum(1 for stops in self.beats.values() for s in stops if s.point is None)


def street_order(stop: Stop) -> tuple[Any, ...]:
    a = stop.address
    return (a.street, a.number if a.number is not None else math.inf, a.unit,
            _id_order(stop.record_id))


def order_stops(stops: Sequence[Stop], start: Point | None) -> list[Stop]:
    """Stops with coordinates as a route from `start`, then the rest by street and number."""
    stops = sorted(stops, key=street_order)  # a stable input order makes ties reproducible
    for stop in stops:
        if stop.point is None:
            neighbours = [s for s in stops if s.point is not None and not s.borrowed
                          and same_street(s.address.street, stop.address.street)]
            if neighbours:
                near = min(neighbours, key=lambda s: abs((s.address.number or 0)
                                                         - (stop.address.number or 0)))
                stop.point, stop.borrowed = near.point, True
    routed = [s for s in stops if s.point is not None]
    rest = [s for s in stops if s.point is None]
    order = plan_route([s.point for s in routed if s.point is not None], start)
    for s in stops:  # borrowed coordinates only served the ordering
        if s.borrowed:
            s.point, s.borrowed = None, False
    return [routed[i] for i in order] + rest


def plan_day(records: Mapping[str, Mapping[str, Any]], day: dt.date, beats: Sequence[Beat],
             geocodes: Mapping[str, Point], station: Point | None,
             statuses: Mapping[str, Any] | None = None) -> DayPlan:
    """Every request active on `day`, grouped by beat (configured order, Unassigned last) and
    ordered as a route from `station`."""
    grouped: dict[str, list[Stop]] = {}
    for rid, values in active_requests(records, day, statuses):
        stop = Stop(rid, values, assign_beat(values, beats), split_street(values.get("street")),
                    locate(values, geocodes))
        grouped.setdefault(stop.beat, []).append(stop)
    plan = DayPlan(day)
    for name in [b.name for b in beats] + [UNASSIGNED]:
        if name in grouped:
            plan.beats[name] = order_stops(grouped.pop(name), station)
    if plan.unassigned:
        log.warning("%s: %d request(s) match no beat (listed as %s): %s", day.isoformat(),
                    len(plan.unassigned), UNASSIGNED, ", ".join(plan.unassigned))
    return plan


def station_point(station: str, geocodes: Mapping[str, Point]) -> Point | None:
    """The station's coordinates, when the geocode CSV lists its address."""
    return geocodes.get(geocode_key(station)) if station else None
