"""The sync: read every source, validate, deduplicate and write the master workbook.

Order of work, so that a failure at any point leaves the previous master intact:
1. under the output folder's lock, if staff changed the master, read what they typed
   (`sync.staffinput`; a sheet whose header row is lost stops the run before anything is
   saved); read the sources one program at a time, smallest first (one batched request per
   spreadsheet), until one differs from what the last sync read;
2. if neither the sources, the configuration nor the staff's workbook changed, stop here;
3. copy staff input (Status, Notes, overrides, duplicate decisions, edited cells, rows typed
   without a Record ID) into the state file; after a restore of the state from a backup
   (`sync.restore`), what the master holds that the state does not know yet (cells written,
   records made and confirmations sent since the backup) is kept aside (`restore.Settling`)
   and settled in step 4, which then reads every program (whatever `--program` says);
4. for each program as its source is read: validate, deduplicate, assign stable record IDs,
   and hand its sheet to the workbook writer (a second process for a big master), which
   writes it while the next program's source is read;
5. finish the new master in a temporary file, commit the state, then atomically replace it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import classes, clock, heap, master, progress, restore, scratch, staffinput
from sync import store as store_mod
from sync.config import Config
from sync.lock import run_lock
from sync.programs import PROGRAMS
from sync.records import ReviewItem, build_records, save_program
from sync.responses import iter_tables, map_table
from sync.sources import Table
from sync.validate import validate
from sync.workbook import Sheet, saving

log = logging.getLogger(__name__)

MASTER, STATE = store_mod.MASTER, store_mod.STATE
# The Summary sheet counts "this week" and the vacation checks ahead from the day it was
# written: the first sync of a new day rewrites the master even when nothing else changed;
# further syncs that day take the no-change path.
SUMMARY_DAY = "summary_day"
BACKGROUND_ROWS = 10_000  # responses from which a second process writes the master's cells


@dataclass
class SyncSummary:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    unchanged: bool = False
    master: Path | None = None
    writer_peak_mb: int = 0  # the workbook writer process's peak memory, when there was one

    def render(self) -> str:
        lines = []
        for key, c in self.counts.items():
            lines.append(
                f"{PROGRAMS[key].name}: {c['read']} rows read: {c['new']} new, {c['updated']} updated, "
                f"{c['unchanged']} unchanged, {c['merged']} merged into a record, "
                f"{c['review']} need review; {c['records']} records, "
                f"{c['possible']} possible duplicates"
                + (f", {c['missing']} with their source row missing" if c.get("missing") else "")
            )
        if self.unchanged:
            lines.append("Nothing changed since the last sync; the master workbook was left as it was.")
        elif self.master:
            lines.append(f"Master workbook: {self.master}")
        return "\n".join(lines)


def _digest(*parts: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(repr(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "blake2b").hexdigest()
    except FileNotFoundError:
        return None


def _table_digest(table: Table) -> str:
    return _digest(table.source, table.headers, [(r.number, r.values) for r in table.rows],
                   str(table.timezone))


# -- the sync --------------------------------------------------------------------------------


def sync(config: Config, keys: Iterable[str] | None = None) -> SyncSummary:
    """Read the sources of `keys` (default: every program) and update the master workbook."""
    keys = list(keys) if keys is not None else list(config.programs)
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    with run_lock(config.output), store_mod.Store(config.output / STATE, backups=config.backups) as store, \
            heap.young_collections_only():
        return _sync(config, keys, store)


def _sync(config: Config, keys: list[str], store: store_mod.Store) -> SyncSummary:
    started = clock.now(config)
    path = config.output / MASTER
    from sync.purge import finish  # a purge that could not finish is finished first

    finish(store, config)
    mark = store.get_meta(restore.RESTORED)
    if mark:
        keys = list(config.programs)  # the master is read against every program once
        log.info("the state was restored from %s: reading the master against it", mark["from"])
    master_digest = _file_digest(path)
    master_changed = master_digest != store.get_meta("master_digest")
    # Read before anything is saved: a sheet whose header row is lost stops the run here.
    staff_input = staffinput.read(store, config, path, restored=bool(mark)) \
        if master_digest and master_changed else None
    collect_feature_input(store, config)
    config_digest = _file_digest(config.path)
    previous_sources = store.get_meta("source_digests", {})
    same_config = config_digest == store.get_meta("config_digest")
    tables, expected = _sources(config, keys, store)
    source_digests: dict[str, str] = {}
    read: list[tuple[str, Table]] = []  # tables read while nothing had changed yet
    if (not master_changed and same_config
            and store.get_meta("features_digest") == features_digest(store)
            and store.get_meta(SUMMARY_DAY) == started.date().isoformat()):
        for key, table in tables:
            read.append((key, table))
            source_digests[key] = _table_digest(table)
            if previous_sources.get(key) != source_digests[key]:
                break
        else:
            counts = {k: _unchanged_counts(store, k) for k in keys}
            with store.transaction():
                _log_run(store, started, clock.now(config), counts)
                store.db.execute("DELETE FROM meta WHERE key = ?", (restore.RESTORED,))
            store.nothing_to_back_up()  # the run's log line alone is worth no new backup
            log.info("nothing changed: sources, configuration and master workbook as last written")
            return SyncSummary(counts, unchanged=True, master=path)

    settling = restore.Settling.of(staff_input.programs, staff_input.read_from) \
        if staff_input is not None else restore.Settling()
    if staff_input is not None:
        staffinput.save(store, staff_input, started.date(), started)
        del staff_input

    summary = SyncSummary(master=path)
    results: dict[str, Any] = {}
    written: dict[str, tuple[str, str]] = {}

    def commit(tmp: Path) -> None:
        finished = clock.now(config)
        with store.transaction():
            for key, result in results.items():
                save_program(store, key, result, started, finished)
            _save_written(store, written)
            store.executemany("UPDATE records SET staff = ? WHERE record_id = ?",
                              ((staff, rid) for rid, staff in settling.staff.items()))
            store.set_meta("master_digest", _file_digest(tmp))
            store.set_meta("config_digest", config_digest)
            store.set_meta("source_digests", {**previous_sources, **source_digests})
            store.set_meta("features_digest", features_digest(store))
            store.set_meta(SUMMARY_DAY, started.date().isoformat())
            store.db.execute("DELETE FROM meta WHERE key = ?", (restore.RESTORED,))

    # A big master's cells are written by a second process while this one reads the next
    # program's source and builds its records.
    background = expected >= BACKGROUND_ROWS
    with saving(path, config.backups, before_replace=commit, background=background,
                scratch=scratch.folder(config.output)) as book:
        for title in reserved_titles(config):
            book.reserve(title)
        for key, table in progress.iterate(itertools.chain(_draining(read), tables), "programs",
                                           total=len(keys)):
            if key not in source_digests:
                source_digests[key] = _table_digest(table)
            program = config.program(key)
            # neither the raw rows nor the raw answers are kept once parsed: memory
            candidates, problems = validate(map_table(table, program), program, config,
                                            known=store.validated(key) if same_config else None)
            del table
            results[key] = build_records(store, program, config, candidates, problems, started,
                                         reuse=same_config, adopted=settling.adopted.get(key))
            unclaimed = settling.claim(key, results[key]["claimed"])
            if unclaimed:  # rows of records made since a restored backup that did not come back
                staffinput.keep_unclaimed(store, path, settling.titles[key], unclaimed,
                                          started.date())
            if settling.unsure.get(key):  # messages the master shows but the ledger lost
                from sync import confirmations

                confirmations.take_evidence(store, key, settling.cells(key, confirmations.SENT_COLUMN),
                                            results[key]["records"], started)
            del candidates, problems  # the records keep what they need of them
            from sync.purge import keep_purged  # purged vacation checks stay purged

            keep_purged(store, config, key, results[key])
            summary.counts[key] = results[key]["counts"]
            log.info("%s: %s", key, results[key]["counts"])
            book.add(program_sheet(store, config, key, results, written, settling))
        for key in config.programs:  # programs not read this time: as the last sync left them
            if key not in results:
                book.add(program_sheet(store, config, key, results, written))
        summary.counts = {k: summary.counts[k] for k in keys}  # in the configuration's order
        # The Sync Log shows this run too: add it before the sheets are built.
        pending_runs = [(started.isoformat(), clock.now(config).isoformat(), k, summary.counts[k])
                        for k in keys]
        for sheet in closing_sheets(store, config, results, pending_runs, started.date()):
            book.add(sheet)
    settling.log()
    summary.writer_peak_mb = book.helper_peak_kb // 1024
    if summary.writer_peak_mb:
        log.info("the workbook writer process peaked at %d MB", summary.writer_peak_mb)
    return summary


def _sources(config: Config, keys: list[str],
             store: store_mod.Store) -> tuple[Iterator[tuple[str, Table]], int]:
    """(program key, source table), smallest program first, and how many responses to expect.

    The sizes are the last sync's counts, so that each source is read only when its turn
    comes: a big master's writer starts on the first program while the next one's source is
    still being read. A first sync (or a new program) reads every source first to learn them.
    """
    last = {k: store.get_meta(f"counts:{k}", {}).get("read") for k in keys}
    if None not in last.values():
        order = sorted(keys, key=lambda k: last[k])
        return iter_tables(config, order, cache=store), sum(last.values())
    tables = sorted(iter_tables(config, keys, cache=store), key=lambda kt: len(kt[1].rows))
    return _draining(tables), sum(len(t.rows) for _, t in tables)


def _draining(items: list[Any]) -> Iterator[Any]:
    """Yield `items` in order, each dropped from the list as it is taken (memory)."""
    items.reverse()
    while items:
        yield items.pop()


def _unchanged_counts(store: store_mod.Store, key: str) -> dict[str, int]:
    last = store.get_meta(f"counts:{key}", {})
    counts = {k: 0 for k in master.LOG_COUNTS}
    for k in ("read", "review", "records", "possible", "missing"):
        counts[k] = last.get(k, 0)
    counts["unchanged"] = last.get("read", 0) - last.get("review", 0) - last.get("merged", 0)
    counts["merged"] = last.get("merged", 0)
    return counts


def _log_run(store: store_mod.Store, started: dt.datetime, finished: dt.datetime,
             counts: dict[str, dict[str, int]]) -> None:
    for key, c in counts.items():
        store.db.execute(
            "INSERT INTO runs (started, finished, program, counts) VALUES (?, ?, ?, ?)",
            (started.isoformat(), finished.isoformat(), key, store_mod.dumps(c)))


def _save_written(store: store_mod.Store, written: dict[str, tuple[str, str]]) -> None:
    """Record what the new workbook holds ({record_id: (JSON of {column: value}, digest)}),
    keeping the write before it (see `master.read_program_sheet`)."""
    store.executemany("UPDATE records SET written_prev = written, written = ?, written_hash = ? "
                      "WHERE record_id = ?", ((w, h, rid) for rid, (w, h) in written.items()))


# -- the workbook ---------------------------------------------------------------------------


def collect_feature_input(store: store_mod.Store, config: Config) -> None:
    """Copy what staff typed into generated workbooks (attendance ticks, check results) into the
    state, before deciding whether anything changed. Each feature adds one call here."""
    from sync import attendance, checklog

    checklog.collect(store, config)  # vacation-check results typed into <output>/routes/*.xlsx
    attendance.collect(store, config)  # attendance ticked in <output>/rosters/*.xlsx


def extra_sheets(store: store_mod.Store, config: Config) -> list[Sheet]:
    """Sheets other features add to the master after the program sheets (e.g. Check Log)."""
    sheets: list[Sheet] = []
    if "vsc" in config.programs:
        from sync import checklog

        sheets.append(checklog.check_log_sheet(checklog.stored_checks(store)))
    return sheets


def features_digest(store: store_mod.Store) -> str:
    """Digest of what other features feed into the master (attendance, ledger, check log)."""
    parts = []
    for table in ("attendance", "ledger", "checks"):
        parts.append(store.db.execute(f"SELECT COUNT(*), MAX(rowid) FROM {table}").fetchone())  # noqa: S608
    parts.append(store.get_meta("attendance:version"))  # a changed mark keeps count and rowid
    return _digest(parts)


def tool_columns(store: store_mod.Store, config: Config, key: str,
                 records: dict[str, dict[str, Any]]) -> list[master.ToolColumn]:
    """Computed columns other features add to a program sheet."""
    columns: list[master.ToolColumn] = []
    program = config.programs[key]
    if key in ("pip", "tap") and program.cohorts:
        label = "Cohort" if key == "pip" else "Semester"
        columns.append(master.ToolColumn(
            master.Column(label, width=14),
            {rid: classes.assigned_class(program, data) for rid, data in records.items()}))
        from sync import attendance

        columns.extend(attendance.tool_columns(store, config, key, records))
    from sync import confirmations

    columns.append(confirmations.sent_column(store, key, records))
    return columns


def reserved_titles(config: Config) -> list[str]:
    """The master's first sheets, whose places are taken before they are written: the Summary
    (written last) and one per program (written in size order). `closing_sheets` follow them
    in the order they are added."""
    from sync import summary

    return [summary.TITLE] + [PROGRAMS[k].name for k in config.programs]


def program_sheet(store: store_mod.Store, config: Config, key: str, results: dict[str, Any],
                  written: dict[str, tuple[str, str]],
                  settling: restore.Settling | None = None) -> Sheet:
    """Program `key`'s sheet, from this sync's `results` or else as the last sync left it.
    As its rows are written, `written` gets the tool values of each record whose values
    changed ({record_id: (JSON, digest)}; the rest are in the state already), and
    `settling` (after a restore) what its unsure cells settle into."""
    program = config.programs[key]
    stored = store.records(key)
    records = results[key]["records"] if key in results else \
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

    return master.ProgramSheet(
        program=PROGRAMS[key],
        mapped=[f for f in PROGRAMS[key].field_names if f in program.questions],
        extra_titles=extra_titles,
        records=[(rid, records[rid]) for rid in order],
        staff={rid: stored[rid]["staff"] for rid in order if rid in stored and stored[rid]["staff"]}
        | (settling.adopted_staff(key) if settling else {}),
        tool=tool_columns(store, config, key, records),
        staff_extra=store.get_meta(f"staff_columns:{key}", []),
        title_rows=staffinput.title_rows(store, PROGRAMS[key].name),
        unsure=settling.unsure.get(key, {}) if settling else {},
        on_staff=settling.settled(key) if settling else None,
    ).sheet(note)


def closing_sheets(store: store_mod.Store, config: Config, results: dict[str, Any],
                   pending_runs: list[tuple[str, str, str, dict[str, int]]],
                   today: dt.date) -> list[Sheet]:
    """The sheets after the programs' (other features', Needs Review, Possible Duplicates,
    Sync Log, Staff rows when there are any) and the Summary, its figures as of `today`."""
    from sync import summary

    review: list[ReviewItem] = []
    possible: list[dict[str, Any]] = []
    for key in config.programs:
        if key in results:
            review.extend(results[key]["review"])
            possible.extend(results[key]["possible"])
        else:  # not read this time: show what the last sync found
            review.extend(ReviewItem(**r) for r in store.get_meta(f"review:{key}", []))
            possible.extend(store.get_meta(f"possible:{key}", []))
    staff_rows = staffinput.staff_rows_sheet(store)
    return [*extra_sheets(store, config), master.needs_review_sheet(review),
            master.duplicates_sheet(possible,
                                    staffinput.title_rows(store, master.POSSIBLE_DUPLICATES)),
            master.sync_log_sheet(store.runs() + pending_runs),
            *([staff_rows] if staff_rows else []), summary.build(store, config, today, results)]


def build_sheets(store: store_mod.Store, config: Config, results: dict[str, Any],
                 pending_runs: list[tuple[str, str, str, dict[str, int]]],
                 today: dt.date | None = None) -> tuple[list[Sheet], dict[str, tuple[str, str]]]:
    """Every sheet of the master in order (the Summary's figures as of `today`, by default
    the department's date now), and the `written` of `program_sheet`, complete once the
    sheets' rows have been written."""
    written: dict[str, tuple[str, str]] = {}
    programs = [program_sheet(store, config, key, results, written) for key in config.programs]
    *others, summary_sheet = closing_sheets(store, config, results, pending_runs,
                                            today or clock.now(config).date())
    return [summary_sheet, *programs, *others], written
