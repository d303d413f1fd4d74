"""Google Sheets source: the form-response tabs, read through the Sheets API v4.

The only module that talks to Google. A service-account key signs in (google-auth), and per
spreadsheet at most two requests are sent: the metadata (time zone and tab titles), then one
`values:batchGet` for every wanted tab, with unformatted values and serial-number dates so
that numbers stay numbers and text such as a ZIP "02134" stays text.

Busy or failing answers (429, 5xx, timeouts, dropped connections) are retried with capped
exponential backoff and full jitter, honouring Retry-After, within `google.max_attempts` and
`google.retry_seconds`. Log lines carry counts, keys and tab titles, never cell values.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from sync.config import Google
from sync.errors import SourceError
from sync.sources import Row, Table, unique_headers

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets.readonly"]
METADATA_FIELDS = "properties.timeZone,sheets.properties.title"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 1.0  # seconds; the n-th retry waits up to BACKOFF_BASE * 2 ** (n - 1)
BACKOFF_CAP = 32.0

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
    with _SheetsApi(google, stats) as api:
        for key, titles in _by_spreadsheet(wanted).items():
            zone_name, existing = api.metadata(key)
            for title in titles:
                if title not in existing:
                    raise _missing_tab(key, title, existing)
            value_ranges = api.batch_get(key, [a1_range(t) for t in titles])
            zone = _zone(key, zone_name)
            for title, value_range in zip(titles, value_ranges, strict=True):
                tables[(key, title)] = _table(key, title, value_range.get("values", []), zone)
            log.debug("%s: read %d tab(s)", key, len(titles))
    log.debug("read %d tab(s) with %d Sheets request(s)", len(tables), api.requests)
    return {w: tables[w] for w in wanted}


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


class _SheetsApi:
    """An authorized session to the Sheets API whose GETs retry within the configured limits."""

    def __init__(self, google: Google, stats: dict[str, int] | None) -> None:
        self.google = google
        self.root = google.api_endpoint.rstrip("/") + "/v4/spreadsheets/"
        self.stats = stats if stats is not None else {}
        self.stats.setdefault("requests", 0)
        self.stats.setdefault("spreadsheets", 0)
        self.requests = 0
        self.credentials = _credentials(google)
        self.session = AuthorizedSession(self.credentials)

    def __enter__(self) -> _SheetsApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    @property
    def email(self) -> str:
        return str(getattr(self.credentials, "service_account_email", "the service account"))

    def metadata(self, key: str) -> tuple[str | None, list[str]]:
        """The spreadsheet's time zone and its tab titles."""
        self.stats["spreadsheets"] += 1
        data = self.get(key, "", [("fields", METADATA_FIELDS)])
        zone = data.get("properties", {}).get("timeZone")
        titles = [s.get("properties", {}).get("title", "") for s in data.get("sheets", [])]
        return zone, titles

    def batch_get(self, key: str, ranges: list[str]) -> list[dict[str, Any]]:
        params = [("ranges", r) for r in ranges] + [
            ("majorDimension", "ROWS"),
            ("valueRenderOption", "UNFORMATTED_VALUE"),
            ("dateTimeRenderOption", "SERIAL_NUMBER"),
        ]
        value_ranges = self.get(key, "/values:batchGet", params).get("valueRanges", [])
        if len(value_ranges) != len(ranges):
            raise SourceError(
                f"{key}: Google Sheets answered {len(value_ranges)} ranges for {len(ranges)} tabs"
            )
        return value_ranges

    def get(self, key: str, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        url = self.root + quote(key, safe="") + path
        timeout = self.google.timeout_seconds
        failures: list[str] = []
        spent = 0.0
        for attempt in range(1, self.google.max_attempts + 1):
            retry_after: float | None = None
            started = time.monotonic()
            self.requests += 1
            self.stats["requests"] += 1
            try:
                response = self.session.get(url, params=params, timeout=timeout)
            except auth_exceptions.RefreshError as err:
                if not getattr(err, "retryable", False):
                    raise self._key_refused(err) from None
                failures.append("could not get an access token")
            except requests.Timeout:
                failures.append(f"did not answer within {timeout:g} s")
            except (requests.ConnectionError, auth_exceptions.TransportError):
                failures.append("could not be reached")
            else:
                if response.ok:
                    return self._json(key, response)
                if response.status_code not in RETRY_STATUSES:
                    raise self._refused(key, response)
                failures.append(f"answered {response.status_code}")
                retry_after = _retry_after(response.headers.get("Retry-After"))
            spent += time.monotonic() - started
            if attempt == self.google.max_attempts:
                break
            if retry_after is not None:
                delay = retry_after
            else:
                delay = _random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            if spent + delay > self.google.retry_seconds:
                if retry_after is not None:
                    failures[-1] += f" (asking to wait {retry_after:g} s)"
                break
            log.info(
                "%s: Google Sheets %s; retrying in %.1f s (attempt %d of %d)",
                key, failures[-1], delay, attempt, self.google.max_attempts,
            )
            _sleep(delay)
            spent += delay
        raise SourceError(
            f"{key}: Google Sheets {_summary(failures)} over {spent:.0f} s; try again later"
        )

    def _json(self, key: str, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SourceError(
                f"{key}: Google Sheets answered {response.status_code} with something that "
                "is not JSON"
            )
        return data

    def _refused(self, key: str, response: requests.Response) -> SourceError:
        status = response.status_code
        why = _error_text(response)
        if status == 403 and "API has not been used" in why:
            return SourceError(
                f"{key}: the Google Sheets API is not enabled for the project of the service "
                f"account {self.email} ({why}); enable it in the Google Cloud console"
            )
        if status in (403, 404):
            what = "refused access to" if status == 403 else "found no"
            return SourceError(
                f"{key}: Google Sheets {what} spreadsheet {key} ({why}); the spreadsheet "
                f"must exist and be shared (Viewer is enough) with the service account "
                f"{self.email}"
            )
        if status == 401:
            return SourceError(
                f"{key}: Google Sheets rejected the access token for the service account "
                f"{self.email} even after a refresh ({why}); check that the key "
                f"{self.google.credentials} is current and that its account is enabled"
            )
        return SourceError(f"{key}: Google Sheets refused the request ({why})")

    def _key_refused(self, err: auth_exceptions.RefreshError) -> SourceError:
        reason = str(err.args[0]) if err.args else str(err)
        return SourceError(
            f"{self.google.credentials}: Google refused the service-account key ({reason}); "
            f"it may have been deleted or {self.email} disabled: create a new JSON key"
        )


def _credentials(google: Google) -> service_account.Credentials:
    path = google.credentials
    if path is None:
        raise SourceError(
            "Google credentials are not configured: set google.credentials in the "
            "configuration file to the service account's JSON key, or set the "
            "GOOGLE_APPLICATION_CREDENTIALS environment variable"
        )
    try:
        return service_account.Credentials.from_service_account_file(str(path), scopes=SCOPES)
    except FileNotFoundError:
        message = f"{path}: service-account key file not found (google.credentials)"
        raise SourceError(message) from None
    except OSError as err:
        message = f"{path}: cannot read the service-account key: {err.strerror}"
        raise SourceError(message) from None
    except (ValueError, KeyError, TypeError, auth_exceptions.GoogleAuthError) as err:
        raise SourceError(
            f"{path}: not a valid service-account JSON key ({_short(err)}); download a new "
            "JSON key for the service account from the Google Cloud console"
        ) from None


def _error_text(response: requests.Response) -> str:
    """`403 PERMISSION_DENIED: The caller does not have permission`, or the bare status."""
    text = f"{response.status_code}"
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        if error.get("status"):
            text += f" {error['status']}"
        if error.get("message"):
            text += f": {_short(error['message'])}"
    elif response.reason:
        text += f" {response.reason}"
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times",
          6: "six times", 7: "seven times", 8: "eight times", 9: "nine times", 10: "ten times"}


def _summary(failures: list[str]) -> str:
    """`answered 503 five times`, or `failed three times (answered 429; answered 503)`."""
    times = _TIMES.get(len(failures), f"{len(failures)} times")
    distinct = list(dict.fromkeys(failures))
    if len(distinct) == 1:
        return f"{distinct[0]} {times}"
    return f"failed {times} ({'; '.join(distinct)})"


def _short(err: object, limit: int = 200) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
