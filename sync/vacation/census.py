"""The U.S. Census Bureau's batch geocoder: addresses in, coordinates out.

The batch endpoint (`[geocoder] url`, by default
https://geocoding.geo.census.gov/geocoder/locations/addressbatch) takes a multipart form
with a CSV file `addressFile` and the `benchmark` (the address data's version, such as
Public_AR_Current). The file has no header; each row is `id,street,city,state,zip`; a
batch holds at most 10,000 rows and is under 5 MB, so a longer list goes in several. The
Census reads a row by its commas, so a comma or quote inside an answer becomes a space.

The answer is a CSV in any order, every field quoted: the id, the address as read,
Match / No_Match / Tie, then for a match Exact / Non_Exact, the matched address,
"longitude,latitude" in one field, the TIGER line ID and the side of the street. A No_Match
or Tie row stops after the third field. Large batches take minutes: the timeout is long.
Busy or failing answers (429, 5xx, timeouts, dropped connections) are retried with capped
exponential backoff within `max_attempts` and `retry_seconds`, as for Google; then
`Unreachable` says why, and routes go on without (`sync.vacation.geocoding`). Log lines
carry counts, never addresses.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from sync.config.geocoder import Geocoder
from sync.errors import SyncError

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1000 * 1000  # a batch file is under 5 MB
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 2.0  # seconds; the n-th retry waits up to BACKOFF_BASE * 2 ** (n - 1)
BACKOFF_CAP = 60.0
MATCH, NO_MATCH, TIE = "Match", "No_Match", "Tie"

# Replaceable in tests so retries wait no real time.
_sleep: Callable[[float], None] = time.sleep
_random: Callable[[], float] = random.random


class Unreachable(SyncError):
    """The geocoder could not be reached, or did not answer as documented."""


@dataclass(frozen=True)
class Address:
    id: str
    street: str
    city: str
    state: str
    zip: str


@dataclass(frozen=True)
class Answer:
    id: str
    status: str  # Match | No_Match | Tie
    exact: str = ""  # Exact | Non_Exact (a match only)
    matched: str = ""  # the address the Census matched
    point: tuple[float, float] | None = None  # (latitude, longitude)


def _field(value: str) -> str:
    return " ".join(str(value or "").replace(",", " ").replace('"', " ").split())


def row_bytes(address: Address) -> bytes:
    """One line of the batch file."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        [_field(v) for v in (address.id, address.street, address.city, address.state,
                             address.zip)])
    return out.getvalue().encode("utf-8")


def batches(addresses: Sequence[Address], rows: int = 10_000,
            size: int = MAX_BYTES) -> list[bytes]:
    """The batch files for `addresses`: at most `rows` rows, and under `size` bytes each."""
    out: list[bytes] = []
    lines: list[bytes] = []
    used = 0
    for address in addresses:
        line = row_bytes(address)
        if lines and (len(lines) >= rows or used + len(line) >= size):
            out.append(b"".join(lines))
            lines, used = [], 0
        lines.append(line)
        used += len(line)
    if lines:
        out.append(b"".join(lines))
    return out


def parse_point(text: str) -> tuple[float, float] | None:
    """The "longitude,latitude" field as (latitude, longitude), or None."""
    try:
        lon, lat = (float(part) for part in text.split(","))
    except ValueError:
        return None
    if abs(lat) > 90 or abs(lon) > 180:
        return None
    return (lat, lon)


def parse_answer(text: str) -> dict[str, Answer]:
    """{id: Answer} from the geocoder's CSV answer; a row it cannot read is left out (its
    address is asked again next time)."""
    out: dict[str, Answer] = {}
    for row in csv.reader(io.StringIO(text, newline="")):
        if len(row) < 3 or row[2] not in (MATCH, NO_MATCH, TIE):
            continue
        if row[2] == MATCH:
            point = parse_point(row[5]) if len(row) > 5 else None
            if point is None:
                continue
            out[row[0]] = Answer(row[0], MATCH, row[3], row[4], point)
        else:
            out[row[0]] = Answer(row[0], row[2])
    return out


def geocode(geocoder: Geocoder, addresses: Sequence[Address],
            stats: dict[str, int] | None = None) -> dict[str, Answer]:
    """{id: Answer} for `addresses`, a batch request per 10,000 (`stats["requests"]` counts
    every request sent, retries included). Raises `Unreachable`."""
    stats = stats if stats is not None else {}
    stats.setdefault("requests", 0)
    answers: dict[str, Answer] = {}
    with requests.Session() as session:
        for body in batches(addresses, geocoder.batch_rows):
            answers.update(parse_answer(_post(session, geocoder, body, stats)))
    log.info("geocoder: %d address(es) sent, %d matched", len(addresses),
             sum(1 for a in answers.values() if a.status == MATCH))
    return answers


def _post(session: requests.Session, geocoder: Geocoder, body: bytes,
          stats: dict[str, int]) -> str:
    failures: list[str] = []
    spent = 0.0
    for attempt in range(1, geocoder.max_attempts + 1):
        started = time.monotonic()
        stats["requests"] += 1
        try:
            response = session.post(
                geocoder.url, data={"benchmark": geocoder.benchmark},
                files={"addressFile": ("addresses.csv", body, "text/csv")},
                timeout=geocoder.timeout_seconds)
        except requests.Timeout:
            failures.append(f"did not answer within {geocoder.timeout_seconds:g} s")
        except requests.RequestException:
            failures.append("could not be reached")
        else:
            if response.ok:
                return response.content.decode("utf-8", "replace")
            if response.status_code not in RETRY_STATUSES:
                raise Unreachable(f"{geocoder.url}: the geocoder refused the batch "
                                  f"({response.status_code} {response.reason}); check "
                                  "[geocoder] benchmark and url")
            failures.append(f"answered {response.status_code}")
        spent += time.monotonic() - started
        delay = _random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        if attempt == geocoder.max_attempts or spent + delay > geocoder.retry_seconds:
            break
        log.info("geocoder: %s; retrying in %.1f s (attempt %d of %d)", failures[-1], delay,
                 attempt, geocoder.max_attempts)
        _sleep(delay)
        spent += delay
    raise Unreachable(f"{geocoder.url}: the geocoder {'; '.join(dict.fromkeys(failures))} "
                      f"({len(failures)} attempt(s))")


def unreachable(geocoder: Geocoder, timeout: float = 10.0) -> str | None:
    """Why the geocoder's host cannot be reached, or None when it accepts a connection. Only
    a connection is opened: no address is sent."""
    where = urlsplit(geocoder.url)
    port = where.port or (443 if where.scheme == "https" else 80)
    try:
        with socket.create_connection((where.hostname or "", port), timeout=timeout):
            return None
    except OSError as err:
        return f"cannot reach {where.hostname}:{port} ({err.strerror or err})"
