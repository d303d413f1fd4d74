"""Retention: a vacation-check request's personal data is removed once it has ended.

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
- The "Staff rows" sheet (`sync.staffinput`): a row moved from "Vacation Checks" (a request
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
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sync import checklog, clock, files, normalize, restore, routes, scratch, staffinput
from sync.config import Config, ProgramConfig
from sync.errors import HeldError, SyncError
from sync.lock import run_lock
from sync.programs import PROGRAMS
from sync.store import (
    BACKUPS,
    MASTER,
    OUTBOX,
    STATE,
    Store,
    damaged,
    dumps,
    has_state,
    loads,
    state_error,
    used_before,
)

log = logging.getLogger(__name__)

PROGRAM = "vsc"
PERSONAL = (
    "email", "first_name", "last_name", "phone", "street", "emergency_contact_name",
    "emergency_contact_phone", "key_holder", "alarm_company", "vehicles", "lights_on_timers",
    "pets", "authorized_persons", "instructions", "latitude", "longitude",
)  # fmt: skip
KEPT = ("submitted_at", "city", "zip", "leave_date", "return_date")
KEPT_STAFF = ("Status",)
PENDING = "purge:pending"  # a purge whose files are not all rewritten or deleted yet
HISTORY = "purge:history"  # [{"on", "cutoff", "records", "route_files", ...}] one per purge
REVIEW = f"review:{PROGRAM}"
PURGED_REVIEW = ("Purged: the request ended before the retention cutoff, so its answers were "
                 "removed; delete this row in the form's responses")


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


def cutoff(today: dt.date, retention_days: int) -> dt.date:
    return today - dt.timedelta(days=retention_days)


def due(records: Mapping[str, Mapping[str, Any]], before: dt.date) -> list[str]:
    """Record IDs of requests not yet purged that returned before `before` (and records
    merged into one of them)."""
    out = set()
    for rid, record in records.items():
        data = record["data"]
        back = data.get("values", {}).get("return_date")
        if not data.get("purged") and isinstance(back, dt.date) and back < before:
            out.add(rid)
    for rid, record in records.items():
        if record.get("merged_into") in out and not record["data"].get("purged"):
            out.add(rid)
    return sorted(out, key=lambda r: (len(r), r))


def redact(data: Mapping[str, Any], marker: Mapping[str, Any]) -> dict[str, Any]:
    """The record data with only anonymous facts left, and the purge `marker`."""
    values = data.get("values", {})
    out = {k: v for k, v in data.items() if k not in ("values", "extra", "written_prev")}
    out["values"] = {k: values[k] for k in KEPT if k in values}
    out["extra"] = {}
    out["purged"] = dict(marker)
    return out


def _ended(back: Any, start: Any, max_days: int, today: dt.date) -> dt.date | None:
    """The day a request not read as a record ended: its return date `back`, or when that
    cannot be read, `start` (its submission, or the day staff moved it) plus the longest
    absence checked. None when neither can be read."""
    try:
        return normalize.parse_date(back, future=True, today=today)
    except ValueError:
        pass
    try:
        return normalize.parse_date(start, today=today) + dt.timedelta(days=max_days)
    except (ValueError, OverflowError):
        return None


def _review_due(answers: Mapping[str, Any], reasons: list[str], program: ProgramConfig,
                before: dt.date) -> bool:
    """Whether a Needs Review row of `program` (its answers by question title) still holds
    the answers of a request that ended before `before`."""
    if program.key != PROGRAM or reasons == [PURGED_REVIEW]:
        return False
    q, rules = program.questions, program.vsc
    assert rules is not None
    end = _ended(answers.get(q.get("return_date", "")), answers.get(q.get("submitted_at", "")),
                rules.max_days, before)
    return end is not None and end < before


def _review_kept(answers: Mapping[str, Any], program: ProgramConfig) -> dict[str, Any]:
    """The anonymous answers of a Needs Review row (those of the fields a purged record keeps)."""
    titles = {program.questions[k] for k in KEPT if k in program.questions}
    return {t: v for t, v in answers.items() if t in titles}


def _purge_review(store: Store, program: ProgramConfig, before: dt.date,
                  apply: bool = True) -> int:
    """Redact the Needs Review rows (state meta `review:vsc`) of requests that ended before
    `before`; how many. The caller holds a transaction."""
    items = store.get_meta(REVIEW, [])
    n = 0
    for item in items:
        if _review_due(item.get("answers", {}), item.get("reasons", []), program, before):
            item.update(reasons=[PURGED_REVIEW], answers=_review_kept(item["answers"], program))
            n += 1
    if n and apply:
        store.set_meta(REVIEW, items)
    return n


def _purge_staff_rows(store: Store, program: ProgramConfig, before: dt.date,
                      apply: bool = True) -> list[int]:
    """Delete the Staff rows holding a vacation request that ended before `before`: rows moved
    from "Vacation Checks" and rows with a Returning date. Their numbers; the caller holds a
    transaction."""
    rules = program.vsc
    assert rules is not None
    sheet = PROGRAMS[PROGRAM].name
    returning = PROGRAMS[PROGRAM].field("return_date").label
    gone = []
    for n, cells in staffinput.carried(store):
        back = cells.get(returning)
        if cells.get(staffinput.FROM) != sheet and back in (None, ""):
            continue  # not a vacation request, as far as anyone can tell: staff's own
        end = _ended(back, cells.get(staffinput.MOVED), rules.max_days, before)
        if end is not None and end < before:
            gone.append(n)
    if gone and apply:
        staffinput.forget(store, set(gone))
    return gone


def _last_cutoff(history: list[Mapping[str, Any]]) -> dt.date | None:
    """The latest cutoff a purge applied (None: none kept one)."""
    return max((h["cutoff"] for h in history if h.get("cutoff")), default=None)


def _blank_names(pairs: list[dict[str, Any]], gone: set[str]) -> None:
    """Possible Duplicates pairs without the names of purged records."""
    for pair in pairs:
        for side in ("a", "b"):
            if pair.get(side) in gone:
                pair[f"name_{side}"] = ""


def _forget_personal(store: Store, record_ids: list[str]) -> None:
    """What other tables keep of purged records: the normalised answers kept to spare the next
    sync from parsing them again, the responses a Google Form source keeps between syncs,
    check notes, confirmation recipients."""
    from sync.sources.forms import cache_key

    from_forms: dict[str, set[str]] = {}  # form ID -> response IDs of purged requests
    for rid in record_ids:
        for (identity,) in store.db.execute(
                "SELECT identity FROM responses WHERE record_id = ?", (rid,)):
            source, _, response_id = identity.partition("|")  # "form/<form ID>|<response ID>"
            if source.startswith("form/"):
                from_forms.setdefault(source.removeprefix("form/"), set()).add(response_id)
    for form_id, gone in from_forms.items():
        # the form source never keeps these again (sync.sources.forms): the request stays
        # as a purged record, "Missing from source"
        saved = store.get_meta(cache_key(form_id))
        if saved:
            saved["responses"] = {k: v for k, v in saved.get("responses", {}).items()
                                  if k not in gone}
            saved["purged"] = sorted(set(saved.get("purged", [])) | gone)
            store.set_meta(cache_key(form_id), saved)
    for rid in record_ids:
        store.db.execute("UPDATE responses SET cached = NULL WHERE record_id = ?", (rid,))
        store.db.execute("UPDATE checks SET notes = '' WHERE record_id = ?", (rid,))
        store.db.execute("UPDATE ledger SET recipient = 'purged-' || rowid, error = NULL "
                         "WHERE record_id = ?", (rid,))


def keep_purged(store: Store, config: Config, key: str, result: dict[str, Any]) -> None:
    """Keep purged requests purged when a sync rebuilds records from the forms' answers.

    A record stays purged while the answers describe the same trip (same return date); a
    record that now carries a different trip is a live request again. Needs Review rows of
    requests that ended before the last purge's cutoff are redacted again.
    """
    if key != PROGRAM:
        return
    program = config.program(PROGRAM)
    before = _last_cutoff(store.get_meta(HISTORY, []))
    if before is not None:
        result["review"] = [
            replace(r, reasons=[PURGED_REVIEW], answers=_review_kept(r.answers, program))
            if _review_due(r.answers, r.reasons, program, before) else r
            for r in result.get("review", [])]
    stored = result.get("stored", {})
    counts = result.get("counts", {})
    purged = set()
    for rid in sorted(store.purged(key) & result["records"].keys()):
        data = result["records"][rid]
        before = stored[rid]["data"] if rid in stored else {}
        marker = before.get("purged")
        if not marker:
            continue
        back = data.get("values", {}).get("return_date")
        if data.get("purged") is None and back != before.get("values", {}).get("return_date"):
            continue
        new = redact(data, marker)
        purged.add(rid)
        same = {k: before.get(k) for k in new} == new
        if data.get("source_state") == "" and same and counts.get("updated"):
            counts["updated"] -= 1
            counts["unchanged"] = counts.get("unchanged", 0) + 1
        result["records"][rid] = new
    _blank_names(result.get("possible", []), purged)


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
    history, pending = loads(meta.get(HISTORY)) or [], loads(meta.get(PENDING))
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
            _forget_personal(store, ids)
            pairs = store.get_meta(f"possible:{PROGRAM}", [])
            _blank_names(pairs, gone)
            store.set_meta(f"possible:{PROGRAM}", pairs)
            before = _last_cutoff(new)
            review = _purge_review(store, program, before) if before else 0
            staff_rows = _purge_staff_rows(store, program, before) if before else []
            store.set_meta(HISTORY, sorted(known + new, key=lambda h: h["on"]))
            if pending:
                store.set_meta(PENDING, pending)
        store.db.execute("VACUUM")  # no page of the copy keeps what was removed
    log.info("restore: %d purge(s) applied again to the restored copy: %d request(s), %d Needs "
             "Review row(s), %d Staff row(s)", len(new), len(again), review, len(staff_rows))
    lines = []
    if new:
        line = (f"Purges made since that copy ({', '.join(sorted(days))}) were applied to it "
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
            _raise_if_held(_delete(old_routes)[1])
        return report
    with run_lock(config.output), Store(state, backups=config.backups) as store:
        if apply:
            restore.require_sync(store, "a purge")
            finish(store, config)  # an earlier purge that could not finish
            checklog.collect(store, config, force=True)  # checks typed into sheets about to go
        records = store.records(PROGRAM, include_merged=True)
        report.records = due(records, report.cutoff)
        counts = checklog.check_counts(store)
        report.checks = sum(counts.get(rid, 0) for rid in report.records)
        if not apply:
            report.review = _purge_review(store, program, report.cutoff, apply=False)
            report.staff_rows = _purge_staff_rows(store, program, report.cutoff, apply=False)
            return report
        _apply(store, config, report, records, counts, today)
    log.info("purged %d request(s) and %d Needs Review row(s), deleted %d route workbook(s) "
             "and %d Staff row(s)", len(report.records), report.review, len(report.route_files),
             len(report.staff_rows))
    return report


def _apply(store: Store, config: Config, report: PurgeReport,
           records: Mapping[str, Mapping[str, Any]], counts: Mapping[str, int],
           today: dt.date) -> None:
    from sync import syncer  # the sync builds the master; it calls back into keep_purged

    master = config.output / MASTER
    if master.exists() and syncer._file_digest(master) != store.get_meta("master_digest"):
        staffinput.collect(store, config, master, today)  # staff edits since the last sync
    records = store.records(PROGRAM, include_merged=True)
    store.db.execute("PRAGMA secure_delete = ON")
    program = config.program(PROGRAM)
    beats = program.vsc.beats  # type: ignore[union-attr]
    with store.transaction():
        for rid in report.records:
            data = records[rid]["data"]
            marker = {"on": today, "beat": routes.assign_beat(data.get("values", {}), beats),
                      "checks": counts.get(rid, 0)}
            staff = {k: v for k, v in records[rid]["staff"].items() if k in KEPT_STAFF}
            store.db.execute(
                "UPDATE records SET data = ?, staff = ?, written = NULL, written_prev = NULL "
                "WHERE record_id = ?",
                (dumps(redact(data, marker)), dumps(staff), rid))
        _forget_personal(store, report.records)
        pairs = store.get_meta(f"possible:{PROGRAM}", [])
        _blank_names(pairs, set(report.records))
        store.set_meta(f"possible:{PROGRAM}", pairs)
        report.review = _purge_review(store, program, report.cutoff)
        report.staff_rows = _purge_staff_rows(store, program, report.cutoff)
        history = store.get_meta(HISTORY, [])
        history.append({"on": today, "cutoff": report.cutoff, "records": len(report.records),
                        "route_files": len(report.route_files), "review": report.review,
                        "staff_rows": len(report.staff_rows)})
        store.set_meta(HISTORY, history)
        # cleared by `finish` once no file outside the state holds the data any more
        store.set_meta(PENDING, {"records": report.records, "route_files": report.route_files,
                                 "cutoff": report.cutoff})
    report.master_rewritten, report.backups, report.outbox = _finish(store, config)


def finish(store: Store, config: Config) -> bool:
    """Finish a purge that stopped after the state was cleaned (the master was open in a
    spreadsheet program, say): rewrite the master, delete the backups and outbox messages
    that still hold the data. The sync and purge call this first; False if nothing was due."""
    if not store.get_meta(PENDING):
        return False
    from sync import syncer

    store.db.execute("PRAGMA secure_delete = ON")
    master = config.output / MASTER
    if master.exists() and syncer._file_digest(master) != store.get_meta("master_digest"):
        # staff edits since the last write; the purged requests' cells there are still the
        # old data, which must not come back as staff input
        staffinput.collect(store, config, master, clock.now(config).date())
        pending = store.get_meta(PENDING)
        purged = pending.get("records", [])
        staff = store.records(PROGRAM, include_merged=True)
        with store.transaction():
            store.executemany("UPDATE records SET staff = ? WHERE record_id = ?", (
                (dumps({k: v for k, v in staff[rid]["staff"].items() if k in KEPT_STAFF}), rid)
                for rid in purged if rid in staff))
            if pending.get("cutoff"):  # Staff rows read back from the stale master
                _purge_staff_rows(store, config.program(PROGRAM), pending["cutoff"])
    rewritten, backups, outbox = _finish(store, config)
    log.info("finished an earlier purge: master %s, %d backup(s) and %d outbox message(s) "
             "deleted", "rewritten" if rewritten else "absent", backups, outbox)
    return True


def _finish(store: Store, config: Config) -> tuple[bool, int, int]:
    """Rewrite the master and delete every other file holding the purged data; a file
    another program holds open is passed over, and the purge stays pending, naming them all
    once the others are done."""
    pending = store.get_meta(PENDING) or {}
    master = config.output / MASTER
    rewritten = master.exists()
    held: list[Path] = []
    if rewritten:
        try:
            _rewrite_master(store, config, master)
        except HeldError as err:  # open in Excel
            held += err.paths
    folder = config.output / BACKUPS
    # every earlier copy of the master and of the state holds what was just removed
    backups, held_backups = _delete(sorted(folder.glob("master-*.xlsx"))
                                    + sorted(folder.glob("state-*.sqlite"))
                                    + sorted(folder.glob("damaged-state-*")))
    outbox, held_outbox = _delete(_outbox_files(config.output, pending.get("records", [])))
    names = pending.get("route_files", [])
    held_routes = _delete([config.output / checklog.ROUTES_DIR / name for name in names])[1]
    _raise_if_held(held + held_backups + held_outbox + held_routes)
    checklog.forget(store, names)
    with store.transaction():
        store.db.execute("DELETE FROM meta WHERE key = ?", (PENDING,))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute("VACUUM")  # no page of the file keeps what was removed
    return rewritten, backups, outbox


def _rewrite_master(store: Store, config: Config, path: Path) -> None:
    """Write the master from the state alone (no source is read), as the last sync left it
    but for the purged data; no backup is kept of the version being replaced."""
    from sync import syncer
    from sync.workbook import write_workbook

    today = clock.now(config).date()
    sheets, written = syncer.build_sheets(store, config, {}, [], today=today)

    def commit(tmp: Path) -> None:
        with store.transaction():
            syncer._save_written(store, written)
            store.set_meta("master_digest", syncer._file_digest(tmp))
            store.set_meta("features_digest", syncer.features_digest(store))
            store.set_meta(syncer.SUMMARY_DAY, today.isoformat())

    write_workbook(path, sheets, backups=0, before_replace=commit,
                   scratch=scratch.folder(config.output))


def _outbox_files(output: Path, record_ids: list[str]) -> list[Path]:
    """Outbox messages whose file name carries one of the record IDs."""
    folder = output / OUTBOX
    if not record_ids or not folder.is_dir():
        return []
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, record_ids))
                         + r")(?![0-9])")
    return sorted(p for p in folder.rglob("*") if p.is_file() and pattern.search(p.name))


def _delete(paths: list[Path]) -> tuple[int, list[Path]]:
    """Delete `paths`: how many were, and those another program holds open (left as they
    are; the purge stays pending and the next sync or purge deletes them)."""
    n, held = 0, []
    for p in paths:
        try:
            n += files.delete(p)
        except PermissionError:
            held.append(p)
        except OSError as err:
            raise SyncError(f"{p}: cannot delete it ({err.strerror or err}); run `tpd-programs "
                            "purge --apply` again to finish once it can be") from None
    return n, held


def _raise_if_held(held: list[Path]) -> None:
    if held:
        raise files.held_error(held, "the purge finishes once they are gone; everything else "
                               "holding the data was removed", "tpd-programs purge --apply")
