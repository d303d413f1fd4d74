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

Each program is read on its own: a program whose source fails (not reachable, a tab or a
mapped question not found, an export that cannot be read) is left as the last sync left it,
with a note of since when (`sync.master.stale`), while the others go through steps 4 and 5;
the summary's `failures` name it. A source failing as it did last time counts as no change.
When no program could be read, or a restored state needs every program, nothing is saved.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config, ProgramConfig
from sync.config.programs import PROGRAMS
from sync.errors import SigninError, SourceError
from sync.features import FEATURES
from sync.ingest.validate import Candidate, Problem, validate
from sync.master import assemble, heap, layout, progress, restore, staffinput, stale
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
_SECONDS = re.compile(r" over \d+ s\b")  # how long the retries took, in a Google error
BACKGROUND_ROWS = 10_000  # responses from which a second process writes the master's cells


@dataclass
class SyncSummary:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    unchanged: bool = False
    master: Path | None = None
    writer_peak_mb: int = 0  # the workbook writer process's peak memory, when there was one
    failures: dict[str, SourceError] = field(default_factory=dict)  # program not read -> why

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
        lines.extend(f"{PROGRAMS[key].name}: not read; the master keeps its records from the "
                     "last good read" for key in self.failures)
        if self.unchanged:
            lines.append("Nothing changed since the last sync; the master workbook was left as it was.")
        elif self.master:
            lines.append(f"Master workbook: {self.master}")
        return "\n".join(lines)

    def failure_lines(self) -> list[str]:
        """One line per program whose source failed, naming it and what to fix."""
        return [f"{PROGRAMS[key].name} ({key}): {why}" for key, why in self.failures.items()]

    def error(self) -> SourceError:
        """The failures as one error, a line each; a failed sign-in keeps its kind (what to
        do next is to sign in again)."""
        kind = SigninError if any(isinstance(e, SigninError) for e in self.failures.values()) \
            else SourceError
        return kind("\n".join(self.failure_lines()))


def _table_digest(table: Table | SourceError) -> str:
    if isinstance(table, SourceError):  # the same failure again is no change either, even
        return assemble.digest("failed", _SECONDS.sub("", str(table)))  # if it took longer
    return assemble.digest(table.source, table.headers, [(r.number, r.values) for r in table.rows],
                   str(table.timezone))


# -- the sync --------------------------------------------------------------------------------


def sync(config: Config, keys: Iterable[str] | None = None) -> SyncSummary:
    """Read the sources of `keys` (default: every program) and update the master workbook.

    Each program is read on its own: one whose source fails keeps the records of its last
    good read (its sheet and the Summary say since when, `sync.master.stale`), the others
    are synced, and the summary's `failures` name it. When no program could be read, nothing
    is written and the failures are raised as one `SourceError`.
    """
    keys = list(keys) if keys is not None else list(config.programs)
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    with run_lock(config.output), store_mod.Store(config.output / STATE, backups=config.backups) as store, \
            heap.young_collections_only():
        return _sync(config, keys, store)


@dataclass
class _Run:
    """What one sync knows before it reads the sources, and what it builds as it goes."""

    config: Config
    store: store_mod.Store
    keys: list[str]
    started: dt.datetime
    restored: bool
    master_changed: bool
    staff_input: staffinput.StaffInput | None
    config_digest: str | None
    previous_sources: dict[str, str]
    results: dict[str, ProgramResult] = field(default_factory=dict)
    written: dict[str, tuple[str, str]] = field(default_factory=dict)
    source_digests: dict[str, str] = field(default_factory=dict)
    failures: dict[str, SourceError] = field(default_factory=dict)
    settling: restore.Settling = field(default_factory=restore.Settling)

    @property
    def path(self) -> Path:
        return self.config.output / MASTER

    @property
    def same_config(self) -> bool:
        return self.config_digest == self.store.get_meta("config_digest")


def _begin(config: Config, keys: list[str], store: store_mod.Store) -> _Run:
    """Finish what an interrupted run left, and read what staff typed since the last sync."""
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
    return _Run(config, store, keys, started, bool(mark), master_changed, staff_input,
                store_mod.file_digest(config.path), store.get_meta("source_digests", {}))


def _sync(config: Config, keys: list[str], store: store_mod.Store) -> SyncSummary:
    run = _begin(config, keys, store)
    tables, expected = _sources(config, run.keys, store)
    read: list[tuple[str, Table | SourceError]] = []  # tables read while nothing had changed yet
    if (not run.master_changed and run.same_config
            and store.get_meta("features_digest") == assemble.features_digest(store)
            and store.get_meta(assemble.SUMMARY_DAY) == run.started.date().isoformat()
            and _all_unchanged(tables, run.previous_sources, run.source_digests, read)):
        return _nothing_changed(run, read)
    if run.staff_input is not None:
        run.settling = restore.Settling.of(run.staff_input.programs, run.staff_input.read_from)
        staffinput.save(store, run.staff_input, run.started.date(), run.started)
        run.staff_input = None
    summary = SyncSummary(master=run.path)
    # A big master's cells are written by a second process while this one reads the next
    # program's source and builds its records.
    with saving(run.path, config.backups, before_replace=functools.partial(_commit, run),
                background=expected >= BACKGROUND_ROWS,
                scratch=scratch.folder(config.output)) as book:
        for title in assemble.reserved_titles(config):
            book.reserve(title)
        for key, table in progress.iterate(itertools.chain(_draining(read), tables), "programs",
                                           total=len(run.keys)):
            _one_program(run, book, key, table)
        _check_failures(run)
        summary.counts = {k: run.results[k].counts for k in run.keys if k in run.results}
        summary.failures = dict(run.failures)
        stale.mark(store, run.keys, {k: str(e) for k, e in run.failures.items()})
        _add_the_rest(book, run, summary.counts)
    run.settling.log()
    summary.writer_peak_mb = book.helper_peak_kb // 1024
    if summary.writer_peak_mb:
        log.info("the workbook writer process peaked at %d MB", summary.writer_peak_mb)
    return summary


def _one_program(run: _Run, book: Book | BackgroundBook, key: str,
                 table: Table | SourceError) -> None:
    """Validate, deduplicate and build one program's records, and hand its sheet to the
    writer; a source that failed, or whose questions do not match, leaves the program as
    the last sync left it, with the failure noted."""
    if key not in run.source_digests:
        run.source_digests[key] = _table_digest(table)
    program = run.config.program(key)
    try:
        if isinstance(table, SourceError):
            raise table
        responses = map_table(table, program)
    except SourceError as err:  # (a question not found: the same table fails the same way)
        run.failures[key] = err
        log.info("%s: not synced: %s", key, err)
        return
    del table  # neither the raw rows nor the raw answers are kept once parsed: memory
    known = run.store.validated(key) if run.same_config else None
    candidates, problems = validate(responses, program, run.config, known=known)
    del responses
    run.results[key] = _program_result(run, program, candidates, problems)
    del candidates, problems  # the records keep what they need of them
    if key in run.store.get_meta(stale.STALE, {}):
        stale.mark(run.store, [key], {})  # read well again: its sheet has no note
    log.info("%s: %s", key, run.results[key].counts)
    book.add(assemble.program_sheet(run.store, run.config, key, run.results, run.written,
                                    run.settling))


def _check_failures(run: _Run) -> None:
    """Stop, saving nothing, when no program could be read, or when a failed program would
    leave a restored state half settled (the master is read against every program once)."""
    if run.failures and (not run.results or run.restored):
        raise SyncSummary(failures=run.failures).error()


def _program_result(run: _Run, program: ProgramConfig, candidates: list[Candidate],
                    problems: list[Problem]) -> ProgramResult:
    """One program's records from its validated responses, as the features amend them."""
    key, store, config, settling = program.key, run.store, run.config, run.settling
    result = build_records(store, program, config, candidates, problems, run.started,
                           reuse=run.same_config, adopted=settling.adopted.get(key))
    unclaimed = settling.claim(key, result.claimed)
    if unclaimed:  # rows of records made since a restored backup that did not come back
        staffinput.keep_unclaimed(store, run.path, settling.titles[key], unclaimed,
                                  run.started.date())
    for feature in FEATURES:  # e.g. purged vacation checks stay purged
        feature.amend(store, config, key, result, run.started, settling)
    return result


def _add_the_rest(book: Book | BackgroundBook, run: _Run, counts: dict[str, dict[str, int]]) -> None:
    """The sheets of programs not read this time, or whose source failed (as the last sync
    left them), then the closing sheets, the Sync Log with this run (`counts`) in it."""
    store, config = run.store, run.config
    for key in config.programs:
        if key not in run.results:
            book.add(assemble.program_sheet(store, config, key, run.results, run.written))
    pending_runs = [(run.started.isoformat(), clock.now(config).isoformat(), k, c)
                    for k, c in counts.items()]
    for sheet in assemble.closing_sheets(store, config, run.results, pending_runs,
                                         run.started.date()):
        book.add(sheet)


def _all_unchanged(tables: Iterator[tuple[str, Table | SourceError]], previous: dict[str, str],
                   digests: dict[str, str], read: list[tuple[str, Table | SourceError]]) -> bool:
    """Read the sources in turn until one differs from what the last sync read (a source
    failing as it failed last time does not); True when none did. What was read is kept in
    `read` (and its digests in `digests`) for the sync."""
    for key, table in tables:
        read.append((key, table))
        digests[key] = _table_digest(table)
        if previous.get(key) != digests[key]:
            return False
    return True


def _nothing_changed(run: _Run, read: list[tuple[str, Table | SourceError]]) -> SyncSummary:
    """The run's Sync Log line, and nothing else, when neither the sources, the configuration
    nor the master changed (a program whose source fails as it did last time is named in the
    summary's failures again)."""
    store = run.store
    failures = {key: table for key, table in read if isinstance(table, SourceError)}
    stale_now = store.get_meta(stale.STALE, {})  # the same table fails as it did last time
    failures |= {k: SourceError(stale_now[k]["error"]) for k in run.keys
                 if k in stale_now and k not in failures}
    counts = {k: _unchanged_counts(store, k) for k in run.keys if k not in failures}
    with store.transaction():
        _log_run(store, run.started, clock.now(run.config), counts)
        store.db.execute("DELETE FROM meta WHERE key = ?", (restore.RESTORED,))
    store.nothing_to_back_up()  # the run's log line alone is worth no new backup
    log.info("nothing changed: sources, configuration and master workbook as last written")
    return SyncSummary(counts, unchanged=True, master=run.path, failures=failures)


def _commit(run: _Run, tmp: Path) -> None:
    """Save what the new master `tmp` holds to the state, just before it replaces the old
    one: the records, the values written, staff values settled after a restore, and the
    digests (of the configuration and the sources) the next sync compares."""
    store = run.store
    finished = clock.now(run.config)
    with store.transaction():
        for key in [k for k in run.config.programs if k in run.results]:  # the Sync Log's order
            save_program(store, key, run.results[key], run.started, finished)
        assemble.save_written(store, run.written)
        store.executemany("UPDATE records SET staff = ? WHERE record_id = ?",
                          ((staff, rid) for rid, staff in run.settling.staff.items()))
        store.set_meta("master_digest", store_mod.file_digest(tmp))
        store.set_meta("config_digest", run.config_digest)
        store.set_meta("source_digests", {**run.previous_sources, **run.source_digests})
        store.set_meta("features_digest", assemble.features_digest(store))
        store.set_meta(assemble.SUMMARY_DAY, run.started.date().isoformat())
        store.db.execute("DELETE FROM meta WHERE key = ?", (restore.RESTORED,))


def _sources(config: Config, keys: list[str], store: store_mod.Store
             ) -> tuple[Iterator[tuple[str, Table | SourceError]], int]:
    """(program key, source table), smallest program first, and how many responses to expect.

    The sizes are the last sync's counts, so that each source is read only when its turn
    comes: a big master's writer starts on the first program while the next one's source is
    still being read. A first sync (or a new program) reads every source first to learn them.
    """
    last = {k: store.get_meta(f"counts:{k}", {}).get("read") for k in keys}
    if None not in last.values():
        order = sorted(keys, key=lambda k: last[k])
        return iter_tables(config, order, cache=store, keep_going=True), sum(last.values())
    tables = sorted(iter_tables(config, keys, cache=store, keep_going=True), key=_size)
    return _draining(tables), sum(_size(kt) for kt in tables)


def _size(item: tuple[str, Table | SourceError]) -> int:
    return len(item[1].rows) if isinstance(item[1], Table) else 0


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


