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

The forms' response spreadsheets are not the toolkit's to change: later syncs read the
answers again, and `keep_purged` keeps a purged record purged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import checklog, files, restore, routes, scratch, staffinput
from sync.config import Config
from sync.errors import HeldError, SyncError
from sync.lock import run_lock
from sync.store import BACKUPS, MASTER, OUTBOX, STATE, Store, dumps, used_before

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


@dataclass
class PurgeReport:
    applied: bool
    cutoff: dt.date  # requests that returned before this day are purged
    records: list[str] = field(default_factory=list)
    route_files: list[str] = field(default_factory=list)
    checks: int = 0  # checks of the purged requests (kept as counts, notes removed)
    backups: int = 0  # master backups deleted (they still held the data)
    outbox: int = 0  # outbox messages deleted
    master_rewritten: bool = False

    def render(self) -> str:
        verb = "Removed" if self.applied else "Would remove"
        lines = [f"Requests that returned before {self.cutoff.isoformat()}: {len(self.records)}"]
        if self.records:
            lines.append(f"{verb} personal data of: {', '.join(self.records)}")
            lines.append(f"Kept for each: record ID, ZIP, city, dates, beat and check count "
                         f"({self.checks} checks)")
        if self.route_files:
            verb_files = "Deleted" if self.applied else "Would delete"
            lines.append(f"{verb_files} {len(self.route_files)} route workbook(s): "
                         f"{', '.join(self.route_files)}")
        if self.applied:
            if self.backups:
                lines.append(f"Deleted {self.backups} backup(s) of the master and the state "
                             "that still held the data")
            if self.outbox:
                lines.append(f"Deleted {self.outbox} outbox message(s)")
            if self.master_rewritten:
                lines.append("Master workbook rewritten without the removed data")
            if self.records:
                lines.append("The form's response spreadsheet still holds the answers: "
                             "delete those rows there as well")
        elif self.records or self.route_files:
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


def keep_purged(store: Store, key: str, result: dict[str, Any]) -> None:
    """Keep purged requests purged when a sync rebuilds records from the forms' answers.

    A record stays purged while the answers describe the same trip (same return date); a
    record that now carries a different trip is a live request again.
    """
    if key != PROGRAM:
        return
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
    for pair in result.get("possible", []):
        for side in ("a", "b"):
            if pair.get(side) in purged:
                pair[f"name_{side}"] = ""


# -- the command ------------------------------------------------------------------------------


def purge(config: Config, apply: bool = False, today: dt.date | None = None) -> PurgeReport:
    """List (or with `apply`, remove) the personal data of requests past retention."""
    rules = config.program(PROGRAM).vsc
    assert rules is not None
    today = today or dt.datetime.now(config.department.timezone).date()
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
            return report
        _apply(store, config, report, records, counts, today)
    log.info("purged %d request(s), deleted %d route workbook(s)", len(report.records),
             len(report.route_files))
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
    beats = config.program(PROGRAM).vsc.beats  # type: ignore[union-attr]
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
            # the normalised answers kept to spare the next sync from parsing them again
            store.db.execute("UPDATE responses SET cached = NULL WHERE record_id = ?", (rid,))
            store.db.execute("UPDATE checks SET notes = '' WHERE record_id = ?", (rid,))
            store.db.execute("UPDATE ledger SET recipient = 'purged-' || rowid, error = NULL "
                             "WHERE record_id = ?", (rid,))
        gone = set(report.records)
        pairs = store.get_meta(f"possible:{PROGRAM}", [])
        for pair in pairs:
            for side in ("a", "b"):
                if pair.get(side) in gone:
                    pair[f"name_{side}"] = ""
        store.set_meta(f"possible:{PROGRAM}", pairs)
        history = store.get_meta("purge:history", [])
        history.append({"on": today, "records": len(report.records),
                        "route_files": len(report.route_files)})
        store.set_meta("purge:history", history)
        # cleared by `finish` once no file outside the state holds the data any more
        store.set_meta(PENDING, {"records": report.records, "route_files": report.route_files})
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
        staffinput.collect(store, config, master, syncer._now(config).date())
        purged = store.get_meta(PENDING).get("records", [])
        staff = store.records(PROGRAM, include_merged=True)
        with store.transaction():
            store.executemany("UPDATE records SET staff = ? WHERE record_id = ?", (
                (dumps({k: v for k, v in staff[rid]["staff"].items() if k in KEPT_STAFF}), rid)
                for rid in purged if rid in staff))
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

    today = syncer._now(config).date()
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
