"""HTTP to Google's APIs: a signed-in session whose GETs retry within limits.

Shared by the Sheets and the Forms sources. A service-account key signs in (google-auth's
`AuthorizedSession`, which refreshes an expired token once by itself), or, with
`google.auth = "user"` or `"adc"`, a staff member's saved sign-in or Application Default
Credentials (`sync.sources.googleauth`). Busy or failing answers (429, 5xx, timeouts,
dropped connections) are retried with capped exponential backoff and full jitter,
honouring Retry-After, within `google.max_attempts` and `google.retry_seconds`; any other
refusal is a `SourceError` naming the spreadsheet or form and saying what to fix. Log lines
carry counts and IDs, never answers.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from sync.config import Google
from sync.errors import SigninError, SourceError
from sync.sources import googleauth

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 1.0  # seconds; the n-th retry waits up to BACKOFF_BASE * 2 ** (n - 1)
BACKOFF_CAP = 32.0

# Replaceable in tests so retries wait no real time (each source module has its own pair).
_sleep: Callable[[float], None] = time.sleep
_random: Callable[[], float] = random.random

Params = Sequence[tuple[str, str]]


class GoogleApi:
    """An authorized session to one Google API; `get` retries within the configured limits.

    Subclasses name the service ("Google Sheets") and say what a 403/404 means for the thing
    they read (`no_access`); `stats["requests"]` counts every request sent, retries included.
    """

    service = "Google"

    def __init__(self, google: Google, scopes: list[str], stats: dict[str, int] | None) -> None:
        self.google = google
        self.stats = stats if stats is not None else {}
        self.stats.setdefault("requests", 0)
        self.requests = 0
        if google.auth == "user":
            self.credentials: Any = googleauth.user_credentials(google, scopes)
        elif google.auth == "adc":
            self.credentials = googleauth.adc_credentials(scopes)
        else:
            self.credentials = credentials(google, scopes)
        self.session = AuthorizedSession(self.credentials)

    def __enter__(self) -> GoogleApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    @property
    def email(self) -> str:
        return str(getattr(self.credentials, "service_account_email", "the service account"))

    @property
    def who(self) -> str:
        """The account Google sees, for messages: `the service account tpd-sync@...`."""
        if self.google.auth == "user":
            return "the Google account signed in with `tpd-programs login`"
        if self.google.auth == "adc":
            return googleauth.describe_adc(self.credentials)
        return f"the service account {self.email}"

    # Hooks: the wait between attempts and its jitter (tests replace them), and what a
    # 403/404 means for the thing read.
    def pause(self, seconds: float) -> None:
        _sleep(seconds)

    def jitter(self) -> float:
        return _random()

    def no_access(self, where: str, status: int, why: str) -> SourceError:
        return SourceError(f"{where}: {self.service} refused access ({why})")

    def get(self, where: str, url: str, params: Params) -> dict[str, Any]:
        """The JSON object at `url`; `where` (a spreadsheet key or form ID) starts errors."""
        response = self.send(where, url, params)
        if not response.ok:
            raise self.refused(where, response)
        return self.json(where, response)

    def send(self, where: str, url: str, params: Params | dict[str, Any]) -> requests.Response:
        """GET `url`, retrying busy or failing answers within the configured limits; the
        answer, or a refusal (a status not worth retrying) as it came. A SourceError when
        the retries ran out or the sign-in was refused."""
        timeout = self.google.timeout_seconds
        failures: list[str] = []
        spent = 0.0
        for attempt in range(1, self.google.max_attempts + 1):
            retry_after: float | None = None
            started = time.monotonic()
            self.requests += 1
            self.stats["requests"] += 1
            try:
                response = self.session.get(url, params=_pairs(params), timeout=timeout)
            except auth_exceptions.RefreshError as err:
                if not getattr(err, "retryable", False):
                    if self.google.auth != "service_account":
                        raise googleauth.refused(self.google, err) from None
                    raise self._key_refused(err) from None
                failures.append("could not get an access token")
            except requests.Timeout:
                failures.append(f"did not answer within {timeout:g} s")
            except (requests.ConnectionError, auth_exceptions.TransportError):
                failures.append("could not be reached")
            else:
                if response.ok or response.status_code not in RETRY_STATUSES:
                    return response
                failures.append(f"answered {response.status_code}")
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            spent += time.monotonic() - started
            if attempt == self.google.max_attempts:
                break
            if retry_after is not None:
                delay = retry_after
            else:
                delay = self.jitter() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            if spent + delay > self.google.retry_seconds:
                if retry_after is not None:
                    failures[-1] += f" (asking to wait {retry_after:g} s)"
                break
            log.info(
                "%s: %s %s; retrying in %.1f s (attempt %d of %d)",
                where, self.service, failures[-1], delay, attempt, self.google.max_attempts,
            )
            self.pause(delay)
            spent += delay
        raise SourceError(
            f"{where}: {self.service} {summary(failures)} over {spent:.0f} s; try again later"
        )

    def json(self, where: str, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SourceError(
                f"{where}: {self.service} answered {response.status_code} with something that "
                "is not JSON"
            )
        return data

    def refused(self, where: str, response: requests.Response) -> SourceError:
        status = response.status_code
        why = error_text(response)
        if status == 403 and "API has not been used" in why:
            project = {"user": f"the OAuth client ({self.google.client_secrets})",
                       "adc": "the Application Default Credentials (their quota project)"}.get(
                           self.google.auth, f"the service account {self.email}")
            return SourceError(
                f"{where}: the {self.service} API is not enabled for the project of {project} "
                f"({why}); enable it in the Google Cloud console"
            )
        if status in (403, 404):
            return self.no_access(where, status, why)
        if status == 401 and self.google.auth == "user":
            return SigninError(
                f"{where}: {self.service} rejected the access token of {self.who} even after a "
                f"refresh ({why}); run `tpd-programs login` again"
            )
        if status == 401 and self.google.auth == "adc":
            return SourceError(
                f"{where}: {self.service} rejected the Application Default Credentials even "
                f"after a refresh ({why}); run `gcloud auth application-default login` again"
            )
        if status == 401:
            return SourceError(
                f"{where}: {self.service} rejected the access token for the service account "
                f"{self.email} even after a refresh ({why}); check that the key "
                f"{self.google.credentials} is current and that its account is enabled"
            )
        return SourceError(f"{where}: {self.service} refused the request ({why})")

    def _key_refused(self, err: auth_exceptions.RefreshError) -> SourceError:
        reason = str(err.args[0]) if err.args else str(err)
        return SourceError(
            f"{self.google.credentials}: Google refused the service-account key ({reason}); "
            f"it may have been deleted or {self.email} disabled: create a new JSON key"
        )


def _pairs(params: Params | dict[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as pairs; a list value (gspread's `ranges`) repeats its name."""
    if not isinstance(params, dict):
        return list(params)
    return [(k, v) for k, value in params.items()
            for v in (value if isinstance(value, list) else [value])]


def credentials(google: Google, scopes: list[str]) -> service_account.Credentials:
    """The service-account credentials of `google.credentials`, or a SourceError naming it."""
    path = google.credentials
    if path is None:
        raise SourceError(
            "Google credentials are not configured: set google.credentials in the "
            "configuration file to the service account's JSON key, or set the "
            "GOOGLE_APPLICATION_CREDENTIALS environment variable"
        )
    try:
        return service_account.Credentials.from_service_account_file(str(path), scopes=scopes)
    except FileNotFoundError:
        message = f"{path}: service-account key file not found (google.credentials)"
        raise SourceError(message) from None
    except OSError as err:
        message = f"{path}: cannot read the service-account key: {err.strerror}"
        raise SourceError(message) from None
    except (ValueError, KeyError, TypeError, auth_exceptions.GoogleAuthError) as err:
        raise SourceError(
            f"{path}: not a valid service-account JSON key ({googleauth.short(err)}); "
            "download a new JSON key for the service account from the Google Cloud console"
        ) from None


def error_text(response: requests.Response) -> str:
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
            text += f": {googleauth.short(error['message'])}"
    elif response.reason:
        text += f" {response.reason}"
    return text


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now."""
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


def summary(failures: list[str]) -> str:
    """`answered 503 five times`, or `failed three times (answered 429; answered 503)`."""
    times = _TIMES.get(len(failures), f"{len(failures)} times")
    distinct = list(dict.fromkeys(failures))
    if len(distinct) == 1:
        return f"{distinct[0]} {times}"
    return f"failed {times} ({'; '.join(distinct)})"


