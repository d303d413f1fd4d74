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


def _cohort(**changes: object) -> dict[str, object]:
    """The PIP configuration's cohort list, its one class changed."""
    cohort = configs.PIP["programs"]["pip"]["cohorts"][0] | changes
    return {"programs": {"pip": {"cohorts": Replace([cohort])}}}


ZIPS = configs.DEPARTMENT["zip_codes"]


@pytest.mark.parametrize(
    ("changes", "appended", "message"),
    [
        ({"programs": {"xyz": {"source": {"file": "a.csv"}}}}, "", "programs.xyz: unknown program"),
        ({"programs": {"pip": {"questions": {"email": None, "emial": "Email Address"}}}}, "",
         "programs.pip.questions.emial: unknown field"),
        ({"programs": {"pip": {"questions": {"last_name": None}}}}, "",
         "programs.pip.questions.last_name: missing"),
        ({"programs": {"pip": {"source": {"spreadsheet": "abcdefghijklmnop"}}}}, "",
         "programs.pip.source: give exactly one of spreadsheet"),
        ({"programs": {"pip": {"source": {"file": None}}}}, "", "programs.pip.source: give exactly one"),
        ({"programs": {"pip": {"source": {"file": Replace("pip.txt")}}}}, "",
         "programs.pip.source.file: must be a .csv or .xlsx"),
        ({"department": {"timezone": Replace("Mars/Olympus")}}, "", "department.timezone: unknown time zone"),
        # a region is a folder of zones, not a zone: it must not become a traceback
        ({"department": {"timezone": Replace("America")}}, "",
         "department.timezone: unknown time zone 'America'"),
        ({"department": {"timezone": Replace("Pacific")}}, "",
         "department.timezone: unknown time zone 'Pacific'"),
        ({"department": {"zip_codes": Replace(["9050", *ZIPS[1:]])}}, "", "department.zip_codes: '9050'"),
        (_cohort(capacity="forty"), "", "programs.pip.cohorts[0].capacity: must be int"),
        (_cohort(weekday="Thursdy"), "", "programs.pip.cohorts[0].weekday"),
        (_cohort(start="March 5"), "", "programs.pip.cohorts[0].start: must be a date"),
        ({"smtp": {"host": "h", "from": "a@b.c", "password": "hunter2"}}, "",
         "smtp.password: never put a password in the file"),
        ({"smtp": {"host": "h", "from": "a@b.c", "security": "tls"}}, "",
         "smtp.security: must be starttls, ssl or none"),
        ({"surprise": {"x": 1}}, "", "surprise: unknown key"),
        ({"department": {"city2": "x"}}, "", "department.city2: unknown key"),
        ({}, "\nnot toml at all [", "not valid TOML"),  # the file's syntax itself
    ],
)
def test_every_config_error_names_the_key(tmp_path: Path, changes, appended, message):
    path = write(tmp_path, configs.toml(configs.edited(configs.PIP, changes)) + appended)
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
