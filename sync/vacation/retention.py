"""Retention: a vacation-check request's personal data goes once it has ended.

The rules and the mechanics that the purge command (`sync.vacation.purge`, whose docstring tells the
whole story), the sync and restore-state share: which requests are due (`due`, `cutoff`),
what a purged record keeps (`redact`), how Needs Review and Staff rows follow, how a later
sync keeps purged requests purged (`keep_purged`), and how the files that still hold purged
data are rewritten or deleted (`finish_files`), also when an earlier purge stopped halfway
(`finish`). The `Retention` feature plugs the last two into the sync (`sync.master.hooks`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sync.config import Config, ProgramConfig
from sync.config.programs import PROGRAMS
from sync.errors import HeldError, SyncError
from sync.ingest import normalize
from sync.master import staffinput
from sync.master.hooks import Feature, Rewrite
from sync.master.records import ProgramResult
from sync.master.restore import Settling
from sync.state import clock, files
from sync.state.store import BACKUPS, MASTER, OUTBOX, Store, dumps, file_digest
from sync.vacation import checklog

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


def purge_review(store: Store, program: ProgramConfig, before: dt.date,
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


def purge_staff_rows(store: Store, program: ProgramConfig, before: dt.date,
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


def last_cutoff(history: list[Mapping[str, Any]]) -> dt.date | None:
    """The latest cutoff a purge applied (None: none kept one)."""
    return max((h["cutoff"] for h in history if h.get("cutoff")), default=None)


def blank_names(pairs: list[dict[str, Any]], gone: set[str]) -> None:
    """Possible Duplicates pairs without the names of purged records."""
    for pair in pairs:
        for side in ("a", "b"):
            if pair.get(side) in gone:
                pair[f"name_{side}"] = ""


def forget_personal(store: Store, record_ids: list[str]) -> None:
    """What other tables keep of purged records: the normalised answers kept to spare the next
    sync from parsing them again, the responses a Google Form source keeps between syncs,
    check notes, confirmation recipients, the geocoder's answer for its address."""
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
        store.db.execute("DELETE FROM geocodes WHERE record_id = ?", (rid,))


def keep_purged(store: Store, config: Config, key: str, result: ProgramResult) -> None:
    """Keep purged requests purged when a sync rebuilds records from the forms' answers.

    A record stays purged while the answers describe the same trip (same return date); a
    record that now carries a different trip is a live request again. Needs Review rows of
    requests that ended before the last purge's cutoff are redacted again.
    """
    if key != PROGRAM:
        return
    program = config.program(PROGRAM)
    before = last_cutoff(store.get_meta(HISTORY, []))
    if before is not None:
        result.review = [
            replace(r, reasons=[PURGED_REVIEW], answers=_review_kept(r.answers, program))
            if _review_due(r.answers, r.reasons, program, before) else r
            for r in result.review]
    stored = result.stored
    counts = result.counts
    purged = set()
    for rid in sorted(store.purged(key) & result.records.keys()):
        data = result.records[rid]
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
        result.records[rid] = new
    blank_names(result.possible, purged)


def finish(store: Store, config: Config, rewrite: Rewrite) -> bool:
    """Finish a purge that stopped after the state was cleaned (the master was open in a
    spreadsheet program, say): rewrite the master, delete the backups and outbox messages
    that still hold the data. The sync and purge call this first; False if nothing was due."""
    if not store.get_meta(PENDING):
        return False
    store.db.execute("PRAGMA secure_delete = ON")
    master = config.output / MASTER
    if master.exists() and file_digest(master) != store.get_meta("master_digest"):
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
                purge_staff_rows(store, config.program(PROGRAM), pending["cutoff"])
    rewritten, backups, outbox = finish_files(store, config, rewrite)
    log.info("finished an earlier purge: master %s, %d backup(s) and %d outbox message(s) "
             "deleted", "rewritten" if rewritten else "absent", backups, outbox)
    return True


def finish_files(store: Store, config: Config, rewrite: Rewrite) -> tuple[bool, int, int]:
    """Rewrite the master and delete every other file holding the purged data; a file
    another program holds open is passed over, and the purge stays pending, naming them all
    once the others are done."""
    pending = store.get_meta(PENDING) or {}
    master = config.output / MASTER
    rewritten = master.exists()
    held: list[Path] = []
    if rewritten:
        try:
            rewrite(store, config, master)
        except HeldError as err:  # open in Excel
            held += err.paths
    folder = config.output / BACKUPS
    # every earlier copy of the master and of the state holds what was just removed
    backups, held_backups = delete_files(sorted(folder.glob("master-*.xlsx"))
                                    + sorted(folder.glob("state-*.sqlite"))
                                    + sorted(folder.glob("damaged-state-*")))
    outbox, held_outbox = delete_files(_outbox_files(config.output, pending.get("records", [])))
    names = pending.get("route_files", [])
    held_routes = delete_files([config.output / checklog.ROUTES_DIR / name for name in names])[1]
    raise_if_held(held + held_backups + held_outbox + held_routes)
    checklog.forget(store, names)
    with store.transaction():
        store.db.execute("DELETE FROM meta WHERE key = ?", (PENDING,))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute("VACUUM")  # no page of the file keeps what was removed
    return rewritten, backups, outbox


def _outbox_files(output: Path, record_ids: list[str]) -> list[Path]:
    """Outbox messages whose file name carries one of the record IDs."""
    folder = output / OUTBOX
    if not record_ids or not folder.is_dir():
        return []
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, record_ids))
                         + r")(?![0-9])")
    return sorted(p for p in folder.rglob("*") if p.is_file() and pattern.search(p.name))


def delete_files(paths: list[Path]) -> tuple[int, list[Path]]:
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


def raise_if_held(held: list[Path]) -> None:
    if held:
        raise files.held_error(held, "the purge finishes once they are gone; everything else "
                               "holding the data was removed", "tpd-programs purge --apply")


class Retention(Feature):
    """Purged vacation checks stay purged, and a purge that stopped halfway is finished
    before the sync reads anything."""

    def recover(self, store: Store, config: Config, rewrite: Rewrite) -> None:
        finish(store, config, rewrite)

    def amend(self, store: Store, config: Config, key: str, result: ProgramResult,
              started: dt.datetime, settling: Settling | None) -> None:
        keep_purged(store, config, key, result)
