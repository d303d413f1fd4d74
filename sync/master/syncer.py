"""The sync: read every source, validate, deduplicate and write the master workbook.

Order of work, so that a failure at any point leaves the previous master intact:
1. under the output folder's lock, if staff changed the master, read what they typed
   (`sync.master.staffinput`; a sheet whose header row is lost stops the run before anything is
   saved); read the sources one program at a time, smallest first (one batched request per
   spreadsheet), until one differs from what the last sync read;
2. if neither the sources, the configuration nor the staff's workbook changed, stop here;
3. copy staff input (Status, Notes, overrides, duplicate decisions, edited cells, rows typed
   without a Record ID) into the state file; after a restore of the state from a backup
   (`sync.master.restore`), what the master holds that the state does not know yet (cells written,
   records made and confirmations sent since the backup) is kept aside (`restore.Settling`)
   and settled in step 4, which then reads every program (whatever `--program` says);
4. for each program as its source is read: validate, deduplicate, assign stable record IDs,
   and hand its sheet to the workbook writer (a second process for a big master), which
   writes it while the next program's source is read;
5. finish the new master in a temporary file, commit the state, then atomically replace it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config, ProgramConfig
from sync.config.programs import PROGRAMS
from sync.features import FEATURES
from sync.ingest.validate import Candidate, Problem, validate
from sync.master import assemble, heap, layout, progress, restore, staffinput
from sync.master.records import ProgramResult, build_records, save_program
from sync.sources import Table
from sync.sources.responses import iter_tables, map_table
from sync.state import clock, scratch
from sync.state import store as store_mod
from sync.state.lock import run_lock
from sync.xlsx.background import BackgroundBook
from sync.xlsx.saving import saving
from sync.xlsx.writer import Book

log = logging.getLogger(__name__)

MASTER, STATE = store_mod.MASTER, store_mod.STATE
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


def _table_digest(table: Table) -> str:
    return assemble.digest(table.source, table.headers, [(r.number, r.values) for r in table.rows],
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
    for feature in FEATURES:  # what an interrupted run left (a purge) is finished first
        feature.recover(store, config, assemble.rewrite_master)
    mark = store.get_meta(restore.RESTORED)
    if mark:
        keys = list(config.programs)  # the master is read against every program once
        log.info("the state was restored from %s: reading the master against it", mark["from"])
    master_digest = store_mod.file_digest(path)
    master_changed = master_digest != store.get_meta("master_digest")
    # Read before anything is saved: a sheet whose header row is lost stops the run here.
    staff_input = staffinput.read(store, config, path, restored=bool(mark)) \
        if master_digest and master_changed else None
    for feature in FEATURES:  # what staff typed into the features' own workbooks
        feature.collect(store, config)
    config_digest = store_mod.file_digest(config.path)
    previous_sources = store.get_meta("source_digests", {})
    same_config = config_digest == store.get_meta("config_digest")
    tables, expected = _sources(config, keys, store)
    source_digests: dict[str, str] = {}
    read: list[tuple[str, Table]] = []  # tables read while nothing had changed yet
    if (not master_changed and same_config
            and store.get_meta("features_digest") == assemble.features_digest(store)
            and store.get_meta(assemble.SUMMARY_DAY) == started.date().isoformat()
            and _all_unchanged(tables, previous_sources, source_digests, read)):
        return _nothing_changed(store, config, keys, started, path)

    settling = restore.Settling.of(staff_input.programs, staff_input.read_from) \
        if staff_input is not None else restore.Settling()
    if staff_input is not None:
        staffinput.save(store, staff_input, started.date(), started)
        del staff_input

    summary = SyncSummary(master=path)
    results: dict[str, ProgramResult] = {}
    written: dict[str, tuple[str, str]] = {}

    def commit(tmp: Path) -> None:
        _commit(store, config, tmp, started, results, written, settling,
                {"config_digest": config_digest,
                 "source_digests": {**previous_sources, **source_digests}})

    # A big master's cells are written by a second process while this one reads the next
    # program's source and builds its records.
    background = expected >= BACKGROUND_ROWS
    with saving(path, config.backups, before_replace=commit, background=background,
                scratch=scratch.folder(config.output)) as book:
        for title in assemble.reserved_titles(config):
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
            results[key] = _program_result(store, config, program, candidates, problems, started,
                                           same_config, settling, path)
            del candidates, problems  # the records keep what they need of them
            summary.counts[key] = results[key].counts
            log.info("%s: %s", key, results[key].counts)
            book.add(assemble.program_sheet(store, config, key, results, written, settling))
        summary.counts = {k: summary.counts[k] for k in keys}  # in the configuration's order
        _add_the_rest(book, store, config, results, written, summary.counts, started)
    settling.log()
    summary.writer_peak_mb = book.helper_peak_kb // 1024
    if summary.writer_peak_mb:
        log.info("the workbook writer process peaked at %d MB", summary.writer_peak_mb)
    return summary


def _program_result(store: store_mod.Store, config: Config, program: ProgramConfig,
                    candidates: list[Candidate], problems: list[Problem], started: dt.datetime,
                    same_config: bool, settling: restore.Settling, path: Path) -> ProgramResult:
    """One program's records from its validated responses, as the features amend them."""
    key = program.key
    result = build_records(store, program, config, candidates, problems, started,
                           reuse=same_config, adopted=settling.adopted.get(key))
    unclaimed = settling.claim(key, result.claimed)
    if unclaimed:  # rows of records made since a restored backup that did not come back
        staffinput.keep_unclaimed(store, path, settling.titles[key], unclaimed, started.date())
    for feature in FEATURES:  # e.g. purged vacation checks stay purged
        feature.amend(store, config, key, result, started, settling)
    return result


def _add_the_rest(book: Book | BackgroundBook, store: store_mod.Store, config: Config,
                  results: dict[str, ProgramResult], written: dict[str, tuple[str, str]],
                  counts: dict[str, dict[str, int]], started: dt.datetime) -> None:
    """The sheets of programs not read this time (as the last sync left them), then the
    closing sheets, the Sync Log with this run (`counts`) in it."""
    for key in config.programs:
        if key not in results:
            book.add(assemble.program_sheet(store, config, key, results, written))
    pending_runs = [(started.isoformat(), clock.now(config).isoformat(), k, c)
                    for k, c in counts.items()]
    for sheet in assemble.closing_sheets(store, config, results, pending_runs, started.date()):
        book.add(sheet)


def _all_unchanged(tables: Iterator[tuple[str, Table]], previous: dict[str, str],
                   digests: dict[str, str], read: list[tuple[str, Table]]) -> bool:
    """Read the sources in turn until one differs from what the last sync read; True when
    none did. What was read is kept in `read` (and its digests in `digests`) for the sync."""
    for key, table in tables:
        read.append((key, table))
        digests[key] = _table_digest(table)
        if previous.get(key) != digests[key]:
            return False
    return True


def _nothing_changed(store: store_mod.Store, config: Config, keys: list[str],
                     started: dt.datetime, path: Path) -> SyncSummary:
    """The run's Sync Log line, and nothing else, when neither the sources, the configuration
    nor the master changed."""
    counts = {k: _unchanged_counts(store, k) for k in keys}
    with store.transaction():
        _log_run(store, started, clock.now(config), counts)
        store.db.execute("DELETE FROM meta WHERE key = ?", (restore.RESTORED,))
    store.nothing_to_back_up()  # the run's log line alone is worth no new backup
    log.info("nothing changed: sources, configuration and master workbook as last written")
    return SyncSummary(counts, unchanged=True, master=path)


def _commit(store: store_mod.Store, config: Config, tmp: Path, started: dt.datetime,
            results: dict[str, ProgramResult], written: dict[str, tuple[str, str]],
            settling: restore.Settling, digests: dict[str, Any]) -> None:
    """Save what the new master `tmp` holds to the state, just before it replaces the old
    one: the records, the values written, staff values settled after a restore, and the
    digests (`digests`: of the configuration and the sources) the next sync compares."""
    finished = clock.now(config)
    with store.transaction():
        for key in [k for k in config.programs if k in results]:  # the Sync Log's order
            save_program(store, key, results[key], started, finished)
        assemble.save_written(store, written)
        store.executemany("UPDATE records SET staff = ? WHERE record_id = ?",
                          ((staff, rid) for rid, staff in settling.staff.items()))
        store.set_meta("master_digest", store_mod.file_digest(tmp))
        store.set_meta("config_digest", digests["config_digest"])
        store.set_meta("source_digests", digests["source_digests"])
        store.set_meta("features_digest", assemble.features_digest(store))
        store.set_meta(assemble.SUMMARY_DAY, started.date().isoformat())
        store.db.execute("DELETE FROM meta WHERE key = ?", (restore.RESTORED,))


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
    counts = {k: 0 for k in layout.LOG_COUNTS}
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


