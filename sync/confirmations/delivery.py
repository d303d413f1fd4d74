"""Delivery: hand finished messages to the configured SMTP server, at a steady rate.

The only module that imports smtplib. One connection per run (`with Mailer(smtp) as m:`),
secured as `[smtp] security` says (starttls, ssl or none), logged in when a username is set,
never faster than `rate_per_minute`. Every error names the server.

A failure is either definite (the server said no: the message was not accepted) or
uncertain (the connection dropped or timed out after the message was handed over: it may
have been delivered). `Uncertain` marks the second kind. A definite one is temporary (a 4xx
reply: a later run may try again), refused for this message's recipients
(`RecipientsRefused`), or refused for good (`MessageRefused`: a 5xx reply to the message
itself, such as "line too long" or a content filter's; sending it again unchanged would be
refused again, but the next message may well go).

`send` calls its `started` callback after the rate limit's pause, immediately before the
transmission, so that a caller records a message as "possibly sent" only once it may be.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from types import TracebackType

from sync.config import Smtp
from sync.errors import DeliveryError

log = logging.getLogger(__name__)


class Uncertain(DeliveryError):
    """The message may or may not have reached the server."""


class RecipientsRefused(DeliveryError):
    """The server refused every recipient of this message; other messages may still go."""


class MessageRefused(DeliveryError):
    """The server refused this message for good (a 5xx reply to it); others may still go."""

    def __init__(self, message: str, reply: str):
        super().__init__(message)
        self.reply = reply  # "554 5.7.1 ...": the code and the server's text


class Mailer:
    """An open SMTP session that sends messages no faster than the configured rate."""

    def __init__(self, smtp: Smtp, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.smtp = smtp
        self.where = f"{smtp.host}:{smtp.port}"
        self.interval = 60.0 / smtp.rate_per_minute
        self.context = ssl_context
        self.clock, self.sleep = clock, sleep
        self.conn: smtplib.SMTP | None = None
        self.last: float | None = None
        self.sent = 0

    def __enter__(self) -> Mailer:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _context(self) -> ssl.SSLContext:
        if self.context is None:
            # Honours SSL_CERT_FILE / SSL_CERT_DIR for a server with a private certificate.
            self.context = ssl.create_default_context()
        return self.context

    def open(self) -> None:
        s = self.smtp
        if s.username and s.security == "none":
            raise DeliveryError(f"{self.where}: will not send the password for {s.username} over "
                                "an unencrypted connection; set smtp.security to starttls or ssl")
        if s.username and not s.password:
            name = s.password_env or "(smtp.password_env is not set)"
            raise DeliveryError(f"{self.where}: smtp.username is set but the password environment "
                                f"variable {name} is empty or not set")
        try:
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds,
                                                      context=self._context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            self.conn = conn
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise DeliveryError(f"{self.where}: the server does not offer STARTTLS; check "
                                        "smtp.port and smtp.security")
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password or "")
        except DeliveryError:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as err:
            self.close()
            raise DeliveryError(f"{self.where}: login as {s.username} refused ({err.smtp_code} "
                                f"{_text(err.smtp_error)}); check smtp.username and the password "
                                f"in {s.password_env}") from None
        except smtplib.SMTPNotSupportedError as err:
            self.close()
            raise DeliveryError(f"{self.where}: {err} Check smtp.security and smtp.username") from None
        except ssl.SSLError as err:
            self.close()
            raise DeliveryError(f"{self.where}: secure connection failed ({err.reason or err}); "
                                "check smtp.security and the server's certificate") from None
        except (smtplib.SMTPException, OSError) as err:
            self.close()
            raise DeliveryError(f"{self.where}: cannot connect ({_describe(err)}); check "
                                "smtp.host, smtp.port and smtp.security") from None
        log.info("connected to %s (%s)", self.where, s.security)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def _reconnect_if_closed(self) -> None:
        """After a refusal some servers hang up; the next message gets a new connection (so
        it is not taken for one that may have been delivered)."""
        assert self.conn is not None
        try:
            if self.conn.noop()[0] == 250:
                return
        except (smtplib.SMTPException, OSError):
            pass
        log.info("the server at %s closed the connection after a refusal; reconnecting",
                 self.where)
        self.close()
        self.open()

    def _wait(self) -> None:
        if self.last is not None:
            remaining = self.last + self.interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self.last = self.clock()

    def send(self, msg: EmailMessage | bytes, sender: str, recipients: Sequence[str],
             started: Callable[[], None] | None = None) -> dict[str, str]:
        """Send `msg` (a message, or its finished bytes) to exactly `recipients` (the
        envelope; headers are never consulted). `started` runs after the rate limit's pause,
        just before the transmission begins.

        Returns {lowercased address: reason} for recipients the server refused while it
        accepted the others. Raises DeliveryError when the message was not accepted (for a
        reason that may pass), `RecipientsRefused` when every recipient was refused,
        `MessageRefused` when the server refused the message for good, `Uncertain` when it
        may have been delivered.
        """
        if self.conn is None:
            raise DeliveryError(f"{self.where}: not connected")
        self._wait()
        if started is not None:
            started()
        try:
            if isinstance(msg, bytes):
                refused = self.conn.sendmail(sender, list(recipients), msg)
            else:
                refused = self.conn.send_message(msg, from_addr=sender, to_addrs=list(recipients))
        except smtplib.SMTPRecipientsRefused as err:
            reasons = "; ".join(f"{code} {_text(text)}" for code, text in err.recipients.values())
            raise RecipientsRefused(f"{self.where}: every recipient was refused ({reasons})") from None
        except smtplib.SMTPSenderRefused as err:
            raise DeliveryError(f"{self.where}: sender refused ({err.smtp_code} "
                                f"{_text(err.smtp_error)}); check smtp.from") from None
        except smtplib.SMTPDataError as err:
            reply = f"{err.smtp_code} {_text(err.smtp_error)}"
            if 500 <= err.smtp_code < 600:
                self._reconnect_if_closed()
                raise MessageRefused(f"{self.where}: message refused for good ({reply})",
                                     reply) from None
            raise DeliveryError(f"{self.where}: message refused ({reply})") from None
        except smtplib.SMTPNotSupportedError as err:
            raise DeliveryError(f"{self.where}: {err}") from None
        except (smtplib.SMTPException, OSError) as err:
            self.conn = None
            raise Uncertain(f"{self.where}: the connection failed while sending "
                            f"({_describe(err)}); the message may have been delivered") from None
        self.sent += 1
        return {addr.lower(): f"{code} {_text(text)}" for addr, (code, text) in refused.items()}


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(value.split())


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__
