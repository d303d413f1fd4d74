"""Google Sheets source: the form-response tabs, read through the Sheets API v4 with gspread.

A service-account key signs in (google-auth), and per spreadsheet at most two requests are
sent with gspread's `fetch_sheet_metadata` (time zone and tab titles, a `fields` mask) and
`values_batch_get` (every wanted tab), with unformatted values and serial-number dates so
that numbers stay numbers and text such as a ZIP "02134" stays text. gspread's URLs are
module constants and its retrying client never stops retrying, so gspread is given its own
HTTP client (`_SheetsHttp`): it sends each request to the configured `api_endpoint`, through
the retries below, and gspread's `APIError` is turned into a message naming the spreadsheet.

Busy or failing answers (429, 5xx, timeouts, dropped connections) are retried with capped
exponential backoff and full jitter, honouring Retry-After, within `google.max_attempts` and
`google.retry_seconds` (`sync.sources.googlehttp`, shared with the Forms source). Log lines
carry counts, keys and tab titles, never cell values.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gspread
import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEETS_API_V4_BASE_URL

from sync.config import Google
from sync.errors import SourceError
from sync.sources import Row, Table, googlehttp, unique_headers

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets.readonly"]
METADATA_FIELDS = "properties.timeZone,sheets.properties.title"

# Replaceable in tests so retries wait no real time.
_sleep: Callable[[float], None] = time.sleep
_random: Callable[[], float] = random.random

Wanted = Iterable[tuple[str, str]]  # (spreadsheet key, worksheet title)


def read_spreadsheets(
    wanted: Wanted, google: Google, *, stats: dict[str, int] | None = None
) -> dict[tuple[str, str], Table]:
    """Read every wanted (spreadsheet key, tab title) as a `Table`.

    `stats`, when given, counts the Sheets requests sent ("requests", retries included) and
    the spreadsheets read ("spreadsheets").
    """
    wanted = list(dict.fromkeys(wanted))
    tables: dict[tuple[str, str], Table] = {}
    for batch in iter_spreadsheets(wanted, google, stats=stats):
        tables.update(batch)
    return {w: tables[w] for w in wanted}


def iter_spreadsheets(
    wanted: Wanted, google: Google, *, stats: dict[str, int] | None = None,
    keep_going: bool = False,
) -> Iterator[dict[tuple[str, str], Table | SourceError]]:
    """The wanted tabs one spreadsheet at a time, in the order `wanted` first names them:
    each spreadsheet is read (its wanted tabs in one request) only when the caller asks for
    the next, so it can work on one while the rest wait. One sign-in serves them all.

    With `keep_going`, a spreadsheet that cannot be read (not shared, a tab renamed, Google
    failing after the retries) gives its error in place of each of its tabs, and the next
    spreadsheet is still read; without it, the error is raised."""
    wanted = list(dict.fromkeys(wanted))
    tabs = 0
    with _SheetsApi(google, stats) as api:
        try:
            for key, titles in _by_spreadsheet(wanted).items():
                try:
                    batch = _read_spreadsheet(api, key, titles)
                except SourceError as err:
                    if not keep_going:
                        raise
                    log.debug("%s: not read", key)
                    yield dict.fromkeys(((key, title) for title in titles), err)
                    continue
                tabs += len(titles)
                yield batch
        finally:
            log.debug("read %d tab(s) with %d Sheets request(s)", tabs, api.requests)


def _read_spreadsheet(api: _SheetsApi, key: str,
                      titles: list[str]) -> dict[tuple[str, str], Table | SourceError]:
    """The wanted tabs of one spreadsheet: its metadata, then every tab in one request."""
    zone_name, existing = api.metadata(key)
    for title in titles:
        if title not in existing:
            raise _missing_tab(key, title, existing)
    value_ranges = api.batch_get(key, [a1_range(t) for t in titles])
    zone = _zone(key, zone_name)
    log.debug("%s: read %d tab(s)", key, len(titles))
    return {(key, title): _table(key, title, value_range.get("values", []), zone)
            for title, value_range in zip(titles, value_ranges, strict=True)}


def check_spreadsheets(
    wanted: Wanted, google: Google, *, stats: dict[str, int] | None = None
) -> dict[tuple[str, str], tuple[str, ...] | SourceError]:
    """The header titles of every wanted tab, or the error that stops it being read.

    Credentials that cannot be loaded raise at once; a spreadsheet that cannot be reached
    gives its error for each of its tabs, so one report can list every problem.
    """
    wanted = list(dict.fromkeys(wanted))
    found: dict[tuple[str, str], tuple[str, ...] | SourceError] = {}
    with _SheetsApi(google, stats) as api:
        for key, titles in _by_spreadsheet(wanted).items():
            try:
                _, existing = api.metadata(key)
                present = [t for t in titles if t in existing]
                for title in titles:
                    if title not in existing:
                        found[(key, title)] = _missing_tab(key, title, existing)
                if present:
                    value_ranges = api.batch_get(key, [a1_range(t) + "!1:1" for t in present])
                    for title, value_range in zip(present, value_ranges, strict=True):
                        rows = value_range.get("values", [])
                        found[(key, title)] = unique_headers(rows[0]) if rows else ()
            except SourceError as err:
                for title in titles:
                    found.setdefault((key, title), err)
    return {w: found[w] for w in wanted}


def a1_range(title: str) -> str:
    """A tab title as an A1 range naming the whole tab: `'Form Responses 1'`."""
    return "'" + title.replace("'", "''") + "'"


# -- tables --------------------------------------------------------------------------------------


def _by_spreadsheet(wanted: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, title in wanted:
        grouped.setdefault(key, []).append(title)
    return grouped


def _missing_tab(key: str, title: str, existing: list[str]) -> SourceError:
    tabs = ", ".join(repr(t) for t in existing) or "none"
    return SourceError(
        f"{key}/{title}: spreadsheet {key} has no tab named {title!r} (its tabs: {tabs}); "
        "fix the worksheet title in the configuration"
    )


def _zone(key: str, name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("%s: unknown spreadsheet time zone %r; using the department's", key, name)
        return None


def _table(key: str, title: str, values: list[list[Any]], zone: ZoneInfo | None) -> Table:
    """Row 1 is the header; blank rows are skipped but keep their numbers."""
    source = f"{key}/{title}"
    if not values:
        return Table(source, (), (), zone)
    width = max(len(row) for row in values)
    header = list(values[0]) + [""] * (width - len(values[0]))
    rows = tuple(
        Row(number, tuple(row))
        for number, row in enumerate(values[1:], start=2)
        if any(value not in ("", None) for value in row)
    )
    return Table(source, unique_headers(header), rows, zone)


# -- the API -------------------------------------------------------------------------------------


class _SheetsHttp(HTTPClient):
    """gspread's HTTP client, sending its requests to the configured `api_endpoint` through
    the source's signed-in session and its capped retries (`googlehttp.GoogleApi.send`):
    gspread's own retrying client never stops retrying. Read-only: a GET or nothing."""

    def __init__(self, auth: Any, session: Any = None, *, api: _SheetsApi) -> None:
        super().__init__(auth, session)
        self.api = api

    def request(self, method: str, endpoint: str, params: Any = None, data: Any = None,
                json: Any = None, files: Any = None, headers: Any = None) -> requests.Response:
        if method.lower() != "get" or data is not None or json is not None or files:
            raise SourceError(f"{endpoint}: the toolkit only reads spreadsheets")
        path = endpoint.removeprefix(SPREADSHEETS_API_V4_BASE_URL)
        key = path.lstrip("/").split("/")[0].split(":")[0]
        response = self.api.send(key, self.api.root + path, params or {})
        if not response.ok:
            raise APIError(response)  # as gspread's own client does; see `_SheetsApi.call`
        return response


class _SheetsApi(googlehttp.GoogleApi):
    """The Sheets API v4 through gspread: spreadsheet metadata and `values:batchGet`."""

    service = "Google Sheets"

    def __init__(self, google: Google, stats: dict[str, int] | None) -> None:
        super().__init__(google, SCOPES, stats)
        self.root = google.api_endpoint.rstrip("/") + "/v4/spreadsheets"
        self.stats.setdefault("spreadsheets", 0)
        self.http = gspread.Client(None, session=self.session,  # type: ignore[arg-type]
                                   http_client=functools.partial(_SheetsHttp, api=self)).http_client

    def __enter__(self) -> _SheetsApi:
        return self

    def pause(self, seconds: float) -> None:
        _sleep(seconds)

    def jitter(self) -> float:
        return _random()

    def no_access(self, key: str, status: int, why: str) -> SourceError:
        what = "refused access to" if status == 403 else "found no"
        return SourceError(
            f"{key}: Google Sheets {what} spreadsheet {key} ({why}); the spreadsheet "
            f"must exist and be shared (Viewer is enough) with {self.who}"
        )

    def metadata(self, key: str) -> tuple[str | None, list[str]]:
        """The spreadsheet's time zone and its tab titles."""
        self.stats["spreadsheets"] += 1
        data = self.call(key, self.http.fetch_sheet_metadata, key, {"fields": METADATA_FIELDS})
        zone = data.get("properties", {}).get("timeZone")
        titles = [s.get("properties", {}).get("title", "") for s in data.get("sheets", [])]
        return zone, titles

    def batch_get(self, key: str, ranges: list[str]) -> list[dict[str, Any]]:
        params = {"majorDimension": "ROWS", "valueRenderOption": "UNFORMATTED_VALUE",
                  "dateTimeRenderOption": "SERIAL_NUMBER"}
        value_ranges = self.call(key, self.http.values_batch_get, key, ranges,
                                 params).get("valueRanges", [])
        if len(value_ranges) != len(ranges):
            raise SourceError(
                f"{key}: Google Sheets answered {len(value_ranges)} ranges for {len(ranges)} tabs"
            )
        return value_ranges

    def call(self, key: str, read: Callable[..., Any], *args: Any) -> dict[str, Any]:
        """What gspread's `read(*args)` returns, its errors turned into messages naming
        the spreadsheet and what to do."""
        try:
            data = read(*args)
        except APIError as err:
            raise self.refused(key, err.response) from None
        except ValueError:  # the answer was not JSON
            data = None
        if not isinstance(data, dict):
            raise SourceError(f"{key}: Google Sheets answered with something that is not JSON")
        return data
