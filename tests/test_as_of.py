"""`--as-of YYYY-MM-DD`: every command runs as if today were that day, from the one clock;
and the README's first command shows the whole product on the bundled example."""

from __future__ import annotations

import ast
import datetime as dt
import email
import email.policy
import importlib.util
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import cli
from sync import config as config_mod
from sync.master.restore import RESTORED
from sync.master.syncer import STATE
from sync.state import clock
from sync.state.store import Store
from sync.vacation.checklog import read_route_file, route_files
from sync.xlsx.reading import read_sheets
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("restore_logging")

EXAMPLE_DAY = "2020-11-25"  # the README's first command: classes in session, trips under way


def _script():
    """scripts/make_readme_images.py, which makes the README's pictures."""
    spec = importlib.util.spec_from_file_location(
        "make_readme_images", REPO / "scripts" / "make_readme_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _summary_rows(master: Path) -> list[tuple]:
    return read_sheets(master, ["Summary"])["Summary"]


def _program_figures(master: Path) -> dict[str, dict[str, object]]:
    rows = _summary_rows(master)
    top = next(i for i, r in enumerate(rows) if r and r[0] == "Program")
    header = rows[top]
    out = {}
    for row in rows[top + 1:]:
        if not row or row[0] is None:
            break
        out[row[0]] = dict(zip(header, row, strict=False))
    return out


# -- the clock ---------------------------------------------------------------------------------


def test_the_clock_reads_the_as_of_day_at_the_real_time_of_day(example_site):
    """Guards the clock's setting: today is the day given, the time of day is the real one in
    the department's zone, and the clock keeps running (a later reading is not earlier)."""
    day = dt.date(2020, 11, 25)
    config = config_mod.load(example_site, as_of=day)
    zone = config.department.timezone
    real = dt.datetime.now(zone)
    first = clock.now(config)
    assert clock.today(config) == day and first.date() == day
    assert abs(dt.datetime.combine(dt.date.min, first.time())
               - dt.datetime.combine(dt.date.min, real.time().replace(microsecond=0))
               ) <= dt.timedelta(seconds=5)
    assert clock.moment(config).tzinfo is zone and clock.moment(config).date() == day
    assert clock.now(config) >= first
    plain = config_mod.load(example_site)
    assert plain.as_of is None and clock.today(plain) == dt.datetime.now(zone).date()


def test_only_the_clock_reads_the_real_date():
    """Guards the one clock: outside sync/state/clock.py, the real time is read only where it
    is the server's or Google's business (file names of backups, the lock, sign-in tokens,
    Retry-After), never for a date the toolkit works from or writes for staff."""
    allowed = {  # module: how many reads, and why
        "sync/master/restore.py": 1,  # the damaged state file's name
        "sync/state/lock.py": 1,  # the lock's own stamp (its age is the server's)
        "sync/state/store.py": 1,  # a state backup's file name
        "sync/xlsx/saving.py": 1,  # a workbook backup's file name
        "sync/login.py": 1,  # when a Google sign-in was made (beside its token's expiry)
        "sync/sources/googleauth.py": 1,  # when it was refreshed
        "sync/sources/googlehttp.py": 1,  # how long Google's Retry-After date is from now
    }
    reads = {"now", "today", "utcnow", "time", "localtime", "formatdate", "gmtime"}
    found: dict[str, int] = {}
    for path in sorted((REPO / "sync").rglob("*.py")):
        name = path.relative_to(REPO).as_posix()
        if name == "sync/state/clock.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            called = func.attr if isinstance(func, ast.Attribute) else \
                func.id if isinstance(func, ast.Name) else None
            owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            if called in reads and (called != "time" or owner == "time") \
                    and (owner.endswith(("datetime", "date", "time")) or called == "formatdate"):
                found[name] = found.get(name, 0) + 1
    assert found == allowed


# -- a bad day ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
@pytest.mark.parametrize("bad", ["2020-02-30", "11/25/2020", "tomorrow", "2020-11-25x"])
def test_a_bad_as_of_is_a_one_line_usage_error(name, bad, tmp_path, capsys):
    """Every command refuses a day that is not written YYYY-MM-DD or does not exist: exit 2,
    one line naming the option and the value, nothing written."""
    config = tmp_path / "programs.toml"
    code, out, err = _run(capsys, name, "--config", str(config), "--as-of", bad)
    assert code == cli.EXIT_USAGE
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert "--as-of" in err and repr(bad) in err
    assert ("no such day" if bad == "2020-02-30" else "not a date like 2020-03-05") in err
    assert list(tmp_path.iterdir()) == []


# -- what each command does as of a day ---------------------------------------------------------


def test_confirmations_due_follow_the_as_of_day(example_site, capsys):
    """What is due depends on the day: the example's Thanksgiving week has the fall classes'
    and every vacation request's messages due; by March 2021 all of them are past."""
    config = ["--config", str(example_site)]
    assert _run(capsys, "sync", *config, "--as-of", EXAMPLE_DAY)[0] == 0
    outbox = example_site.parent.parent / "out" / "outbox"
    code, out, _ = _run(capsys, "confirmations", *config, "--as-of", "2021-03-01")
    assert code == 0 and re.search(r"^0 confirmations due\b.* 29 not due\b", out), out
    assert list(outbox.glob("*.eml")) == []
    code, out, _ = _run(capsys, "confirmations", *config, "--as-of", EXAMPLE_DAY)
    assert code == 0 and re.search(r"^27 confirmations due\b.* 3 not due\b", out), out
    assert len(list(outbox.glob("*.eml"))) == 27


def test_route_day_follows_the_as_of_day(example_site, capsys):
    """The first route day is the as-of day: one home on November 25, fifteen on Christmas
    Eve, none on a day no one is away."""
    config = ["--config", str(example_site)]
    assert _run(capsys, "sync", *config)[0] == 0
    out = example_site.parent.parent / "out"
    for day, stops in (("2020-11-25", 1), ("2020-12-24", 15), ("2020-12-10", 0)):
        code, text, _ = _run(capsys, "routes", *config, "--as-of", day, "--days", "1")
        said = f"{stops} stop{'' if stops == 1 else 's'}" if stops else "no active requests"
        assert code == 0 and text.startswith(f"{day}: {said}"), text
        if stops:
            assert len(read_route_file(out / "routes" / f"routes-{day}.xlsx")[1]) == stops


def test_summary_and_sync_log_follow_the_as_of_day(example_site, capsys):
    """The Summary's date, "this week" and "this month" and the Sync Log's times come from the
    as-of day; a sync as of another day rewrites the Summary even when no answer changed."""
    config = ["--config", str(example_site)]
    master = example_site.parent.parent / "out" / "master.xlsx"
    assert _run(capsys, "sync", *config, "--as-of", EXAMPLE_DAY)[0] == 0
    assert "As of Wednesday, November 25, 2020." in _summary_rows(master)[1][0]
    vsc = _program_figures(master)["Vacation Checks"]
    assert (vsc["New this week"], vsc["New this month"]) == (0, 3)
    assert _run(capsys, "sync", *config, "--as-of", "2020-12-16")[0] == 0
    assert "As of Wednesday, December 16, 2020." in _summary_rows(master)[1][0]
    vsc = _program_figures(master)["Vacation Checks"]
    # December 14-16 and 1-16 (the requests of December 17-20 are not new yet)
    assert (vsc["New this week"], vsc["New this month"]) == (4, 15)
    log = read_sheets(master, ["Sync Log"])["Sync Log"]
    days = [(r[0].date(), r[1].date()) for r in log[1:]]
    assert (dt.date(2020, 11, 25),) * 2 in days and (dt.date(2020, 12, 16),) * 2 in days
    assert all(r[1] >= r[0] for r in log[1:])


def test_purge_retention_follows_the_as_of_day(example_site, capsys):
    """The purge's cutoff is the as-of day less the retention days."""
    config = ["--config", str(example_site)]
    assert _run(capsys, "sync", *config)[0] == 0
    code, out, _ = _run(capsys, "purge", *config, "--as-of", EXAMPLE_DAY)
    assert code == 0 and "Requests that returned before 2020-10-26: 0" in out, out
    code, out, _ = _run(capsys, "purge", *config, "--as-of", "2020-12-31")
    assert code == 0 and "Requests that returned before 2020-12-01: 3" in out, out
    assert "VSC-00001, VSC-00002, VSC-00003" in out


def test_init_and_restore_state_take_their_dates_from_the_as_of_day(example_site, tmp_path,
                                                                     capsys):
    """The starter configuration is dated the as-of day; so is the mark a restore leaves."""
    assert _run(capsys, "init", str(tmp_path / "new"), "--as-of", EXAMPLE_DAY)[0] == 0
    assert f"started {EXAMPLE_DAY} from" in (tmp_path / "new" / "programs.toml").read_text()
    config = ["--config", str(example_site)]
    assert _run(capsys, "sync", *config)[0] == 0
    assert _run(capsys, "restore-state", *config, "--as-of", "2021-01-04")[0] == 0
    with Store(example_site.parent.parent / "out" / STATE) as store:
        assert store.get_meta(RESTORED)["on"].date() == dt.date(2021, 1, 4)


def test_rosters_and_check_accept_as_of(example_site, capsys):
    config = ["--config", str(example_site)]
    assert _run(capsys, "sync", *config, "--as-of", EXAMPLE_DAY)[0] == 0
    assert _run(capsys, "rosters", *config, "--as-of", EXAMPLE_DAY)[0] == 0
    code, out, _ = _run(capsys, "check", *config, "--as-of", EXAMPLE_DAY)
    assert code == 0 and "All checks passed." in out


# -- the README's first command ------------------------------------------------------------------


def test_the_readme_pictures_come_from_the_readme_first_command():
    """The picture script runs the README's first command, read from the README: it is the
    daily job on the example, as of the example's day."""
    script = _script()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first = readme.split("```sh\n", 1)[1].splitlines()[0]
    assert first.endswith("tpd-programs run --config config/example.toml --as-of "
                          f"{EXAMPLE_DAY}")
    assert script.readme_command() == ["run", "--config", "config/example.toml",
                                       "--as-of", EXAMPLE_DAY]
    assert f"as of {EXAMPLE_DAY}" in readme  # where the README says where the pictures come from


def test_the_readme_first_command_fills_every_output_folder(tmp_path, monkeypatch, capsys):
    """Guards the example's story: the README's first command, on a fresh copy of config/,
    fills the Summary (figures and charts), route sheets with stops, the outbox and rosters
    with seats taken."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *_script().readme_command())
    assert code == 0, err
    assert "every step succeeded" in out
    output = tmp_path / "out"
    master = output / "master.xlsx"

    figures = _program_figures(master)
    assert set(figures) == {"Partners in Policing", "Teens and Policing", "Vacation Checks"}
    for name, row in figures.items():
        assert row["Responses, all time"] > 0 and row["Records"] > 0, name
    assert figures["Vacation Checks"]["New this month"] > 0
    charts = _chart_values(master)
    assert len(charts) == 3
    for title, values in charts.items():
        assert values and sum(values) > 0, title

    days = route_files(output)
    assert len(days) == 3
    assert all(read_route_file(p)[1] for p in days)  # every day has stops

    assert "2020-11-25 (1 stop, 1 beat)" in out  # one stop is not "1 stops"

    outbox = list((output / "outbox").glob("*.eml"))
    assert len(outbox) >= 20
    # a resident back the day before is welcomed home: no check was logged, and it says so
    welcome = [p for p in outbox if p.name.endswith("-vsc-welcome-home.eml")]
    assert [p.name for p in welcome] == ["VSC-00002-vsc-welcome-home.eml"]
    letter = email.message_from_bytes(welcome[0].read_bytes(), policy=email.policy.default)
    assert letter["Subject"].startswith("Welcome home")
    assert "did not allow a logged check" in letter.get_body(("plain",)).get_content()

    rosters = sorted((output / "rosters").glob("*.xlsx"))
    assert [p.name for p in rosters] == ["pip-2020-fall.xlsx", "pip-2020-spring.xlsx",
                                         "tap-2020-fall.xlsx", "tap-2020-spring.xlsx"]
    for path in rosters:
        rows = read_sheets(path, ["Roster"])["Roster"]
        seat = rows[0].index("Seat")
        seated = [r for r in rows[1:] if isinstance(r[seat], int)]
        assert seated, path.name


def _chart_values(master: Path) -> dict[str, list[float]]:
    """Each Summary chart's title and the numbers its series draw from the Summary sheet."""
    ws = load_workbook(master, read_only=False)["Summary"]
    out = {}
    with zipfile.ZipFile(master) as z:
        for name in sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)):
            xml = z.read(name).decode()
            title = "".join(re.findall(r"<a:t>([^<]*)</a:t>", xml.split("</c:title>")[0]))
            values: list[float] = []
            for ref in re.findall(r"<c:val><c:numRef><c:f>([^<]*)</c:f>", xml):
                cells = ref.split("!")[1].replace("$", "")
                values += [c.value for row in ws[cells] for c in row
                           if isinstance(c.value, int | float)]
            out[title] = values
    return out
