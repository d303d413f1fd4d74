"""Configuration: loads, resolves paths from its own folder, and every error names the key."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from sync import config
from sync.errors import ConfigError
from tests import configs
from tests.configs import Replace
from tests.conftest import PIP_CONFIG


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "programs.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_and_resolves_relative_paths_from_config_folder(tmp_path: Path):
    cfg = config.load(write(tmp_path, PIP_CONFIG))
    assert cfg.output == tmp_path / "out"
    assert cfg.program("pip").source.file == tmp_path / "pip.csv"
    assert cfg.department.timezone.key == "America/Los_Angeles"
    cohort = cfg.program("pip").cohorts[0]
    assert cohort.start == dt.date(2020, 3, 5) and cohort.weekday == 3
    assert cohort.start_time == dt.time(18, 0) and cohort.capacity == 3


def test_spreadsheet_url_is_reduced_to_its_key(tmp_path: Path):
    text = configs.toml(configs.edited(configs.PIP, {"programs": {"pip": {"source": Replace({
        "spreadsheet": "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp_qrs-TUV/edit#gid=0"})}}}))
    source = config.load(write(tmp_path, text)).program("pip").source
    assert source.spreadsheet == "1AbCdEfGhIjKlMnOp_qrs-TUV"
    assert source.worksheet == "Form Responses 1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("[programs.pip.source]", "[programs.xyz.source]\nfile = 'a.csv'\n"
                             "[programs.pip.source]"), "programs.xyz: unknown program"),
        (lambda t: t.replace('email = "Email Address"', 'emial = "Email Address"'),
         "programs.pip.questions.emial: unknown field"),
        (lambda t: t.replace('last_name = "Last Name"\n', ""),
         "programs.pip.questions.last_name: missing"),
        (lambda t: t.replace('file = "pip.csv"', 'file = "pip.csv"\nspreadsheet = "abcdefghijklmnop"'),
         "programs.pip.source: give exactly one of spreadsheet"),
        (lambda t: t.replace('file = "pip.csv"', ""), "programs.pip.source: give exactly one"),
        (lambda t: t.replace('file = "pip.csv"', 'file = "pip.txt"'),
         "programs.pip.source.file: must be a .csv or .xlsx"),
        (lambda t: t.replace('"America/Los_Angeles"', '"Mars/Olympus"'),
         "department.timezone: unknown time zone"),
        # a region is a folder of zones, not a zone: it must not become a traceback
        (lambda t: t.replace('"America/Los_Angeles"', '"America"'),
         "department.timezone: unknown time zone 'America'"),
        (lambda t: t.replace('"America/Los_Angeles"', '"Pacific"'),
         "department.timezone: unknown time zone 'Pacific'"),
        (lambda t: t.replace('"90501", ', '"9050", '), "department.zip_codes: '9050'"),
        (lambda t: t.replace("capacity = 3", 'capacity = "forty"'),
         "programs.pip.cohorts[0].capacity: must be int"),
        (lambda t: t.replace('weekday = "Thursday"', 'weekday = "Thursdy"'),
         "programs.pip.cohorts[0].weekday"),
        (lambda t: t.replace("start = 2020-03-05", 'start = "March 5"'),
         "programs.pip.cohorts[0].start: must be a date"),
        (lambda t: t + '\n[smtp]\nhost = "h"\nfrom = "a@b.c"\npassword = "hunter2"\n',
         "smtp.password: never put a password in the file"),
        (lambda t: t + '\n[smtp]\nhost = "h"\nfrom = "a@b.c"\nsecurity = "tls"\n',
         "smtp.security: must be starttls, ssl or none"),
        (lambda t: t + "\n[surprise]\nx = 1\n", "surprise: unknown key"),
        (lambda t: t.replace("[department]", "[department]\ncity2 = 'x'"), "department.city2: unknown key"),
        (lambda t: t + "\nnot toml at all [", "not valid TOML"),
    ],
)
def test_every_config_error_names_the_key(tmp_path: Path, change, message):
    path = write(tmp_path, change(PIP_CONFIG))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        config.load(tmp_path / "nope.toml")


def test_smtp_password_comes_from_the_named_environment_variable(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TPD_TEST_SMTP_PASSWORD", "s3cret")
    text = PIP_CONFIG + textwrap.dedent("""
        [smtp]
        host = "smtp.example.org"
        username = "programs"
        password_env = "TPD_TEST_SMTP_PASSWORD"
        from = "Community Programs <programs@example.org>"
    """)
    smtp = config.load(write(tmp_path, text)).smtp
    assert smtp is not None
    assert smtp.password == "s3cret" and smtp.port == 587 and smtp.security == "starttls"
    assert "s3cret" not in repr(smtp)


def test_example_configuration_loads():
    repo = Path(__file__).resolve().parents[1]
    cfg = config.load(repo / "config" / "example.toml")
    assert set(cfg.programs) == {"pip", "tap", "vsc"}
    spring = config.load(repo / "config" / "example.toml").program("pip").cohorts[0]
    assert (spring.id, spring.start) == ("2020-spring", dt.date(2020, 3, 5))
