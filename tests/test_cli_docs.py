"""Docs are tested: every command has help text and is described in the README."""

from __future__ import annotations

import re

import pytest

from sync import cli
from tests.conftest import REPO

EXPECTED = {"sync", "check", "rosters", "confirmations", "routes", "purge", "run", "init"}


def test_every_expected_command_exists():
    assert set(cli.COMMANDS) >= EXPECTED


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_command_has_help_text(name: str, capsys):
    help_text, _options = cli.COMMANDS[name]
    assert len(help_text) > 20
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tpd-programs {name}")
    assert help_text.split(";")[0] in " ".join(out.split())
    # Every option explains itself.
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    for action in sub._actions:
        assert action.help, f"{name} {action.option_strings or action.dest}: no help text"


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert re.search(rf"^\s+{name}\s", out, re.MULTILINE), name


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_command_is_in_the_readme(name: str):
    readme = REPO / "README.md"
    assert readme.exists(), "README.md is missing"
    assert f"tpd-programs {name}" in readme.read_text(encoding="utf-8"), (
        f"README.md does not describe `tpd-programs {name}`")


def test_setup_guide_covers_exit_codes_and_scheduling():
    guide = (REPO / "docs" / "setup.md").read_text(encoding="utf-8")
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in guide
    for topic in ("service account", "Share", "questions", "[smtp]", "scripts/README.md",
                  "tpd-programs check", "tpd-programs init"):
        assert topic in guide, topic
    scripts = REPO / "scripts"
    for path in ("run-daily.sh", "cron.example", "systemd/tpd-programs.service",
                 "systemd/tpd-programs.timer", "windows/register-task.ps1",
                 "windows/run-daily.cmd", "README.md"):
        assert (scripts / path).is_file(), path
        assert path.split("/")[-1] in (scripts / "README.md").read_text() or path == "README.md"


def test_systemd_units_are_valid(tmp_path):
    """The service and timer load without warnings (paths pointed at this checkout)."""
    import getpass
    import shutil
    import subprocess

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    user = getpass.getuser()
    service = (REPO / "scripts" / "systemd" / "tpd-programs.service").read_text()
    service = (service.replace("/opt/tpd-programs", str(REPO))
               .replace("User=tpd-programs", f"User={user}")
               .replace("Group=tpd-programs", f"Group={user}"))
    (tmp_path / "tpd-programs.service").write_text(service)
    shutil.copy(REPO / "scripts" / "systemd" / "tpd-programs.timer", tmp_path)
    done = subprocess.run([analyze, "verify", "./tpd-programs.timer", "./tpd-programs.service"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tpd-programs" not in done.stdout + done.stderr  # no "file:line: ..." warnings
