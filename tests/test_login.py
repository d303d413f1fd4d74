"""Signing in as a staff member (google.auth = "user"): `tpd-programs login`, the saved
sign-in that scheduled runs refresh, a revoked sign-in, `check`, and `logout`.

Everything runs real google-auth and google-auth-oauthlib against the loopback fake of
Google's OAuth endpoints (tests/fake_oauth.py), Sheets and Forms APIs; an HTTP client plays
the browser, following Google's redirect to the toolkit's loopback listener. oauthlib refuses
plain-http OAuth endpoints unless OAUTHLIB_INSECURE_TRANSPORT is set, which these tests (and
only they) do, because the fake speaks http on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import webbrowser
from base64 import urlsafe_b64encode
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sync import cli
from sync import config as config_mod
from sync.check import check_file
from sync.errors import ConfigError, SigninError, SourceError
from sync.login import Login, logout
from sync.sources import googleauth
from sync.sources.forms import read_forms
from sync.sources.google import read_spreadsheets
from tests import configs
from tests.conftest import REPO
from tests.fake_forms import FakeForms, text
from tests.fake_google import FakeGoogle
from tests.fake_oauth import USER

KEY = "1PipResponsesSheet0123456789"
FORM = "1FormPipRegistration000000000"
HEADER = ["Timestamp", "Email Address", "First Name", "Last Name", "Date of Birth", "Phone",
          "Connection to Torrance", "Organization"]
ROW = [dt.datetime(2020, 3, 1, 10, 0), "ann@example.com", "Ann", "Smith", dt.date(1980, 1, 2),
       "(310) 555-0101", "I live in Torrance", ""]
TAB = "Form Responses 1"


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's OAuth endpoints are plain http on loopback; only tests allow that."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def fake():
    with FakeForms() as server:
        server.add_spreadsheet(KEY, tabs={TAB: [HEADER, ROW]})
        yield server


def browse(url: str) -> requests.Response:
    """What a browser does with the authorization address: Google's page answers 302 to the
    loopback redirect, and the browser follows it to the toolkit's listener."""
    return requests.get(url, timeout=10)


def sign_in(settings) -> googleauth.SavedSignin:
    with Login(settings) as pending:
        page = browse(pending.url)
        assert page.status_code == 200 and "Signed in" in page.text
        pending.wait(10)
    return googleauth.read_token(settings.token)


def user_site(root: Path, fake: FakeGoogle) -> Path:
    """tests/conftest.py's configuration reading PIP from the fake's spreadsheet, signed in
    as a user; the sign-in file is the default one beside programs.toml."""
    fake.oauth.write_client_secrets(root)
    text_ = configs.pip_from({"spreadsheet": KEY, "worksheet": TAB}, {
        "auth": "user", "client_secrets": "client_secret.json", "api_endpoint": fake.url,
        # testing only: the loopback fake
        "auth_endpoint": f"{fake.url}/o/oauth2/auth", "token_endpoint": f"{fake.url}/token",
        "revoke_endpoint": f"{fake.url}/revoke",
        "timeout_seconds": 2, "retry_seconds": 1, "max_attempts": 1})
    path = root / "programs.toml"
    path.write_text(text_)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def age_saved_token(path: Path) -> None:
    """An hour has passed: the access token saved in the sign-in file has expired."""
    data = json.loads(path.read_text())
    data["expiry"] = "2000-01-01T00:00:00Z"
    path.write_text(json.dumps(data))


# -- login ---------------------------------------------------------------------------------------


def test_login_asks_for_read_only_scopes_with_pkce_and_saves_an_owner_only_file(
        fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    umask = os.umask(0)  # a permissive umask must not widen the file
    try:
        saved = sign_in(settings)
    finally:
        os.umask(umask)

    asked = fake.oauth.authorizations[0]
    assert set(asked["scope"].split()) == {
        "https://www.googleapis.com/auth/spreadsheets.readonly",
        "https://www.googleapis.com/auth/forms.responses.readonly",
        "https://www.googleapis.com/auth/forms.body.readonly",
        "openid", "https://www.googleapis.com/auth/userinfo.email"}
    assert asked["access_type"] == "offline" and asked["prompt"] == "consent"
    assert asked["code_challenge_method"] == "S256"
    assert urlsplit(asked["redirect_uri"]).hostname == "127.0.0.1"
    exchange = fake.oauth.exchanges[0]
    challenge = urlsafe_b64encode(hashlib.sha256(exchange["code_verifier"].encode()).digest())
    assert challenge.decode().rstrip("=") == asked["code_challenge"]
    assert exchange["redirect_uri"] == asked["redirect_uri"]
    assert mode(settings.token) == 0o600
    assert saved.account == USER and saved.refresh_token.startswith("1//")
    assert saved.refreshed is not None and saved.signed_in == saved.refreshed
    assert not list(tmp_path.glob(".google-token.json.*"))  # no partial file left


def test_fake_token_endpoint_checks_the_pkce_verifier(fake: FakeForms, tmp_path: Path):
    """Guards the fake: a code exchanged with the wrong verifier is refused, so the login
    test above proves the toolkit's PKCE and not a fake that accepts anything."""
    settings = fake.user_settings(tmp_path)
    client = googleauth.read_client(settings)
    with Login(settings) as pending:
        answer = requests.get(pending.url, allow_redirects=False, timeout=10)
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    refused = requests.post(fake.token_uri, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
        "client_id": client.client_id, "client_secret": client.client_secret,
        "code_verifier": "x" * 64}, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}


def test_cli_login_no_browser_prints_the_address_and_waits_on_the_local_port(
        fake: FakeForms, tmp_path: Path):
    path = user_site(tmp_path, fake)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "login", "--no-browser", "--config", str(path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "OAUTHLIB_INSECURE_TRANSPORT": "1"})
    try:
        url = first_address(proc)
        assert browse(url).status_code == 200  # the browser reaches the listener
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"Signed in to Google as {USER}." in out
    token = tmp_path / "google-token.json"
    assert mode(token) == 0o600 and googleauth.read_token(token).account == USER


def test_cli_login_no_browser_takes_the_pasted_redirect_address(fake: FakeForms, tmp_path: Path):
    """The browser is on another computer: the loopback address does not load there, so the
    person pastes it into the terminal."""
    path = user_site(tmp_path, fake)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "login", "--no-browser", "--config", str(path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "OAUTHLIB_INSECURE_TRANSPORT": "1"})
    try:
        url = first_address(proc)
        google = requests.get(url, allow_redirects=False, timeout=10)
        assert google.status_code == 302
        assert proc.stdin is not None
        proc.stdin.write("the wrong thing\n" + google.headers["Location"] + "\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "not the address Google sent the browser to" in err
    assert f"Signed in to Google as {USER}." in out
    assert len(fake.oauth.exchanges) == 1


def first_address(proc: subprocess.Popen) -> str:
    """The authorization address the CLI printed (the process is killed after 30 s)."""
    timer = threading.Timer(30, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip().startswith("http"):
                return line.strip()
    finally:
        timer.cancel()
    raise AssertionError("the login printed no address: " + (proc.stderr.read() if proc.stderr else ""))


def test_cli_login_opens_the_browser(fake: FakeForms, tmp_path: Path, capsys,
                                     monkeypatch: pytest.MonkeyPatch, restore_logging):
    path = user_site(tmp_path, fake)
    opened: list[str] = []

    def browser(url: str, *args, **kwargs) -> bool:
        opened.append(url)
        browse(url)
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    assert cli.main(["login", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert opened and opened[0] in out
    assert f"Signed in to Google as {USER}." in out and "Next: tpd-programs check" in out


def test_unticked_box_on_the_consent_screen_saves_nothing(fake: FakeForms, tmp_path: Path):
    fake.oauth.withhold = {googleauth.FORMS_RESPONSES}
    settings = fake.user_settings(tmp_path)
    with Login(settings) as pending:
        browse(pending.url)
        with pytest.raises(SigninError) as failed:
            pending.wait(10)
    assert "read Google Forms responses" in str(failed.value)
    assert "leave every box ticked" in str(failed.value)
    assert not settings.token.exists()


def test_cancelled_consent_names_the_command(fake: FakeForms, tmp_path: Path):
    fake.oauth.deny = True
    settings = fake.user_settings(tmp_path)
    with Login(settings) as pending:
        browse(pending.url)
        with pytest.raises(SigninError, match="cancelled.*tpd-programs login"):
            pending.wait(10)
    assert not settings.token.exists()


def test_an_answer_for_another_sign_in_is_not_taken(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    with Login(settings) as pending:
        page = requests.get(pending.redirect_uri + "?state=forged&code=4/0Aevil", timeout=10)
        assert page.status_code == 400
        assert pending.offer(pending.redirect_uri + "?state=forged&code=4/0Aevil") is not None
        with pytest.raises(SigninError, match="no answer from the browser"):
            pending.wait(0.2)
    assert fake.oauth.exchanges == []


def test_login_needs_auth_user(fake: FakeForms, tmp_path: Path):
    with pytest.raises(ConfigError, match='set auth = "user"'):
        Login(fake.settings(None))


def test_web_application_client_is_refused(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    fake.oauth.write_client_secrets(tmp_path, kind="web")
    with pytest.raises(SourceError, match="Desktop app"):
        Login(settings)


# -- scheduled runs ------------------------------------------------------------------------------


def test_a_later_run_refreshes_once_saves_it_and_reads_sheets_and_forms(
        fake: FakeForms, tmp_path: Path):
    fake.add_form(FORM, [text("First Name")]).submit(
        {"First Name": "Ann"}, at=dt.datetime(2020, 3, 1, 18, tzinfo=dt.UTC))
    settings = fake.user_settings(tmp_path)
    before = sign_in(settings)
    age_saved_token(settings.token)
    fake.expire_tokens()

    tables = read_spreadsheets([(KEY, TAB)], settings)
    forms = read_forms([FORM], settings, dt.UTC)

    assert tables[(KEY, TAB)].rows[0].values[2] == "Ann"
    assert forms[FORM].rows[0].values[-1] == "Ann"
    assert fake.oauth.refreshes == 1  # the Forms session used the token the Sheets one saved
    after = googleauth.read_token(settings.token)
    assert after.refresh_token == before.refresh_token
    assert after.token != before.token and after.refreshed >= before.refreshed
    assert mode(settings.token) == 0o600
    assert all(r.status == 200 for r in fake.requests if r.path.startswith("/v"))


def test_sync_after_login_reads_the_sheet(fake: FakeForms, tmp_path: Path, capsys, restore_logging):
    path = user_site(tmp_path, fake)
    sign_in(config_mod.load(path).google)
    age_saved_token(tmp_path / "google-token.json")

    assert cli.main(["sync", "--config", str(path)]) == 0
    assert (tmp_path / "out" / "master.xlsx").exists()
    assert fake.oauth.refreshes == 1


def test_revoked_sign_in_stops_the_sync_with_one_message(
        fake: FakeForms, tmp_path: Path, capsys, restore_logging):
    path = user_site(tmp_path, fake)
    sign_in(config_mod.load(path).google)
    assert cli.main(["sync", "--config", str(path)]) == 0
    master = tmp_path / "out" / "master.xlsx"
    before = master.read_bytes()
    fake.oauth.revoke_all()  # removed in the account's settings: invalid_grant from now on
    capsys.readouterr()

    assert cli.main(["sync", "--config", str(path)]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "invalid_grant" in err and "run `tpd-programs login`" in err
    assert str(tmp_path / "google-token.json") in err
    assert master.read_bytes() == before
    saved = googleauth.read_token(tmp_path / "google-token.json")
    assert saved.refresh_token  # kept: nothing but a new login replaces it


def test_expired_sign_in_fails_the_run_step_with_the_login_as_next_action(
        fake: FakeForms, tmp_path: Path, capsys, restore_logging):
    path = user_site(tmp_path, fake)
    sign_in(config_mod.load(path).google)
    fake.oauth.expire_refresh_tokens()  # an "External" app in "Testing", 7 days later
    age_saved_token(tmp_path / "google-token.json")

    assert cli.main(["run", "--config", str(path)]) == 1

    out = capsys.readouterr().out
    step = next(line for line in out.splitlines() if line.startswith("sync"))
    assert "FAILED" in step and "Next: run `tpd-programs login`" in step


def test_a_refresh_that_cannot_be_saved_keeps_the_file_and_the_run_going(
        fake: FakeForms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    settings = fake.user_settings(tmp_path)
    sign_in(settings)
    age_saved_token(settings.token)
    on_disk = settings.token.read_bytes()

    def full_disk(path: Path, saved) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(googleauth, "write_token", full_disk)
    caplog.set_level(logging.WARNING)
    tables = read_spreadsheets([(KEY, TAB)], settings)

    assert tables[(KEY, TAB)].rows
    assert settings.token.read_bytes() == on_disk
    assert "could not be saved" in caplog.text


def test_no_token_or_secret_reaches_the_logs_or_the_screen(
        fake: FakeForms, tmp_path: Path, capsys, caplog, monkeypatch: pytest.MonkeyPatch,
        restore_logging):
    path = user_site(tmp_path, fake)
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: bool(browse(url)))
    caplog.set_level(logging.DEBUG)
    assert cli.main(["login", "-vv", "--config", str(path)]) == 0
    age_saved_token(tmp_path / "google-token.json")
    assert cli.main(["sync", "-vv", "--config", str(path)]) == 0
    saved = googleauth.read_token(tmp_path / "google-token.json")
    client = googleauth.read_client(config_mod.load(path).google)
    shown = capsys.readouterr()
    logged = caplog.text + (tmp_path / "out" / "logs" / "tpd-programs.log").read_text()
    for secret in (saved.refresh_token, saved.token, client.client_secret,
                   fake.oauth.exchanges[0]["code"], fake.oauth.exchanges[0]["code_verifier"]):
        assert secret and secret not in logged + shown.out + shown.err


def test_sync_before_any_login_names_the_command(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    with pytest.raises(SigninError, match="no Google sign-in saved here.*run `tpd-programs login`"):
        read_spreadsheets([(KEY, TAB)], settings)


# -- check ---------------------------------------------------------------------------------------


def test_check_names_the_signed_in_account_and_the_last_refresh(fake: FakeForms, tmp_path: Path):
    path = user_site(tmp_path, fake)
    saved = sign_in(config_mod.load(path).google)
    report = check_file(path)
    found = {what: (ok, detail) for what, ok, detail in report.lines}
    ok, detail = found["google sign-in"]
    assert ok and f"signed in as {USER}" in detail
    local = saved.refreshed.astimezone(config_mod.load(path).department.timezone)
    assert f"token last refreshed {local:%Y-%m-%d %H:%M %Z}" in detail
    assert found["pip source"][0] and found["pip questions"][0]


def test_check_fixes_a_sign_in_others_can_read(fake: FakeForms, tmp_path: Path):
    path = user_site(tmp_path, fake)
    sign_in(config_mod.load(path).google)
    (tmp_path / "google-token.json").chmod(0o644)
    found = {what: (ok, detail) for what, ok, detail in check_file(path).lines}
    assert found["google sign-in"] == (
        False, f"{tmp_path / 'google-token.json'}: other users of this computer can read the "
        f"sign-in: run chmod 600 {tmp_path / 'google-token.json'}")


def test_check_before_login_says_to_run_it(fake: FakeForms, tmp_path: Path):
    path = user_site(tmp_path, fake)
    report = check_file(path)
    found = {what: (ok, detail) for what, ok, detail in report.lines}
    assert not found["google sign-in"][0] and "run `tpd-programs login`" in found["google sign-in"][1]
    assert "fix the Google credentials first" in found["pip source"][1]
    assert not report.ok


# -- logout --------------------------------------------------------------------------------------


def test_logout_revokes_the_sign_in_and_deletes_the_file(
        fake: FakeForms, tmp_path: Path, capsys, restore_logging):
    path = user_site(tmp_path, fake)
    sign_in(config_mod.load(path).google)

    assert cli.main(["logout", "--config", str(path)]) == 0

    assert f"Google revoked the sign-in of {USER}" in capsys.readouterr().out
    assert fake.oauth.revocations == ["refresh"] and fake.oauth.live_refresh_tokens == 0
    assert not (tmp_path / "google-token.json").exists()
    assert cli.main(["logout", "--config", str(path)]) == 0
    assert "Not signed in" in capsys.readouterr().out


def test_logout_of_an_already_revoked_sign_in_deletes_the_file(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    sign_in(settings)
    fake.oauth.revoke_all()
    assert "already ended" in logout(settings)
    assert not settings.token.exists()


def test_logout_keeps_the_file_when_google_cannot_be_reached(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    sign_in(settings)
    unreachable = fake.user_settings(tmp_path, revoke_endpoint="http://127.0.0.1:9/revoke",
                                     client_secrets=settings.client_secrets)
    with pytest.raises(SourceError, match="nothing was deleted"):
        logout(unreachable)
    assert googleauth.read_token(settings.token).refresh_token


def test_a_run_never_writes_over_a_login_or_logout_made_while_it_ran(fake: FakeForms, tmp_path: Path):
    """Guards the newest sign-in: a run that refreshes after a new login saved another
    refresh token (or after a logout deleted the file) leaves the file as it found it."""
    from google.auth.transport.requests import Request

    settings = fake.user_settings(tmp_path)
    sign_in(settings)
    running = googleauth.user_credentials(settings, [googleauth.SHEETS])
    newer = sign_in(settings)  # someone ran `tpd-programs login` meanwhile
    running.refresh(Request())
    assert googleauth.read_token(settings.token).refresh_token == newer.refresh_token
    settings.token.unlink()  # and then `tpd-programs logout`
    running.refresh(Request())
    assert not settings.token.exists()


def test_token_endpoint_unreachable_during_login_saves_nothing(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path, token_endpoint="http://127.0.0.1:9/token",
                                  timeout_seconds=1)
    with Login(settings) as pending:
        browse(pending.url)
        with pytest.raises(SourceError, match="could not reach Google to complete the sign-in"):
            pending.wait(10)
    assert not settings.token.exists()


def test_a_reset_client_secret_names_the_client_file(fake: FakeForms, tmp_path: Path):
    settings = fake.user_settings(tmp_path)
    saved = sign_in(settings)
    fake.oauth.clients[saved.client_id] = "GOCSPX-reset"  # the secret was reset in the console
    age_saved_token(settings.token)
    fake.expire_tokens()
    with pytest.raises(SourceError) as failed:
        read_spreadsheets([(KEY, TAB)], settings)
    message = str(failed.value)
    assert message.startswith(f"{settings.client_secrets}: Google refused the OAuth client")
    assert "invalid_client" in message and "GOCSPX" not in message


def test_a_sheet_the_account_cannot_open_names_the_signed_in_account(fake: FakeForms, tmp_path: Path):
    fake.spreadsheets[KEY].shared = False
    settings = fake.user_settings(tmp_path)
    sign_in(settings)
    with pytest.raises(SourceError) as failed:
        read_spreadsheets([(KEY, TAB)], settings)
    assert str(failed.value) == (
        f"{KEY}: Google Sheets refused access to spreadsheet {KEY} (403 PERMISSION_DENIED: The "
        "caller does not have permission); the spreadsheet must exist and be shared (Viewer is "
        "enough) with the Google account signed in with `tpd-programs login`")
