"""The state file's tables, and the migrations that bring a file written by an earlier
version up to them. A migration only adds (a column, a table): an existing state file is
never started over (`sync.state.store`)."""

from __future__ import annotations

import sqlite3

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
CREATE TABLE IF NOT EXISTS geocodes (
    record_id TEXT PRIMARY KEY,    -- a vacation request, or "station"
    address TEXT NOT NULL,         -- the address sent, normalised (street|city|zip)
    status TEXT NOT NULL,          -- Match | No_Match | Tie
    exact TEXT,                    -- Exact | Non_Exact
    latitude REAL,
    longitude REAL,
    looked_up TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS geocodes_address ON geocodes (address);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Bring a state file written by an earlier version up to SCHEMA. Its CREATE TABLE IF NOT
    EXISTS statements already added the tables it lacked (`geocodes`, the Census geocoder's
    answers); here the columns added to existing tables."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    if "written_hash" not in columns:
        db.execute("ALTER TABLE records ADD COLUMN written_hash TEXT")
