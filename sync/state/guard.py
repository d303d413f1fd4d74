"""The state file is never started over silently: whether a folder was used before, its
backups, and the state file's errors in words staff can act on (`sync.state.store` tells the
whole story)."""

from __future__ import annotations

import errno
import hashlib
import shutil
import sqlite3
from pathlib import Path

from sync.errors import StateError, SyncError
from sync.state import files

MASTER = "master.xlsx"
STATE = "state.sqlite"
OUTBOX = "outbox"
BACKUPS = "backups"
RESTORE = "tpd-programs restore-state"
BACKUP_GLOB = "state-*.sqlite"

# Workbooks only a run writes, in the folders `sync.vacation.checklog` and `sync.classes.attendance` name: a
# folder "cleaned up" of its master, state and backups still shows its earlier runs by them.
_RUN_OUTPUTS = (("routes", "routes-*.xlsx"), ("rosters", "*.xlsx"))


def used_before(output: Path) -> bool:
    """Whether the output folder shows earlier runs: a master, an outbox message, a backup,
    a route or roster workbook."""
    output = Path(output)
    outbox = output / OUTBOX
    return ((output / MASTER).exists() or newest_backup(output) is not None
            or (outbox.is_dir() and any(outbox.iterdir()))
            or any(any((output / folder).glob(pattern)) for folder, pattern in _RUN_OUTPUTS))


def stale_backups(folder: Path, keep: int) -> list[Path]:
    """The state backups to remove: each day keeps its newest copy, and the newest `keep` days
    are kept, so a mistake noticed days later can still be undone."""
    newest_of_day: dict[str, Path] = {}
    every = sorted(folder.glob(BACKUP_GLOB))
    for path in every:  # names sort by time: state-YYYYmmdd-HHMMSS-ffffff.sqlite
        newest_of_day[path.name[len("state-"):][:8]] = path
    kept = set(sorted(newest_of_day.values())[-max(keep, 1):])
    return [p for p in every if p not in kept]


def newest_backup(output: Path) -> Path | None:
    folder = Path(output) / BACKUPS
    found = sorted(folder.glob(BACKUP_GLOB)) if folder.is_dir() else []
    return found[-1] if found else None


def has_state(db: sqlite3.Connection) -> bool:
    """Whether `db` has the toolkit's tables (a state file, however old its version)."""
    found = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"meta", "records", "ledger"} <= found


def forget_new_journals(journals: list[Path], had: list[bool]) -> None:
    """Remove the journal files a failed open made (on a full disk SQLite cannot), so that the
    folder is as it was; a journal that holds anything is never touched."""
    wal, _shm = journals
    if had[0] or (wal.exists() and wal.stat().st_size):
        return
    for journal, existed in zip(journals, had, strict=True):
        if not existed:
            files.delete(journal)


def refusal(path: Path, what: str) -> str:
    newest = newest_backup(path.parent)
    if newest is not None:
        fix = (f"restore the newest backup ({newest}) with `{RESTORE}`, or start over "
               f"deliberately with `{RESTORE} --start-over`")
    else:
        fix = (f"there is no backup in {path.parent / BACKUPS}: put a copy of the file back, "
               f"or start over deliberately with `{RESTORE} --start-over`")
    return (f"{path}: {what}, but this folder has been used before; it holds the record IDs, "
            f"staff decisions and the confirmations already sent, so nothing was done. {fix} "
            "(starting over gives new record IDs and sends every confirmation again)")


_FULL, _READONLY, _PERM, _CANTOPEN, _IOERR, _CORRUPT, _NOTADB, _BUSY = 13, 8, 3, 14, 10, 11, 26, 5


def damaged(err: sqlite3.Error) -> bool:
    """Whether `err` says the file is damaged (or not a database at all)."""
    return (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF in (_CORRUPT, _NOTADB)


def state_error(path: Path, err: sqlite3.Error) -> SyncError:
    """The message for an SQLite error on the state file at `path`."""
    code = (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _FULL or (code == _IOERR and _disk_full(path.parent)):
        return StateError(f"{path.parent}: the disk is full; free some space and run again "
                          "(the state file is as it was before this run)")
    if code in (_READONLY, _PERM, _CANTOPEN):
        return StateError(f"{path}: the state file cannot be written ({err}); give the account "
                          "that runs the toolkit write access to it and to its folder")
    if damaged(err):
        return StateError(refusal(path, f"the state file is damaged ({err})"))
    if code == _BUSY:
        return StateError(f"{path}: the state file is in use by another program; close it "
                          "(a database viewer?) and run again")
    return StateError(f"{path}: the state file cannot be used ({err})")


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def translate(err: BaseException, output: Path) -> SyncError | None:
    """A staff-readable error for an outside error that escaped a command: the state file's
    SQLite errors and a full disk. None for anything else (a bug: report it)."""
    if isinstance(err, sqlite3.Error):
        return state_error(Path(output) / STATE, err)
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = err.filename or output
        return SyncError(f"{where}: the disk is full; free some space and run again (the "
                         "previous files are unchanged)")
    if isinstance(err, OSError) and err.filename:
        return SyncError(f"{err.filename}: {err.strerror or err}")
    return None


def file_digest(path: Path) -> str | None:
    """A file's digest (the master's and the configuration's, to know whether they changed),
    or None when it does not exist."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "blake2b").hexdigest()
    except FileNotFoundError:
        return None
