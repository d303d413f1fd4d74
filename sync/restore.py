"""`tpd-programs restore-state`: put a backup of the state file back, or begin a new one.

The state file is never started over silently (see `sync.store`): a command that finds it
missing, empty or damaged stops and names the newest backup, and this puts that backup (or
the one named with --from) back, keeping the file it replaces aside in `backups/` as
`damaged-state-*`. With --start-over it begins an empty state deliberately.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
from pathlib import Path

from sync import files, scratch
from sync.errors import StateError
from sync.store import BACKUPS, RESTORE, SCHEMA, STATE, dumps, has_state, newest_backup

log = logging.getLogger(__name__)


def restore(output: Path, source: Path | None = None, start_over: bool = False) -> str:
    """Put a backup of the state file back (the newest, or `source`), or with `start_over`
    begin an empty one. The file it replaces is kept in `backups/` as `damaged-state-*`.
    The caller holds the output folder's lock. Returns what was done, for staff."""
    output = Path(output)
    path = output / STATE
    lines = []
    partial = scratch.folder(output) / f".{STATE}.part"
    if not start_over:
        source = Path(source) if source is not None else newest_backup(output)
        if source is None:
            raise StateError(f"{output / BACKUPS}: there is no state backup to restore; name "
                             f"one with --from, or start over with `{RESTORE} --start-over`")
        counts = _check_backup(source)
        # the copy is made before anything is moved: a full disk leaves every file as it was
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o600)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = output / BACKUPS / f"damaged-state-{stamp}.sqlite"
    if path.exists() and path.stat().st_size:
        aside.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        files.replace(path, aside)
        lines.append(f"The state file it replaces was kept as {aside}.")
    else:
        files.delete(path)
    for extra in ("-wal", "-shm"):  # the old file's journal must never meet the new one
        journal = path.with_name(path.name + extra)
        if journal.exists():
            files.replace(journal, aside.with_name(aside.name + extra))
    if start_over:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | files.O_BINARY, 0o600)
        os.close(fd)
        db = sqlite3.connect(path)
        db.executescript(SCHEMA)
        db.execute("INSERT INTO meta (key, value) VALUES ('started_over', ?)",
                   (dumps(dt.datetime.now().replace(microsecond=0)),))
        db.commit()
        db.close()
        lines.insert(0, f"Started a new, empty state file: {path}. The next sync gives every "
                     "record a new ID, and confirmations will be sent again to everyone.")
        log.warning("state file started over deliberately")
        return "\n".join(lines)
    assert source is not None
    files.replace(partial, path)
    lines.insert(0, f"Restored {path} from {source}: {counts}. The next sync reads the "
                 "master workbook for staff edits made since then.")
    log.info("state file restored from %s", source.name)
    return "\n".join(lines)


def _check_backup(source: Path) -> str:
    """That `source` is a whole state file; a line of what it holds."""
    if not source.is_file():
        raise StateError(f"{source}: no such backup")
    try:
        # immutable: nothing is written beside the backup (a WAL-mode file opened read-only
        # would make its -shm file, and fail on a full disk as if the backup were damaged)
        db = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise StateError(f"{source}: this backup is damaged too; choose an older one "
                                 "with --from")
            if not has_state(db):
                raise StateError(f"{source}: not a state file (it has no toolkit data); "
                                 "choose another with --from")
            records = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            sent = db.execute("SELECT COUNT(*) FROM ledger WHERE state = 'sent'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as err:
        raise StateError(f"{source}: not a state file ({err}); choose another with --from") from None
    return f"{records} records, {sent} confirmations sent"
