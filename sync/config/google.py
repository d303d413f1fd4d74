"""The `[google]` table of the configuration: how the toolkit signs in to Google, and where.

Three ways to sign in (`auth`):

- `service_account` (the default): a service account's JSON key (`credentials`, or the
  GOOGLE_APPLICATION_CREDENTIALS environment variable).
- `user`: a staff member's own Google account, signed in once with `tpd-programs login`
  through the department's OAuth client (`client_secrets`, the JSON downloaded from the
  Cloud console). The refresh token lands in `token`, a file only its owner can read, and
  scheduled runs refresh it unattended.
- `adc`: Application Default Credentials (`google.auth.default()`), e.g. after
  `gcloud auth application-default login` with the scopes the sources need.

`auth_endpoint`, `token_endpoint` and `revoke_endpoint` exist for the tests, which point them
at a loopback fake of Google's OAuth server; a department never sets them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sync.config.tomltable import TableReader

AUTH_MODES = ("service_account", "user", "adc")
AUTH_ENDPOINT = "https://accounts.google.com/o/oauth2/auth"
TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"
REVOKE_ENDPOINT = "https://oauth2.googleapis.com/revoke"
TOKEN_FILE = "google-token.json"  # beside the configuration file unless `token` says otherwise

_KEYS = {"auth", "credentials", "client_secrets", "token", "api_endpoint", "forms_endpoint",
         "auth_endpoint", "token_endpoint", "revoke_endpoint", "timeout_seconds",
         "retry_seconds", "max_attempts"}


@dataclass(frozen=True)
class Google:
    credentials: Path | None
    api_endpoint: str = "https://sheets.googleapis.com"
    forms_endpoint: str = "https://forms.googleapis.com"
    timeout_seconds: float = 30.0
    retry_seconds: float = 120.0  # total time spent retrying 429/5xx before giving up
    max_attempts: int = 6
    auth: str = "service_account"  # service_account | user | adc
    client_secrets: Path | None = None  # auth = "user": the OAuth client's JSON
    token: Path | None = None  # auth = "user": the saved sign-in (owner-only)
    auth_endpoint: str = AUTH_ENDPOINT  # tests only: a loopback fake of Google's OAuth server
    token_endpoint: str = TOKEN_ENDPOINT
    revoke_endpoint: str = REVOKE_ENDPOINT


def read_google(r: TableReader) -> Google:
    """The `[google]` table, validated; every error names the key."""
    r.only(_KEYS)
    auth = r.text("auth", "service_account").strip()
    if auth not in AUTH_MODES:
        raise r.fail("auth", f"must be service_account, user or adc, got {auth!r}")
    if auth != "service_account" and "credentials" in r.table:
        raise r.fail("credentials", f"is the service account's key, which auth = {auth!r} does "
                     "not use: remove the line, or set auth = \"service_account\"")
    for name in ("client_secrets", "token"):
        if auth != "user" and name in r.table:
            raise r.fail(name, f"is used only with auth = \"user\" (auth is {auth!r}): remove "
                         "the line, or set auth = \"user\"")
    creds = r.path_value("credentials", None)
    if auth == "service_account" and creds is None and os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        creds = Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]).expanduser()
    client_secrets = token = None
    if auth == "user":
        if "client_secrets" not in r.table:
            raise r.fail("client_secrets", "missing: auth = \"user\" needs the OAuth client's "
                         "JSON file (Cloud console: APIs & Services > Credentials > your Desktop "
                         "app client > Download JSON), e.g. client_secrets = "
                         "\"client_secret.json\"")
        client_secrets = r.path_value("client_secrets")
        token = r.path_value("token", str(r.path.parent / TOKEN_FILE))
    return Google(
        credentials=creds,
        api_endpoint=_url(r, "api_endpoint", "https://sheets.googleapis.com"),
        forms_endpoint=_url(r, "forms_endpoint", "https://forms.googleapis.com"),
        timeout_seconds=float(r.get("timeout_seconds", (int, float), 30.0)),
        retry_seconds=float(r.get("retry_seconds", (int, float), 120.0)),
        max_attempts=r.number("max_attempts", 6, minimum=1),
        auth=auth,
        client_secrets=client_secrets,
        token=token,
        auth_endpoint=_url(r, "auth_endpoint", AUTH_ENDPOINT),
        token_endpoint=_url(r, "token_endpoint", TOKEN_ENDPOINT),
        revoke_endpoint=_url(r, "revoke_endpoint", REVOKE_ENDPOINT),
    )


def _url(r: TableReader, name: str, default: str) -> str:
    value = r.text(name, default).rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise r.fail(name, f"must be an http(s) URL, got {value!r}")
    return value
