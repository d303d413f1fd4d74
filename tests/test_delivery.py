"""Sending confirmations through a real SMTP server on loopback (aiosmtpd): each message
exactly once across failures and crashes, at the configured rate, over STARTTLS or SSL with
a login, and never with a header or recipient an answer smuggled in."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from openpyxl import load_workbook

from sync import cli, confirmations
from sync.errors import DeliveryError
from sync.master import syncer
from sync.state.store import Store
from tests.conftest import REPO
from tests.helpers import (
    ALL,
    decided,
    free_port,
    ledger,
    make_site,
    send,
    set_cells,
    set_status,
    smtp_section,
)

ENVELOPES = 9  # their recipients (the TAP one goes to a student, a guardian and a counselor)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    at: float
    tls: bool
    user: str | None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"]).strip()  # a folded header may start on line two


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it accepted, and can refuse or stall on cue."""

    messages: list[Received] = field(default_factory=list)
    attempts: int = 0
    fail_at: int | None = None  # answer this DATA attempt with 451
    hold_at: int | None = None  # accept this DATA attempt, then stall `hold` s before the reply
    hold: float = 0.0
    holding: threading.Event = field(default_factory=threading.Event)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.attempts == self.fail_at:
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        auth = session.auth_data
        user = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg,
                                      time.monotonic(), _tls(server, session), user))
        if self.attempts == self.hold_at:  # queued, as a real server does, but slow to say so
            self.holding.set()
            await asyncio.sleep(self.hold)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [m.subject for m in self.messages]

    def recipients(self) -> list[str]:
        return sorted(r for m in self.messages for r in m.rcpt_tos)


def _tls(server, session) -> bool:
    """STARTTLS (session.ssl) or a TLS connection from the start (the transport's)."""
    return session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None


@pytest.fixture
def server():
    """Start a loopback SMTP server: server(**aiosmtpd options) -> (recorder, port)."""
    controllers = []

    def start(**options):
        # smtplib's AUTH LOGIN (user name sent with the command) and aiosmtpd's disagree, so
        # the loopback server offers AUTH PLAIN, as most submission servers also do.
        options.setdefault("auth_exclude_mechanism", ["LOGIN"])
        recorder = Recorder()
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for c in controllers:
        c.stop()


@pytest.fixture
def plain(server, tmp_path):
    recorder, port = server()
    return recorder, decided(make_site(tmp_path, smtp_section(port)))


# -- exactly once -----------------------------------------------------------------------------


def test_send_delivers_each_due_message_once_and_a_rerun_sends_nothing(plain, capsys):
    recorder, site = plain
    assert send(site) == 0
    assert len(recorder.messages) == ALL and len(recorder.recipients()) == ENVELOPES
    assert f"Sent {ALL} via 127.0.0.1:" in capsys.readouterr().out
    assert set(ledger(site).values()) == {"sent"} and len(ledger(site)) == ENVELOPES
    assert not list((site.out / "outbox").glob("*.eml"))  # what went is no longer waiting
    assert all(m.mail_from == "programs@tpd.example" for m in recorder.messages)
    assert send(site) == 0
    assert len(recorder.messages) == ALL
    out = capsys.readouterr().out
    assert out.startswith("0 confirmations due") and f"{ALL} already sent" in out


def test_failed_send_mid_run_then_rerun_sends_each_exactly_once(plain, capsys):
    recorder, site = plain
    recorder.fail_at = 3
    assert send(site) == 1
    err = capsys.readouterr().err
    assert "127.0.0.1:" in err and "451" in err and "2 sent before it, 5 not sent" in err
    assert len(recorder.messages) == 2
    assert "failed" in ledger(site).values()
    assert send(site) == 0
    assert len(recorder.messages) == ALL and len(recorder.recipients()) == ENVELOPES
    sent = [(m.message["Subject"], tuple(m.rcpt_tos)) for m in recorder.messages]
    assert len(set(sent)) == ALL  # nothing twice
    assert set(ledger(site).values()) == {"sent"}


def test_crash_while_sending_never_resends_and_is_reported(server, tmp_path, capsys):
    """Guards the promise for a killed process: the message in flight when the run died is
    'possibly sent', listed for staff, and never sent again on its own."""
    recorder, port = server()
    site = decided(make_site(tmp_path, smtp_section(port)))
    recorder.hold_at, recorder.hold = 2, 1.0
    proc = subprocess.Popen([sys.executable, "-m", "sync", "confirmations", "--config",
                             str(site.config_path), "--send"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert recorder.holding.wait(60), "the run never reached the second message"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    deadline = time.monotonic() + 10
    while len(recorder.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(recorder.messages) == 2  # the server did take the second one
    assert list(ledger(site).values()).count("sending") == 1
    summary = confirmations.confirm(site.config(), send=True)
    assert len(recorder.messages) == ALL  # the rest, and not the second again
    assert summary.unconfirmed and summary.unconfirmed[0][:2] == ("PIP-00002", "pip-waitlisted")
    assert "PIP-00002" in summary.record_ids and "--mark-sent RECORD_ID" in summary.render()
    confirmations.confirm(site.config(), send=True)
    assert len(recorder.messages) == ALL
    assert cli.main(["confirmations", "--config", str(site.config_path), "--mark-sent",
                     "PIP-00002"]) == 0
    assert set(ledger(site).values()) == {"sent"}
    assert not confirmations.confirm(site.config(), send=True).unconfirmed
    assert len(recorder.messages) == ALL


def test_retry_sends_a_possibly_sent_message_again_when_staff_ask(plain):
    recorder, site = plain
    with Store(site.out / syncer.STATE) as store, store.transaction():
        store.db.execute("INSERT INTO ledger (record_id, template, recipient, state, attempted) "
                         "VALUES ('PIP-00001', 'pip-accepted', 'ann@example.com', 'sending', ?)",
                         (dt.datetime.now().isoformat(),))
    confirmations.confirm(site.config(), send=True)
    assert "Your seat in Partners in Policing, Spring 2030" not in recorder.subjects()
    assert confirmations.resolve(site.config(), "PIP-00001", "retry") == 1
    confirmations.confirm(site.config(), send=True)
    assert recorder.subjects().count("Your seat in Partners in Policing, Spring 2030") == 1


def test_changed_status_sends_the_new_template_once(plain):
    recorder, site = plain
    confirmations.confirm(site.config(), send=True)
    set_status(site, {"PIP-00002": "Accepted"})
    summary = confirmations.confirm(site.config(), send=True)
    assert dict(summary.by_template) == {"pip-accepted": 1}
    confirmations.confirm(site.config(), send=True)
    to_bob = [m.subject for m in recorder.messages if m.rcpt_tos == ["bob@example.com"]]
    assert to_bob == ["Partners in Policing, Spring 2030: you are on the waitlist",
                      "Your seat in Partners in Policing, Spring 2030"]


def test_master_shows_when_each_confirmation_went(plain):
    recorder, site = plain
    confirmations.confirm(site.config(), send=True)
    syncer.sync(site.config())
    wb = load_workbook(site.master, read_only=True)
    rows = list(wb["Partners in Policing"].iter_rows(values_only=True))
    wb.close()
    column = rows[0].index(confirmations.SENT_COLUMN)
    shown = {r[0]: r[column] for r in rows[1:]}
    today = dt.datetime.now(site.config().department.timezone).date().isoformat()
    assert shown["PIP-00001"].startswith(f"pip-accepted {today} ")
    assert shown["PIP-00003"] == confirmations.NONE_SENT  # no address: nothing went


def test_limit_caps_each_run(plain):
    recorder, site = plain
    assert send(site, "--limit", "3") == 0
    assert len(recorder.messages) == 3
    assert send(site, "--limit", "3") == 0
    assert send(site, "--limit", "3") == 0
    assert len(recorder.messages) == ALL and len(recorder.recipients()) == ENVELOPES


def test_refused_recipient_is_retried_alone_and_the_others_get_it(plain):
    recorder, site = plain
    recorder.refuse = {"hoa@example.com"}
    summary = confirmations.confirm(site.config(), send=True)
    tap = [m for m in recorder.messages if m.subject.startswith("Teens")]
    assert tap[0].rcpt_tos == ["tina@example.com", "counselor@tusd.example"]
    assert ("TAP-00001", "tap-enrolled: 1 recipient(s) refused by the server; the others got it"
            ) in summary.problems
    recorder.refuse = set()
    confirmations.confirm(site.config(), send=True)
    tap = [m for m in recorder.messages if m.subject.startswith("Teens")]
    assert [m.rcpt_tos for m in tap] == [["tina@example.com", "counselor@tusd.example"],
                                         ["hoa@example.com"]]
    assert tap[1].message["To"] == "Hoa Nguyen <hoa@example.com>" and tap[1].message["Cc"] is None


def test_send_needs_smtp_send_true(server, tmp_path, capsys):
    recorder, port = server()
    site = decided(make_site(tmp_path, smtp_section(port).replace("send = true", "send = false")))
    assert send(site) == 1
    assert "smtp.send: is false" in capsys.readouterr().err and not recorder.messages


def test_template_error_stops_the_run_before_the_first_message(plain):
    recorder, site = plain
    folder = site.root / "templates"
    folder.mkdir()
    (folder / "vsc-declined.subject.txt").write_text("Sorry")
    (folder / "vsc-declined.txt").write_text("{{ first_name }}: {{ class.name.upper }}")
    (folder / "vsc-declined.html").write_text("<p>{{ first_name }}</p>")
    assert send(site) == 1
    assert recorder.messages == [] and ledger(site) == {}


# -- rate, security, login --------------------------------------------------------------------


def test_rate_limit_spaces_the_messages(server, tmp_path):
    recorder, port = server()
    site = decided(make_site(tmp_path, smtp_section(port).replace("6000", "300")))
    confirmations.confirm(site.config(), send=True)
    times = [m.at for m in recorder.messages]
    assert len(times) == ALL
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # 300 a minute: one every 0.2 s. Arrival times jitter on a busy machine, so the typical
    # gap and the whole span are checked rather than the single smallest gap.
    assert sorted(gaps)[len(gaps) // 2] > 0.15 and times[-1] - times[0] >= 6 * 0.2 - 0.1


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls(tmp_path, monkeypatch):
    """A server-side TLS context with a fresh self-signed certificate the client trusts."""
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return context


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"programs@tpd.example", b"s3cret pass")
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


LOGIN = 'username = "programs@tpd.example"\npassword_env = "TPD_TEST_SMTP_PASSWORD"'


def test_starttls_with_login(server, tmp_path, tls, monkeypatch):
    recorder, port = server(tls_context=tls, require_starttls=True, authenticator=_authenticator,
                            auth_required=True, auth_require_tls=True)
    monkeypatch.setenv("TPD_TEST_SMTP_PASSWORD", "s3cret pass")
    site = decided(make_site(tmp_path, smtp_section(port, "starttls", LOGIN)))
    confirmations.confirm(site.config(), send=True)
    assert len(recorder.messages) == ALL
    assert all(m.tls and m.user == "programs@tpd.example" for m in recorder.messages)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_ssl_with_login(server, tmp_path, tls, monkeypatch):
    recorder, port = server(ssl_context=tls, authenticator=_authenticator, auth_required=True,
                            auth_require_tls=False)  # the whole connection is TLS
    monkeypatch.setenv("TPD_TEST_SMTP_PASSWORD", "s3cret pass")
    site = decided(make_site(tmp_path, smtp_section(port, "ssl", LOGIN)))
    confirmations.confirm(site.config(), send=True, limit=1)
    assert len(recorder.messages) == 1 and recorder.messages[0].tls


def test_wrong_password_names_the_server_and_sends_nothing(server, tmp_path, tls, monkeypatch,
                                                           capsys):
    recorder, port = server(tls_context=tls, require_starttls=True, authenticator=_authenticator,
                            auth_required=True)
    monkeypatch.setenv("TPD_TEST_SMTP_PASSWORD", "wrong")
    site = decided(make_site(tmp_path, smtp_section(port, "starttls", LOGIN)))
    assert send(site) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}: login as programs@tpd.example refused" in err
    assert "TPD_TEST_SMTP_PASSWORD" in err and "wrong" not in err
    assert recorder.messages == [] and ledger(site) == {}
    assert len(list((site.out / "outbox").glob("*.eml"))) == ALL  # still waiting


def test_missing_password_variable_is_named(server, tmp_path, tls, monkeypatch):
    recorder, port = server(tls_context=tls, require_starttls=True, authenticator=_authenticator)
    monkeypatch.delenv("TPD_TEST_SMTP_PASSWORD", raising=False)
    site = decided(make_site(tmp_path, smtp_section(port, "starttls", LOGIN)))
    with pytest.raises(DeliveryError, match="password environment variable TPD_TEST_SMTP_PASSWORD"):
        confirmations.confirm(site.config(), send=True)


def test_untrusted_certificate_is_refused(server, tmp_path, tls, monkeypatch):
    recorder, port = server(tls_context=tls, require_starttls=True)
    monkeypatch.delenv("SSL_CERT_FILE")
    site = decided(make_site(tmp_path, smtp_section(port, "starttls")))
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}: secure connection failed"):
        confirmations.confirm(site.config(), send=True)
    assert recorder.messages == []


def test_server_without_starttls_is_named(server, tmp_path):
    recorder, port = server()
    site = decided(make_site(tmp_path, smtp_section(port, "starttls")))
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}: the server does not offer STARTTLS"):
        confirmations.confirm(site.config(), send=True)
    assert recorder.messages == []


def test_unreachable_server_is_named(tmp_path):
    port = free_port()
    site = decided(make_site(tmp_path, smtp_section(port)))
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}: cannot connect"):
        confirmations.confirm(site.config(), send=True)


# -- what an answer can never do --------------------------------------------------------------


def test_header_injection_never_adds_a_header_or_recipient(plain):
    recorder, site = plain
    set_cells(site, {("TAP-00001", "Student first name"): "Ann\r\nBcc: evil@example.com"})
    confirmations.confirm(site.config(), send=True)
    tap = [m for m in recorder.messages if m.subject.startswith("Teens")]
    assert len(tap) == 1, recorder.subjects()
    assert tap[0].rcpt_tos == ["tina@example.com", "hoa@example.com", "counselor@tusd.example"]
    assert "evil@example.com" not in recorder.recipients()
    msg = tap[0].message
    assert msg["Bcc"] is None and "evil@example.com" in tap[0].subject  # it got there, inert
    headers = msg.as_bytes(policy=email.policy.SMTP).split(b"\r\n\r\n", 1)[0]
    assert not any(line.startswith(b"Bcc") for line in headers.split(b"\r\n"))
    assert [a.addr_spec for a in msg["To"].addresses] == ["tina@example.com", "hoa@example.com"]


def test_html_part_escapes_answers(plain):
    recorder, site = plain
    confirmations.confirm(site.config(), send=True)
    vsc = next(m.message for m in recorder.messages if m.rcpt_tos == ["val@example.com"])
    html = vsc.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
