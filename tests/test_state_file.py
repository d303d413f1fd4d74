"""The state file is precious: never started over silently, backed up, checked when opened;
and the failures around it (a full disk, a folder or file that cannot be written) are one
clear message, never a traceback, with every file left as it was."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from sync.errors import StateError
from sync.state import store
from sync.state.store import Store
from tests.conftest import fill_disk
from tests.helpers import run_command, set_pip_status, snapshot, statuses

STAFF_EDIT = {"PIP-00002": "Accepted", "PIP-00003": "Declined"}


@pytest.fixture
def used(site, capsys):
    """A folder after two syncs, staff decisions typed in between."""
    assert run_command(site, "sync") == 0
    set_pip_status(site, STAFF_EDIT)
    assert run_command(site, "sync") == 0
    capsys.readouterr()
    return site


def test_an_emptied_state_file_is_refused_then_restored_with_every_decision(used, capsys):
    """Guards against starting over silently: after `truncate -s 0 state.sqlite` the sync
    used to report every record as new and turn staff's decisions back into New."""
    state = used.out / "state.sqlite"
    newest = store.newest_backup(used.out)
    assert newest is not None
    state.write_bytes(b"")
    before = snapshot(used.out)
    for command in ("sync", "confirmations", "rosters", "run"):
        assert run_command(used, command) == 1, command
        out, err = capsys.readouterr()
        text = out + err
        assert "Traceback" not in text, text
        assert "the state file is empty, but this folder has been used before" in text
        assert str(newest) in text and "tpd-programs restore-state" in text
        assert snapshot(used.out) == before  # nothing was done, nothing created
    assert run_command(used, "restore-state") == 0
    out = capsys.readouterr().out
    assert f"from {newest}" in out and "3 records" in out
    assert run_command(used, "sync") == 0
    assert "0 new" in capsys.readouterr().out
    got = statuses(used)
    assert {rid: got[rid] for rid in STAFF_EDIT} == STAFF_EDIT
    assert sorted(got) == ["PIP-00001", "PIP-00002", "PIP-00003"]


def test_a_missing_state_file_is_refused_and_not_created(used, capsys):
    state = used.out / "state.sqlite"
    state.unlink()
    for extra in ("-wal", "-shm"):
        state.with_name(state.name + extra).unlink(missing_ok=True)
    assert run_command(used, "sync") == 1
    assert "the state file is missing" in capsys.readouterr().err
    assert not state.exists()


def test_damaged_pages_are_found_when_the_state_is_opened(used, capsys):
    """Guards "check the database's integrity when it is opened": damaged pages used to give
    "Nothing changed" and then failures later in the run."""
    state = used.out / "state.sqlite"
    size = state.stat().st_size
    with open(state, "r+b") as fh:
        fh.seek(size // 2 // 4096 * 4096)
        fh.write(b"\xff" * 8192)
    before = snapshot(used.out)
    for command in ("sync", "run"):
        assert run_command(used, command) == 1
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert "the state file is damaged" in out + err
        assert "restore-state" in out + err
        assert snapshot(used.out) == before
    assert run_command(used, "restore-state") == 0
    kept = list((used.out / "backups").glob("damaged-state-*.sqlite"))
    assert len(kept) == 1 and kept[0].stat().st_size == size  # the damaged file is not lost
    assert run_command(used, "sync") == 0
    assert {rid: statuses(used)[rid] for rid in STAFF_EDIT} == STAFF_EDIT


def test_state_backups_are_whole_owner_only_and_rotate_by_day(site, capsys):
    assert run_command(site, "sync") == 0
    folder = site.out / "backups"
    first = sorted(folder.glob("state-*.sqlite"))
    assert len(first) == 1
    assert stat.S_IMODE(first[0].stat().st_mode) == 0o600
    db = sqlite3.connect(first[0])
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 3
    db.close()
    assert run_command(site, "sync") == 0  # nothing changed: no new copy
    assert sorted(folder.glob("state-*.sqlite")) == first
    # copies of earlier days: one per day is kept, for the newest `backups` days
    for day in range(1, 9):
        for n in range(2):
            (folder / f"state-202001{day:02d}-10000{n}-000000.sqlite").write_bytes(first[0].read_bytes())
    site.write_pip(site.pip_rows + [
        '3/3/2020 08:00:00,di@example.com,Di,Park,7/8/1990,310 555 0104,I live in Torrance,'])
    assert run_command(site, "sync") == 0
    kept = sorted(p.name for p in folder.glob("state-*.sqlite"))
    today = dt.date.today().strftime("%Y%m%d")
    assert [k[6:14] for k in kept] == ["20200105", "20200106", "20200107", "20200108", today]
    assert "state-20200108-100001-000000.sqlite" in kept  # the newest copy of that day


def test_starting_over_is_deliberate(used, capsys):
    (used.out / "state.sqlite").write_bytes(b"")
    assert run_command(used, "restore-state", "--start-over") == 0
    assert "confirmations will be sent again" in capsys.readouterr().out
    assert len(list((used.out / "backups").glob("damaged-state-*"))) == 0  # it was empty
    assert run_command(used, "sync") == 0
    assert "3 new" in capsys.readouterr().out


def test_restoring_a_damaged_backup_is_refused(used, capsys, tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    before = snapshot(used.out)
    assert run_command(used, "restore-state", "--from", str(bad)) == 1
    assert "not a state file" in capsys.readouterr().err
    assert snapshot(used.out) == before


def test_a_new_folder_still_starts_a_state_file(tmp_path):
    with Store(tmp_path / "state.sqlite") as s:
        assert s.records("pip") == {}
    (tmp_path / "master.xlsx").write_bytes(b"PK")
    (tmp_path / "state.sqlite").write_bytes(b"")
    with pytest.raises(StateError, match="no backup"):
        Store(tmp_path / "state.sqlite")


# -- the machine fails ------------------------------------------------------------------------


def remount(where: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(where)], check=True)


def test_an_output_folder_that_cannot_be_written_is_one_message(site, mount, capsys):
    mount(site.out, "size=1m", "ro")
    assert run_command(site, "sync") == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.count("\n") == 1
    assert "the output folder cannot be written (Read-only file system)" in err


def test_a_state_file_that_cannot_be_written_is_one_message(site, mount, capsys):
    mount(site.out, "size=4m")
    assert run_command(site, "sync") == 0
    site.write_pip(site.pip_rows + [
        '3/3/2020 08:00:00,di@example.com,Di,Park,7/8/1990,310 555 0104,I live in Torrance,'])
    capsys.readouterr()
    before = snapshot(site.out)
    remount(site.out, "ro")
    for command in ("sync", "run"):
        assert run_command(site, command) == 1
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert "cannot be written" in out + err
    remount(site.out, "rw")
    assert snapshot(site.out) == before


def test_a_full_disk_during_run_says_the_disk_is_full(site, mount, capsys):
    """Guards the message: a full disk used to be reported as a damaged state file, and the
    log handler printed tracebacks."""
    mount(site.out, "size=2m")
    assert run_command(site, "run") == 0
    site.write_pip(site.pip_rows + [
        '3/3/2020 08:00:00,di@example.com,Di,Park,7/8/1990,310 555 0104,I live in Torrance,'])
    filler = fill_disk(site.out)
    capsys.readouterr()
    before = snapshot(site.out)
    assert run_command(site, "run") == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "disk is full" in out
    assert "damaged" not in out + err
    assert snapshot(site.out) == before
    assert list((site.out / ".tmp").iterdir()) == []
    filler.unlink()  # room again: the next run takes the change
    assert run_command(site, "run") == 0
    assert "PIP-00004" in statuses(site)


def test_another_database_in_place_of_the_state_is_refused(used, capsys):
    """An empty SQLite database (no tables) put where the state file was is "empty" too: it
    must not be filled with a new schema and taken for a first run."""
    state = used.out / "state.sqlite"
    for extra in ("-wal", "-shm"):
        state.with_name(state.name + extra).unlink(missing_ok=True)
    state.unlink()
    db = sqlite3.connect(state)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()
    before = snapshot(used.out)
    assert run_command(used, "sync") == 1
    assert "holds no toolkit data" in capsys.readouterr().err
    assert snapshot(used.out) == before
