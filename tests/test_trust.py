"""Small things that cost trust: -q prints only what needs a look, a preview is not a due
message, the Sync Log in the department's time in run order, unchanged workbooks left alone,
init's comments, and errors that say how to go on."""

from __future__ import annotations

import os
import re

import pytest

from sync import cli
from tests.helpers import decided, make_site


@pytest.fixture
def decided_site(tmp_path):
    (tmp_path / "decided").mkdir()
    return decided(make_site(tmp_path / "decided"))


def test_quiet_prints_only_what_needs_a_look(site, decided_site, capsys, restore_logging):
    """`-q` ("errors only") printed every summary line; now a clean command prints nothing,
    and one with records to look at prints those lines only."""
    assert cli.main(["sync", "--config", str(site.config_path), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["sync", "--config", str(site.config_path)]) == 0
    assert "Partners in Policing: 3 rows read" in capsys.readouterr().out  # without -q

    config = str(decided_site.config_path)
    assert cli.main(["confirmations", "--config", config, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["  PIP-00003: pip-accepted: not sent: no email"]
    assert cli.main(["rosters", "--config", config, "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["check", "--config", config, "-q"]) == 0
    assert "OK " not in capsys.readouterr().out


def test_a_preview_is_not_counted_as_due(decided_site, capsys, restore_logging):
    """`--preview PIP-00001` said "1 confirmations due" right after a run said 0 were due."""
    config = str(decided_site.config_path)
    assert cli.main(["confirmations", "--config", config]) == 0
    assert cli.main(["confirmations", "--config", config, "--preview", "PIP-00001"]) == 0
    out = capsys.readouterr().out.split("== pip-accepted ==")[1]
    assert "confirmations due" not in out
    assert "Previewed 1 message(s)" in out and "nothing was written or sent" in out


# -- workbooks with nothing new are left alone ----------------------------------------------


def _state(folder):
    """{file name: (bytes, mtime)} of every workbook under `folder` (backups included)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*.xlsx"))}


def test_write_workbook_leaves_a_file_that_holds_the_same_alone(tmp_path):
    """Saving compares the workbook's parts (not the zip's bytes, which carry timestamps):
    the same sheets again write nothing and back nothing up; a change writes once, with one
    backup."""
    from sync.xlsx.saving import write_workbook
    from sync.xlsx.sheet import Column, Sheet

    path = tmp_path / "book.xlsx"

    def sheets(value):
        return [Sheet("Roster", [Column("Name"), Column("Seat", "int")], [["Ann", value]])]

    assert write_workbook(path, sheets(1), backups=3, if_changed=True) is True
    before = _state(tmp_path)
    assert write_workbook(path, sheets(1), backups=3, if_changed=True) is False
    assert _state(tmp_path) == before and not (tmp_path / "backups").exists()
    assert write_workbook(path, sheets(2), backups=3, if_changed=True) is True
    assert path.read_bytes() != before["book.xlsx"][0]
    assert [p.read_bytes() for p in (tmp_path / "backups").iterdir()] == [before["book.xlsx"][0]]
    assert write_workbook(path, sheets(2), backups=3) is True  # the master's way: always


def test_rosters_and_route_sheets_with_nothing_new_are_not_rewritten(decided_site, capsys,
                                                                      restore_logging):
    """Rosters and route sheets were rewritten, and rosters backed up, on every run: the
    backups filled with identical copies and pushed out the useful older versions."""
    config = str(decided_site.config_path)
    out = decided_site.out
    for command in ("rosters", "routes"):
        assert cli.main([command, "--config", config]) == 0
    first = _state(out)
    assert any(n.startswith("rosters") for n in first) and any(n.startswith("routes") for n in first)
    for command in ("rosters", "routes", "rosters"):
        assert cli.main([command, "--config", config]) == 0
    assert _state(out) == first  # bytes and times, and no backup of a roster
    from tests.helpers import set_status
    set_status(decided_site, {"PIP-00005": "Accepted"})
    assert cli.main(["rosters", "--config", config]) == 0
    now = _state(out)
    changed = sorted(n for n in now if n in first and now[n] != first[n])
    assert changed == ["master.xlsx", "rosters/pip-2030-spring.xlsx"]  # the sync, the roster
    backups = [n for n in now if n.startswith("rosters/backups/") and n not in first]
    assert len(backups) == 1 and backups[0].startswith("rosters/backups/pip-2030-spring-")


# -- the Sync Log -----------------------------------------------------------------------------


@pytest.fixture
def server_in_tokyo(monkeypatch):
    """The server's own zone 17 hours from the department's (Los Angeles)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_sync_log_is_in_the_department_time_and_run_order(tmp_path, server_in_tokyo):
    """After the master was rewritten, a run's Finished read as UTC beside a Started in the
    department's time (an 8-hour run), and the rows came back in another order."""
    import datetime as dt

    from openpyxl import load_workbook

    from sync.master import syncer
    from sync.state import clock
    from tests.helpers import set_status

    (tmp_path / "s").mkdir()
    site = make_site(tmp_path / "s")  # pip, tap and vsc in the configuration's order
    set_status(site, {"PIP-00001": "Accepted"})  # a second sync, and the master rewritten
    with (site.root / "vsc.csv").open("a") as fh:  # a new request, synced on its own
        fh.write("3/2/2020 10:00:00,xia@example.com,Xia,Wu,310-555-0309,3 Elm St,Torrance,"
                 "90503,6/1/2030,6/10/2030,\n")
    syncer.sync(site.config(), ["vsc"])
    now = clock.now(site.config())
    assert abs(dt.datetime.now() - now) > dt.timedelta(hours=10)  # the zones differ
    wb = load_workbook(site.master, read_only=True)
    rows = list(wb["Sync Log"].iter_rows(values_only=True))[1:]
    wb.close()
    assert [r[2] for r in rows] == ["Partners in Policing", "Teens and Policing",
                                    "Vacation Checks"] * 2 + ["Vacation Checks"]
    for started, finished, *_ in rows:
        assert dt.timedelta(0) <= finished - started < dt.timedelta(minutes=5)
        assert abs(now - finished) < dt.timedelta(minutes=5)


# -- init's comments match its lines ---------------------------------------------------------


def _comment_contradictions(text: str) -> list[str]:
    """Comments that tell to uncomment a line that is active, or to remove one that is not."""
    lines = text.splitlines()
    active = {m.group(1) for line in lines if (m := re.match(r"(\w+)\s*=", line))}
    commented = {m.group(1) for line in lines if (m := re.match(r"#\s*(\w+)\s*=", line))}
    found = []
    for i, line in enumerate(lines):
        for name in re.findall(r"(?i)uncomment the (\w+) line\b", line):
            if name in active or name not in commented:
                found.append(f"{i + 1}: {line.strip()}")
        for name in re.findall(r"(?i)remove the (\w+) line\b", line):
            if name not in active:
                found.append(f"{i + 1}: {line.strip()}")
        if "remove the two lines above" in line and any(
                not re.match(r"\w+\s*=", above) for above in lines[i - 2:i]):
            found.append(f"{i + 1}: {line.strip()}")
    return found


@pytest.mark.parametrize("examples", [False, True])
def test_init_comments_match_the_lines_they_speak_of(tmp_path, examples):
    """`init` made the credentials line active and kept "3. Uncomment the credentials line",
    and kept "remove the file line" where it had already replaced the file line."""
    from sync.init import EXAMPLE, write_starter

    starter = write_starter(tmp_path / "config", examples=examples)
    text = starter.config.read_text(encoding="utf-8")
    assert _comment_contradictions(text) == []
    assert _comment_contradictions(EXAMPLE.read_text(encoding="utf-8")) == []
    if not examples:
        assert re.search(r"^credentials = ", text, re.MULTILINE)
        assert "Name the key file in the credentials line below" in text
        assert re.search(r'^spreadsheet = "', text, re.MULTILINE)
        assert not re.search(r"^file = ", text, re.MULTILINE)


# -- errors that say how to go on -------------------------------------------------------------


def test_no_configuration_says_how_to_make_one(tmp_path, monkeypatch, capsys, restore_logging):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "config/programs.toml: configuration file not found" in err
    assert "`tpd-programs init config`" in err and "--config FILE" in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_export_names_its_configuration_key(site, capsys, restore_logging):
    (site.root / "pip.csv").unlink()
    assert cli.main(["sync", "--config", str(site.config_path)]) == 1
    err = capsys.readouterr().err
    assert "pip.csv: export file not found (programs.pip.source.file in " in err
    assert str(site.config_path) in err
    assert cli.main(["check", "--config", str(site.config_path)]) == 1
    assert "(programs.pip.source.file in " in capsys.readouterr().out


def test_quiet_run_shows_the_failed_step_and_the_verdict(site, capsys, restore_logging):
    config = str(site.config_path)
    assert cli.main(["run", "--config", config, "-q"]) == 0
    assert capsys.readouterr().out == ""  # a clean run has nothing to say
    (site.root / "pip.csv").unlink()
    assert cli.main(["run", "--config", config, "-q"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert re.match(r"sync\s+FAILED .*pip\.csv: export file not found", out[0])
    assert not any(re.match(r"\w+\s+(ok|skipped)\s", line) for line in out)
    assert any(line.startswith("Run finished with 1 failed step(s): sync") for line in out)


@pytest.mark.skipif(os.name == "nt", reason="simulates Windows' file locking on Linux")
def test_a_roster_open_in_excel_with_nothing_new_is_no_error(decided_site, windows_like, capsys,
                                                             restore_logging):
    """The daily run stopped at a roster left open in Excel even when it had nothing new to
    write; now only a roster that must change names the one who has it open."""
    from tests.helpers import set_status
    from tests.windows import excel_owner_file

    config = str(decided_site.config_path)
    assert cli.main(["rosters", "--config", config]) == 0
    roster = decided_site.out / "rosters" / "pip-2030-spring.xlsx"
    (roster.parent / f"~${roster.name}").write_bytes(excel_owner_file("Maria"))
    windows_like.hold(roster)
    before = _state(decided_site.out)
    assert cli.main(["rosters", "--config", config]) == 0
    assert _state(decided_site.out) == before
    set_status(decided_site, {"PIP-00005": "Accepted"})
    capsys.readouterr()
    assert cli.main(["rosters", "--config", config]) == 1
    err = capsys.readouterr().err
    assert f"{roster} (open by Maria)" in err and "open in another program" in err
    assert roster.read_bytes() == before["rosters/pip-2030-spring.xlsx"][0]


def test_the_log_file_is_in_the_department_time(site, server_in_tokyo, restore_logging):
    """The log file's lines carried the server's time beside a Sync Log in the department's."""
    import datetime as dt

    from sync.state import clock, logfile

    assert cli.main(["sync", "--config", str(site.config_path)]) == 0
    now = clock.now(site.config())
    stamps = [dt.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
              for line in logfile.log_path(site.out).read_text().splitlines() if line[:2] == "20"]
    assert stamps and all(abs(now - s) < dt.timedelta(minutes=5) for s in stamps)
