"""The toolkit's own state: an SQLite file beside the master workbook.

The workbook is the staff's view and input channel; this file is the system of record for
what the tool owns: the record-ID registry and each record's last data, the responses seen,
staff edits copied in at each sync, duplicate decisions, the confirmation ledger, the
vacation-check log and attendance. A lost or mangled workbook can be rebuilt from it.

It is the one thing that cannot be rebuilt from the forms, so it is never started over
silently. Opening it checks its pages (`PRAGMA quick_check`); a file that is missing or
empty while the folder shows earlier runs (a master, an outbox, a state backup), or one that
is damaged, stops the run with a message naming the newest backup and `tpd-programs
restore-state` (`sync.master.restore`), which puts that backup back (keeping the damaged file
aside, and what happened since the backup: confirmations sent, purges made) or, with
`--start-over`, begins a new state deliberately. Each command that changed the state leaves
a copy of it in `backups/` (SQLite's online backup API: a consistent copy while it is open);
the newest copy of each of the last `[output] backups` days is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.errors import StateError
from sync.state import files, scratch
from sync.state.guard import (  # noqa: F401  (the names other modules know from here)
    BACKUPS,
    MASTER,
    OUTBOX,
    RESTORE,
    STATE,
    damaged,
    file_digest,
    forget_new_journals,
    has_state,
    newest_backup,
    refusal,
    stale_backups,
    state_error,
    translate,
    used_before,
)
from sync.state.schema import SCHEMA, migrate

log = logging.getLogger(__name__)



def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dt" in obj:
            return dt.datetime.fromisoformat(obj["$dt"])
        if "$d" in obj:
            return dt.date.fromisoformat(obj["$d"])
        if "$t" in obj:
            return dt.time.fromisoformat(obj["$t"])
    return obj


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, object_hook=_hook)


class StoredRecord(dict):
    """A record as `Store.records` gives it; its "data" is decoded on first use."""

    __slots__ = ("data_json",)

    def __missing__(self, key: str) -> Any:
        if key != "data":
            raise KeyError(key)
        value = self["data"] = loads(self.data_json)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key == "data" else super().get(key, default)


class Store:
    """A connection to the state file, created owner-only on first use.

    With `backups`, leaving the `with` block without an error after changing the state keeps
    a copy of it in `backups/` (the newest copy of each of the last `backups` days is kept).
    """

    def __init__(self, path: Path, backups: int = 0):
        self.path = Path(path)
        self.backups = backups
        self._records: dict[str, tuple[tuple[int, int], dict[str, dict[str, Any]]]] = {}
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if fresh and used_before(self.path.parent):
            what = "missing" if not self.path.exists() else "empty"
            raise StateError(refusal(self.path, f"the state file is {what}"))
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise StateError(f"{self.path}: the state file cannot be written (permission "
                             "denied); give the account that runs the toolkit access to it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | files.O_BINARY, 0o600)
            os.close(fd)
        self.db = None  # type: ignore[assignment]
        journals = [self.path.with_name(self.path.name + e) for e in ("-wal", "-shm")]
        had_journals = [j.exists() for j in journals]
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            damage = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if damage != "ok":
                raise StateError(refusal(self.path, "the state file is damaged"))
            if not fresh and not has_state(self.db) and used_before(self.path.parent):
                # a valid database, but not ours (or one that lost its tables): giving it a
                # new schema would start over as silently as an empty file does
                raise StateError(refusal(self.path, "the state file holds no toolkit data"))
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            migrate(self.db)
        except (sqlite3.Error, StateError) as err:
            if self.db is not None:
                self.db.close()
            forget_new_journals(journals, had_journals)
            raise err if isinstance(err, StateError) else state_error(self.path, err) from None
        self._unchanged_at = self.db.total_changes

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            if kind is None and self.backups and self.db.total_changes != self._unchanged_at:
                self.back_up()
        finally:
            self.close()

    def nothing_to_back_up(self) -> None:
        """What changed so far needs no new backup (a sync that found nothing new only logs
        its run)."""
        self._unchanged_at = self.db.total_changes

    def back_up(self) -> Path | None:
        """Copy the state into `backups/` as it is now, keeping the newest copy of each of the
        last `self.backups` days. Best effort: a backup that cannot be made is logged, and the
        run goes on."""
        folder = self.path.parent / BACKUPS
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        target = folder / f"state-{stamp}.sqlite"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            partial = scratch.folder(self.path.parent) / f".{target.name}.part"
            fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | files.O_BINARY, 0o600)
            os.close(fd)
            copy = sqlite3.connect(partial)
            try:
                self.db.backup(copy)
            finally:
                copy.close()
            files.replace(partial, target)
        except (OSError, sqlite3.Error) as err:
            log.warning("%s: no backup of the state file was made (%s)", folder, err)
            return None
        files.remove_old(stale_backups(folder, self.backups))  # one held open stays
        self._unchanged_at = self.db.total_changes
        return target

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, dumps(value)))

    # -- records ----------------------------------------------------------------------------

    def records(self, program: str, include_merged: bool = False) -> dict[str, dict[str, Any]]:
        """{record_id: {"data", "first", "written_hash", "staff", "seq", "merged_into"}} in
        record-ID order; "first" is the record's first submission time, read without decoding
        its data.

        Read-only: the records are read once and shared until the state changes (many
        features read them in one sync), and each one's "data" is decoded when first used (a
        sync that finds most records unchanged never needs it).
        """
        stamp = (self.db.total_changes, self.db.execute("PRAGMA data_version").fetchone()[0])
        cached = self._records.get(program)
        if cached is None or cached[0] != stamp:
            sql = ("SELECT record_id, seq, data, json_extract(data, '$.first.\"$dt\"'), "
                   "written_hash, staff, merged_into FROM records WHERE program = ? ORDER BY seq")
            every = {}
            for rid, seq, data, first, written_hash, staff, merged in self.db.execute(sql, (program,)):
                record = every[rid] = StoredRecord(
                    seq=seq, first=dt.datetime.fromisoformat(first) if first else None,
                    written_hash=written_hash, staff=loads(staff) or {}, merged_into=merged)
                record.data_json = data
            cached = self._records[program] = (stamp, every)
        if include_merged:
            return dict(cached[1])
        return {rid: r for rid, r in cached[1].items() if r["merged_into"] is None}

    def purged(self, program: str) -> set[str]:
        """IDs of the records whose personal data was purged (see sync.vacation.purge)."""
        rows = self.db.execute("SELECT record_id FROM records WHERE program = ? AND "
                               "json_extract(data, '$.purged') IS NOT NULL", (program,))
        return {rid for (rid,) in rows}

    def next_seq(self, program: str) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM records WHERE program = ?", (program,)).fetchone()
        return (row[0] or 0) + 1

    def responses(self, program: str) -> dict[str, tuple[str, str]]:
        """{identity: (record_id, fingerprint)}"""
        rows = self.db.execute(
            "SELECT identity, record_id, fingerprint FROM responses WHERE program = ?", (program,))
        return {identity: (rid, fp) for identity, rid, fp in rows}

    def written(self, program: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """{record_id: (what the tool last wrote, what it wrote before that)} per column."""
        rows = self.db.execute("SELECT record_id, written, written_prev FROM records "
                               "WHERE program = ? AND merged_into IS NULL", (program,))
        return {rid: (loads(w) or {}, loads(p) or {}) for rid, w, p in rows}

    def validated(self, program: str) -> dict[str, tuple[str, Any]]:
        """{identity: (fingerprint, {"values", "ineligible"})} as the last sync normalised them."""
        rows = self.db.execute("SELECT identity, fingerprint, cached FROM responses "
                               "WHERE program = ? AND cached IS NOT NULL", (program,))
        return {identity: (fp, loads(cached)) for identity, fp, cached in rows}

    def decisions(self, program: str) -> list[tuple[str, str, str]]:
        rows = self.db.execute(
            "SELECT record_a, record_b, decision FROM decisions WHERE program = ?", (program,))
        return list(rows)

    def runs(self, limit: int = 500) -> list[tuple[str, str | None, str, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT started, finished, program, counts FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [(s, f, p, loads(c)) for s, f, p, c in rows][::-1]

    def executemany(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        self.db.executemany(sql, rows)
