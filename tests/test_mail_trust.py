"""What a stranger's answers can and cannot do to a confirmation email, and what one refused
message does to the others.

Anyone can fill in the forms, so names and addresses are hostile input: they must never put
another address into a header that a mail program shows or answers (Reply-All), never make
a header read differently from what the template wrote, and never make a line too long for
SMTP. A message the server refuses for good is set aside ("refused", with the reply) while
the others go; a temporary failure still stops the run. Sending goes through the real
loopback SMTP server of `tests/loopback_smtp.py`.
"""

from __future__ import annotations

import csv
import email
import email.policy
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from openpyxl import load_workbook

from sync import cli, confirmations
from sync import run as runner
from sync.confirmations import headers, render
from sync.errors import ConfigError, DeliveryError
from sync.master import syncer
from tests.conftest import REPO, Site
from tests.helpers import ALL, decided, free_port, ledger, make_site, parse, send, set_cells, smtp_section
from tests.loopback_smtp import LoopbackSmtp

EVIL = "evil@evil.example"
PAYLOADS = {  # (first name, last name, email address) a respondent typed
    "encoded-word name": ("=?utf-8?b?Qm9iIDxldmlsQGV2aWwuZXhhbXBsZT4=?=", "Smith",
                          "mallory@example.com"),
    "folded name": ("Bartholomew Maximilian Featherstonehaugh a=b <evil@evil.example>, ",
                    "Cholmondeley-Fiennes", "mallory@example.com"),
    "encoded-word address": ("Eve", "Stone", "=?utf-8?q?evil=40evil.example?=@example.com"),
}


def add_applicant(site: Site, first: str, last: str, address: str) -> str:
    """A new PIP applicant as the form delivers one (a row in the export), accepted by staff."""
    with (site.root / "pip.csv").open("a", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(
            ["3/4/2020 10:00:00", address, first, last, "1/2/1980", "310-555-0199",
             "I live in Torrance"])
    syncer.sync(site.config())
    set_cells(site, {("PIP-00006", "Status"): "Accepted"})
    return "PIP-00006"


def header_addresses(msg: email.message.EmailMessage) -> list[str]:
    return [a.addr_spec for name in ("From", "To", "Cc", "Reply-To", "Bcc")
            for header in msg.get_all(name) or [] for a in header.addresses]


def every_line(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n")


# -- point 3: no answer can add a recipient or a header --------------------------------------


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_no_answer_puts_another_address_into_a_header(tmp_path, payload):
    """Guards the To header of rendered and sent messages: a display name that is an encoded
    word, a long name whose folding dropped its quotes, or an address holding an encoded word
    all used to show evil@evil.example as a recipient (Reply-All would have written to it)."""
    first, last, address = PAYLOADS[payload]
    with LoopbackSmtp() as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        rid = add_applicant(site, first, last, address)
        summary = confirmations.confirm(site.config())
        for path in (site.out / "outbox").glob("*.eml"):
            head = path.read_bytes().split(b"\r\n\r\n", 1)[0]
            assert EVIL.encode() not in head.lower(), path.name
            assert EVIL not in header_addresses(parse(path)), path.name
        eml = site.out / "outbox" / f"{rid}-pip-accepted.eml"
        if payload == "encoded-word address":
            assert not eml.exists()
            assert any(r == rid and "'=?'" in why and "not sent" in why
                       for r, why in summary.problems), summary.problems
        else:
            msg = parse(eml)
            assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
                ("", "mallory@example.com")]  # the name could not be shown safely: dropped
        assert send(site) == 0
        for _, rcpts, msg in server.messages:
            assert sorted(header_addresses(msg)) == sorted([*rcpts, "programs@tpd.example",
                                                            "programs@tpd.example"])
        sent_to = sorted(r for _, rcpts, _ in server.messages for r in rcpts)
        assert EVIL not in sent_to
        assert ("mallory@example.com" in sent_to) == (payload != "encoded-word address")


LEGIT_NAMES = ["Ann Smith", "O'Brien-Smythe", "J. R. R. Tolkien", "Zoë Ångström", "王小明",
               "Nguyễn Thị Minh Khai", "María de los Ángeles Fernández-Castillo de la Fuente y "
               "Rodríguez", "Ж" * 90, "Семён Семёнович Горбунков-Задунайский", "محمد بن سلمان",
               "Björn Þórðarson Ægisdóttir Kristjánsdóttir", "Maria Ólafsdóttir-Guðmundsdóttir",
               "Mary  Ann\tLee"]


@pytest.mark.parametrize("name", LEGIT_NAMES)
def test_real_names_are_kept_and_never_cost_another_recipient(name):
    """A long name in another script used to fold so that the comma before the next address
    was itself encoded: the guardian of a TAP student vanished from the To header."""
    sender = headers.parse_sender("Community Programs <programs@tpd.example>")
    to = [headers.address(name, "tina@example.com"), headers.address("Hoa Nguyen",
                                                                        "hoa@example.com")]
    cc = [headers.address(name, "counselor@tusd.example")]
    rendered = render.Rendered("x", render.one_line(f"Welcome, {name}"), "Hi\n", "<p/>")
    raw = render.message_bytes(render.compose(rendered, sender, to, cc))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == ["tina@example.com", "hoa@example.com"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["counselor@tusd.example"]
    squashed = "".join(name.split())
    assert "".join(msg["To"].addresses[0].display_name.split()) == squashed
    assert "".join(str(msg["Subject"]).split()) == "Welcome," + squashed
    assert max(len(line) for line in every_line(raw)) <= 78


@pytest.mark.parametrize("name", ["Bob <evil@evil.example>", "Smith, Bob", "Bob; Eve",
                                  '"Bob" Smith', "Bob \\ Smith", "Bob: evil@evil.example;",
                                  "=?utf-8?q?Bob?=", "Bob (evil@evil.example)", "[Bob]",
                                  "bob@example.com", "B" * 101])
def test_a_name_that_could_be_read_as_an_address_is_dropped(name):
    addr = headers.address(name, "ann@example.com")
    assert (addr.display_name, addr.addr_spec) == ("", "ann@example.com")


@pytest.mark.parametrize("address", ["=?utf-8?q?evil=40evil.example?=@example.com",
                                     "ann=?x?=@example.com", "josé@example.com",
                                     "ann@exämple.com", "ann smith@example.com", "ann@"])
def test_an_address_that_is_not_plain_is_refused(address):
    with pytest.raises(headers.UnsafeMessage, match="no message is sent to it"):
        headers.address("Ann", address)


def test_the_check_refuses_headers_that_do_not_read_as_built():
    """The last line of defence: the produced bytes are parsed again, and a message whose
    address headers, Subject or set of headers differ from what was built is refused."""
    sender = headers.parse_sender("Community Programs <programs@tpd.example>")
    to = [headers.address("Ann Smith", "ann@example.com")]
    rendered = render.Rendered("x", "Hello", "Hi\n", "<p/>")
    raw = render.message_bytes(render.compose(rendered, sender, to))
    headers.check(raw, "Hello", {"From": [sender], "To": to})  # as built: no error
    forged = {
        "another To address": raw.replace(b"<ann@example.com>", b"<ann@example.com>, " + EVIL.encode()),
        "a Bcc header": raw.replace(b"\r\nTo:", b"\r\nBcc: " + EVIL.encode() + b"\r\nTo:"),
        "a second To header": raw.replace(b"\r\nTo:", b"\r\nTo: " + EVIL.encode() + b"\r\nTo:"),
        "another Subject": raw.replace(b"Subject: Hello", b"Subject: Hello " + EVIL.encode()),
        "a long line": raw.replace(b"Subject: Hello", b"Subject: Hello" + b"x" * 1000),
    }
    reasons = {}
    for what, bad in forged.items():
        with pytest.raises(headers.UnsafeMessage) as err:
            headers.check(bad, "Hello", {"From": [sender], "To": to})
        reasons[what] = str(err.value)
        assert "ann@example.com" not in reasons[what] and EVIL not in reasons[what]
    assert "To header" in reasons["another To address"]
    assert "Bcc" in reasons["a Bcc header"] and "To header" in reasons["a second To header"]
    assert "Subject" in reasons["another Subject"] and "998" in reasons["a long line"]


def test_a_subject_that_would_not_read_as_written_is_refused(tmp_path):
    """The TAP subject names the student: an encoded word there was decoded into the header
    ("Bob <evil@evil.example>"). That message is refused with the reason; the rest go."""
    with LoopbackSmtp() as server:
        site = make_site(tmp_path, smtp_section(server.port))
        tap = site.root / "tap.csv"  # the student's name as the counselor's form delivers it
        tap.write_text(tap.read_text().replace(",Tina,", f",{PAYLOADS['encoded-word name'][0]},"))
        decided(site)
        summary = confirmations.confirm(site.config())
        assert not (site.out / "outbox" / "TAP-00001-tap-enrolled.eml").exists()
        assert summary.counts["written"] == ALL - 1
        why = dict(summary.problems)["TAP-00001"]
        assert why.startswith("tap-enrolled: not sent: the Subject") and "=?" in why
        assert send(site) == 0
        assert len(server.messages) == ALL - 1
        assert not any(m["Subject"].startswith("Teens") for _, _, m in server.messages)


# -- point 5: one refused message does not block the others ----------------------------------


def test_long_answers_never_make_a_line_too_long_for_smtp(tmp_path):
    """A 3,000-character name without a space was written as one 3,000-character To line;
    the server answered "500 Line too long" and every run stopped there. Headers and bodies
    now keep every line within RFC 5321's 998 characters, and the server takes them all."""
    with LoopbackSmtp() as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        set_cells(site, {("VSC-00001", "Street address"): "9" * 5000,
                         ("TAP-00001", "Student first name"): "Ti" * 1500})
        add_applicant(site, "A" * 3000, "Smith", "mallory@example.com")
        assert send(site) == 0
        assert server.refused == 0 and len(server.messages) == ALL + 1
        assert max(len(line) for raw in server.raw for line in every_line(raw)) <= 998
        vsc = next(m for _, rcpts, m in server.messages if rcpts == ["val@example.com"])
        assert "9" * 5000 in vsc.get_body(("plain",)).get_content()  # wrapped, not cut


def _master_column(site: Site, rid: str) -> str | None:
    wb = load_workbook(site.master, read_only=True)
    rows = list(wb["Partners in Policing"].iter_rows(values_only=True))
    wb.close()
    column = rows[0].index(confirmations.SENT_COLUMN)
    return {r[0]: r[column] for r in rows[1:]}[rid]


def test_a_message_refused_for_good_does_not_block_the_others(tmp_path, capsys):
    """A 5xx reply to one message used to stop the run, and every later run stopped at the
    same message. Now it is marked refused (ledger and master), the others go, the run exits
    1 naming it, later runs leave it alone, and staff re-queue it with --retry."""
    with LoopbackSmtp(refuse_to={"bob@example.com"}) as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        assert send(site) == 1
        captured = capsys.readouterr()
        assert len(server.messages) == ALL - 1 and server.refused == 1
        assert "PIP-00002" in captured.err and "--retry" in captured.err
        assert "bob@example.com" not in captured.err
        assert "PIP-00002 pip-waitlisted: 554 5.7.1 Message content rejected" in captured.out
        states = ledger(site)
        assert states[("PIP-00002", "pip-waitlisted", "bob@example.com")] == "refused"
        assert list(states.values()).count("refused") == 1 and "sending" not in states.values()
        assert not (site.out / "outbox" / "PIP-00001-pip-accepted.eml").exists()  # sent

        assert send(site) == 0  # a later run: not tried again, still listed
        assert server.refused == 1 and len(server.messages) == ALL - 1
        out = capsys.readouterr().out
        assert "PIP-00002 pip-waitlisted" in out and "--retry" in out

        syncer.sync(site.config())
        assert _master_column(site, "PIP-00002") == (
            "pip-waitlisted refused: 554 5.7.1 Message content rejected")

        server.refuse_to = set()  # the cause is fixed
        assert cli.main(["confirmations", "--config", str(site.config_path), "--retry",
                         "PIP-00002"]) == 0
        assert send(site) == 0
        assert len(server.messages) == ALL
        assert [rcpts for _, rcpts, _ in server.messages].count(["bob@example.com"]) == 1
        assert set(ledger(site).values()) == {"sent"}


def test_a_server_that_hangs_up_after_refusing_does_not_block_the_others(tmp_path):
    """Some servers close the connection after a 5xx: the next message then failed as if it
    might have been delivered, and the run stopped. The mailer reconnects instead."""
    with LoopbackSmtp(refuse_to={"ann@example.com"}, hang_up=True) as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        summary = confirmations.confirm(site.config(), send=True)
        assert [r[:2] for r in summary.refused] == [("PIP-00001", "pip-accepted")]
        assert not summary.unconfirmed and summary.counts["sent"] == ALL - 1
        assert len(server.messages) == ALL - 1
        assert "sending" not in ledger(site).values()


def test_the_daily_run_reports_a_refused_message_as_a_failed_step(tmp_path):
    with LoopbackSmtp(refuse_text="Spring 2030: you are on the waitlist") as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        report = runner.run(site.config())
        step = next(s for s in report.steps if s.name == "confirmations")
        assert not report.ok and step.status == runner.FAILED
        assert "PIP-00002" in step.error and "PIP-00005" in step.error
        assert "--retry" in step.next_action
        assert len(server.messages) == ALL - 2 and server.refused == 2


def test_a_temporary_refusal_still_stops_the_run(tmp_path):
    """421 (closing) and other 4xx replies are not "refused for good": the run stops as before,
    and the message goes out on the next run."""
    with LoopbackSmtp(refuse_to={"bob@example.com"}, refuse_reply="451 4.3.0 try later") as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        with pytest.raises(DeliveryError, match="451"):
            confirmations.confirm(site.config(), send=True)
        assert "refused" not in ledger(site).values()
        assert ledger(site)[("PIP-00002", "pip-waitlisted", "bob@example.com")] == "failed"


def test_a_run_stopped_during_the_rate_pause_leaves_nothing_possibly_sent(tmp_path):
    """The ledger row used to be written before the rate limit's pause, so a run stopped in
    the pause listed a message that never left as "possibly sent". Now a message is marked
    only once its transmission starts."""
    with LoopbackSmtp() as server:
        site = decided(make_site(tmp_path, smtp_section(server.port).replace(
            "rate_per_minute = 6000", "rate_per_minute = 6")))  # a pause of 10 s
        proc = subprocess.Popen([sys.executable, "-m", "sync", "confirmations", "--config",
                                 str(site.config_path), "--send"], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while "sent" not in _states(site) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # well inside the pause before the second message
            assert proc.poll() is None
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
        assert len(server.messages) == 1
        assert _states(site) == ["sent"]  # nothing possibly sent
        site.config_path.write_text(site.config_path.read_text().replace(
            "rate_per_minute = 6\n", "rate_per_minute = 6000\n"))
        summary = confirmations.confirm(site.config(), send=True)
        assert not summary.unconfirmed and summary.counts["sent"] == ALL - 1
        assert len(server.messages) == ALL


def _states(site: Site) -> list[str]:
    """The ledger's states, read as another program would while the run goes on."""
    path = site.out / syncer.STATE
    db = sqlite3.connect(path, timeout=5)
    try:
        return sorted(s for (s,) in db.execute("SELECT state FROM ledger"))
    finally:
        db.close()


def test_a_sender_address_that_is_not_plain_names_the_setting(tmp_path):
    site = decided(make_site(tmp_path, smtp_section(free_port()).replace(
        'from = "Community Programs <programs@tpd.example>"',
        'from = "Community Programs <=?utf-8?q?x?=@tpd.example>"')))
    with pytest.raises(ConfigError, match=r"smtp\.from: the email address contains '=\?'"):
        confirmations.confirm(site.config())
