"""A loopback fake of Google's OAuth endpoints for a user sign-in, served by `FakeGoogle`.

Beside the service-account token exchange (`FakeGoogle.answer_token`), on the same port:

    GET  /o/oauth2/auth   the authorization endpoint: checks the client, the loopback
                          redirect_uri, the scopes and the PKCE challenge (S256 only), "signs in"
                          `user` and answers 302 to the redirect_uri with `state` and a `code`
                          (or `error=access_denied` when `deny` is set)
    POST /token           grant_type=authorization_code: client (Basic or body), code, same
                          redirect_uri, and the PKCE verifier whose SHA-256 is the challenge;
                          grant_type=refresh_token: client and a live refresh token
    POST /revoke          a refresh or access token (form body or query); revoking a refresh
                          token ends its grant and every access token issued from it

Answers have Google's shapes and error texts ("invalid_grant: Token has been expired or
revoked."). Access tokens go into `FakeGoogle`'s token table with the user's email and the
granted scopes, so the fake Sheets and Forms APIs accept them like a service account's.
With `openid` granted, token answers carry an ID token (a JWT signed with the fake's key)
whose `email` claim is the user.

Knobs: `withhold` (scopes the user unticks on the consent screen), `deny`, `revoke_all()`
(the user removes the app at myaccount.google.com), `expire_refresh_tokens()` (7 days of an
"External" app in "Testing" have passed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AUTH_PATH = "/o/oauth2/auth"
REVOKE_PATH = "/revoke"
USER = "coordinator@torrance.example"
KNOWN_SCOPES = {
    "openid", "email", "profile",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/forms.body.readonly",
    "https://www.googleapis.com/auth/forms.responses.readonly",
    "https://www.googleapis.com/auth/drive.readonly",
}
EXPIRED = "Token has been expired or revoked."
Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str
    user: str
    expires: float
    used: bool = False


@dataclass
class _Grant:
    client_id: str
    user: str
    scopes: tuple[str, ...]
    revoked: bool = False
    access_tokens: list[str] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class FakeOAuth:
    """The user sign-in side of the fake; `FakeGoogle.oauth` holds one."""

    def __init__(self, issue: Callable[[str, set[str]], str], forget: Callable[[list[str]], None],
                 key: Callable[[], rsa.RSAPrivateKey], lifetime: Callable[[], int]) -> None:
        self._issue, self._forget, self._key, self._lifetime = issue, forget, key, lifetime
        self.clients: dict[str, str] = {}  # client_id -> secret
        self.user = USER
        self.withhold: set[str] = set()
        self.deny = False
        self.authorizations: list[dict[str, str]] = []  # the query of each authorization request
        self.exchanges: list[dict[str, str]] = []  # the form of each code exchange
        self.refreshes = 0
        self.revocations: list[str] = []  # "refresh" / "access" / "unknown"
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, _Grant] = {}  # refresh token -> grant
        self._lock = threading.RLock()

    # -- seeding --------------------------------------------------------------------------------

    def add_client(self) -> tuple[str, str]:
        client_id = f"{secrets.randbelow(10**12):012d}-fake.apps.googleusercontent.com"
        secret = "GOCSPX-" + secrets.token_urlsafe(21)
        with self._lock:
            self.clients[client_id] = secret
        return client_id, secret

    def write_client_secrets(self, folder: Path, *, kind: str = "installed",
                             name: str = "client_secret.json") -> Path:
        """The JSON the Cloud console downloads for a "Desktop app" client."""
        client_id, secret = self.add_client()
        info = {kind: {
            "client_id": client_id, "project_id": "tpd-programs",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": secret, "redirect_uris": ["http://localhost"]}}
        path = Path(folder) / name
        path.write_text(json.dumps(info), encoding="utf-8")
        return path

    # -- faults ---------------------------------------------------------------------------------

    def revoke_all(self) -> None:
        """The user removed the toolkit's access in their Google account."""
        with self._lock:
            for grant in self._grants.values():
                self._end(grant)

    expire_refresh_tokens = revoke_all  # to the client, 7 days of "Testing" end the same way

    @property
    def live_refresh_tokens(self) -> int:
        with self._lock:
            return sum(not g.revoked for g in self._grants.values())

    def _end(self, grant: _Grant) -> None:
        grant.revoked = True
        self._forget(grant.access_tokens)

    # -- the authorization endpoint -------------------------------------------------------------

    def authorize(self, query: dict[str, list[str]]) -> tuple[int, str, dict[str, str]]:
        """(status, HTML page, headers): a 302 to the redirect_uri, or Google's error page."""
        q = {k: v[0] for k, v in query.items()}
        with self._lock:
            self.authorizations.append(q)
            known = q.get("client_id") in self.clients
        if not known:
            return 401, "<p>Error 401: invalid_client</p><p>The OAuth client was not found.</p>", {}
        redirect = q.get("redirect_uri", "")
        parts = urlsplit(redirect)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return 400, "<p>Error 400: redirect_uri_mismatch</p>", {}
        if q.get("response_type") != "code":
            return 400, "<p>Error 400: unsupported_response_type</p>", {}
        scopes = tuple(q.get("scope", "").split())
        if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            return 400, "<p>Error 400: invalid_scope</p>", {}
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
            return 400, "<p>Error 400: invalid_request</p><p>PKCE (S256) is required here.</p>", {}
        back = {"state": q.get("state", "")}
        if self.deny:
            back["error"] = "access_denied"
        else:
            granted = tuple(s for s in scopes if s not in self.withhold)
            code = "4/0A" + secrets.token_urlsafe(40)
            with self._lock:
                self._codes[code] = _Code(q["client_id"], redirect, granted,
                                          q["code_challenge"], self.user, time.time() + 600)
            back.update(code=code, scope=" ".join(granted), authuser="0", prompt="consent")
        sep = "&" if parts.query else "?"
        return 302, "", {"Location": redirect + sep + urlencode(back)}

    # -- the token endpoint ---------------------------------------------------------------------

    def token(self, form: dict[str, list[str]], authorization: str | None) -> Answer:
        f = {k: v[0] for k, v in form.items()}
        client_id, secret = f.get("client_id"), f.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            raw = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = (unquote(part) for part in raw.partition(":"))
        with self._lock:
            expected = self.clients.get(client_id or "")
        if expected is None:
            return _error(401, "invalid_client", "The OAuth client was not found.")
        if secret != expected:
            return _error(401, "invalid_client", "Unauthorized")
        if f.get("grant_type") == "authorization_code":
            return self._exchange(f, client_id or "")
        return self._refresh(f, client_id or "")

    def _exchange(self, f: dict[str, str], client_id: str) -> Answer:
        with self._lock:
            self.exchanges.append(f)
            code = self._codes.get(f.get("code", ""))
            if code is None or code.used or code.expires < time.time() or code.client_id != client_id:
                return _error(400, "invalid_grant", "Malformed auth code.")
            code.used = True
        if f.get("redirect_uri") != code.redirect_uri:
            return _error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = f.get("code_verifier")
        if not verifier:
            return _error(400, "invalid_grant", "Missing code verifier.")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != code.challenge:
            return _error(400, "invalid_grant", "Invalid code verifier.")
        refresh = "1//0g" + secrets.token_urlsafe(60)
        grant = _Grant(client_id, code.user, code.scopes)
        with self._lock:
            self._grants[refresh] = grant
        body = self._access(grant, code.scopes)
        body["refresh_token"] = refresh
        return 200, body, {"Cache-Control": "no-store"}

    def _refresh(self, f: dict[str, str], client_id: str) -> Answer:
        with self._lock:
            self.refreshes += 1
            grant = self._grants.get(f.get("refresh_token", ""))
        if grant is None or grant.revoked or grant.client_id != client_id:
            return _error(400, "invalid_grant", EXPIRED)
        asked = tuple(f.get("scope", "").split()) or grant.scopes
        if any(s not in grant.scopes for s in asked):
            return _error(400, "invalid_scope", "Bad Request")
        return 200, self._access(grant, asked), {"Cache-Control": "no-store"}

    def _access(self, grant: _Grant, scopes: tuple[str, ...]) -> dict[str, Any]:
        token = self._issue(grant.user, set(scopes))
        with self._lock:
            grant.access_tokens.append(token)
        lifetime = self._lifetime()
        body: dict[str, Any] = {"access_token": token, "expires_in": lifetime,
                                "scope": " ".join(scopes), "token_type": "Bearer"}
        if "openid" in scopes:
            body["id_token"] = self._id_token(grant, lifetime)
        return body

    def _id_token(self, grant: _Grant, lifetime: int) -> str:
        now = int(time.time())
        head = {"alg": "RS256", "kid": "fake-key", "typ": "JWT"}
        claims: dict[str, Any] = {"iss": "https://accounts.google.com", "azp": grant.client_id,
                                  "aud": grant.client_id, "sub": "110248495921238986420",
                                  "iat": now, "exp": now + lifetime}
        if "https://www.googleapis.com/auth/userinfo.email" in grant.scopes or "email" in grant.scopes:
            claims.update(email=grant.user, email_verified=True)
        signing = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._key().sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64(signature)}"

    # -- the revocation endpoint ----------------------------------------------------------------

    def revoke(self, form: dict[str, list[str]]) -> Answer:
        token = (form.get("token") or [""])[0]
        with self._lock:
            grant = self._grants.get(token)
            if grant is not None and not grant.revoked:
                self.revocations.append("refresh")
                self._end(grant)
                return 200, {}, {}
            for grant in self._grants.values():
                if token in grant.access_tokens and not grant.revoked:
                    self.revocations.append("access")
                    self._end(grant)
                    return 200, {}, {}
            self.revocations.append("unknown")
        return _error(400, "invalid_token", "Token expired or revoked")


def _error(status: int, error: str, description: str) -> Answer:
    return status, {"error": error, "error_description": description}, {"Cache-Control": "no-store"}
