"""Issue 22, simulated on Linux: files on the Windows PCs staff use (see tests/windows.py).

1. A workbook is saved although flushing a file needs write access there.
2. A second run exits 3, though the lock file cannot be read while it is locked.
3. Files that Excel, a viewer or an antivirus scan hold open: old backups, a stale owner
   file, outbox messages, rosters, route sheets, purge; replace and delete retried briefly.
8. Every os.open passes O_BINARY, so no CRLF becomes CR CR LF.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from sync import cli, confirmations
from sync.classes.rosters import write_rosters
from sync.confirmations import render
from sync.errors import HeldError, WorkbookError
from sync.master import syncer
from sync.state import files, lock, scratch
from sync.state.store import Store
from sync.vacation.purge import purge
from sync.vacation.routes import write_routes
from tests import configs
from tests.conftest import PIP_CONFIG, REPO, Site
from tests.helpers import ALL, VSC_ROWS, decided, make_site, smtp_section, type_checks, vsc_site
from tests.loopback_smtp import LoopbackSmtp
from tests.windows import SHARING_VIOLATION, excel_owner_file, libreoffice_lock_file, simulated

NEW_ROW = "3/3/2020 10:00:00,{n}@example.com,New{n},Person{n},5/6/1970,31055501{n:02d},I live in Torrance,"


def add_rows(site: Site, count: int) -> None:
    site.write_pip(site.pip_rows + [NEW_ROW.format(n=len(site.pip_rows) + i) for i in range(count)])


def records(path: Path, title: str = "Partners in Policing") -> list[str]:
    ws = load_workbook(path, read_only=True)[title]
    return [r[0] for r in ws.iter_rows(min_row=2, values_only=True) if r and r[0]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. saving a workbook ---------------------------------------------------------------------


@simulated
def test_a_workbook_is_saved_where_flushing_needs_write_access(site, windows_like, tmp_path):
    """Guards against this: os.fsync on a file opened "rb" fails on Windows ("Bad file
    descriptor"), so every sync said "cannot write the workbook"."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    with open(probe, "rb") as fh, pytest.raises(OSError, match="Bad file descriptor"):
        os.fsync(fh.fileno())  # the simulation is on
    syncer.sync(site.config())
    assert records(site.master) == ["PIP-00001", "PIP-00002", "PIP-00003"]


# -- 2. the run lock --------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import pytest
    from tests.windows import WindowsLike
    WindowsLike(pytest.MonkeyPatch())  # this process locks as a Windows one does
    from sync.state.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(120)
""")


@simulated
def test_a_second_run_exits_3_though_the_locked_lock_file_cannot_be_read(
        site, windows_like, capsys, restore_logging):
    """Guards against this: Windows enforces the msvcrt lock, so reading the holder's details
    from the locked file raised PermissionError: a traceback instead of exit 3."""
    site.out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(site.out)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(PermissionError):
            (site.out / lock.LOCK_NAME).read_bytes()  # as on Windows
        config = ["--config", str(site.config_path)]
        assert cli.main(["sync", *config]) == 3
        err = capsys.readouterr().err
        assert "another run is in progress" in err and f"pid {holder.pid}" in err
        assert "Traceback" not in err and not site.master.exists()
        # the holder's details themselves unreadable (being written, say): still exit 3
        windows_like.unreadable.add(str(scratch.folder(site.out) / lock.HOLDER_NAME))
        assert cli.main(["sync", *config]) == 3
        assert "another run is in progress (another run)" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    windows_like.unreadable.clear()
    assert cli.main(["sync", "--config", str(site.config_path)]) == 0  # freed when it ended
    assert list((site.out / scratch.NAME).iterdir()) == []  # the details go with the run


# -- 3. files held open: backups --------------------------------------------------------------


@simulated
def test_an_old_backup_held_open_never_fails_the_sync(tmp_path, windows_like, caplog):
    """Guards against this: rotation deleted an old backup before the replace, so a backup
    staff had open failed every sync with a message naming master.xlsx."""
    site = Site(tmp_path, configs.toml(configs.edited(configs.PIP, {"output": {"backups": 2}})))
    site.write_pip([NEW_ROW.format(n=n) for n in range(3)])
    for _ in range(3):  # a master and two backups of it
        syncer.sync(site.config())
        add_rows(site, 1)
    backups = site.out / "backups"
    oldest = sorted(backups.glob("master-*.xlsx"))[0]
    oldest_state = sorted(backups.glob("state-*.sqlite"))[0]
    windows_like.hold(oldest)
    windows_like.hold(oldest_state)
    caplog.set_level(logging.WARNING)
    syncer.sync(site.config())
    assert len(records(site.master)) == 6
    assert oldest.exists() and oldest_state.exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(w.startswith(f"{oldest.name}: cannot remove an old backup") for w in warnings)
    assert any(w.startswith(f"{oldest_state.name}: cannot remove an old backup") for w in warnings)
    assert not any("master.xlsx" in w for w in warnings)
    windows_like.release(oldest)
    add_rows(site, 1)
    syncer.sync(site.config())  # the next run removes it
    assert not oldest.exists()
    assert len(list(backups.glob("master-*.xlsx"))) == 2


# -- 3. files held open: the owner file of a workbook -----------------------------------------

OWNER_FILES = [
    pytest.param("~$master.xlsx", excel_owner_file("Pat Staff"), "Pat Staff", id="excel"),
    pytest.param("~$master.xlsx", excel_owner_file("Nguyễn Thị Hoa"), "Nguyễn Thị Hoa",
                 id="excel-utf16"),
    pytest.param(".~lock.master.xlsx#", libreoffice_lock_file("Pat Staff"), "Pat Staff",
                 id="libreoffice"),
]


@simulated
@pytest.mark.parametrize(("name", "data", "user"), OWNER_FILES)
def test_a_stale_owner_file_is_logged_with_its_user_and_the_sync_goes_on(
        site, windows_like, caplog, name, data, user):
    """Guards against this: a hidden owner file left by a crashed Excel refused every sync
    forever. The workbook itself says whether it is open: an open one is locked."""
    syncer.sync(site.config())
    owner = site.out / name
    owner.write_bytes(data)
    add_rows(site, 1)
    caplog.set_level(logging.WARNING)
    syncer.sync(site.config())
    assert len(records(site.master)) == 4
    assert owner.exists()  # another program's file: left alone
    logged = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("sync"))
    assert name in logged and user in logged


@simulated
def test_a_master_open_in_excel_is_refused_naming_who_has_it_open(site, windows_like):
    syncer.sync(site.config())
    before = digest(site.master)
    (site.out / "~$master.xlsx").write_bytes(excel_owner_file("Pat Staff"))
    windows_like.hold(site.master)  # Excel locks the workbooks it has open
    add_rows(site, 1)
    with pytest.raises(WorkbookError, match="open in another program") as caught:
        syncer.sync(site.config())
    assert str(site.master) in str(caught.value) and "Pat Staff" in str(caught.value)
    assert digest(site.master) == before


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["~$master.xlsx", ".~lock.master.xlsx#"]))
def test_any_owner_file_is_read_without_failing(data, name):
    user = files.owner_name(name, data)
    assert user is None or (user.isprintable() and 0 < len(user) <= 100)


def test_owner_files_are_read_as_excel_and_libreoffice_write_them():
    assert files.owner_name("~$m.xlsx", excel_owner_file("Pat Staff")) == "Pat Staff"
    assert len(excel_owner_file("Pat Staff")) == 165
    truncated = excel_owner_file("Ann Lee")[:20]  # the 8-bit copy is enough
    assert files.owner_name("~$m.xlsx", truncated) == "Ann Lee"
    assert files.owner_name("~$m.xlsx", b"\x05Staff") == "Staff"
    assert files.owner_name("~$m.xlsx", b"") is None
    assert files.owner_name("~$m.xlsx", b"\x00" * 165) is None
    assert files.owner_name(".~lock.m.xlsx#", libreoffice_lock_file("")) == "staff"
    assert files.owner_name(".~lock.m.xlsx#", b"Pat\\, Jr.,pat,HOST,x,y;") == "Pat, Jr."


# -- 3. files held open: outbox, rosters, route sheets, purge ---------------------------------


@simulated
def test_an_open_outbox_message_stops_nothing_and_is_named(tmp_path, windows_like, capsys,
                                                           restore_logging):
    """Guards against this: an .eml open in a viewer raised a raw PermissionError before any
    message was sent. Now every other message is written and sent; the run ends with exit 1
    naming the file that is open."""
    with LoopbackSmtp() as server:
        site = decided(make_site(tmp_path, smtp_section(server.port)))
        confirmations.confirm(site.config())  # the outbox, for staff to look at
        outbox = site.out / "outbox"
        opened = sorted(outbox.glob("*.eml"))[0]
        windows_like.hold(opened)
        assert cli.main(["confirmations", "--config", str(site.config_path), "--send"]) == 1
        assert len(server.messages) == ALL  # every due message went, the open one too
    err = capsys.readouterr().err
    assert f"{opened}: open in another program" in err and "Traceback" not in err
    assert f"{ALL} sent" in err
    assert sorted(outbox.glob("*.eml")) == [opened]  # the others went, and left the outbox


def two_class_site(root: Path) -> Site:
    fall = textwrap.dedent("""
        [[programs.pip.cohorts]]
        id = "2020-fall"
        name = "Fall 2020"
        start = 2020-09-03
        sessions = 12
        weekday = "Thursday"
        capacity = 3
        registration_opens = 2020-03-05
        registration_closes = 2020-09-02
    """)
    site = Site(root, PIP_CONFIG + fall)
    site.write_pip([NEW_ROW.format(n=n) for n in range(3)]
                   + ["6/1/2020 10:00:00,fay@example.com,Fay,Wong,5/6/1970,3105550106,"
                      "I live in Torrance,"])
    syncer.sync(site.config())
    return site


@simulated
def test_rosters_go_on_past_an_open_roster_and_name_it(tmp_path, windows_like, capsys,
                                                       restore_logging):
    """Guards against this: the first roster open in Excel stopped every roster after it."""
    site = two_class_site(tmp_path)
    config = site.config()
    write_rosters(config)
    spring, fall = sorted((site.out / "rosters").glob("*.xlsx"))[::-1]
    assert "spring" in spring.name and "fall" in fall.name
    # a new applicant for each class, so that both rosters change (one that would come out
    # the same is left alone, open or not)
    site.write_pip([*site.pip_rows, NEW_ROW.format(n=7),
                    "6/2/2020 10:00:00,gus@example.com,Gus,Hale,5/6/1971,3105550107,"
                    "I live in Torrance,"])
    syncer.sync(config)
    windows_like.hold(spring)  # the first one written
    before = spring.stat().st_ino, fall.stat().st_ino
    assert cli.main(["rosters", "--config", str(site.config_path)]) == 1
    err = capsys.readouterr().err
    assert f"{spring}: open in another program" in err and str(fall) not in err
    assert spring.stat().st_ino == before[0]  # as it was
    assert fall.stat().st_ino != before[1]  # written all the same


@simulated
def test_route_sheets_go_on_past_an_open_one_and_name_it(tmp_path, windows_like):
    site = vsc_site(tmp_path)
    syncer.sync(site.config())
    start = dt.date(2020, 3, 5)
    write_routes(site.config(), start=start, days=2)
    first, second = sorted((site.out / "routes").glob("routes-*.xlsx"))
    windows_like.hold(first)
    before = first.stat().st_ino, second.stat().st_ino
    config = site.config()  # another name in the page headers: both sheets change
    renamed = dataclasses.replace(config, department=dataclasses.replace(
        config.department, name="Torrance Police"))
    with pytest.raises(HeldError) as caught:
        write_routes(renamed, start=start, days=2)
    assert caught.value.paths == [first] and str(first) in str(caught.value)
    assert first.stat().st_ino == before[0] and second.stat().st_ino != before[1]


@simulated
def test_purge_deletes_every_file_it_can_and_names_each_one_held(tmp_path, windows_like):
    """Guards against this: purge stopped at the first file open in another program, leaving
    the personal data in every file after it."""
    site = vsc_site(tmp_path, VSC_ROWS)
    config = site.config()
    syncer.sync(config)
    site.write_vsc(VSC_ROWS[:-1])
    syncer.sync(config)  # a backup of the first master
    write_routes(config, start=dt.date(2020, 3, 5), days=1)
    type_checks(site.out / "routes" / "routes-2020-03-05.xlsx", {"VSC-00001": {"Result": "Secure"}})
    backup = sorted((site.out / "backups").glob("master-*.xlsx"))[0]
    route = site.out / "routes" / "routes-2020-03-05.xlsx"
    windows_like.hold(backup)
    windows_like.hold(route)
    with pytest.raises(HeldError) as caught:
        purge(config, apply=True, today=dt.date(2020, 4, 20))
    assert sorted(caught.value.paths) == sorted([backup, route])
    assert str(backup) in str(caught.value) and str(route) in str(caught.value)
    assert list((site.out / "backups").glob("state-*.sqlite")) == []  # the rest went
    with Store(site.out / "state.sqlite") as store:
        assert store.get_meta("purge:pending")  # finished by the next run
    windows_like.release(backup)
    windows_like.release(route)
    purge(config, apply=True, today=dt.date(2020, 4, 20))
    assert not backup.exists() and not route.exists()
    with Store(site.out / "state.sqlite") as store:
        assert store.get_meta("purge:pending") is None


# -- 3. retrying a replace or a delete --------------------------------------------------------


@simulated
def test_a_file_a_scan_holds_for_a_moment_is_replaced_after_short_pauses(site, windows_like):
    """Guards against this: an antivirus scan holds a new file for a moment; one refusal
    used to fail the run."""
    syncer.sync(site.config())
    windows_like.hold(site.master, times=3)
    add_rows(site, 1)
    syncer.sync(site.config())
    assert len(records(site.master)) == 4
    assert windows_like.refusals(site.master) == 3
    assert windows_like.pauses == list(files.PAUSES[:3])


@simulated
def test_the_wait_for_a_held_file_is_bounded_and_the_error_names_it(tmp_path, windows_like):
    new, old = tmp_path / "new.xlsx", tmp_path / "old.xlsx"
    new.write_bytes(b"new")
    old.write_bytes(b"old")
    windows_like.hold(old)
    with pytest.raises(PermissionError) as caught:
        files.replace(new, old)
    assert SHARING_VIOLATION in str(caught.value) and str(old) in str(caught.value)
    assert sum(windows_like.pauses) == pytest.approx(3.0)  # then it gives up
    assert len(windows_like.pauses) == len(files.PAUSES)
    windows_like.pauses.clear()
    with pytest.raises(PermissionError):
        files.delete(old)
    assert sum(windows_like.pauses) == pytest.approx(3.0)
    assert old.read_bytes() == b"old" and new.read_bytes() == b"new"


# -- 8. O_BINARY ------------------------------------------------------------------------------


def test_every_os_open_in_the_toolkit_passes_o_binary():
    """Guards against this: without O_BINARY, Windows opens the file in text mode and writes
    each LF as CR LF, so the outbox's CRLF became CR CR LF."""
    missing = []
    for path in sorted((REPO / "sync").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "open" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "os"):
                flags = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "flags"), None)
                if flags is None or "O_BINARY" not in ast.unparse(flags):
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert missing == []


@simulated
def test_outbox_messages_keep_their_crlf_line_ends(tmp_path, windows_like):
    data = b"Subject: Your class\r\nTo: a@example.com\r\n\r\nSee you Thursday.\r\n"
    render.write_outbox(tmp_path / "outbox", {"PIP-00001.eml": data}, scratch=tmp_path)
    assert (tmp_path / "outbox" / "PIP-00001.eml").read_bytes() == data
