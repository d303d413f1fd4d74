"""`tpd-programs check` against the loopback Google fake and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from sync import cli
from sync.check import check_file
from tests.conftest import Site
from tests.fake_google import DEFAULT_EMAIL, FakeGoogle
from tests.helpers import HEADER, KEY, ROW, google_site, lines
from tests.loopback_smtp import LoopbackSmtp, self_signed


def test_every_line_ok_against_google_and_smtp(tmp_path: Path, fake_google: FakeGoogle):
    fake_google.add_spreadsheet(KEY, tabs={"Form Responses 1": [HEADER, ROW]})
    with LoopbackSmtp() as server:
        path = google_site(tmp_path, fake_google, f"""
            [smtp]
            host = "127.0.0.1"
            port = {server.port}
            security = "none"
            from = "Community Programs <programs@example.org>"
            notify = ["staff@example.org"]
            """)
        report = check_file(path)
    found = lines(report)
    assert report.ok, report.render()
    assert list(found) == ["configuration", "google credentials", "pip source", "pip questions",
                           "email (SMTP)", "failure notices", "output folder"]
    assert DEFAULT_EMAIL in found["google credentials"][1]
    assert "reached (8 columns)" in found["pip source"][1]
    assert found["pip questions"][1] == "all 8 mapped questions found"
    assert server.messages == []  # the login check sends nothing
    # Only header rows were read: one metadata request and one batchGet of row 1.
    ranges = [r for r in fake_google.sheets_requests if "batchGet" in r.path]
    assert len(fake_google.sheets_requests) == 2
    assert len(ranges) == 1
    assert "1:1" in str(ranges[0].query)


def test_reworded_question_names_the_closest_titles(tmp_path: Path, fake_google: FakeGoogle):
    header = [("E-mail address" if h == "Email Address" else h) for h in HEADER]
    fake_google.add_spreadsheet(KEY, tabs={"Form Responses 1": [header, ROW]})
    report = check_file(google_site(tmp_path, fake_google))
    ok, detail = lines(report)["pip questions"]
    assert not ok
    assert not report.ok
    assert "'Email Address' (programs.pip.questions.email) is not in the form" in detail
    assert "closest: 'E-mail address'" in detail
    assert "FIX  pip questions" in report.render()


def test_unshared_sheet_and_missing_tab(tmp_path: Path, fake_google: FakeGoogle):
    fake_google.add_spreadsheet(KEY, tabs={"Form Responses 1": [HEADER, ROW]}, shared=False)
    ok, detail = lines(check_file(google_site(tmp_path, fake_google)))["pip source"]
    assert not ok
    assert DEFAULT_EMAIL in detail
    assert "shared" in detail

    fake_google.add_spreadsheet(KEY, tabs={"Responses": [HEADER, ROW]})
    ok, detail = lines(check_file(google_site(tmp_path, fake_google)))["pip source"]
    assert not ok
    assert "'Form Responses 1'" in detail
    assert "'Responses'" in detail


def test_missing_and_exposed_credentials(tmp_path: Path, fake_google: FakeGoogle):
    fake_google.add_spreadsheet(KEY, tabs={"Form Responses 1": [HEADER, ROW]})
    path = google_site(tmp_path, fake_google)
    key_file = tmp_path / "service-account.json"
    key_file.chmod(0o644)
    found = lines(check_file(path))
    assert not found["google credentials"][0]
    assert "chmod 600" in found["google credentials"][1]
    key_file.unlink()
    found = lines(check_file(path))
    assert found["google credentials"] == (False, f"{key_file}: key file not found "
                                                  "(google.credentials)")
    assert not found["pip source"][0]
    assert "fix the Google credentials first" in found["pip source"][1]


def test_file_source_question_and_config_errors(site: Site):
    site.write_pip(site.pip_rows, header=site.root.joinpath("pip.csv").read_text()
                   .splitlines()[0].replace("Phone", "Phone number") + "\n")
    found = lines(check_file(site.config_path))
    assert found["pip source"][0]
    assert not found["pip questions"][0]
    assert "'Phone' (programs.pip.questions.phone)" in found["pip questions"][1]
    assert "closest: 'Phone number'" in found["pip questions"][1]

    site.config_path.write_text(site.config_path.read_text() + '\n[routes]\ndays = "three"\n')
    report = check_file(site.config_path)
    assert report.lines == [("configuration", False,
                             f"{site.config_path}: routes.days: must be int, got 'three'")]


@pytest.fixture
def tls_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cert = self_signed(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))  # trust the test server's certificate
    monkeypatch.setenv("TPD_TEST_SMTP_PASSWORD", "right")
    with LoopbackSmtp(tls=cert, users={"programs": "right"}) as server:
        yield server


def smtp_section(port: int, password_env: str = "TPD_TEST_SMTP_PASSWORD") -> str:
    return f"""
        [smtp]
        host = "127.0.0.1"
        port = {port}
        security = "starttls"
        username = "programs"
        password_env = "{password_env}"
        from = "programs@example.org"
        """


def test_smtp_starttls_login_ok_and_refused(site: Site, tls_smtp: LoopbackSmtp,
                                            monkeypatch: pytest.MonkeyPatch):
    site.config_path.write_text(site.config_path.read_text() + textwrap.dedent(
        smtp_section(tls_smtp.port)))
    ok, detail = lines(check_file(site.config_path))["email (SMTP)"]
    assert ok, detail
    assert detail.startswith(f"127.0.0.1:{tls_smtp.port} (starttls): logged in as programs")
    assert tls_smtp.logins == ["programs"]
    assert tls_smtp.messages == []

    monkeypatch.setenv("TPD_TEST_SMTP_PASSWORD", "wrong")
    ok, detail = lines(check_file(site.config_path))["email (SMTP)"]
    assert not ok
    assert "login as programs refused (535" in detail

    monkeypatch.delenv("TPD_TEST_SMTP_PASSWORD")
    ok, detail = lines(check_file(site.config_path))["email (SMTP)"]
    assert not ok
    assert "TPD_TEST_SMTP_PASSWORD" in detail


def test_smtp_untrusted_certificate_and_closed_port(site: Site, tls_smtp: LoopbackSmtp,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path):
    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed(tmp_path / "other").cert))
    site.config_path.write_text(site.config_path.read_text() + textwrap.dedent(
        smtp_section(tls_smtp.port)))
    ok, detail = lines(check_file(site.config_path))["email (SMTP)"]
    assert not ok
    assert "secure connection failed" in detail
    assert "certificate" in detail

    closed = LoopbackSmtp().port  # a free port nobody listens on
    site.config_path.write_text(site.config_path.read_text().replace(
        f"port = {tls_smtp.port}", f"port = {closed}"))
    ok, detail = lines(check_file(site.config_path))["email (SMTP)"]
    assert not ok
    assert "cannot connect" in detail
    assert "smtp.host" in detail


def test_output_folder_checks(site: Site):
    assert lines(check_file(site.config_path))["output folder"] == (
        True, f"{site.out}: will be created by the first run")
    site.out.mkdir(mode=0o700)
    assert lines(check_file(site.config_path))["output folder"] == (True, f"{site.out}: writable")
    assert list(site.out.iterdir()) == []  # the probe file is gone
    if os.name != "nt":
        site.out.chmod(0o755)
        ok, detail = lines(check_file(site.config_path))["output folder"]
        assert not ok
        assert f"chmod 700 {site.out}" in detail
    site.out.rmdir()
    site.out.write_text("not a folder")
    ok, detail = lines(check_file(site.config_path))["output folder"]
    assert not ok
    assert "is a file" in detail


def test_check_command_prints_the_table_and_sets_the_exit_code(site: Site, capsys):
    assert cli.main(["check", "--config", str(site.config_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("OK   configuration")
    assert out.rstrip().endswith("All checks passed.")
    assert not site.out.exists()  # check writes nothing, not even a log

    (site.root / "pip.csv").unlink()
    assert cli.main(["check", "--config", str(site.config_path)]) == 1
    out = capsys.readouterr().out
    assert "FIX  pip source" in out
    assert "export file not found" in out
    assert cli.main(["check", "--config", str(site.root / "missing.toml")]) == 1
    assert "FIX  configuration" in capsys.readouterr().out
