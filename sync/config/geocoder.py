"""The `[geocoder]` table of the configuration: turning vacation-request addresses into
coordinates with the U.S. Census Bureau's geocoder (`sync.vacation.census`).

Opt-in: it sends each new request's street, city, state and ZIP code to the Census Bureau,
which is the department's decision to make. Without `enabled = true` nothing is sent, and
routes use the staff's geocode CSV and the coordinates typed in the master only.

`url` exists for the tests, which point it at a loopback fake; a department leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.config.tomltable import TableReader

CENSUS_BATCH = "https://geocoding.geo.census.gov/geocoder/locations/addressbatch"
MAX_ROWS = 10_000  # the batch endpoint's limit per file

_KEYS = {"enabled", "url", "benchmark", "timeout_seconds", "retry_seconds", "max_attempts",
         "batch_rows"}


@dataclass(frozen=True)
class Geocoder:
    url: str = CENSUS_BATCH
    benchmark: str = "Public_AR_Current"
    timeout_seconds: float = 600.0  # a batch of thousands takes minutes
    retry_seconds: float = 900.0  # total time spent retrying before routes go without it
    max_attempts: int = 3
    batch_rows: int = MAX_ROWS


def read_geocoder(r: TableReader) -> Geocoder | None:
    """The `[geocoder]` table, validated; None unless it says `enabled = true`."""
    r.only(_KEYS)
    if not r.get("enabled", bool, False):
        return None
    url = r.text("url", CENSUS_BATCH).strip()
    if not url.startswith(("https://", "http://")):
        raise r.fail("url", f"must be an http(s) URL, got {url!r}")
    rows = r.number("batch_rows", MAX_ROWS, minimum=1)
    if rows > MAX_ROWS:
        raise r.fail("batch_rows", f"the Census geocoder takes at most {MAX_ROWS:,} addresses "
                     f"per batch, got {rows:,}")
    return Geocoder(
        url=url,
        benchmark=r.text("benchmark", "Public_AR_Current").strip(),
        timeout_seconds=float(r.get("timeout_seconds", (int, float), 600.0)),
        retry_seconds=float(r.get("retry_seconds", (int, float), 900.0)),
        max_attempts=r.number("max_attempts", 3, minimum=1),
        batch_rows=rows,
    )
