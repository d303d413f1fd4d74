"""A real SMTP server on 127.0.0.1 (aiosmtpd), optionally with STARTTLS and a login.

    with LoopbackSmtp() as server: ...                      # plain, no login
    with LoopbackSmtp(tls=cert, users={"u": "p"}) as s: ... # STARTTLS required, then AUTH

`server.messages` collects every accepted message as (envelope sender, recipients,
`email.message.EmailMessage`), and `server.raw` its bytes as they arrived. A server made with
`refuse_to={addresses}` or `refuse_text="..."` answers a message to one of those recipients,
or one whose bytes hold that text, with a permanent "554" (as a content filter does; another
reply with `refuse_reply=`; with `hang_up=True` it then closes the connection) and counts it
in `server.refused`. Lines longer than 1,000 bytes get aiosmtpd's own "500 Line too long".
`self_signed(folder)` writes a certificate for 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import logging
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# A refused handshake is expected in some tests; the server's own traceback of it, logged
# from its thread (at times after the test's log capture has closed), is noise. Silenced for
# the whole test process, not per server: servers overlap, and one restoring the level while
# another still runs let the traceback through.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


def self_signed(folder: Path, host: str = "127.0.0.1") -> Certificate:
    """A certificate and key for `host`, valid for a day, signed by itself."""
    import ipaddress

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificate(folder / "smtp-cert.pem", folder / "smtp-key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()))
    return paths


class _Handler:
    def __init__(self, server: LoopbackSmtp):
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        text = self.server.refuse_text
        if (set(envelope.rcpt_tos) & self.server.refuse_to
                or (text is not None and text.encode() in raw)):
            self.server.refused += 1
            if self.server.hang_up:  # right after the reply, as some servers do
                asyncio.get_running_loop().call_soon(smtp.transport.close)
            return self.server.refuse_reply
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.server.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        self.server.raw.append(raw)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSmtp:
    def __init__(self, tls: Certificate | None = None, users: dict[str, str] | None = None,
                 refuse_to: Iterable[str] = (), refuse_text: str | None = None,
                 refuse_reply: str = "554 5.7.1 Message content rejected", hang_up: bool = False):
        self.messages: list[tuple[str, list[str], Any]] = []
        self.raw: list[bytes] = []
        self.refuse_to, self.refuse_text, self.refused = set(refuse_to), refuse_text, 0
        self.refuse_reply, self.hang_up = refuse_reply, hang_up
        self.logins: list[str] = []
        self.port = _free_port()
        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert, tls.key)
            kwargs.update(tls_context=context, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=tls is not None)
        self.users = users
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and self.users is not None:
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> LoopbackSmtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
