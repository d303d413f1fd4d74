"""Assembling the master workbook's sheets from the state and this sync's results.

The sync (`sync.master.syncer`) streams these sheets into the workbook as each program is read;
a purge (`sync.vacation.purge`) rewrites the master from the state alone with `rewrite_master`. Both
go through the same functions here, and both let every feature of `sync.features` add its
columns and sheets through the hooks of `sync.master.hooks`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.config.programs import PROGRAMS
from sync.features import FEATURES
from sync.master import layout, pairs, restore, staffinput, stale
from sync.master.records import ProgramResult, ReviewItem
from sync.state import clock, scratch
from sync.state import store as store_mod
from sync.xlsx.saving import write_workbook
from sync.xlsx.sheet import Sheet

# The Summary sheet counts "this week" and the vacation checks ahead from the day it was
# written: the first sync of a new day rewrites the master even when nothing else changed;
# further syncs that day take the no-change path.
SUMMARY_DAY = "summary_day"


def digest(*parts: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(repr(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def save_written(store: store_mod.Store, written: dict[str, tuple[str, str]]) -> None:
    """Record what the new workbook holds ({record_id: (JSON of {column: value}, digest)}),
    keeping the write before it (see `sheetinput.read_program_sheet`)."""
    store.executemany("UPDATE records SET written_prev = written, written = ?, written_hash = ? "
                      "WHERE record_id = ?", ((w, h, rid) for rid, (w, h) in written.items()))


def features_digest(store: store_mod.Store) -> str:
    """Digest of what the features feed into the master (their state tables and meta keys)."""
    parts = []
    for table in [t for feature in FEATURES for t in feature.tables]:
        parts.append(store.db.execute(f"SELECT COUNT(*), MAX(rowid) FROM {table}").fetchone())  # noqa: S608
    # a changed mark keeps count and rowid
    parts.extend(store.get_meta(key) for feature in FEATURES for key in feature.meta)
    return digest(parts)


def tool_columns(store: store_mod.Store, config: Config, key: str,
                 records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
    """Computed columns the features add to a program sheet."""
    return [column for feature in FEATURES
            for column in feature.columns(store, config, key, records)]


def reserved_titles(config: Config) -> list[str]:
    """The master's first sheets, whose places are taken before they are written: the
    features' first sheets (written last) and one per program (written in size order).
    `closing_sheets` follow them in the order they are added."""
    return [t for feature in FEATURES for t in feature.first_titles(config)] \
        + [PROGRAMS[k].name for k in config.programs]


def program_sheet(store: store_mod.Store, config: Config, key: str, results: dict[str, ProgramResult],
                  written: dict[str, tuple[str, str]],
                  settling: restore.Settling | None = None) -> Sheet:
    """Program `key`'s sheet, from this sync's `results` or else as the last sync left it.
    As its rows are written, `written` gets the tool values of each record whose values
    changed ({record_id: (JSON, digest)}; the rest are in the state already), and
    `settling` (after a restore) what its unsure cells settle into."""
    program = config.programs[key]
    stored = store.records(key)
    records = results[key].records if key in results else \
        {rid: r["data"] for rid, r in stored.items()}
    order = sorted(records, key=lambda r: int(r.split("-")[1]))
    extra_titles: list[str] = []
    seen: set[str] = set()
    for rid in order:
        for title in records[rid].get("extra", {}):
            if title not in seen:
                seen.add(title)
                extra_titles.append(title)

    def note(rid: str, digest: str, values: Callable[[], dict[str, Any]]) -> None:
        if rid not in stored or stored[rid]["written_hash"] != digest:
            written[rid] = (store_mod.dumps(values()), digest)

    return layout.ProgramSheet(
        program=PROGRAMS[key],
        mapped=[f for f in PROGRAMS[key].field_names if f in program.questions],
        extra_titles=extra_titles,
        records=[(rid, records[rid]) for rid in order],
        staff={rid: stored[rid]["staff"] for rid in order if rid in stored and stored[rid]["staff"]}
        | (settling.adopted_staff(key) if settling else {}),
        tool=tool_columns(store, config, key, records),
        staff_extra=store.get_meta(f"staff_columns:{key}", []),
        title_rows=stale.rows(store, key) + staffinput.title_rows(store, PROGRAMS[key].name),
        unsure=settling.unsure.get(key, {}) if settling else {},
        on_staff=settling.settled(key) if settling else None,
    ).sheet(note)


def closing_sheets(store: store_mod.Store, config: Config, results: dict[str, ProgramResult],
                   pending_runs: list[tuple[str, str, str, dict[str, int]]],
                   today: dt.date) -> list[Sheet]:
    """The sheets after the programs' (the features', Needs Review, Possible Duplicates,
    Sync Log, Staff rows when there are any) and then the features' first sheets (the
    Summary), their figures as of `today`."""
    review: list[ReviewItem] = []
    possible: list[dict[str, Any]] = []
    for key in config.programs:
        if key in results:
            review.extend(results[key].review)
            possible.extend(results[key].possible + results[key].merges)
        else:  # not read this time: show what the last sync found
            review.extend(ReviewItem(**r) for r in store.get_meta(f"review:{key}", []))
            possible.extend(store.get_meta(f"possible:{key}", []) + store.get_meta(f"merged:{key}", []))
    staff_rows = staffinput.staff_rows_sheet(store)
    return [*[s for feature in FEATURES for s in feature.sheets(store, config)],
            layout.needs_review_sheet(review),
            pairs.duplicates_sheet(possible,
                                    staffinput.title_rows(store, layout.POSSIBLE_DUPLICATES)),
            layout.sync_log_sheet(store.runs() + pending_runs),
            *([staff_rows] if staff_rows else []),
            *[s for feature in FEATURES for s in feature.first_sheets(store, config, today, results)]]


def build_sheets(store: store_mod.Store, config: Config, results: dict[str, ProgramResult],
                 pending_runs: list[tuple[str, str, str, dict[str, int]]],
                 today: dt.date | None = None) -> tuple[list[Sheet], dict[str, tuple[str, str]]]:
    """Every sheet of the master in order (the first sheets' figures as of `today`, by
    default the department's date now), and the `written` of `program_sheet`, complete once
    the sheets' rows have been written."""
    written: dict[str, tuple[str, str]] = {}
    programs = [program_sheet(store, config, key, results, written) for key in config.programs]
    first = len([t for feature in FEATURES for t in feature.first_titles(config)])
    closing = closing_sheets(store, config, results, pending_runs, today or clock.today(config))
    others, firsts = closing[:len(closing) - first], closing[len(closing) - first:]
    return [*firsts, *programs, *others], written


def rewrite_master(store: store_mod.Store, config: Config, path: Path) -> None:
    """Write the master from the state alone (no source is read), as the last sync left it;
    no backup is kept of the version being replaced (a purge removed data it holds)."""
    today = clock.today(config)
    sheets, written = build_sheets(store, config, {}, [], today=today)

    def commit(tmp: Path) -> None:
        with store.transaction():
            save_written(store, written)
            store.set_meta("master_digest", store_mod.file_digest(tmp))
            store.set_meta("features_digest", features_digest(store))
            store.set_meta(SUMMARY_DAY, today.isoformat())

    write_workbook(path, sheets, backups=0, before_replace=commit,
                   scratch=scratch.folder(config.output))
