"""The toolkit's own state: an SQLite file beside the master workbook.

The workbook is the staff's view and input channel; this file is the system of record for
what the tool owns: the record-ID registry and each record's last data, the responses seen,
staff edits copied in at each sync, duplicate decisions, the confirmation ledger, the
vacation-check log and attendance. A lost or mangled workbook can be rebuilt from it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.errors import SyncError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    program TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,            -- JSON: the record's fields, times, source rows
    written TEXT,                  -- JSON: {column: value} the tool last wrote to the workbook
    written_prev TEXT,             -- JSON: the write before that one
    written_hash TEXT,             -- digest of the row behind `written` (to skip unchanged rows)
    staff TEXT,                    -- JSON: {column: value} staff typed into the workbook
    merged_into TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_program ON records (program, seq);
CREATE TABLE IF NOT EXISTS responses (
    program TEXT NOT NULL,
    identity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    cached TEXT,                   -- JSON: the response's normalised values and eligibility
    PRIMARY KEY (program, identity)
);
CREATE TABLE IF NOT EXISTS decisions (
    program TEXT NOT NULL,
    record_a TEXT NOT NULL,
    record_b TEXT NOT NULL,
    decision TEXT NOT NULL,        -- Merge | Not duplicate
    decided TEXT NOT NULL,
    PRIMARY KEY (program, record_a, record_b)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    program TEXT NOT NULL,
    counts TEXT NOT NULL           -- JSON
);
CREATE TABLE IF NOT EXISTS ledger (
    record_id TEXT NOT NULL,
    template TEXT NOT NULL,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,           -- sending | sent | failed | refused
    message_id TEXT,
    attempted TEXT NOT NULL,
    sent TEXT,
    error TEXT,
    PRIMARY KEY (record_id, template, recipient)
);
CREATE TABLE IF NOT EXISTS attendance (
    class_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    session_date TEXT NOT NULL,
    mark TEXT NOT NULL,
    PRIMARY KEY (class_id, record_id, session_date)
);
CREATE TABLE IF NOT EXISTS checks (
    record_id TEXT NOT NULL,
    check_date TEXT NOT NULL,
    check_time TEXT NOT NULL,
    checked_by TEXT NOT NULL,
    result TEXT NOT NULL,
    notes TEXT NOT NULL,
    route_file TEXT NOT NULL,
    PRIMARY KEY (record_id, check_date, check_time, checked_by)
);
"""


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
    """A connection to the state file, created owner-only on first use."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._records: dict[str, tuple[tuple[int, int], dict[str, dict[str, Any]]]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise SyncError(f"{self.path}: the state file is damaged or not a database ({err}); "
                            "restore it from a backup") from None

    def _migrate(self) -> None:
        """Bring a state file written by an earlier version up to SCHEMA."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(records)")}
        if "written_hash" not in columns:
            self.db.execute("ALTER TABLE records ADD COLUMN written_hash TEXT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        """{record_id: {"data", "written_hash", "staff", "seq", "merged_into"}} in record-ID order.

        Read-only: the records are read once and shared until the state changes (many
        features read them in one sync), and each one's "data" is decoded when first used (a
        sync that finds most records unchanged never needs it).
        """
        stamp = (self.db.total_changes, self.db.execute("PRAGMA data_version").fetchone()[0])
        cached = self._records.get(program)
        if cached is None or cached[0] != stamp:
            sql = ("SELECT record_id, seq, data, written_hash, staff, merged_into FROM records "
                   "WHERE program = ? ORDER BY seq")
            every = {}
            for rid, seq, data, written_hash, staff, merged in self.db.execute(sql, (program,)):
                record = every[rid] = StoredRecord(seq=seq, written_hash=written_hash,
                                                   staff=loads(staff) or {}, merged_into=merged)
                record.data_json = data
            cached = self._records[program] = (stamp, every)
        if include_merged:
            return dict(cached[1])
        return {rid: r for rid, r in cached[1].items() if r["merged_into"] is None}

    def purged(self, program: str) -> set[str]:
        """IDs of the records whose personal data was purged (see sync.purge)."""
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
