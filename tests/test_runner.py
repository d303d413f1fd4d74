"""`tpd-programs run`: the daily job, its step isolation, exit codes, log file and notices."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sync import cli
from sync import config as config_mod
from sync.master import progress
from sync.run import FAILED, OK, SKIPPED, StepResult, run
from sync.sources.exports import read_export
from sync.state import logfile
from tests import configs
from tests.configs import Replace
from tests.conftest import REPO, Site
from tests.helpers import step_lines
from tests.loopback_smtp import LoopbackSmtp

STAFF = "staff@example.org"


def personal_values(config_path: Path) -> set[str]:
    """Names, emails, phones and birthdates from every source file of a configuration."""
    cfg = config_mod.load(config_path)
    fields = ("first_name", "last_name", "student_first_name", "student_last_name",
              "counselor_name", "guardian_name", "email", "student_email", "guardian_email",
              "counselor_email", "phone", "student_phone", "guardian_phone", "date_of_birth",
              "street", "emergency_contact_name", "emergency_contact_phone")
    values: set[str] = set()
    for program in cfg.programs.values():
        assert program.source.file is not None
        table = read_export(program.source.file)
        titles = {program.questions[f] for f in fields if f in program.questions}
        for row in table.rows:
            for title, value in table.answers(row).items():
                if title in titles and value not in (None, ""):
                    values.add(str(value).strip())
    return values


def assert_no_personal_data(text: str, values: set[str]) -> None:
    digits = re.sub(r"\D", "", text)
    for value in values:
        if "@" in value or re.fullmatch(r"[\d()+ .-]{10,}", value):
            assert value.casefold() not in text.casefold(), value
            only = re.sub(r"\D", "", value)[-10:]
            assert len(only) < 10 or only not in digits, value
        elif len(value) >= 3:
            assert not re.search(rf"\b{re.escape(value)}\b", text), value


def test_run_over_the_example_data(example_site: Path, capsys):
    """Every step runs in order and succeeds; the log is owner-only and holds no personal data."""
    assert cli.main(["run", "--config", str(example_site)]) == 0
    out = capsys.readouterr().out
    assert step_lines(out) == {"sync": "ok", "rosters": "ok", "confirmations": "ok", "routes": "ok"}
    assert "Run finished: every step succeeded" in out
    cfg = config_mod.load(example_site)
    log = logfile.log_path(cfg.output)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    text = log.read_text()
    for step in ("sync", "rosters", "confirmations", "routes"):
        assert re.search(rf"sync\.run: {step}\s+ok\s+\d+\.\d s", text), step
    assert "run finished in" in text
    values = personal_values(example_site)
    assert len(values) > 100  # the scan below has something to find
    assert_no_personal_data(text + out, values)


def future_site(root: Path, server: LoopbackSmtp, send: bool) -> Site:
    """Three eligible applicants for a class far in the future and one without a Torrance
    affiliation, whose "ineligible" confirmation is due."""
    cohort = configs.PIP["programs"]["pip"]["cohorts"][0] | {
        "start": dt.date(2099, 3, 5), "registration_opens": dt.date(2026, 1, 1),
        "registration_closes": dt.date(2099, 3, 4)}
    text = configs.toml(configs.edited(configs.PIP, {"programs": {"pip": {"cohorts": Replace([cohort])}}}))
    text += textwrap.dedent(f"""
        [smtp]
        host = "127.0.0.1"
        port = {server.port}
        security = "none"
        from = "Community Programs <programs@example.org>"
        send = {"true" if send else "false"}
        notify = ["{STAFF}"]
        """)
    s = Site(root, text)
    s.write_pip([
        '3/1/2026 10:00:00,ann@example.com,Ann,Smith,1/2/1980,(310) 555-0101,I live in Torrance,',
        '3/1/2026 11:00:00,bob@example.com,Bob,Jones,4/5/1975,310-555-0102,I work in Torrance,',
        '3/2/2026 09:30:00,cy@example.com,Cy,Lee,7/8/1990,310 555 0103,I live in Torrance,',
        '3/3/2026 12:00:00,dee@example.com,Dee,Young,1/1/1985,310-555-0104,I visit Torrance,',
    ])
    return s


def test_failed_sync_other_steps_run_sending_waits_and_staff_are_told(tmp_path: Path, capsys):
    with LoopbackSmtp() as server:
        site = future_site(tmp_path, server, send=False)
        assert cli.main(["run", "--config", str(site.config_path)]) == 0
        out = capsys.readouterr().out
        assert "1 due, 1 written; written to the outbox only" in out
        assert server.messages == []

        # Sending is switched on, and the same morning the export has gone missing.
        site.config_path.write_text(site.config_path.read_text().replace("send = false",
                                                                          "send = true"))
        csv_text = (site.root / "pip.csv").read_text()
        (site.root / "pip.csv").unlink()
        assert cli.main(["run", "--config", str(site.config_path)]) == 1
        out = capsys.readouterr().out
        assert step_lines(out) == {"sync": FAILED, "rosters": OK, "confirmations": OK,
                                   "routes": SKIPPED}
        failed = next(line for line in out.splitlines() if line.startswith("sync"))
        assert "pip.csv: export file not found" in failed
        assert "Next: run `tpd-programs check`" in failed
        assert "not sent: the sync failed" in out
        assert "Failure notice sent to 1 address(es)." in out
        # Exactly one message went out: the notice to staff, not the confirmation.
        assert len(server.messages) == 1
        sender, recipients, notice = server.messages[0]
        assert recipients == [STAFF]
        assert sender == "programs@example.org"
        assert notice["Subject"].endswith("failed (sync)")
        body = notice.get_content()
        assert "FAILED" in body
        assert "Next:" in body
        assert str(logfile.log_path(site.out)) in body
        assert_no_personal_data(body, {"Ann", "Smith", "Dee", "Young", "ann@example.com",
                                       "(310) 555-0101", "1/2/1980"})

        # The export is back: the confirmation goes out, once, and nobody is notified.
        (site.root / "pip.csv").write_text(csv_text)
        assert cli.main(["run", "--config", str(site.config_path)]) == 0
        assert [r for _s, r, _m in server.messages[1:]] == [["dee@example.com"]]
        assert cli.main(["run", "--config", str(site.config_path)]) == 0
        assert len(server.messages) == 2  # never twice
    log = logfile.log_path(site.out).read_text()
    assert "failure notice sent to 1 address(es)" in log
    assert_no_personal_data(log, {"Ann", "Smith", "Dee", "Young", "dee@example.com",
                                  "ann@example.com", "310-555-0104", "1/1/1985"})


def test_before_any_good_sync_the_other_steps_are_skipped(site: Site, capsys):
    (site.root / "pip.csv").unlink()
    assert cli.main(["run", "--config", str(site.config_path)]) == 1
    out = capsys.readouterr().out
    assert step_lines(out) == {"sync": FAILED, "rosters": SKIPPED, "confirmations": SKIPPED,
                               "routes": SKIPPED}
    assert out.count("no successful sync yet") == 3
    assert "Failure notice" not in out  # no [smtp] notify configured


def test_unexpected_error_names_its_place_never_its_message(site: Site):
    """An outside error's message may quote a cell; the report shows its type and place."""
    from sync.run import DEFAULT_STEPS

    ran = []

    def broken(config, state):
        raise ValueError("bad value 'ann@example.com' in row 3")

    def later(config, state):
        ran.append(state["sync_ok"])
        return StepResult({"things": 2}, ["PIP-00001"])

    report = run(site.config(), {"sync": DEFAULT_STEPS["sync"], "broken": broken,
                                 "later": later})
    assert not report.ok
    assert report.failed == ["broken"]
    assert ran == [True]
    line = report.steps[1].line()
    assert re.search(r"unexpected ValueError at test_runner\.py:\d+", line)
    assert "ann@example.com" not in line
    assert "Next: an unexpected error" in line
    assert report.steps[2].line().endswith("2 things; records PIP-00001")
    log = logfile.log_path(site.out)
    assert not log.exists()  # the library writes no log file of its own; the CLI attaches it


def test_exit_codes(site: Site, capsys):
    assert cli.main(["run", "--config", str(site.config_path)]) == 0
    with pytest.raises(SystemExit) as usage:
        cli.main(["run", "--no-such-option"])
    assert usage.value.code == 2
    assert cli.main(["run", "--config", str(site.root / "missing.toml")]) == 1
    assert "configuration file not found" in capsys.readouterr().err


def test_log_filter_blanks_emails_and_phones_but_keeps_ids_dates_and_counts(tmp_path: Path):
    import logging

    logger = logging.getLogger("tests.logfile")
    handler = logfile.attach(tmp_path / "out", logger=logger)
    try:
        logger.info("PIP-00042 on 2020-03-05: %s and %s, 12 rows in 3.5 s, key 1AbC0123456789",
                    "ann@example.com", "(310) 555-0101")
        logger.info("also 310-555-0102, 3105550103 and +1 310 555 0104")
    finally:
        logfile.detach(handler, logger=logger)
    text = logfile.log_path(tmp_path / "out").read_text()
    assert "PIP-00042 on 2020-03-05: [redacted] and [redacted], 12 rows in 3.5 s" in text
    assert "key 1AbC0123456789" in text
    assert "also [redacted], [redacted] and [redacted]" in text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_stays_quiet_otherwise(monkeypatch):
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    screen = Terminal()
    assert list(progress.iterate(["pip", "tap", "vsc"], "programs", stream=screen)) == [
        "pip", "tap", "vsc"]
    assert "\rprograms: 3/3" in screen.getvalue()
    assert screen.getvalue().endswith(" s)\n")
    pipe = io.StringIO()
    assert list(progress.iterate(iter(range(5)), "rows", stream=pipe)) == list(range(5))
    assert pipe.getvalue() == ""
    progress.configure(False)  # what --quiet does
    try:
        screen = Terminal()
        list(progress.iterate([1, 2], "rows", stream=screen))
        assert screen.getvalue() == ""
    finally:
        progress.configure(None)


def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path: Path, capsys):
    folder = tmp_path / "dept"
    assert cli.main(["init", str(folder)]) == 0
    assert "Next: edit" in capsys.readouterr().out
    config = folder / "programs.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    bundled = sorted(p.name for p in (REPO / "templates").iterdir() if p.is_file())
    assert sorted(p.name for p in (folder / "templates").iterdir()) == bundled
    text = config.read_text()
    assert 'folder = "out"' in text
    assert 'credentials = "service-account.json"' in text
    assert text.count('spreadsheet = "paste the address') == 3
    # Until the sources are filled in, check names the key to fix.
    assert cli.main(["check", "--config", str(config)]) == 1
    assert "programs.pip.source.spreadsheet: not a spreadsheet key or URL" in \
        capsys.readouterr().out

    config.write_text("# staff's own\n")
    assert cli.main(["init", str(folder)]) == 1
    assert "--force" in capsys.readouterr().err
    assert config.read_text() == "# staff's own\n"
    assert cli.main(["init", str(folder), "--force"]) == 0
    assert config.read_text() == text


def test_init_with_examples_runs_offline(tmp_path: Path, capsys):
    folder = tmp_path / "try"
    assert cli.main(["init", str(folder), "--examples"]) == 0
    config = folder / "programs.toml"
    assert cli.main(["check", "--config", str(config)]) == 0, capsys.readouterr().out
    assert cli.main(["run", "--config", str(config)]) == 0
    assert (folder / "out" / "master.xlsx").exists()


@pytest.mark.skipif(os.name == "nt", reason="the POSIX wrapper")
def test_run_daily_wrapper_is_quiet_under_a_scheduler(example_site: Path, tmp_path: Path):
    # The virtual environment running these tests: the README's `.venv`, or whichever one
    # ran pytest. Never a folder outside the checkout.
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").exists():
        pytest.skip("the tests are not running in a virtual environment")
    env_file = tmp_path / "secrets.env"
    env_file.write_text("TPD_TEST_MARKER=1\n")
    env = {"PATH": "/usr/bin:/bin", "TPD_VENV": str(venv), "TPD_ENV_FILE": str(env_file),
           "HOME": str(tmp_path)}
    done = subprocess.run([str(REPO / "scripts" / "run-daily.sh"), str(example_site)],
                          env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress drawn, no warnings: nothing for cron to mail
    # --quiet: only the steps that need a look (the example's rosters warn); all in the log
    assert step_lines(done.stdout) == {"rosters": "ok"}
    log_text = (example_site.parent.parent / "out" / "logs" / "tpd-programs.log").read_text()
    logged = [line.partition(" INFO sync.run: ")[2] for line in log_text.splitlines()]
    assert set(step_lines("\n".join(logged))) == {"sync", "rosters", "confirmations", "routes"}
    missing = subprocess.run([str(REPO / "scripts" / "run-daily.sh"), str(example_site)],
                             env={**env, "TPD_VENV": str(tmp_path / "nowhere")},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "set TPD_VENV" in missing.stderr

