"""How the toolkit signs in to Google (`[google] auth`): the keys and their errors, and
Application Default Credentials read through real google-auth against the loopback fake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sync import config as config_mod
from sync.check import check_file
from sync.errors import ConfigError, SourceError
from sync.sources.google import read_spreadsheets
from tests import configs
from tests.conftest import PIP_CONFIG
from tests.fake_google import DEFAULT_EMAIL, FakeGoogle

KEY = "1PipResponsesSheet0123456789"
TAB = "Form Responses 1"
HEADER = ["Timestamp", "Email Address", "First Name", "Last Name", "Date of Birth", "Phone",
          "Connection to Torrance", "Organization"]


def write_config(root: Path, google: str, *, sheet: bool = False) -> Path:
    text = configs.pip_from({"spreadsheet": KEY, "worksheet": TAB}) if sheet else PIP_CONFIG
    path = root / "programs.toml"
    path.write_text(text + "\n[google]\n" + textwrap.dedent(google))
    return path


def load_error(root: Path, google: str) -> str:
    with pytest.raises(ConfigError) as failed:
        config_mod.load(write_config(root, google))
    return str(failed.value)


# -- the keys ------------------------------------------------------------------------------------


def test_service_account_stays_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    google = config_mod.load(write_config(tmp_path, 'credentials = "key.json"\n')).google
    assert google.auth == "service_account" and google.credentials == tmp_path / "key.json"
    assert google.client_secrets is None and google.token is None


def test_user_sign_in_keys_resolve_beside_the_configuration(tmp_path: Path):
    google = config_mod.load(write_config(
        tmp_path, 'auth = "user"\nclient_secrets = "client_secret.json"\n')).google
    assert google.auth == "user"
    assert google.client_secrets == tmp_path / "client_secret.json"
    assert google.token == tmp_path / "google-token.json"  # the default
    assert google.token_endpoint == "https://oauth2.googleapis.com/token"
    assert google.revoke_endpoint == "https://oauth2.googleapis.com/revoke"
    assert google.auth_endpoint == "https://accounts.google.com/o/oauth2/auth"
    other = config_mod.load(write_config(
        tmp_path, 'auth = "user"\nclient_secrets = "c.json"\ntoken = "secret/signin.json"\n'))
    assert other.google.token == tmp_path / "secret" / "signin.json"


@pytest.mark.parametrize(("google", "message"), [
    ('auth = "oauth"\n', "google.auth: must be service_account, user or adc, got 'oauth'"),
    ('auth = "user"\n', "google.client_secrets: missing: auth = \"user\" needs the OAuth client's"),
    ('auth = "user"\nclient_secrets = "c.json"\ncredentials = "key.json"\n',
     "google.credentials: is the service account's key, which auth = 'user' does not use"),
    ('auth = "adc"\ncredentials = "key.json"\n',
     "google.credentials: is the service account's key, which auth = 'adc' does not use"),
    ('client_secrets = "c.json"\n', 'google.client_secrets: is used only with auth = "user"'),
    ('auth = "adc"\ntoken = "t.json"\n', 'google.token: is used only with auth = "user"'),
    ('auth = "user"\nclient_secrets = "c.json"\ntoken_endpoint = "oauth2.googleapis.com"\n',
     "google.token_endpoint: must be an http(s) URL, got 'oauth2.googleapis.com'"),
    ('auth = "user"\nclient_secrets = "c.json"\nrefresh_token = "1//0g"\n',
     "google.refresh_token: unknown key (known keys: api_endpoint, auth, auth_endpoint, "
     "client_secrets, credentials, forms_endpoint, max_attempts, retry_seconds, "
     "revoke_endpoint, timeout_seconds, token, token_endpoint)"),
])
def test_google_keys_are_checked_and_named(tmp_path: Path, google: str, message: str):
    assert message in load_error(tmp_path, google)


# -- Application Default Credentials ---------------------------------------------------------------


def test_adc_reads_the_sheet_and_check_names_the_account(
        tmp_path: Path, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch):
    """ADC found through GOOGLE_APPLICATION_CREDENTIALS (here a service-account key whose
    token_uri is the fake), asked for the Sheets scope by the toolkit."""
    fake_google.add_spreadsheet(KEY, tabs={TAB: [HEADER]})
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(fake_google.write_key(tmp_path)))
    settings = fake_google.settings(None, auth="adc")

    tables = read_spreadsheets([(KEY, TAB)], settings)

    assert tables[(KEY, TAB)].headers[0] == "Timestamp"
    path = write_config(tmp_path, f'auth = "adc"\napi_endpoint = "{fake_google.url}"\n', sheet=True)
    found = {what: (ok, detail) for what, ok, detail in check_file(path).lines}
    assert found["google credentials"] == (
        True, f"Application Default Credentials (the service account {DEFAULT_EMAIL})")
    assert found["pip source"][0]


def test_adc_refused_names_the_gcloud_command(
        tmp_path: Path, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch):
    fake_google.add_spreadsheet(KEY, tabs={TAB: [HEADER]})
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(fake_google.write_key(tmp_path)))
    fake_google.revoke_key()
    with pytest.raises(SourceError, match="refused the Application Default Credentials .*"
                       "gcloud auth application-default login"):
        read_spreadsheets([(KEY, TAB)], fake_google.settings(None, auth="adc"))


def test_no_adc_found_says_how_to_make_them(
        tmp_path: Path, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no well-known file
    with pytest.raises(SourceError) as failed:
        read_spreadsheets([(KEY, TAB)], fake_google.settings(None, auth="adc"))
    message = str(failed.value)
    assert message.startswith('google.auth = "adc": no Application Default Credentials')
    assert "gcloud auth application-default login" in message and "tpd-programs login" in message
    from google.auth.compute_engine import _metadata  # tests/conftest.py: never the metadata server
    assert _metadata._NO_GCE_CHECK
