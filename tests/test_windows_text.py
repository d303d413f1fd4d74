"""Windows text hazards, simulated on Linux: paths in TOML, encodings, names that differ in case.

- Paths in TOML: in a double-quoted string a backslash starts an escape, so "C:\\new\\folder"
  loads as a new line and a form feed, and "C:\\Users\\..." is a TOML error ("Invalid hex
  value"). Both must be one message naming the key or line, with the hint to use single
  quotes or forward slashes.
- Encodings: a console whose code page is cp1252 (simulated with PYTHONIOENCODING=cp1252 and a
  cp1252 TextIOWrapper), templates and a geocode CSV saved as "ANSI" (Windows-1252) or with
  a UTF-8 byte-order mark, as Notepad and Excel on Windows write them.
- Names that differ only in case: Windows file systems and Excel sheet titles ignore case,
  so two class IDs or two beat names that differ only in case (or in characters a file name
  cannot hold) would make one roster file or one sheet.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sync import cli, config, confirmations, init
from sync.confirmations import render
from sync.errors import ConfigError, TemplateError
from sync.master import syncer
from sync.vacation.routing import read_geocodes
from tests.conftest import PIP_CONFIG, REPO, Site
from tests.helpers import set_status

HINT = "single quotes"
BOM = b"\xef\xbb\xbf"
VIETNAMESE = ("Ánh", "Nguyễn")  # "ễ" (U+1EC5) has no Windows-1252 byte


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "programs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _example(tmp_path: Path) -> str:
    shutil.copytree(REPO / "config", tmp_path / "config", dirs_exist_ok=True)
    return (REPO / "config" / "example.toml").read_text(encoding="utf-8")


def _load_example(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "config" / "programs.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


# -- 7. Windows paths in TOML -----------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "key"), [
    ('folder = "../out"', r'folder = "C:\new\folder"', "output.folder"),
    ('file = "examples/partners-in-policing-responses.csv"', r'file = "C:\temp\new.csv"',
     "programs.pip.source.file"),
    ('# credentials = "service-account.json"', r'credentials = "C:\new\rt-key.json"',
     "google.credentials"),
    ("[programs.vsc.rules]\n", "[programs.vsc.rules]\n" + r'geocodes = "D:\routes\beats.csv"' + "\n",
     "programs.vsc.rules.geocodes"),
])
def test_a_backslash_escape_in_a_double_quoted_path_is_refused_naming_the_key(tmp_path, old, new,
                                                                             key):
    """Guards point 7: "C:\\new\\folder" silently became C:<new line>ew<form feed>older, a
    folder nobody asked for. Every path-valued key refuses a control character, names the
    key and says how to write a Windows path. (Each value here uses only escapes TOML knows:
    \\n, \\t, \\r, \\b, \\f.)"""
    text = _example(tmp_path)
    assert old in text
    with pytest.raises(ConfigError) as err:
        _load_example(tmp_path, text.replace(old, new, 1))
    message = str(err.value)
    assert f": {key}: " in message and HINT in message and "forward slashes" in message


@pytest.mark.parametrize(("line", "problem"), [
    (r'folder = "C:\Users\staff\out"', "Invalid hex value"),
    (r'folder = "C:\Program Files\TPD\out"', "Unescaped"),
])
def test_a_toml_escape_error_names_the_line_the_key_and_the_hint(tmp_path, capsys, line, problem):
    """Guards point 7: "C:\\Users\\..." stopped every run with tomllib's bare "Invalid hex value
    (at line 12, column 20)". The message names the file's line and key, says why, and how."""
    text = PIP_CONFIG.replace('folder = "out"', line)
    number = text.splitlines().index(line) + 1
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{number}: output.folder: ")
    assert problem in message and HINT in message and "backslash" in message
    assert cli.main(["sync", "--config", str(path)]) == 1
    assert f"{path}:{number}: output.folder" in capsys.readouterr().err


def test_windows_paths_in_single_quotes_or_with_forward_slashes_load(tmp_path):
    """The two spellings the hint recommends really work, backslashes kept as written."""
    single = config.load(_write(tmp_path, PIP_CONFIG.replace('folder = "out"',
                                                             r"folder = 'C:\new\folder'")))
    assert str(single.output).endswith(r"C:\new\folder")
    forward = config.load(_write(tmp_path, PIP_CONFIG.replace('folder = "out"',
                                                              'folder = "C:/new/folder"')))
    assert str(forward.output).endswith("C:/new/folder".replace("/", os.sep))


def test_a_configuration_saved_with_a_bom_or_as_ansi_is_read_or_named(tmp_path, capsys):
    """Notepad saves "UTF-8 with BOM" (older Windows) or "ANSI": the first was "Invalid
    statement (at line 1, column 1)", the second a UnicodeDecodeError traceback."""
    path = tmp_path / "programs.toml"
    path.write_bytes(BOM + PIP_CONFIG.encode("utf-8"))
    assert config.load(path).department.city == "Torrance"
    text = PIP_CONFIG.replace('name = "Spring 2020"', 'name = "Primavera, Señor"')
    number = text.splitlines().index('name = "Primavera, Señor"') + 1
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{number}: .*UTF-8"):
        config.load(path)
    assert cli.main(["sync", "--config", str(path)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_the_example_and_the_starter_show_windows_paths_in_single_quotes(tmp_path):
    """The configuration staff copy shows a Windows path the way that works, and every
    commented example of one loads as the path it shows."""
    example = (REPO / "config" / "example.toml").read_text(encoding="utf-8")
    made = init.starter_config(example, examples=False, today=dt.date.today())
    for text in (example, made):
        shown = re.findall(r"^#\s*(\w+ = '[A-Z]:\\[^']*')", text, flags=re.MULTILINE)
        assert shown, "no single-quoted Windows path in the comments"
        for line in shown:
            value = next(iter(tomllib.loads(line).values()))
            assert "\\" in value and not re.search(r"[\x00-\x1f]", value)


# -- 9. Encodings ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vietnamese(tmp_path_factory) -> Site:
    """A site whose one record, PIP-00001, is accepted and has a Vietnamese name."""
    s = Site(tmp_path_factory.mktemp("vietnamese"))
    first, last = VIETNAMESE
    s.write_pip([f"3/1/2020 10:00:00,anh@example.com,{first},{last},1/2/1980,(310) 555-0101,"
                 "I live in Torrance,"])
    syncer.sync(s.config())
    set_status(s, {"PIP-00001": "Accepted"})
    return s


def test_preview_through_a_cp1252_console_redirected_to_a_file(vietnamese):
    """Guards point 9: `--preview` of a Vietnamese name died with UnicodeEncodeError when the
    console's code page was cp1252 and the output went to a file (a scheduled task's log)."""
    env = dict(os.environ, PYTHONIOENCODING="cp1252", PYTHONUTF8="0")
    result = subprocess.run(
        [sys.executable, "-m", "sync", "confirmations", "--config", str(vietnamese.config_path),
         "--preview", "PIP-00001"], env=env, cwd=REPO, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode("cp1252", "replace")
    out = result.stdout.decode("cp1252")
    assert "Dear Ánh," in out and "Nguy\\u1ec5n" in out
    assert b"Traceback" not in result.stderr


def test_cli_output_and_errors_survive_a_cp1252_stream(vietnamese, tmp_path, monkeypatch):
    """The same in-process: stdout and stderr are cp1252 text streams over bytes (strict, as
    a redirected Windows console is), for the preview and for an error naming a folder."""
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="cp1252") for _ in range(2))
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    root = logging.getLogger()  # main() points a handler at this stderr: put the old ones back
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    assert cli.main(["confirmations", "--config", str(vietnamese.config_path),
                     "--preview", "PIP-00001"]) == 0
    missing = tmp_path / "Nguyễn" / "programs.toml"
    assert cli.main(["sync", "--config", str(missing)]) == 1
    out.flush()
    err.flush()
    assert "Nguy\\u1ec5n" in out.buffer.getvalue().decode("cp1252")
    assert "Nguy\\u1ec5n" in err.buffer.getvalue().decode("cp1252")
    assert "configuration file not found" in err.buffer.getvalue().decode("cp1252")


def _own_templates(site: Site) -> Path:
    folder = site.root / "templates"
    shutil.copytree(render.BUNDLED, folder, dirs_exist_ok=True)
    return folder


@pytest.fixture
def accepted(vietnamese, tmp_path) -> Site:
    """A copy of the Vietnamese site that a test may change."""
    shutil.copytree(vietnamese.root, tmp_path / "site")
    return Site(tmp_path / "site")  # rewrites the same configuration


@pytest.mark.parametrize("name", ["pip-accepted.txt", "_signature.txt", "_layout.html"])
def test_a_template_saved_as_ansi_is_a_template_error_naming_file_line_and_fix(accepted, capsys,
                                                                               name):
    """Guards point 9: a template saved as "ANSI" ("Señor" with ñ as the one byte 0xF1) was a
    UnicodeDecodeError: no confirmation went out and the hint said "report it". Now a
    TemplateError names the file, the line and how to save it as UTF-8; nothing is written."""
    folder = _own_templates(accepted)
    path = folder / name
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines.insert(1, "Estimado Señor,\n")
    path.write_bytes("".join(lines).encode("cp1252"))
    with pytest.raises(TemplateError) as err:
        confirmations.confirm(accepted.config())
    message = str(err.value)
    assert message.startswith(f"{path}:2: ") and "UTF-8" in message and "0xF1" in message
    assert not list((accepted.out / "outbox").glob("*.eml"))
    assert cli.main(["confirmations", "--config", str(accepted.config_path)]) == 1
    shown = capsys.readouterr().err
    assert f"{path}:2: " in shown and "Traceback" not in shown


def test_a_bom_in_a_template_stays_out_of_the_subject_and_body(accepted, capsys):
    """Guards point 9: Notepad's "UTF-8 with BOM" put U+FEFF at the start of the Subject."""
    folder = _own_templates(accepted)
    for name in ("pip-accepted.subject.txt", "pip-accepted.txt", "pip-accepted.html",
                 "_layout.html", "_signature.txt"):
        path = folder / name
        path.write_bytes(BOM + path.read_bytes())
    assert cli.main(["confirmations", "--config", str(accepted.config_path),
                     "--preview", "PIP-00001"]) == 0
    out = capsys.readouterr().out
    assert "\nSubject: Your seat in Partners in Policing" in out
    assert "\ufeff" not in out  # nor in the text and HTML bodies the preview shows


GEOCODES = ("address,latitude,longitude\n1234 Calle Señora,33.8361,-118.3406\n"
            "3300 Civic Center Dr,33.83,-118.34\n")


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-8"])
def test_the_geocode_csv_is_read_as_excel_on_windows_saves_it(tmp_path, caplog, encoding):
    """Guards point 9: a geocode CSV saved by Excel on Windows (Windows-1252) was refused as
    "cannot read the CSV". It is read the way form exports are (UTF-8, with or without BOM,
    else Windows-1252), and only the file's name is logged."""
    path = tmp_path / "geo.csv"
    path.write_bytes(GEOCODES.replace("\n", "\r\n").encode(encoding))
    with caplog.at_level(logging.WARNING):
        points = read_geocodes(path)
    assert len(points) == 2
    assert points["1234 calle senora"] == (33.8361, -118.3406)  # the key folds accents
    if encoding == "cp1252":
        assert "geo.csv: not UTF-8; reading it as Windows-1252" in caplog.text
    assert "Señora" not in caplog.text


# -- 10. Names that differ only in case ---------------------------------------------------------

SECOND_COHORT = """
[[programs.pip.cohorts]]
id = "{id}"
name = "Spring 2020 (second)"
start = 2020-03-06
sessions = 12
weekday = "Friday"
capacity = 3
"""


@pytest.mark.parametrize("other", ["2020-Spring", "2020 spring", "2020/spring",
                                   "2020-spring."])
def test_class_ids_whose_roster_files_collide_are_refused_naming_both_keys(tmp_path, other):
    """Guards point 10: "2020-Spring" and "2020-spring" make one roster file on Windows (file
    names ignore case there), and "2020 spring" the same file everywhere: the second class's
    roster replaced the first's and its attendance ticks were read as the first's."""
    path = _write(tmp_path, PIP_CONFIG + SECOND_COHORT.format(id=other))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert "programs.pip.cohorts[0].id" in message and "programs.pip.cohorts[1].id" in message
    assert "pip-2020-spring.xlsx" in message.casefold()


def test_tap_semesters_are_checked_too_and_pip_and_tap_may_share_an_id(tmp_path):
    text = _example(tmp_path)
    assert _load_example(tmp_path, text).program("tap").cohorts[0].id == "2020-spring"  # as PIP's
    head, tail = text.rsplit('id = "2020-fall"', 1)
    with pytest.raises(ConfigError) as err:
        _load_example(tmp_path, head + 'id = "2020-SPRING"' + tail)
    message = str(err.value)
    assert "programs.tap.semesters[0].id" in message and "programs.tap.semesters[1].id" in message


def test_beat_names_that_differ_only_in_case_are_refused_naming_both_keys(tmp_path):
    """Guards point 10: each beat is a sheet of the route workbook, and Excel sheet titles
    ignore case: "Beat 1" and "beat 1" would be one sheet, so they are refused; so is a beat
    named like the sheet of residences that match no beat."""
    text = _example(tmp_path)
    with pytest.raises(ConfigError) as err:
        _load_example(tmp_path, text.replace('name = "Beat 3 - South Torrance"',
                                             'name = "beat 1 - north torrance"'))
    message = str(err.value)
    assert "programs.vsc.rules.beats[0].name" in message
    assert "programs.vsc.rules.beats[2].name" in message
    with pytest.raises(ConfigError, match=r"programs\.vsc\.rules\.beats\[3\]\.name.*Unassigned"):
        _load_example(tmp_path, text.replace('name = "Beat 4 - East Torrance"',
                                             'name = "unassigned"'))
