"""Confirmations: what is due, the outbox, templates (strict, escaped) and golden messages.

Sending through a real SMTP server is in test_delivery.py; these tests need no server.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sync import cli, confirmations
from sync.confirmations import due, headers, render
from sync.errors import SyncError, TemplateError
from sync.master import syncer
from sync.state.store import Store
from tests.conftest import REPO, Site
from tests.helpers import decided, make_site, parse

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Site:
    """A site with staff decisions made; tests that change it copy it first."""
    return decided(make_site(tmp_path_factory.mktemp("confirm")))


def normalized(raw: bytes) -> str:
    """A message without what changes from run to run: Date, Message-ID and boundaries."""
    text = raw.decode("ascii").replace("\r\n", "\n")
    boundaries = set(re.findall(r'boundary="([^"]+)"', text))
    text = re.sub(r"^(Date|Message-ID): .*\n", "", text, flags=re.M)
    for i, b in enumerate(sorted(boundaries)):
        text = text.replace(b, f"BOUNDARY{i}")
    return text


# -- what is due ------------------------------------------------------------------------------


def test_default_run_renders_due_messages_and_sends_nothing(synced):
    summary = confirmations.confirm(synced.config())
    assert dict(summary.by_template) == {"pip-accepted": 1, "pip-waitlisted": 2,
                                         "pip-ineligible": 1, "tap-enrolled": 1,
                                         "vsc-received": 1, "vsc-declined": 1}
    assert summary.counts["due"] == summary.counts["written"] == 7
    outbox = synced.out / "outbox"
    files = sorted(p.name for p in outbox.glob("*.eml"))
    assert files == ["PIP-00001-pip-accepted.eml", "PIP-00002-pip-waitlisted.eml",
                     "PIP-00004-pip-ineligible.eml", "PIP-00005-pip-waitlisted.eml",
                     "TAP-00001-tap-enrolled.eml", "VSC-00001-vsc-received.eml",
                     "VSC-00002-vsc-declined.eml"]
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in outbox.iterdir())
    with Store(synced.out / syncer.STATE) as store:
        assert store.db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0
    assert "Nothing was sent" in summary.render()
    msg = parse(outbox / "PIP-00001-pip-accepted.eml")
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"] == "Ann Smith <ann@example.com>" and msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    assert "Thursday, March 7, 2030" in text and "6:00 p.m. to 8:00 p.m." in text
    assert "Thursday, April 11, 2030" not in text and "Thursday, May 30, 2030" in text  # skipped


def test_missing_address_is_reported_per_record_and_the_rest_go(synced):
    summary = confirmations.confirm(synced.config())
    problems = dict(summary.problems)
    assert problems["PIP-00003"] == "pip-accepted: not sent: no email"
    assert summary.counts["skipped"] == 1 and "PIP-00003" in summary.record_ids
    assert not (synced.out / "outbox" / "PIP-00003-pip-accepted.eml").exists()


def test_waitlist_position_follows_first_submission(synced):
    confirmations.confirm(synced.config())
    outbox = synced.out / "outbox"
    bob = parse(outbox / "PIP-00002-pip-waitlisted.eml").get_body(("plain",)).get_content()
    eve = parse(outbox / "PIP-00005-pip-waitlisted.eml").get_body(("plain",)).get_content()
    assert "as number 1." in bob and "as number 2." in eve


def test_tap_goes_to_student_and_guardian_with_the_counselor_copied(synced):
    confirmations.confirm(synced.config())
    msg = parse(synced.out / "outbox" / "TAP-00001-tap-enrolled.eml")
    assert msg["To"] == "Tina Nguyen <tina@example.com>, Hoa Nguyen <hoa@example.com>"
    assert msg["Cc"] == "Pat Gomez <counselor@tusd.example>"


def test_ineligible_requests_get_the_reason(synced):
    confirmations.confirm(synced.config())
    outbox = synced.out / "outbox"
    pip = parse(outbox / "PIP-00004-pip-ineligible.eml").get_body(("plain",)).get_content()
    assert ("must be 18 or older on the first evening of class, Thursday, March 7, 2030"
            in pip) and "2030-03-07" not in pip
    vsc = parse(outbox / "VSC-00002-vsc-declined.eml").get_body(("plain",)).get_content()
    assert "the ZIP code on your request, 90210, is outside the city" in vsc


def test_answers_are_escaped_in_html_and_kept_in_text(synced):
    confirmations.confirm(synced.config())
    msg = parse(synced.out / "outbox" / "VSC-00001-vsc-received.eml")
    html = msg.get_body(("html",)).get_content()
    assert "1 Main St &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "1 Main St <script>alert(1)</script>" in msg.get_body(("plain",)).get_content()


def test_limit_caps_the_outbox(synced):
    summary = confirmations.confirm(synced.config(), limit=2)
    assert summary.counts["due"] == 7 and summary.counts["written"] == 2
    assert len(list((synced.out / "outbox").glob("*.eml"))) == 2


def test_classes_that_ended_are_not_due(synced):
    summary = confirmations.confirm(synced.config(), today=dt.date(2031, 1, 1))
    assert summary.counts["due"] == 0 and summary.counts["past"] == 8


def test_config_table_replaces_the_defaults(tmp_path):
    site = decided(make_site(tmp_path, changes={
        "programs": {"pip": {"templates": {"Accepted": "pip-accepted"}}}}))
    summary = confirmations.confirm(site.config(), keys=["pip"])
    assert dict(summary.by_template) == {"pip-accepted": 1}


def test_templates_for_rules():
    mapping = due.DEFAULT_TEMPLATES["vsc"]
    assert due.templates_for("New", False, mapping) == ["vsc-received"]
    assert due.templates_for("New", True, mapping) == ["vsc-declined"]
    assert due.templates_for("Active", True, mapping) == ["vsc-received"]  # staff's call
    assert due.templates_for("Cancelled", False, mapping) == []
    received = {"Received": "hello", "Declined": "bye"}
    assert due.templates_for("New", False, received) == ["hello"]
    assert due.templates_for("Declined", False, received) == ["bye"]


# -- templates --------------------------------------------------------------------------------


def _own_template(site: Site, name: str, text: str, html: str = "<p>{{ first_name }}</p>") -> None:
    folder = site.root / "templates"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.subject.txt").write_text("Hello {{ first_name }}")
    (folder / f"{name}.txt").write_text(text)
    (folder / f"{name}.html").write_text(html)


def test_unknown_field_fails_naming_template_and_field_before_any_output(tmp_path):
    site = decided(make_site(tmp_path))
    _own_template(site, "pip-waitlisted", "Dear {{ first_nam }},\n")
    with pytest.raises(TemplateError) as err:
        confirmations.confirm(site.config())
    message = str(err.value)
    assert "pip-waitlisted.txt" in message and "'first_nam'" in message
    assert "programs.pip.templates.Waitlisted" in message
    assert not (site.out / "outbox").exists()


def test_unknown_attribute_fails_at_render_time_naming_the_file_and_line(tmp_path):
    site = decided(make_site(tmp_path))
    _own_template(site, "pip-accepted", "Dear {{ first_name }},\nSee you {{ class.nmae }}\n")
    with pytest.raises(TemplateError) as err:
        confirmations.confirm(site.config())
    assert re.search(r"pip-accepted\.txt:2: template 'pip-accepted' uses an unknown field: .*nmae",
                     str(err.value))
    assert not (site.out / "outbox").exists()


def test_missing_template_names_the_config_key(tmp_path):
    site = make_site(tmp_path, changes={
        "programs": {"pip": {"templates": {"Accepted": "pip-welcome"}}}})
    with pytest.raises(TemplateError, match=r"no template 'pip-welcome': expected pip-welcome.subject"
                       r".*programs\.pip\.templates\.Accepted"):
        confirmations.confirm(site.config())


def test_every_bundled_template_is_complete_and_uses_known_fields():
    templates = render.Templates([render.BUNDLED])
    names = templates.names()
    expected = {n for m in due.DEFAULT_TEMPLATES.values() for n in m.values()}
    assert expected <= set(names)
    for name in names:
        templates.check(name, due.template_fields(name))


def test_header_injection_in_values_never_adds_a_header_or_recipient():
    templates = render.Templates([render.BUNDLED])
    evil = "Ann\r\nBcc: evil@example.com"
    rendered = render.Rendered("x", render.one_line(f"Hello {evil}"), f"Dear {evil}\n", "<p/>")
    msg = render.compose(rendered, headers.parse_sender("Programs <p@tpd.example>"),
                            [headers.address(evil, "ann@example.com")])
    raw = render.message_bytes(msg)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert parsed["Bcc"] is None and b"\r\nBcc:" not in head
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ann@example.com"]
    assert parsed["Subject"] == "Hello Ann Bcc: evil@example.com"
    assert templates.names()  # the bundled folder is found from an installed package too


def test_filters():
    assert render.clock(dt.time(0, 30)) == "12:30 a.m." and render.clock(dt.time(12)) == "12:00 p.m."
    assert render.longdate(dt.date(2030, 3, 7)) == "Thursday, March 7, 2030"
    assert render.shortdate("2030-03-07") == "March 7" and render.ordinal(22) == "22nd"
    assert render.ordinal(11) == "11th"


# -- golden messages --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PIP-00001-pip-accepted", "PIP-00002-pip-waitlisted",
                                  "PIP-00004-pip-ineligible", "TAP-00001-tap-enrolled",
                                  "VSC-00001-vsc-received", "VSC-00002-vsc-declined"])
def test_golden_messages(synced, name):
    """Rendered messages byte for byte (Date, Message-ID and boundaries removed). After a
    wording change, TPD_UPDATE_GOLDEN=1 rewrites the files; read the diff before committing."""
    confirmations.confirm(synced.config())
    got = normalized((synced.out / "outbox" / f"{name}.eml").read_bytes())
    golden = GOLDEN / f"{name.split('-', 2)[2]}.eml"
    if os.environ.get("TPD_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(got)
    assert got == golden.read_text()


# -- preview and the command line -------------------------------------------------------------


def test_preview_shows_one_record_whatever_the_ledger_says(synced, capsys):
    code = cli.main(["confirmations", "--config", str(synced.config_path), "--preview", "tap-00001"])
    out = capsys.readouterr().out
    assert code == 0
    assert "== tap-enrolled ==" in out and "Cc: Pat Gomez <counselor@tusd.example>" in out
    assert "Tuesday, September 3, 2030" in out and "-- HTML --" in out


def test_preview_of_unknown_record_is_an_error(synced, capsys):
    assert cli.main(["confirmations", "--config", str(synced.config_path), "--preview", "XYZ-1"]) == 1
    assert "not a record ID" in capsys.readouterr().err


def test_send_needs_smtp_configured(synced, capsys):
    assert cli.main(["confirmations", "--config", str(synced.config_path), "--send"]) == 1
    assert "smtp: no [smtp] section" in capsys.readouterr().err
    with pytest.raises(SyncError):
        confirmations.confirm(synced.config(), send=True)


def test_cli_through_python_m(synced):
    result = subprocess.run(
        [sys.executable, "-m", "sync", "confirmations", "--config", str(synced.config_path),
         "--program", "pip"], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("4 confirmations due (1 pip-accepted, 1 pip-ineligible, "
                                    "2 pip-waitlisted)")
    assert "PIP-00003: pip-accepted: not sent: no email" in result.stdout


def test_usage_errors_exit_2(synced):
    with pytest.raises(SystemExit) as err:
        cli.main(["confirmations", "--config", str(synced.config_path), "--send", "--preview", "x"])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        cli.main(["confirmations", "--config", str(synced.config_path), "--limit", "0"])
    assert err.value.code == 2
