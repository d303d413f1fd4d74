"""A loopback fake of Google's OAuth token endpoint and the read side of the Sheets API v4.

A user's sign-in (authorization endpoint, code exchange with PKCE, refresh, revoke) is
`FakeOAuth` in tests/fake_oauth.py, served on the same port as `fake.oauth`.

It speaks real HTTP on 127.0.0.1, so the code under test runs google-auth's service-account
flow (a JWT signed with the key file's private key, exchanged at `token_uri` for an access
token) and sends ordinary Sheets requests. Answers have the shape of the recorded traffic
in `shared/fixtures/sheets-api` (see tests/test_fake_google_shape.py).

Use it as pytest fixtures (`pytest_plugins = ["tests.fake_google"]` in a test module or conftest):

    def test_reads(fake_google, google_settings):
        fake_google.add_spreadsheet("1AbC...", tabs={"Form Responses 1": [
            ["Timestamp", "Email Address"],
            [dt.datetime(2020, 3, 5, 18, 4, 11), "ana@example.org"],
        ]})
        tables = read_spreadsheets([("1AbC...", "Form Responses 1")], google_settings)
        assert len(fake_google.sheets_requests) == 2

or directly: `with FakeGoogle() as fake: key = fake.write_key(tmp_path)`.

Cells are stored typed: str, int, float, bool, `datetime.date`, `datetime.datetime` (local
time of the spreadsheet's time zone), or `Cell(value, formula=..., formatted=...)`; None and
"" are empty. Faults: `fail_next(503)`, `fail_next(500, html=True)`,
`fail_next(429, retry_after=7)`, `delay_next(seconds)`, `expire_tokens()`,
`expire_tokens_after(n)`, `revoke_key(email)`; `spreadsheet.shared = False` answers 403.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import secrets
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sync.config import Google
from tests.fake_oauth import AUTH_PATH, REVOKE_PATH, FakeOAuth

TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.readonly",
}
DEFAULT_EMAIL = "tpd-sync@tpd-programs.iam.gserviceaccount.com"
SERIAL_EPOCH = dt.datetime(1899, 12, 30)
STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute "
        "per user' of service 'sheets.googleapis.com' for consumer 'project_number:123456789012'.",
    ),
    500: ("INTERNAL", "Internal error encountered."),
    502: ("UNAVAILABLE", "Bad Gateway"),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The service is currently unavailable."),
}
HTML_ERROR = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error {code} (Server Error)!!1</title>
  <p><b>{code}.</b> <ins>That\u2019s an error.</ins>
  <p>The server encountered a temporary error and could not complete your request.
  <p>Please try again in 30 seconds.  <ins>That\u2019s all we know.</ins>
"""


# -- cells and ranges ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A cell with a formula or a display text of its own (e.g. a date typed as 2020-01-01)."""

    value: Any
    formula: str | None = None  # shown under valueRenderOption=FORMULA
    formatted: str | None = None  # shown under FORMATTED_VALUE and dates under FORMATTED_STRING


def is_empty(cell: Any) -> bool:
    value = cell.value if isinstance(cell, Cell) else cell
    return value is None or value == ""


def serial(value: dt.date) -> int | float:
    """A date as Sheets' serial number: days since 1899-12-30, time of day as the fraction."""
    if isinstance(value, dt.datetime):
        days = (value - SERIAL_EPOCH) / dt.timedelta(days=1)
        return int(days) if days.is_integer() else days
    return (value - SERIAL_EPOCH.date()).days


def display(value: Any) -> str:
    """The en_US display text Sheets shows for a value in an unformatted cell."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return f"{value.month}/{value.day}/{value.year} {value.hour}:{value:%M:%S}"
    if isinstance(value, dt.date):
        return f"{value.month}/{value.day}/{value.year}"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def render(cell: Any, value_option: str, date_option: str, zone: ZoneInfo) -> Any:
    formula = formatted = None
    value = cell
    if isinstance(cell, Cell):
        value, formula, formatted = cell.value, cell.formula, cell.formatted
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    if value_option == "FORMULA" and formula is not None:
        return formula
    if value_option == "FORMATTED_VALUE":
        return formatted if formatted is not None else display(value)
    if isinstance(value, dt.date):
        if date_option == "FORMATTED_STRING":
            return formatted if formatted is not None else display(value)
        return serial(value)
    return value


def column_letters(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def a1_title(title: str) -> str:
    """A tab title as Sheets echoes it in a range: quoted only when it must be."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title)
    cell_like = re.fullmatch(r"[A-Za-z]{1,3}\d+|[Rr]\d*[Cc]\d*", title)
    if plain and not cell_like:
        return title
    return "'" + title.replace("'", "''") + "'"


class RangeError(ValueError):
    """Sheets cannot parse the range or it lies outside the grid (answered 400)."""


_CELL_REF = re.compile(r"([A-Za-z]{0,3})(\d*)")


# -- spreadsheets -------------------------------------------------------------------------------


@dataclass
class FakeTab:
    title: str
    rows: list[list[Any]]
    sheet_id: int
    rows_set: int | None = None  # gridProperties.rowCount, when set explicitly
    columns_set: int | None = None

    @property
    def row_count(self) -> int:
        return max(self.rows_set or 1000, len(self.rows))

    @property
    def column_count(self) -> int:
        return max(self.columns_set or 26, max((len(r) for r in self.rows), default=0))

    def put(self, top: int, left: int, values: Iterable[Iterable[Any]]) -> None:
        """Write a block of values with its top-left cell at (top, left), 1-based."""
        for r, row in enumerate(values, start=top):
            while len(self.rows) < r:
                self.rows.append([])
            target = self.rows[r - 1]
            for c, value in enumerate(row, start=left):
                while len(target) < c:
                    target.append(None)
                target[c - 1] = value


@dataclass
class FakeSpreadsheet:
    key: str
    title: str = "Community Programs (Responses)"
    locale: str = "en_US"
    time_zone: str = "America/Los_Angeles"
    shared: bool = True  # False: the service account gets 403 PERMISSION_DENIED
    tabs: list[FakeTab] = field(default_factory=list)

    def add_tab(
        self,
        title: str,
        rows: Iterable[Iterable[Any]] = (),
        *,
        row_count: int | None = None,
        column_count: int | None = None,
        sheet_id: int | None = None,
    ) -> FakeTab:
        if sheet_id is None:
            sheet_id = 0 if not self.tabs else zlib.crc32(title.encode()) & 0x7FFFFFFF
        tab = FakeTab(title, [list(r) for r in rows], sheet_id, row_count, column_count)
        self.tabs.append(tab)
        return tab

    def tab(self, title: str) -> FakeTab:
        for tab in self.tabs:
            if tab.title == title:
                return tab
        raise KeyError(title)

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.key,
            "properties": {
                "title": self.title,
                "locale": self.locale,
                "autoRecalc": "ON_CHANGE",
                "timeZone": self.time_zone,
            },
            "sheets": [
                {
                    "properties": {
                        "sheetId": tab.sheet_id,
                        "title": tab.title,
                        "index": index,
                        "sheetType": "GRID",
                        "gridProperties": {
                            "rowCount": tab.row_count,
                            "columnCount": tab.column_count,
                        },
                    }
                }
                for index, tab in enumerate(self.tabs)
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.key}/edit",
        }

    def resolve(self, text: str) -> tuple[FakeTab, int, int, int, int, bool]:
        """An A1 range as (tab, first row, first column, last row, last column, single cell)."""
        if not self.tabs:
            raise RangeError(text)
        if text.startswith("'"):
            end, title = 1, ""
            while True:
                quote = text.find("'", end)
                if quote < 0:
                    raise RangeError(text)
                title += text[end:quote]
                if text[quote + 1 : quote + 2] == "'":
                    title, end = title + "'", quote + 2
                    continue
                rest = text[quote + 1 :]
                break
            if rest and not rest.startswith("!"):
                raise RangeError(text)
            cells = rest[1:]
        elif "!" in text:
            title, cells = text.rsplit("!", 1)
        elif any(tab.title == text for tab in self.tabs):
            title, cells = text, ""
        else:
            title, cells = self.tabs[0].title, text
        try:
            tab = self.tab(title)
        except KeyError:
            raise RangeError(text) from None
        rows, cols = tab.row_count, tab.column_count
        if not cells:
            return tab, 1, 1, rows, cols, False
        parts = cells.split(":")
        refs = [_CELL_REF.fullmatch(p) for p in parts]
        if len(parts) > 2 or not all(m and (m[1] or m[2]) for m in refs):
            raise RangeError(text)
        ends = [(m[1], m[2]) for m in refs if m]
        (c0, r0), (c1, r1) = ends[0], ends[-1]
        single = len(parts) == 1
        if single and not (c0 and r0):
            raise RangeError(text)
        top, left = int(r0 or 1), column_number(c0) if c0 else 1
        bottom, right = int(r1) if r1 else rows, column_number(c1) if c1 else cols
        top, bottom = sorted((top, bottom))
        left, right = sorted((left, right))
        if top < 1 or left < 1:
            raise RangeError(text)
        if bottom > rows or right > cols:
            quoted = "'" + tab.title.replace("'", "''") + "'"
            raise RangeError(
                f"Range ({quoted}!{cells}) exceeds grid limits. "
                f"Max rows: {rows}, max columns: {cols}"
            )
        return tab, top, left, bottom, right, single

    def values(self, text: str, value_option: str, date_option: str) -> dict[str, Any]:
        """The ValueRange Sheets answers for one A1 range."""
        tab, top, left, bottom, right, single = self.resolve(text)
        zone = ZoneInfo(self.time_zone)
        out: list[list[Any]] = []
        for r in range(top, min(bottom, len(tab.rows)) + 1):
            source = tab.rows[r - 1]
            cells = source[left - 1 : right]
            while cells and is_empty(cells[-1]):
                cells.pop()
            out.append(
                ["" if is_empty(c) else render(c, value_option, date_option, zone) for c in cells]
            )
        while out and not out[-1]:
            out.pop()
        where = f"{column_letters(left)}{top}"
        if not single:
            where += f":{column_letters(right)}{bottom}"
        answer: dict[str, Any] = {
            "range": f"{a1_title(tab.title)}!{where}",
            "majorDimension": "ROWS",
        }
        if out:
            answer["values"] = out
        return answer


# -- field masks --------------------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def field_paths(mask: str, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """`properties.timeZone,sheets.properties(title,index)` as a list of key paths."""
    paths: list[tuple[str, ...]] = []
    for item in _split_top(mask):
        if item.endswith(")") and "(" in item:
            head, inner = item[:-1].split("(", 1)
            paths += field_paths(inner, prefix + tuple(head.split(".")))
        else:
            paths.append(prefix + tuple(item.split(".")))
    return paths


def pick(data: Any, paths: list[tuple[str, ...]]) -> Any:
    if any(not p or p == ("*",) for p in paths):
        return data
    if isinstance(data, list):
        return [pick(item, paths) for item in data]
    if not isinstance(data, dict):
        return data
    picked: dict[str, Any] = {}
    for name in dict.fromkeys(p[0] for p in paths):
        if name in data:
            picked[name] = pick(data[name], [p[1:] for p in paths if p[0] == name])
    return picked


# -- the fake -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What the next Sheets request gets instead of its answer."""

    status: int | None = None  # None: answer normally (after the delay)
    delay: float = 0.0
    html: bool = False
    message: str | None = None
    retry_after: float | str | None = None


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # percent-decoded
    query: dict[str, list[str]]
    status: int

    @property
    def is_sheets(self) -> bool:
        return self.path.startswith("/v4/")


@dataclass
class _Account:
    email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    revoked: bool = False


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA key per test run: generating 2048-bit keys is slow and any key will do."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeGoogle:
    """The fake token endpoint and Sheets API on a loopback port (a context manager)."""

    def __init__(self, token_lifetime: int = 3600) -> None:
        self.spreadsheets: dict[str, FakeSpreadsheet] = {}
        self.token_lifetime = token_lifetime
        self.requests: list[Recorded] = []
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, tuple[str, set[str], float]] = {}  # token -> email, scopes, expiry
        self._faults: deque[Fault] = deque()
        self._expire_countdown: int | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.oauth = FakeOAuth(self.issue_token, self.forget_tokens, _private_key,
                               lambda: self.token_lifetime)  # a user's sign-in (tests/fake_oauth.py)

    # lifecycle
    def start(self) -> FakeGoogle:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeGoogle is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    # seeding
    def add_spreadsheet(
        self,
        key: str,
        *,
        tabs: dict[str, Iterable[Iterable[Any]]] | None = None,
        title: str = "Community Programs (Responses)",
        time_zone: str = "America/Los_Angeles",
        locale: str = "en_US",
        shared: bool = True,
    ) -> FakeSpreadsheet:
        sheet = FakeSpreadsheet(key, title, locale, time_zone, shared)
        for tab_title, rows in (tabs or {}).items():
            sheet.add_tab(tab_title, rows)
        with self._lock:
            self.spreadsheets[key] = sheet
        return sheet

    def write_key(
        self, folder: Path, *, email: str = DEFAULT_EMAIL, name: str = "service-account.json"
    ) -> Path:
        """Write a service-account JSON key whose token_uri is this fake; return its path."""
        private = _private_key()
        key_id = secrets.token_hex(20)
        with self._lock:
            self._accounts[email] = _Account(email, key_id, private.public_key())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": email.split("@")[1].split(".")[0],
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(100000000000000000000 + zlib.crc32(email.encode())),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }
        path = Path(folder) / name
        path.write_text(json.dumps(info, indent=2), encoding="utf-8")
        path.chmod(0o600)
        return path

    def settings(self, credentials: Path | None, **overrides: Any) -> Google:
        """`Google` settings pointing at this fake, with short timeouts for tests."""
        values: dict[str, Any] = {
            "credentials": credentials,
            "api_endpoint": self.url,
            "timeout_seconds": 2.0,
            "retry_seconds": 60.0,
            "max_attempts": 5,
        }
        values.update(overrides)
        return Google(**values)

    def user_settings(self, folder: Path, **overrides: Any) -> Google:
        """`Google` settings for auth = "user" against this fake: a new OAuth client's JSON in
        `folder`, the sign-in file `folder/google-token.json`, the fake's OAuth endpoints."""
        values: dict[str, Any] = {
            "auth": "user",
            "token": Path(folder) / "google-token.json",
            "auth_endpoint": self.url + AUTH_PATH,
            "token_endpoint": self.token_uri,
            "revoke_endpoint": self.url + REVOKE_PATH,
        }
        values.update(overrides)
        if "client_secrets" not in values:
            values["client_secrets"] = self.oauth.write_client_secrets(folder)
        return self.settings(None, **values)

    # faults
    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        html: bool = False,
        message: str | None = None,
        retry_after: float | str | None = None,
    ) -> None:
        """Answer the next `times` Sheets requests with an error (JSON envelope or HTML page)."""
        self.queue(*[Fault(status, 0.0, html, message, retry_after)] * times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` Sheets requests for `seconds` before answering them."""
        self.queue(*[Fault(None, seconds)] * times)

    def queue(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (401 until refreshed)."""
        with self._lock:
            for token, (email, scopes, _) in list(self._tokens.items()):
                self._tokens[token] = (email, scopes, 0.0)

    def expire_tokens_after(self, requests: int) -> None:
        """Expire every token once `requests` more Sheets requests have been answered."""
        with self._lock:
            self._expire_countdown = requests

    def revoke_key(self, email: str = DEFAULT_EMAIL) -> None:
        """The key was deleted in the Cloud console: its JWTs are refused."""
        with self._lock:
            self._accounts[email].revoked = True

    # what happened
    @property
    def sheets_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_sheets]

    @property
    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/token"]

    # serving (called from the handler threads)
    def serves(self, path: str) -> bool:
        """Whether `path` is an API route of this fake (a subclass adding an API extends it)."""
        return path.startswith("/v4/spreadsheets/")

    def answer_api(
        self, path: str, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """The answer to a GET of a path `serves` accepts (a subclass dispatches its own)."""
        return self.answer_sheets(path, query, authorization)

    def account_of(self, authorization: str | None) -> tuple[str, set[str]] | None:
        """(email, scopes) of a live access token in an Authorization header, else None."""
        with self._lock:
            token = (authorization or "").removeprefix("Bearer ").strip()
            email, scopes, expiry = self._tokens.get(token, ("", set(), 0.0))
        if not email or expiry <= time.time():
            return None
        return email, scopes

    def answer_token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def refuse(error: str, description: str) -> tuple[int, dict[str, Any]]:
            return 400, {"error": error, "error_description": description}

        if form.get("grant_type") != [JWT_BEARER]:
            return refuse("unsupported_grant_type", "Invalid grant_type: ")
        try:
            head_b64, body_b64, sig_b64 = form["assertion"][0].split(".")
            head = json.loads(_b64decode(head_b64))
            claims = json.loads(_b64decode(body_b64))
            signature = _b64decode(sig_b64)
        except (KeyError, ValueError):
            return refuse("invalid_grant", "Invalid JWT: malformed assertion.")
        with self._lock:
            account = self._accounts.get(claims.get("iss", ""))
        if account is None or head.get("kid") != account.key_id:
            return refuse("invalid_grant", "Invalid grant: account not found")
        if head.get("alg") != "RS256":
            return refuse("invalid_grant", "Invalid JWT: unsupported signing algorithm.")
        try:
            account.public_key.verify(
                signature, f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return refuse("invalid_grant", "Invalid JWT Signature.")
        if account.revoked:
            return refuse("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != TOKEN_AUDIENCE:
            return refuse("invalid_grant", "Invalid JWT: Failed audience check.")
        now = time.time()
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0)):
            return refuse(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes:
            return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (account.email, scopes, now + self.token_lifetime)
        body = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return 200, body

    def issue_token(self, email: str, scopes: set[str]) -> str:
        """A new access token for `email` with `scopes`, live for `token_lifetime` seconds."""
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (email, set(scopes), time.time() + self.token_lifetime)
        return token

    def forget_tokens(self, tokens: Iterable[str]) -> None:
        """These access tokens were revoked: the APIs answer 401 to them from now on."""
        with self._lock:
            for token in tokens:
                self._tokens.pop(token, None)

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def sheets_answered(self) -> None:
        with self._lock:
            if self._expire_countdown is not None:
                self._expire_countdown -= 1
                if self._expire_countdown <= 0:
                    self._expire_countdown = None
                    self.expire_tokens()

    def answer_sheets(
        self, path: str, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            token = (authorization or "").removeprefix("Bearer ").strip()
            email, scopes, expiry = self._tokens.get(token, ("", set(), 0.0))
        if not email or expiry <= time.time():
            return envelope(401)
        if not scopes & READ_SCOPES:
            return envelope(403, "Request had insufficient authentication scopes.")
        rest = path.removeprefix("/v4/spreadsheets/")
        key, _, tail = rest.partition("/")
        method = ""
        if ":" in key:
            key, method = key.split(":", 1)
        with self._lock:
            sheet = self.spreadsheets.get(key)
        if sheet is None:
            return envelope(404)
        if not sheet.shared:
            return envelope(403)
        value_option = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        date_option = query.get("dateTimeRenderOption", ["SERIAL_NUMBER"])[0]
        try:
            if not tail and not method:
                data = sheet.metadata()
                if "fields" in query:
                    data = pick(data, field_paths(query["fields"][0]))
                return 200, data
            if tail.startswith("values/"):
                return 200, sheet.values(tail[len("values/") :], value_option, date_option)
            if tail == "values:batchGet":
                ranges = query.get("ranges", [])
                answer: dict[str, Any] = {"spreadsheetId": key}
                if ranges:
                    answer["valueRanges"] = [
                        sheet.values(r, value_option, date_option) for r in ranges
                    ]
                return 200, answer
        except RangeError as err:
            text = str(err)
            message = text if text.startswith("Range (") else f"Unable to parse range: {text}"
            return envelope(400, message)
        return envelope(404)


def envelope(code: int, message: str | None = None) -> tuple[int, dict[str, Any]]:
    """Google's JSON error body for an HTTP status."""
    status, default = STATUS.get(code, ("UNKNOWN", "Unknown error."))
    return code, {"error": {"code": code, "message": message or default, "status": status}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms stalls
    server_version = "ESF"
    sys_version = ""
    fake: FakeGoogle

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def _answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(data, indent=2, ensure_ascii=False).encode()
        self._answer(status, body, "application/json; charset=UTF-8", extra or {})

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == "/token" and method == "POST":
            form = parse_qs(body.decode())
            extra = {"Cache-Control": "no-store"}
            if form.get("grant_type") in (["authorization_code"], ["refresh_token"]):
                status, data, extra = fake.oauth.token(form, self.headers.get("Authorization"))
            else:
                status, data = fake.answer_token(form)
            with fake._lock:
                fake.requests.append(Recorded(method, path, query, status))
            self._json(status, data, extra)
            return
        if path in (AUTH_PATH, REVOKE_PATH):
            if path == AUTH_PATH and method == "GET":
                status, page, extra = fake.oauth.authorize(query)
                with fake._lock:
                    fake.requests.append(Recorded(method, path, {}, status))
                self._answer(status, page.encode(), "text/html; charset=utf-8", extra)
                return
            if path == REVOKE_PATH and method == "POST":
                form = {**query, **parse_qs(body.decode())}
                status, data, extra = fake.oauth.revoke(form)
                with fake._lock:
                    fake.requests.append(Recorded(method, path, {}, status))
                self._json(status, data, extra)
                return
        if not fake.serves(path) or method != "GET":
            status, data = envelope(404)
            with fake._lock:
                fake.requests.append(Recorded(method, path, query, status))
            self._json(status, data)
            return
        fault = fake.next_fault()
        status, data, extra, html = 0, None, {}, False
        if fault is not None:
            if fault.status is not None:
                status, data = envelope(fault.status, fault.message)
                html = fault.html
                if fault.retry_after is not None:
                    extra["Retry-After"] = str(fault.retry_after)
        if data is None:
            status, data = fake.answer_api(path, query, self.headers.get("Authorization"))
            if status == 401:
                extra["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        with fake._lock:
            fake.requests.append(Recorded(method, path, query, status))
        fake.sheets_answered()
        if fault is not None and fault.delay:
            fake._stopping.wait(fault.delay)  # recorded on arrival, answered late
        if html:
            page = HTML_ERROR.format(code=status).encode()
            self._answer(status, page, "text/html; charset=UTF-8", extra)
        else:
            self._json(status, data, extra)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")


# -- pytest fixtures ----------------------------------------------------------------------------


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    """A started FakeGoogle; stopped after the test."""
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def service_account_key(fake_google: FakeGoogle, tmp_path: Path) -> Path:
    """A service-account JSON key registered with `fake_google`."""
    return fake_google.write_key(tmp_path)


@pytest.fixture
def google_settings(fake_google: FakeGoogle, service_account_key: Path) -> Google:
    """`Google` settings for `fake_google`: 2 s timeout, 5 attempts, 60 s retry budget."""
    return fake_google.settings(service_account_key)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries of sync.sources.google wait no real time; the list collects the waits."""
    from sync.sources import google

    waits: list[float] = []
    monkeypatch.setattr(google, "_sleep", waits.append)
    return waits
