"""`tpd-programs purge`: a vacation-check request's personal data is removed once it has ended.

A request whose return date is more than `retention_days` ago (programs.vsc.rules) keeps
only anonymous facts: its record ID, ZIP code, city, dates, beat and how many checks were
made. Names, phones, emails, the address, instructions, contacts, key holders, alarm,
vehicles, pets, authorized persons, coordinates, staff notes and answers to unmapped
questions go, from the state and from the master workbook (rewritten at once, the older
backups of both deleted); route workbooks of days before the cutoff are deleted after their
typed checks are read. Nothing happens without `apply`: the default lists what would go, by
record ID only.

The state is cleaned first, in one transaction that also marks the purge pending; the files
(master, route workbooks, backups, outbox messages) follow, and the mark is cleared only when
none holds the data any more. A purge stopped in between (the master open in Excel) is
finished by `finish`, which the next sync and the next purge call before anything else.

Two more places hold a request's answers without being a record, and follow its retention:
- Needs Review: a vacation request the sync could not accept keeps every answer there
  (state meta `review:vsc`). One that ended before the cutoff (by its return date, or when
  that cannot be read, its submission time plus the longest absence checked, `max_days`)
  keeps its program, source row and anonymous answers (submitted, city, ZIP, dates) and
  the one reason "Purged: ...; delete this row in the form's responses", so the Sync Log's
  counts still add up and staff see which row to delete.
- The "Staff rows" sheet (`sync.master.staffinput`): a row moved from "Vacation Checks" (a request
  whose Record ID staff cleared, a walk-in typed in), or any row with a Returning date, is
  deleted once it ended before the cutoff (by its Returning date, else its Moved on date
  plus `max_days`). Rows staff typed there that are neither are theirs, and left alone.

The forms' response spreadsheets are not the toolkit's to change: later syncs read the
answers again, and `keep_purged` keeps a purged record purged and, up to the last purge's
cutoff (kept in the state's `purge:history`), Needs Review rows redacted.

A state file restored from a copy made before a purge would bring the purged data back (and
the next sync would write it into the master again). `restore-state` calls `reapply` first:
each purge the file being replaced records and the copy does not, is applied to the copy
again, before it takes the state's place: the purged records' rows (and the responses that
belong to them, so that later syncs keep them purged, records made after the copy too) are
taken from the replaced file, the other tables and Needs Review and Staff rows are cleaned as
a purge cleans them, and a purge still pending stays pending. The files under the output
folder need nothing: the purge cleaned them, and nothing since held the data. A damaged
replaced file is said, with what to run; one that cannot be read for another reason (a full
disk) stops the restore before anything is moved.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.master import assemble, restore, staffinput
from sync.state import clock
from sync.state.lock import run_lock
from sync.state.store import (
    MASTER,
    STATE,
    Store,
    damaged,
    dumps,
    file_digest,
    has_state,
    loads,
    state_error,
    used_before,
)
from sync.vacation import checklog, routing
from sync.vacation.retention import (
    HISTORY,
    KEPT_STAFF,
    PENDING,
    PROGRAM,
    blank_names,
    cutoff,
    delete_files,
    due,
    finish,
    finish_files,
    forget_personal,
    last_cutoff,
    purge_review,
    purge_staff_rows,
    raise_if_held,
    redact,
)

log = logging.getLogger(__name__)

@dataclass
class PurgeReport:
    applied: bool
    cutoff: dt.date  # requests that returned before this day are purged
    records: list[str] = field(default_factory=list)
    route_files: list[str] = field(default_factory=list)
    review: int = 0  # Needs Review rows whose answers go
    staff_rows: list[int] = field(default_factory=list)  # Staff row numbers deleted
    checks: int = 0  # checks of the purged requests (kept as counts, notes removed)
    backups: int = 0  # master backups deleted (they still held the data)
    outbox: int = 0  # outbox messages deleted
    master_rewritten: bool = False

    def render(self) -> str:
        verb = "Removed" if self.applied else "Would remove"
        verb_files = "Deleted" if self.applied else "Would delete"
        lines = [f"Requests that returned before {self.cutoff.isoformat()}: {len(self.records)}"]
        if self.records:
            lines.append(f"{verb} personal data of: {', '.join(self.records)}")
            lines.append(f"Kept for each: record ID, ZIP, city, dates, beat and check count "
                         f"({self.checks} checks)")
        if self.review:
            lines.append(f"{verb} the answers of {self.review} vacation request(s) in Needs "
                         "Review (the rows stay, with the source row to delete in the form)")
        if self.route_files:
            lines.append(f"{verb_files} {len(self.route_files)} route workbook(s): "
                         f"{', '.join(self.route_files)}")
        if self.staff_rows:
            lines.append(f"{verb_files} {len(self.staff_rows)} row(s) of the "
                         f"{staffinput.STAFF_ROWS!r} sheet holding a vacation request: "
                         f"{staffinput.NUMBER} {', '.join(map(str, self.staff_rows))}")
        if self.applied:
            if self.backups:
                lines.append(f"Deleted {self.backups} backup(s) of the master and the state "
                             "that still held the data")
            if self.outbox:
                lines.append(f"Deleted {self.outbox} outbox message(s)")
            if self.master_rewritten:
                lines.append("Master workbook rewritten without the removed data")
            if self.records or self.review:
                lines.append("The form's response spreadsheet still holds the answers: "
                             "delete those rows there as well")
        elif self.records or self.route_files or self.review or self.staff_rows:
            lines.append("Dry run: nothing was changed. Run with --apply to remove it.")
        else:
            lines.append("Nothing to remove.")
        return "\n".join(lines)


# -- after restore-state ----------------------------------------------------------------------

# the records a purge left (of every program: only vacation checks are purged), whole
_READ_PURGED = ("SELECT json_extract(data, '$.purged.on.\"$d\"'), record_id, program, seq, "
                "data, written, written_prev, written_hash, staff, merged_into, created, updated "
                "FROM records WHERE json_extract(data, '$.purged') IS NOT NULL")
_WRITE_PURGED = ("INSERT OR REPLACE INTO records (record_id, program, seq, data, written, "
                 "written_prev, written_hash, staff, merged_into, created, updated) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def reapply(config: Config, replaced: Path, restored: Path) -> str | None:
    """Apply to `restored`, a state file restore-state is about to put in place of
    `replaced`, the purges `replaced` records and it does not (see the module docstring).
    A line for staff, or None when there were none."""
    program = config.programs.get(PROGRAM)
    if program is None:  # no vacation checks, nothing was ever purged
        return None
    found = _recorded_purges(replaced)
    if found is None or isinstance(found, str):
        return found
    history, pending, rows, responses = found
    with Store(restored) as store:
        known = store.get_meta(HISTORY, [])
        new = [h for h in history if h not in known]
        pending = pending if pending and not store.get_meta(PENDING) else None
        if not new and not pending:
            return None
        days = {h["on"].isoformat() for h in new}
        rows = [row[1:] for row in rows if row[0] in days]
        ids = [row[0] for row in rows]
        gone = set(ids)
        again = sorted(gone - store.purged(PROGRAM), key=lambda r: (len(r), r))
        store.db.execute("PRAGMA secure_delete = ON")
        with store.transaction():
            store.executemany(_WRITE_PURGED, rows)
            store.executemany("DELETE FROM responses WHERE record_id = ?", ((r,) for r in ids))
            store.executemany("INSERT OR REPLACE INTO responses (program, identity, record_id, "
                              "fingerprint) VALUES (?, ?, ?, ?)",
                              (r for r in responses if r[2] in gone))
            forget_personal(store, ids)
            pairs = store.get_meta(f"possible:{PROGRAM}", [])
            blank_names(pairs, gone)
            store.set_meta(f"possible:{PROGRAM}", pairs)
            before = last_cutoff(new)
            review = purge_review(store, program, before) if before else 0
            staff_rows = purge_staff_rows(store, program, before) if before else []
            store.set_meta(HISTORY, sorted(known + new, key=lambda h: h["on"]))
            if pending:
                store.set_meta(PENDING, pending)
        store.db.execute("VACUUM")  # no page of the copy keeps what was removed
    log.info("restore: %d purge(s) applied again to the restored copy: %d request(s), %d Needs "
             "Review row(s), %d Staff row(s)", len(new), len(again), review, len(staff_rows))
    return _reapplied(sorted(days) if new else [], again, review, staff_rows, bool(pending))


def _recorded_purges(replaced: Path) -> tuple[Any, Any, list[Any], list[Any]] | str | None:
    """(purge history, pending purge, the purged records' rows, their responses) as the state
    file `replaced` records them; None when it is not a state file; a line for staff when it
    is damaged. Another error reading it (a full disk) stops the restore."""
    try:
        old = sqlite3.connect(f"{replaced.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if not has_state(old):  # not a state file: it recorded no purge
                return None
            meta = dict(old.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                    (HISTORY, PENDING)))
            rows = old.execute(_READ_PURGED).fetchall()
            responses = old.execute(
                "SELECT program, identity, record_id, fingerprint FROM responses WHERE "
                "record_id IN (SELECT record_id FROM records WHERE json_extract(data, "
                "'$.purged') IS NOT NULL)").fetchall()
        finally:
            old.close()
    except sqlite3.Error as err:
        if not damaged(err):  # a full disk, say: nothing is restored until it can be read
            raise state_error(replaced, err) from None
        return (f"The state file it replaces is damaged ({err}), so purges made since the "
                "copy was made could not be applied to it again; if there were any, run "
                "`tpd-programs purge --apply` now.")
    return loads(meta.get(HISTORY)) or [], loads(meta.get(PENDING)), rows, responses


def _reapplied(days: list[str], again: list[str], review: int, staff_rows: list[int],
               pending: bool) -> str:
    """The line for staff after purges were applied again to a restored copy."""
    lines = []
    if days:
        line = (f"Purges made since that copy ({', '.join(days)}) were applied to it "
                f"again: personal data of {len(again)} request(s) removed")
        line += f" ({', '.join(again)})" if again else ""
        line += f", answers of {review} Needs Review row(s) removed" if review else ""
        line += f", {len(staff_rows)} Staff row(s) deleted" if staff_rows else ""
        lines.append(line + ".")
    if pending:
        lines.append("The state file it replaces had a purge not finished: the next sync or "
                     "`tpd-programs purge --apply` finishes it.")
    return " ".join(lines)


# -- the command ------------------------------------------------------------------------------


def purge(config: Config, apply: bool = False, today: dt.date | None = None) -> PurgeReport:
    """List (or with `apply`, remove) the personal data of requests past retention."""
    program = config.program(PROGRAM)
    rules = program.vsc
    assert rules is not None
    today = today or clock.today(config)
    report = PurgeReport(apply, cutoff(today, rules.retention_days))
    state = config.output / STATE
    old_routes = [p for p in checklog.route_files(config.output)
                  if (checklog.route_day(p) or today) < report.cutoff]
    report.route_files = [p.name for p in old_routes]
    if not state.exists() and not used_before(config.output):
        if apply:
            raise_if_held(delete_files(old_routes)[1])
        return report
    with run_lock(config.output), Store(state, backups=config.backups) as store:
        if apply:
            restore.require_sync(store, "a purge")
            finish(store, config, assemble.rewrite_master)  # an earlier purge that could not finish
            checklog.collect(store, config, force=True)  # checks typed into sheets about to go
        records = store.records(PROGRAM, include_merged=True)
        report.records = due(records, report.cutoff)
        counts = checklog.check_counts(store)
        report.checks = sum(counts.get(rid, 0) for rid in report.records)
        if not apply:
            report.review = purge_review(store, program, report.cutoff, apply=False)
            report.staff_rows = purge_staff_rows(store, program, report.cutoff, apply=False)
            return report
        _apply(store, config, report, records, counts, today)
    log.info("purged %d request(s) and %d Needs Review row(s), deleted %d route workbook(s) "
             "and %d Staff row(s)", len(report.records), report.review, len(report.route_files),
             len(report.staff_rows))
    return report


def _apply(store: Store, config: Config, report: PurgeReport,
           records: Mapping[str, Mapping[str, Any]], counts: Mapping[str, int],
           today: dt.date) -> None:
    master = config.output / MASTER
    if master.exists() and file_digest(master) != store.get_meta("master_digest"):
        staffinput.collect(store, config, master, today)  # staff edits since the last sync
    records = store.records(PROGRAM, include_merged=True)
    store.db.execute("PRAGMA secure_delete = ON")
    program = config.program(PROGRAM)
    beats = program.vsc.beats  # type: ignore[union-attr]
    with store.transaction():
        for rid in report.records:
            data = records[rid]["data"]
            marker = {"on": today, "beat": routing.assign_beat(data.get("values", {}), beats),
                      "checks": counts.get(rid, 0)}
            staff = {k: v for k, v in records[rid]["staff"].items() if k in KEPT_STAFF}
            store.db.execute(
                "UPDATE records SET data = ?, staff = ?, written = NULL, written_prev = NULL "
                "WHERE record_id = ?",
                (dumps(redact(data, marker)), dumps(staff), rid))
        forget_personal(store, report.records)
        pairs = store.get_meta(f"possible:{PROGRAM}", [])
        blank_names(pairs, set(report.records))
        store.set_meta(f"possible:{PROGRAM}", pairs)
        report.review = purge_review(store, program, report.cutoff)
        report.staff_rows = purge_staff_rows(store, program, report.cutoff)
        history = store.get_meta(HISTORY, [])
        history.append({"on": today, "cutoff": report.cutoff, "records": len(report.records),
                        "route_files": len(report.route_files), "review": report.review,
                        "staff_rows": len(report.staff_rows)})
        store.set_meta(HISTORY, history)
        # cleared by `finish` once no file outside the state holds the data any more
        store.set_meta(PENDING, {"records": report.records, "route_files": report.route_files,
                                 "cutoff": report.cutoff})
    report.master_rewritten, report.backups, report.outbox = finish_files(store, config,
                                                                        assemble.rewrite_master)
