"""`tpd-programs login` and `logout`: signing in to Google as a staff member (auth = "user").

`Login` runs Google's OAuth flow for installed apps through google-auth-oauthlib's `Flow`:
an authorization address with a PKCE challenge (S256), `access_type=offline` so Google gives
a refresh token, and `prompt=consent` so it gives one even to an account that allowed the
toolkit before; a listener on a loopback port (127.0.0.1) takes Google's redirect with the
code, the state is checked, and the code is exchanged, with the PKCE verifier, at the token
endpoint. The scopes are the smallest read-only ones the sources need, plus `openid` and
`userinfo.email` so the answer names the account (`sync.sources.googleauth`). The sign-in is
saved to `google.token`, readable by its owner only.

The module neither prints nor prompts. The CLI opens the browser at `Login.url`, or shows it
(`--no-browser`) and hands a pasted redirect address to `Login.offer`; `Login.wait` returns
when either the browser reached the listener or a good address was pasted.

`logout` revokes the refresh token at `google.revoke_endpoint` (which ends the toolkit's
access to the account) and deletes the file; if Google cannot be reached nothing is deleted.

requests-oauthlib logs request bodies and token answers at DEBUG (client secret, code,
tokens), so its loggers and oauthlib's are held at WARNING here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error

from sync.config.google import Google
from sync.errors import ConfigError, SigninError, SourceError
from sync.sources import googleauth
from sync.state import files

log = logging.getLogger(__name__)
for _name in ("requests_oauthlib", "oauthlib"):  # their DEBUG lines carry secrets and tokens
    logging.getLogger(_name).setLevel(logging.WARNING)

REDIRECT_HOST = "127.0.0.1"  # a loopback IP literal, as RFC 8252 and Google's desktop guide say
WAIT_SECONDS = 600.0
PERMISSIONS_PAGE = "https://myaccount.google.com/permissions"
REQUIRED = (googleauth.SHEETS, googleauth.FORMS_RESPONSES, googleauth.FORMS_BODY)
_DONE_PAGE = ("<!DOCTYPE html><meta charset=utf-8><title>tpd-programs</title>"
              "<p>{text}</p><p>You can close this window and go back to the terminal.</p>")


@dataclass(frozen=True)
class SignedIn:
    """A finished login: whom Google named, and where the sign-in was saved."""

    account: str | None
    token: Path

    def render(self) -> str:
        who = self.account or "your Google account (Google did not say which)"
        return (f"Signed in to Google as {who}.\n"
                f"The sign-in is saved in {self.token} (readable by you only). Scheduled runs "
                "refresh it by themselves; `tpd-programs logout` ends it.\n"
                "Next: tpd-programs check")


def _user_settings(google: Google, command: str) -> Path:
    if google.auth != "user" or google.token is None:
        raise ConfigError(f"google.auth is {google.auth!r}: `tpd-programs {command}` is for "
                          "signing in as yourself; set auth = \"user\" and client_secrets in "
                          "the [google] table first (docs/setup.md)")
    return google.token


class Login:
    """One sign-in in progress: `url` to open, a listener on a loopback port for the answer.

    Use as a context manager (the listener closes on exit); `port` 0 takes any free port.
    """

    def __init__(self, google: Google, *, port: int = 0) -> None:
        self.token_path = _user_settings(google, "login")
        self.timeout = google.timeout_seconds
        self.client = googleauth.read_client(google)
        config = {"installed": {
            "client_id": self.client.client_id, "client_secret": self.client.client_secret,
            "auth_uri": google.auth_endpoint, "token_uri": google.token_endpoint}}
        self.flow = Flow.from_client_config(config, scopes=list(googleauth.USER_SCOPES))
        handler = type("Handler", (_RedirectHandler,), {"login": self})
        try:
            self._server = ThreadingHTTPServer((REDIRECT_HOST, port), handler)
        except OSError as err:
            raise SigninError(f"cannot listen on {REDIRECT_HOST} port {port} for Google's answer "
                              f"({err.strerror or err}); choose another with --port") from None
        self._server.daemon_threads = True
        self.redirect_uri = f"http://{REDIRECT_HOST}:{self._server.server_address[1]}/"
        self.flow.redirect_uri = self.redirect_uri
        try:
            self.url, self.state = self.flow.authorization_url(
                access_type="offline", prompt="consent")
        except InsecureTransportError:
            self._server.server_close()
            raise ConfigError("google.auth_endpoint: must be an https address") from None
        self._answer: dict[str, str] | None = None
        self._arrived = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def __enter__(self) -> Login:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def instructions(self, *, browser: bool) -> str:
        """What the person at the terminal should do."""
        if browser:
            return (f"Opening a browser to sign in to Google. If none opens, visit:\n\n"
                    f"  {self.url}\n\nWaiting...")
        return (f"Open this address in a browser on any computer and sign in with the Google "
                f"account that can open the forms:\n\n  {self.url}\n\nAfter you choose Allow, "
                f"the browser goes to {self.redirect_uri}?... If that page does not load (the "
                "browser is on another computer), copy the whole address from the browser's "
                "address bar, paste it here and press Enter. Waiting...")

    def offer(self, address: str) -> str | None:
        """A redirect address pasted from the browser; None if taken, else what is wrong."""
        text = address.strip()
        if not text:
            return "nothing was pasted"
        query = parse_qs(urlsplit(text).query)
        answer = {k: v[0] for k, v in query.items() if v}
        if "code" not in answer and "error" not in answer:
            return ("that is not the address Google sent the browser to: paste the whole "
                    f"address from the address bar, starting {self.redirect_uri}?")
        return self._take(answer)

    def _take(self, answer: dict[str, str]) -> str | None:
        if answer.get("state") != self.state:
            return ("that answer belongs to another sign-in (its state does not match): use "
                    "the address this login printed")
        with self._lock:
            if self._answer is None:
                self._answer = answer
                self._arrived.set()
        return None

    def wait(self, timeout: float = WAIT_SECONDS) -> SignedIn:
        """Wait for Google's answer, exchange the code and save the sign-in."""
        if not self._arrived.wait(timeout):
            raise SigninError(f"no answer from the browser within {timeout / 60:g} minutes; "
                              "run `tpd-programs login` again")
        assert self._answer is not None
        if "error" in self._answer:
            error = self._answer["error"]
            if error == "access_denied":
                raise SigninError("Google sign-in was cancelled (access was not allowed); run "
                                  "`tpd-programs login` again and choose Allow")
            raise SigninError(f"Google refused the sign-in ({error}); check the OAuth client "
                              "and consent screen as docs/setup.md says, then run "
                              "`tpd-programs login` again")
        return self._exchange(self._answer["code"])

    def _exchange(self, code: str) -> SignedIn:
        try:
            self.flow.fetch_token(code=code, timeout=self.timeout)
        except Warning as changed:  # oauthlib: Google granted other scopes than were asked
            granted = set(getattr(changed, "new_scope", None) or ())
            raise _not_granted([s for s in googleauth.USER_SCOPES if s not in granted]) from None
        except InsecureTransportError:
            raise ConfigError("google.token_endpoint: must be an https address") from None
        except OAuth2Error as err:
            raise SigninError(f"Google refused to complete the sign-in ({err.error}: "
                              f"{err.description}); run `tpd-programs login` again") from None
        except requests.RequestException as err:
            raise SourceError(f"could not reach Google to complete the sign-in "
                              f"({type(err).__name__}); check the network and run "
                              "`tpd-programs login` again") from None
        creds: Any = self.flow.credentials
        granted = tuple(creds.granted_scopes or googleauth.USER_SCOPES)
        missing = [s for s in REQUIRED if s not in granted]
        if missing:
            raise _not_granted(missing)
        if not creds.refresh_token:
            raise SigninError("Google sent no refresh token, so scheduled runs could not sign "
                              f"in; remove the toolkit's access at {PERMISSIONS_PAGE}, then run "
                              "`tpd-programs login` again")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        account = googleauth.email_in(creds.id_token)
        googleauth.write_token(self.token_path, googleauth.SavedSignin(
            refresh_token=creds.refresh_token, client_id=self.client.client_id,
            scopes=granted, account=account, token=creds.token, expiry=creds.expiry,
            signed_in=now, refreshed=now))
        log.info("signed in to Google; the sign-in is saved in %s", self.token_path.name)
        return SignedIn(account, self.token_path)


def _not_granted(missing: list[str]) -> SigninError:
    what = ", ".join(googleauth.SCOPE_NAMES.get(s, s) for s in missing)
    return SigninError(f"Google's consent screen was answered without allowing the toolkit to "
                       f"{what}; run `tpd-programs login` again and leave every box ticked")


class _RedirectHandler(BaseHTTPRequestHandler):
    """Takes Google's redirect to the loopback port; anything else gets a 404."""

    login: Login
    server_version = "tpd-programs"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds the code

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        answer = {k: v[0] for k, v in query.items() if v}
        if "code" not in answer and "error" not in answer:
            self._page(404, "This is tpd-programs waiting for Google's sign-in answer.")
            return
        problem = self.login._take(answer)
        if problem is not None:
            self._page(400, f"Not accepted: {problem}.")
        elif "error" in answer:
            self._page(200, "The sign-in was not completed. The terminal says what to do next.")
        else:
            self._page(200, "Signed in: tpd-programs is saving the sign-in.")

    def _page(self, status: int, text: str) -> None:
        body = _DONE_PAGE.format(text=text).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


# -- logout ---------------------------------------------------------------------------------------


def logout(google: Google) -> str:
    """Revoke the saved sign-in at Google and delete its file; what happened, for the CLI."""
    path = _user_settings(google, "logout")
    if not path.exists():
        return f"Not signed in: there is no saved Google sign-in at {path}."
    saved = googleauth.read_token(path)
    try:
        response = requests.post(google.revoke_endpoint, data={"token": saved.refresh_token},
                                 timeout=google.timeout_seconds)
    except requests.RequestException as err:
        raise SourceError(f"{path}: could not reach Google to revoke the sign-in "
                          f"({type(err).__name__}); nothing was deleted. Run `tpd-programs "
                          f"logout` again later, or remove the toolkit's access at "
                          f"{PERMISSIONS_PAGE} and delete the file") from None
    who = saved.account or "the saved account"
    if response.ok:
        files.delete(path)
        log.info("Google sign-in revoked; %s deleted", path.name)
        return f"Signed out: Google revoked the sign-in of {who}, and {path} was deleted."
    if response.status_code == 400 and _error_code(response) in ("invalid_token", "invalid_grant"):
        files.delete(path)
        log.info("Google sign-in had already ended; %s deleted", path.name)
        return (f"Signed out: Google had already ended the sign-in of {who} (revoked or "
                f"expired), and {path} was deleted.")
    raise SourceError(f"{path}: Google did not revoke the sign-in (answered "
                      f"{response.status_code}); nothing was deleted. Run `tpd-programs logout` "
                      f"again later, or remove the toolkit's access at {PERMISSIONS_PAGE} and "
                      "delete the file")


def _error_code(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""
