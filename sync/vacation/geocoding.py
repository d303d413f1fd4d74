"""Coordinates for the route sheets from the Census geocoder, kept in the state.

With `[geocoder] enabled = true` (opt-in: it sends residents' addresses to the U.S. Census
Bureau, `sync.vacation.census`), each new vacation request's address is looked up once, at
the sync that first reads it, and the answer is kept in the state's `geocodes` table (by
record ID, with the address it was for). A later sync sends nothing for an address it knows:
a request whose address another request already had borrows that answer; only a changed
address is asked again. Requests declined as ineligible (unless staff set them Active), and
requests already back, are not sent at all. The station's address is looked up once too,
so that routes start there.

The Vacation Checks sheet then shows two columns: **Coordinates** ("latitude, longitude"),
and **Geocoder**, what the Census answered. An address it could not place (No_Match) or
placed in several spots (Tie) says so there: staff type the coordinates over the
Coordinates cell, and the sync keeps them as any staff edit of a tool cell. For the route
order (`sync.vacation.routing`, unchanged) the coordinates staff typed win, then the staff's
geocode CSV, then the Census answer.

When the geocoder cannot be reached, the sync and `routes` go on with what is known and a
warning; the addresses are asked again next time. A purge deletes a request's row here with
the rest of its personal data (`sync.vacation.retention.forget_personal`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.config import Config
from sync.master import layout
from sync.master.hooks import Feature
from sync.master.records import ProgramResult
from sync.master.restore import Settling
from sync.state import clock
from sync.state.store import Store
from sync.vacation import census, routing

log = logging.getLogger(__name__)

PROGRAM = "vsc"
STATION = "station"  # the station's row in the table
COORDINATES = "Coordinates"  # a tool column staff may type over
GEOCODER = "Geocoder"
_TYPE = "type the latitude and longitude under Coordinates (like 33.8366, -118.3420)"
SAID = {
    census.NO_MATCH: f"Not found: {_TYPE}",
    census.TIE: f"Several places match: {_TYPE}",
}

Parts = tuple[str, str, str, str]  # street, city, state, ZIP


@dataclass(frozen=True)
class Known:
    address: str
    status: str
    exact: str
    point: routing.Point | None


def address_key(parts: Parts) -> str:
    street, city, _, zip_code = parts
    return f"{routing.split_street(street).key}|{city.strip().casefold()}|{zip_code[:5]}"


def _parts(values: Mapping[str, Any], config: Config) -> Parts | None:
    street = str(values.get("street") or "").strip()
    if not street:
        return None
    city = str(values.get("city") or "").strip() or config.department.city
    return (street, city, config.department.state, str(values.get("zip") or "").strip()[:5])


def station_parts(config: Config) -> Parts | None:
    """"3300 Civic Center Drive, Torrance, CA 90503" as street, city, state, ZIP."""
    station = config.department.station.strip()
    if not station:
        return None
    zips = re.findall(r"\b\d{5}\b", station)
    return (station.split(",")[0], config.department.city, config.department.state,
            zips[-1] if zips else "")


def wanted(config: Config, records: Mapping[str, Mapping[str, Any]],
           staff: Mapping[str, Mapping[str, Any]], today: dt.date) -> dict[str, Parts]:
    """{record ID: address} of the requests routes may need: not purged, not back yet, not
    Cancelled, eligible or set Active by staff; and the station."""
    out: dict[str, Parts] = {}
    for rid, data in records.items():
        values = data.get("values", {})
        back = values.get("return_date")
        status = str((staff.get(rid) or {}).get("Status") or "").strip().casefold()
        if data.get("purged") or data.get("merged_into") or status == routing.CANCELLED.casefold():
            continue
        if isinstance(back, dt.date) and back < today:
            continue
        if data.get("eligibility") and status != routing.ACTIVE.casefold():
            continue
        parts = _parts(values, config)
        if parts is not None:
            out[rid] = parts
    station = station_parts(config)
    if station is not None:
        out[STATION] = station
    return out


def known(store: Store) -> dict[str, Known]:
    rows = store.db.execute(
        "SELECT record_id, address, status, COALESCE(exact, ''), latitude, longitude FROM geocodes")
    return {rid: Known(address, status, exact, (lat, lon) if lat is not None else None)
            for rid, address, status, exact, lat, lon in rows}


def refresh(store: Store, config: Config, addresses: Mapping[str, Parts],
            stats: dict[str, int] | None = None) -> int:
    """Look up each address of `addresses` ({record ID: address}) the state does not know
    for that record: borrowed from another record with the same address, else asked of the
    geocoder in batches. Returns how many were sent; when the geocoder cannot be reached,
    logs a warning and keeps what it knew."""
    if config.geocoder is None:
        return 0
    have = known(store)
    by_address = {k.address: k for k in have.values()}
    borrowed: list[tuple[str, str, Known]] = []
    ask: dict[str, tuple[Parts, list[str]]] = {}  # address -> (its parts, record IDs)
    for rid, parts in addresses.items():
        key = address_key(parts)
        if rid in have and have[rid].address == key:
            continue
        if key in by_address:
            borrowed.append((rid, key, by_address[key]))
        else:
            ask.setdefault(key, (parts, []))[1].append(rid)
    answers: dict[str, census.Answer] = {}
    if ask:
        batch = [census.Address(str(i), *parts) for i, (parts, _) in enumerate(ask.values(), 1)]
        try:
            answers = census.geocode(config.geocoder, batch, stats)
        except census.Unreachable as err:
            log.warning("%s; %d address(es) stay without coordinates until the next run (routes "
                        "order them by street)", err, len(ask))
    now = clock.now(config).isoformat()
    rows = [(rid, key, k.status, k.exact, *(k.point or (None, None)), now)
            for rid, key, k in borrowed]
    for i, (key, (_, rids)) in enumerate(ask.items(), 1):
        found = answers.get(str(i))
        if found is not None:
            rows += [(rid, key, found.status, found.exact, *(found.point or (None, None)), now)
                     for rid in rids]
    if rows:
        with store.transaction():
            store.executemany("INSERT OR REPLACE INTO geocodes (record_id, address, status, "
                              "exact, latitude, longitude, looked_up) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              rows)
    return len(ask)


def typed_point(staff: Mapping[str, Any]) -> routing.Point | None:
    """The coordinates staff typed over the Coordinates cell, or None."""
    text = staff.get(COORDINATES)
    if text in (None, ""):
        return None
    parts = re.split(r"[,;\s]+", str(text).strip())
    return routing.parse_point(*parts) if len(parts) == 2 else None


def route_points(store: Store, config: Config, records: Mapping[str, Mapping[str, Any]],
                 sheet: Mapping[str, routing.Point],
                 ) -> tuple[dict[str, routing.Point], routing.Point | None]:
    """The lookup routing uses ({street: (lat, lon)}) and the station's point: the Census
    answers (asked now for the addresses still unknown), then the staff's geocode CSV
    (`sheet`), then coordinates typed in the master; the station from the CSV, else the
    Census."""
    data = {rid: r["data"] for rid, r in records.items()}
    staff = {rid: r.get("staff") or {} for rid, r in records.items()}
    if config.geocoder is not None:
        refresh(store, config, wanted(config, data, staff, clock.today(config)))
    have = known(store)
    points: dict[str, routing.Point] = {}
    typed: dict[str, routing.Point] = {}
    for rid, values in ((rid, d.get("values", {})) for rid, d in data.items()):
        parts = _parts(values, config)
        key = routing.split_street(values.get("street")).key
        row = have.get(rid)
        if parts and row and row.point and row.address == address_key(parts):
            points[key] = row.point
        if (point := typed_point(staff[rid])) is not None:
            typed[key] = point
    points.update(sheet)
    points.update(typed)
    station = routing.station_point(config.department.station, sheet)
    if station is None and STATION in have:
        station = have[STATION].point
    return points, station


def columns(store: Store, config: Config, records: Mapping[str, Any]) -> list[layout.ToolColumn]:
    """The Vacation Checks sheet's Coordinates and Geocoder columns."""
    have = known(store)
    staff = {rid: r["staff"] for rid, r in store.records(PROGRAM).items()}
    coordinates: dict[str, Any] = {}
    said: dict[str, Any] = {}
    for rid in records:
        row = have.get(rid)
        if row is not None and row.point is not None:
            coordinates[rid] = f"{row.point[0]:.6f}, {row.point[1]:.6f}"
        typed = (staff.get(rid) or {}).get(COORDINATES)
        if typed not in (None, "") and typed != coordinates.get(rid):
            said[rid] = ("Typed by staff" if typed_point({COORDINATES: typed})
                         else f"The coordinates typed cannot be read: {_TYPE}")
        elif row is not None:
            said[rid] = SAID.get(row.status) or (
                "Found" if row.exact == "Exact" else "Found (approximate: check the spot)")
    return [layout.ToolColumn(layout.Column(COORDINATES, width=22), coordinates),
            layout.ToolColumn(layout.Column(GEOCODER, width=30, wrap=True), said)]


class Geocoding(Feature):
    """Census coordinates for new vacation requests, and the master's columns showing them."""

    tables = ("geocodes",)

    def amend(self, store: Store, config: Config, key: str, result: ProgramResult,
              started: dt.datetime, settling: Settling | None) -> None:
        if key != PROGRAM or config.geocoder is None:
            return
        staff = {rid: r["staff"] for rid, r in store.records(key).items()}
        refresh(store, config, wanted(config, result.records, staff, started.date()))

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
        if key != PROGRAM or config.geocoder is None:
            return []
        return columns(store, config, records)
