"""`tpd-programs restore-state`: put a backup of the state file back, or begin a new one.

The state file is never started over silently (see `sync.state.store`): a command that finds it
missing, empty or damaged stops and names the newest backup, and this puts that backup (or
the one named with --from) back, keeping the file it replaces aside in `backups/` as
`damaged-state-*`. With --start-over it begins an empty state deliberately.

A backup is older than the file it replaces, and what happened since it was made must not be
undone by putting it back:
- Confirmations sent since then are never sent again. The ledger rows of the replaced file
  that say a message went, may have gone or was refused ('sent', 'sending', 'refused') are
  carried into the restored state when that file can be read at all (a damaged file often
  still can), and the message says how many. A 'sent' row of the backup is never replaced.
- The restored state is marked (meta "restored": the backup's name, when, and how many ledger
  rows were carried) until a sync has read the master against it. That sync takes the
  master's answer cells written since the backup as the tool's (not staff corrections),
  gives records made since the backup their Record IDs and staff columns back, and takes the
  master's "Confirmation sent" column as evidence of messages the ledger does not know
  (`sync.master.staffinput`, `sync.master.records`, `sync.confirmations`). Until then `confirmations
  --send` and `purge --apply` refuse to run (`require_sync`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config.programs import PROGRAMS
from sync.errors import StateError, SyncError
from sync.master import sheetinput
from sync.state import files, scratch
from sync.state.store import BACKUPS, RESTORE, SCHEMA, STATE, Store, dumps, has_state, newest_backup

log = logging.getLogger(__name__)

RESTORED = "restored"  # meta: {"from": backup name, "on": when, "ledger": rows carried or None}
_LEDGER = "record_id, template, recipient, state, message_id, attempted, sent, error"


# (the state file being replaced, the restored copy about to take its place) -> a line for
# staff, or None: carries over from the one to the other what a restore must not undo (a
# purge of personal data: `sync.vacation.purge.reapply`)
CarryOver = Callable[[Path, Path], str | None]


def restore(output: Path, source: Path | None = None, start_over: bool = False,
            carry_over: Sequence[CarryOver] = ()) -> str:
    """Put a backup of the state file back (the newest, or `source`), or with `start_over`
    begin an empty one. The file it replaces is kept in `backups/` as `damaged-state-*`;
    each of `carry_over` is first given that file and the restored copy. The caller holds
    the output folder's lock. Returns what was done, for staff."""
    output = Path(output)
    path = output / STATE
    extra_lines: list[str] = []
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
        # read before the file is moved: its journal (if a read makes one) moves with it
        if path.exists() and path.stat().st_size:
            extra_lines = [line for carry in carry_over if (line := carry(path, partial))]
        carried = _mark_restored(partial, source, _sent_rows(path))
    lines = _set_aside(output, path)
    if start_over:
        return "\n".join([_start_over(path), *lines])
    assert source is not None
    files.replace(partial, path)
    lines.insert(0, f"Restored {path} from {source}: {counts}.")
    if carried is None:
        lines.insert(1, "The state file it replaces could not be read: the confirmations sent "
                     "since that backup are known only from the master's \"Confirmation sent\" "
                     "column, which the next sync reads; one sent after the master was last "
                     "synced is not known (look in the mailbox's Sent folder).")
    elif carried:
        lines.insert(1, f"{carried} confirmation ledger row(s) carried over from the state "
                     "file it replaces: messages sent since that backup are not sent again.")
    lines[1:1] = extra_lines
    lines.append("Run `tpd-programs sync` next: it reads from the master the staff edits, the "
                 "records and the confirmations sent since that backup (`confirmations --send` "
                 "and `purge --apply` wait for it).")
    log.info("state file restored from %s; %s ledger row(s) carried over", source.name,
             "no" if carried is None else carried)
    return "\n".join(lines)


def _set_aside(output: Path, path: Path) -> list[str]:
    """Move the state file `path` (and its journal) to `backups/damaged-state-*`, or delete
    it when it is empty; the line that says where it went, if anywhere."""
    lines = []
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
    return lines


def _start_over(path: Path) -> str:
    """Begin an empty state file at `path`, marked as started over on purpose."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | files.O_BINARY, 0o600)
    os.close(fd)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO meta (key, value) VALUES ('started_over', ?)",
               (dumps(dt.datetime.now().replace(microsecond=0)),))
    db.commit()
    db.close()
    log.warning("state file started over deliberately")
    return (f"Started a new, empty state file: {path}. The next sync gives every "
            "record a new ID, and confirmations will be sent again to everyone.")

def _sent_rows(path: Path) -> list[tuple[object, ...]] | None:
    """The ledger rows of the state file at `path` that say a message went, may have gone or
    was refused; [] when there is no file, None when it cannot be read."""
    if not path.exists() or not path.stat().st_size:
        return []
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return db.execute(f"SELECT {_LEDGER} FROM ledger "  # noqa: S608
                              "WHERE state IN ('sent', 'sending', 'refused')").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return None


def _mark_restored(partial: Path, source: Path, rows: list[tuple[object, ...]] | None) -> int | None:
    """Carry `rows` into the restored copy at `partial` (but over a 'sent' row, or the same
    row) and mark it restored; how many were carried, None when there were none to read."""
    carried = 0
    db = sqlite3.connect(partial, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        for row in rows or []:
            found = db.execute(f"SELECT {_LEDGER} FROM ledger WHERE record_id = ? AND "  # noqa: S608
                               "template = ? AND recipient = ?", row[:3]).fetchone()
            if found is not None and (found[3] == "sent" or found == row):
                continue
            db.execute(f"INSERT OR REPLACE INTO ledger ({_LEDGER}) "  # noqa: S608
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            carried += 1
        mark = {"from": source.name, "on": dt.datetime.now().replace(microsecond=0),
                "ledger": None if rows is None else carried}
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (RESTORED, dumps(mark)))
        db.execute("COMMIT")
    finally:
        db.close()
    return None if rows is None else carried


def require_sync(store: Store, what: str) -> None:
    """Refuse `what` (a command) on a state restored from a backup and not synced since."""
    mark = store.get_meta(RESTORED)
    if mark:
        raise SyncError(f"{store.path}: restored from a backup ({mark['from']}) and not synced "
                        f"since, so {what} would not know the records, staff decisions and "
                        "confirmations since that backup; run `tpd-programs sync` first")


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


# -- the sync that follows ----------------------------------------------------------------------


@dataclass
class Settling:
    """What the sync after a restore read from the master that the restored state does not
    know, carried from reading the master to writing it: the tool cells it did not write
    (`sheetinput.SheetInput.unsure`) and the rows of records made since the backup
    (`sheetinput.AdoptedRow`), by program; then what they settle into once the sheet knows what
    it writes (each record's staff values to save with the records, as JSON)."""

    unsure: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    adopted: dict[str, dict[str, sheetinput.AdoptedRow]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # program -> the sheet read
    staff: dict[str, str] = field(default_factory=dict)  # record_id -> staff JSON to save
    kept: dict[str, list[str]] = field(default_factory=dict)  # program -> IDs with corrections
    tools: dict[str, int] = field(default_factory=dict)  # program -> cells taken as the tool's
    back: dict[str, list[str]] = field(default_factory=dict)  # program -> IDs taken back

    @classmethod
    def of(cls, programs: dict[str, sheetinput.SheetInput], titles: dict[str, str]) -> Settling:
        return cls({k: dict(s.unsure) for k, s in programs.items()},
                   {k: s.adopted for k, s in programs.items()}, dict(titles))

    def claim(self, key: str, claimed: set[str]) -> list[sheetinput.AdoptedRow]:
        """The adopted rows of program `key` that no record took back; those that were are
        settled as the others (their tool cells are unsure)."""
        rows = self.adopted.get(key, {})
        self.back[key] = sorted(rid for rid in rows if rid in claimed)
        for rid in self.back[key]:
            self.unsure.setdefault(key, {})[rid] = rows[rid].tool
        return [row for rid, row in rows.items() if rid not in claimed]

    def cells(self, key: str, column: str) -> dict[str, Any]:
        """The unsure cells of program `key` in `column`, by Record ID."""
        return {rid: cells[column] for rid, cells in self.unsure.get(key, {}).items()
                if cells.get(column) is not None}

    def adopted_staff(self, key: str) -> dict[str, dict[str, Any]]:
        """The staff columns of the records of `key` taken back, by Record ID."""
        rows = self.adopted.get(key, {})
        return {rid: rows[rid].staff for rid in self.back.get(key, [])}

    def settled(self, key: str) -> Callable[[str, dict[str, Any], dict[str, Any]], None]:
        """`layout.ProgramSheet.on_staff` for program `key`."""
        def note(rid: str, staff: dict[str, Any], kept: dict[str, Any]) -> None:
            self.tools[key] = self.tools.get(key, 0) + len(self.unsure[key][rid]) - len(kept)
            if kept:
                self.kept.setdefault(key, []).append(rid)
            if kept or rid in self.back.get(key, []):
                self.staff[rid] = dumps(staff)
        return note

    def log(self) -> None:
        for key, cells in self.unsure.items():
            name = PROGRAMS[key].name
            if self.back.get(key):
                log.info("%s: after the restore, records made since the backup took back their "
                         "Record IDs and staff columns: %s", name, ", ".join(self.back[key]))
            if cells:
                log.info("%s: after the restore, %d cell(s) written by the tool since the backup "
                         "taken as its own; answers kept as staff corrections (they differ from "
                         "what the tool wrote and writes): %s", name, self.tools.get(key, 0),
                         ", ".join(self.kept.get(key, [])) or "none")
