"""Who the toolkit reads Google as, when it is not a service account: a staff member's saved
sign-in (`auth = "user"`) or Application Default Credentials (`auth = "adc"`).

**The saved sign-in.** `tpd-programs login` (`sync.login`) asks Google, once, for a refresh
token of the department's OAuth client with the smallest read-only scopes the sources need,
plus `openid` and `userinfo.email`: with those two, Google's token answers carry an ID token
whose `email` claim names the account, so `check` can say who is signed in without another
request (and without one more endpoint to fake in the tests). The refresh token is written to
`google.token`, readable by its owner only, with the account, the scopes Google granted, and
the current access token and its expiry. Every run builds `Credentials` from that file and
the client's ID and secret (`google.client_secrets`); google-auth refreshes the access token
when it has expired (or Google answers 401), and each refresh is saved back with its time,
so a second API session of the same run, or the next run within the hour, needs no refresh
and `check` can tell when the sign-in was last used. The refresh token is never dropped: a
file is only ever replaced whole, by one that holds it, and a save that fails is logged and
skipped (the file on disk still signs in).

`Credentials.from_authorized_user_info` is not used: it always refreshes at Google's own
token address, while the token endpoint here is configurable for the loopback fake.

**A dead sign-in** (Google answers `invalid_grant`: revoked in the account's settings,
unused for six months, the password changed, or an "External" app left in "Testing" whose
tokens expire after 7 days) is one `SigninError` naming the file and `tpd-programs login`.

Log lines name files and counts; never a token, a secret or the account's address.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import google.auth
import google.oauth2.credentials
from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from sync.config.google import Google
from sync.errors import SigninError, SourceError
from sync.state import files

log = logging.getLogger(__name__)

SHEETS = "https://www.googleapis.com/auth/spreadsheets.readonly"
FORMS_RESPONSES = "https://www.googleapis.com/auth/forms.responses.readonly"
FORMS_BODY = "https://www.googleapis.com/auth/forms.body.readonly"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
# What `tpd-programs login` asks for: read the response sheets and the forms, and who you are.
USER_SCOPES = (SHEETS, FORMS_RESPONSES, FORMS_BODY, "openid", EMAIL)
SCOPE_NAMES = {SHEETS: "read Google Sheets", FORMS_RESPONSES: "read Google Forms responses",
               FORMS_BODY: "read Google Forms questions", "openid": "know who you are",
               EMAIL: "see your email address"}
TOKEN_TYPE = "tpd-programs Google sign-in"
LOGIN = "`tpd-programs login`"
TESTING_HINT = ("if this happens about a week after each login, the OAuth app is \"External\" "
                "and in \"Testing\" status, whose sign-ins Google ends after 7 days: see "
                "docs/setup.md (Google: your own account)")


# -- the saved sign-in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedSignin:
    """What `google.token` holds."""

    refresh_token: str = field(repr=False)
    client_id: str
    scopes: tuple[str, ...]
    account: str | None = None  # the email address Google's ID token named
    token: str | None = field(default=None, repr=False)  # the latest access token
    expiry: dt.datetime | None = None  # naive UTC, as google-auth keeps it
    signed_in: dt.datetime | None = None  # aware UTC
    refreshed: dt.datetime | None = None  # aware UTC: the latest new access token

    def missing(self, wanted: list[str] | tuple[str, ...]) -> list[str]:
        return [s for s in wanted if s not in self.scopes]


def read_token(path: Path) -> SavedSignin:
    """The sign-in saved at `path`, or a SigninError naming the file and the command."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SigninError(f"{path}: no Google sign-in saved here (google.token): run {LOGIN} "
                          "as the account that runs the toolkit") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not a text file"
        raise SigninError(f"{path}: cannot read the saved Google sign-in ({reason}); fix the "
                          f"file's permissions, or run {LOGIN} again") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("type") != TOKEN_TYPE:
            raise ValueError("not a sign-in file")
        return SavedSignin(
            refresh_token=_text(data["refresh_token"]),
            client_id=_text(data["client_id"]),
            scopes=tuple(_text(s) for s in data["scopes"]),
            account=data.get("account") or None,
            token=data.get("token") or None,
            expiry=_when(data.get("expiry"), aware=False),
            signed_in=_when(data.get("signed_in")),
            refreshed=_when(data.get("refreshed")),
        )
    except (ValueError, KeyError, TypeError):
        raise SigninError(f"{path}: not a Google sign-in saved by {LOGIN} (google.token); run "
                          f"{LOGIN} to make a new one") from None


def write_token(path: Path, saved: SavedSignin) -> None:
    """Replace `path` whole with `saved`, readable by its owner only (0600 where modes count).

    The new file is written beside it under a name of its own, flushed, then swapped in, so
    a reader sees the old file or the new one, and never a file without the refresh token.
    """
    if not saved.refresh_token:
        raise ValueError("a sign-in without a refresh token is never saved")
    data = {
        "type": TOKEN_TYPE,
        "account": saved.account,
        "client_id": saved.client_id,
        "scopes": list(saved.scopes),
        "refresh_token": saved.refresh_token,
        "token": saved.token,
        "expiry": _iso(saved.expiry.replace(tzinfo=dt.UTC) if saved.expiry else None),
        "signed_in": _iso(saved.signed_in),
        "refreshed": _iso(saved.refreshed),
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | files.O_BINARY, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(data, indent=2).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        if os.name != "nt":
            os.chmod(partial, 0o600)  # an existing partial file keeps its old mode otherwise
        files.replace(partial, path)
    except BaseException:
        files.discard(partial, "an unfinished sign-in file")
        raise


def email_in(id_token: str | None) -> str | None:
    """The `email` claim of an ID token Google's token endpoint sent us, else None.

    Its signature is not checked: it came straight from Google's token endpoint over TLS, in
    answer to a request carrying the client secret (OpenID Connect Core 3.1.3.7 lets TLS stand
    in for the signature then), and it is only shown to staff, never trusted for access.
    """
    if not id_token:
        return None
    try:
        claims = jwt.decode(id_token, verify=False)
    except (ValueError, TypeError, auth_exceptions.GoogleAuthError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return str(email) if email else None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected text")
    return value


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _when(text: Any, *, aware: bool = True) -> dt.datetime | None:
    if not text:
        return None
    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment if aware else moment.replace(tzinfo=None)


# -- the OAuth client ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """The department's OAuth client ("Desktop app"), from the JSON the Cloud console gives."""

    client_id: str
    client_secret: str = field(repr=False)


def read_client(google: Google) -> Client:
    """The OAuth client in `google.client_secrets`, or a SourceError naming the key."""
    path = google.client_secrets
    if path is None:
        raise SourceError("google.client_secrets is not set: auth = \"user\" needs the OAuth "
                          "client's JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path}: OAuth client file not found (google.client_secrets); "
                          "download it from the Cloud console (APIs & Services > Credentials)"
                          ) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "not a JSON file"
        raise SourceError(f"{path}: cannot read the OAuth client (google.client_secrets: "
                          f"{reason}); download its JSON again from the Cloud console") from None
    if isinstance(data, dict) and "web" in data:
        raise SourceError(f"{path}: this OAuth client is a \"Web application\" "
                          "(google.client_secrets); create one of type \"Desktop app\" and "
                          "download its JSON (docs/setup.md)")
    installed = data.get("installed") if isinstance(data, dict) else None
    if not isinstance(installed, dict) or not installed.get("client_id") \
            or not installed.get("client_secret"):
        raise SourceError(f"{path}: not an OAuth client JSON file (google.client_secrets); "
                          "download the \"Desktop app\" client's JSON from the Cloud console")
    return Client(str(installed["client_id"]), str(installed["client_secret"]))


# -- credentials for a run -----------------------------------------------------------------------


class SavingCredentials(google.oauth2.credentials.Credentials):
    """User credentials that save each new access token to the sign-in file."""

    def __init__(self, *args: Any, saved: SavedSignin, path: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved_signin = saved
        self.token_path = path

    def refresh(self, request: Any) -> None:
        super().refresh(request)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        account = email_in(self.id_token) or self.saved_signin.account
        read = self.saved_signin.refresh_token  # what this run read from the file
        saved = replace(self.saved_signin, refresh_token=self.refresh_token or
                        self.saved_signin.refresh_token, token=self.token, expiry=self.expiry,
                        refreshed=now, account=account)
        self.saved_signin = saved
        try:
            on_disk = read_token(self.token_path).refresh_token
        except SigninError:
            on_disk = None
        if on_disk != read:  # a login or logout since this run read the file
            log.info("%s: changed by a login or logout during this run; left as it is",
                     self.token_path.name)
            return
        try:
            write_token(self.token_path, saved)
        except OSError as err:
            log.warning("%s: the refreshed access token could not be saved (%s); the saved "
                        "sign-in still works", self.token_path.name, err.strerror or err)
        else:
            log.debug("%s: access token refreshed and saved", self.token_path.name)


def user_credentials(google: Google, scopes: list[str]) -> SavingCredentials:
    """Credentials of the sign-in saved in `google.token`, refreshed at `google.token_endpoint`."""
    assert google.token is not None, "auth = user always has a token path"
    saved = read_token(google.token)
    client = read_client(google)
    if saved.client_id != client.client_id:
        raise SigninError(f"{google.token}: this sign-in was made with another OAuth client than "
                          f"the one in {google.client_secrets} (google.client_secrets); run "
                          f"{LOGIN} again")
    missing = saved.missing(scopes)
    if missing:
        what = ", ".join(SCOPE_NAMES.get(s, s) for s in missing)
        raise SigninError(f"{google.token}: the saved Google sign-in does not allow the toolkit "
                          f"to {what}; run {LOGIN} again and leave every box ticked")
    return SavingCredentials(
        saved.token,
        refresh_token=saved.refresh_token,
        token_uri=google.token_endpoint,
        client_id=client.client_id,
        client_secret=client.client_secret,
        scopes=list(saved.scopes),  # every refresh keeps all of them: Sheets and Forms alike
        expiry=saved.expiry,
        saved=saved,
        path=google.token,
    )


def adc_credentials(scopes: list[str]) -> google.auth.credentials.Credentials:
    """Application Default Credentials with `scopes`, or a SourceError saying how to make them."""
    try:
        found, _project = google.auth.default(scopes=scopes)
    except auth_exceptions.DefaultCredentialsError as err:
        raise SourceError(f"google.auth = \"adc\": no Application Default Credentials were "
                          f"found ({short(err)}); run `gcloud auth application-default login` "
                          "with the scopes docs/setup.md lists, or set auth = \"user\" and run "
                          f"{LOGIN}") from None
    return found


def refused(google: Google, err: auth_exceptions.RefreshError) -> SourceError:
    """The message for Google refusing to refresh a user or ADC sign-in."""
    reason = short(err.args[0]) if err.args else short(err)
    data = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], dict) else {}
    code = str(data.get("error", "")) or reason.split(":")[0]
    if google.auth == "adc":
        return SourceError(f"google.auth = \"adc\": Google refused the Application Default "
                           f"Credentials ({reason}); run `gcloud auth application-default login` "
                           "again with the scopes docs/setup.md lists")
    if code in ("invalid_client", "unauthorized_client"):
        return SourceError(f"{google.client_secrets}: Google refused the OAuth client ({reason}) "
                           "(google.client_secrets): it may have been deleted or its secret "
                           f"reset; download its JSON again, then run {LOGIN}")
    if code == "invalid_scope":
        return SigninError(f"{google.token}: Google refused the saved sign-in's scopes "
                           f"({reason}); run {LOGIN} again")
    return SigninError(f"{google.token}: the Google sign-in has expired or been revoked "
                       f"({reason}); run {LOGIN} as the account that runs the toolkit to sign "
                       f"in again ({TESTING_HINT})")


def describe_adc(credentials: Any) -> str:
    """Who Application Default Credentials stand for, as far as they say without a request."""
    email = getattr(credentials, "service_account_email", None)
    if email and email != "default":
        return f"the service account {email}"
    email = email_in(getattr(credentials, "id_token", None))
    if email:
        return f"the Google account {email}"
    return "the Google account of the Application Default Credentials"


def short(err: object, limit: int = 200) -> str:
    """An error's text on one line, cut at `limit` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
