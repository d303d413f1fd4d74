"""Records from validated responses: group them, keep record IDs stable, save them.

`build_records` turns one program's candidates (and the records whose responses vanished)
into records with counts that add up; `save_program` writes them to the state in the
sync's final transaction.

A new record takes the next free number, in the order of its first response in the source.
After the state was restored from an older backup, the records made since that backup are
made again, and the master still shows their Record IDs (`sheetinput.AdoptedRow`): a new record
takes back the ID of the row whose name is its name and whose "Source rows" name one of its
responses (or, the response sheet's rows sorted or deleted since, whose "First submitted" is
one's first submission), so that its staff columns and the confirmations sent to it stay its
own. The IDs of the master's rows are never given to another record.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sync.config import Config, ProgramConfig
from sync.config.programs import PROGRAMS
from sync.ingest import dedupe, normalize
from sync.ingest.validate import Candidate, Problem
from sync.master import claims, layout, pairs, sheetinput
from sync.state import store as store_mod

log = logging.getLogger(__name__)


@dataclass
class ProgramResult:
    """One program's records as this sync built them (`build_records`), what the features
    may amend (`sync.master.hooks.Feature.amend`) and `save_program` writes to the state."""

    records: dict[str, dict[str, Any]]  # record ID -> its data
    retired: dict[str, str]  # record ID merged away -> the record it was merged into
    registry: dict[str, tuple[str, str, Any]]  # response identity -> (record ID, fingerprint, candidate)
    known: dict[str, Any]  # response identity -> what the state knew of it before this sync
    counts: dict[str, int]  # the Sync Log's counts
    unchanged: set[str]  # record IDs known unchanged without comparing them
    claimed: set[str]  # after a restore: record IDs given back to the master's rows
    possible: list[dict[str, Any]]  # possible duplicate pairs for staff
    review: list[ReviewItem]  # rows for Needs Review
    seq: dict[str, int]  # record ID -> its sequence number
    stored: dict[str, Any]  # the records as the state held them before this sync
    merges: list[dict[str, Any]] = field(default_factory=list)  # automatic merges, for Split
    splits: dict[tuple[str, str], str] = field(default_factory=dict)  # (record, row) -> new record


@dataclass
class ReviewItem:
    """A response that could not be accepted, as the Needs Review sheet shows it."""

    program: str
    source: str
    row: int
    reasons: list[str]
    answers: dict[str, Any]


# -- records ---------------------------------------------------------------------------------


def _record_id(program: str, seq: int) -> str:
    return f"{PROGRAMS[program].prefix}-{seq:05d}"


def _latest_values(members: list[Candidate], attr: str) -> dict[str, Any]:
    """Latest answers win; an answer left empty in a later response keeps the earlier one.

    A record of one response shares that response's dict (most records: no copy to hold)."""
    if len(members) == 1:
        return members[0].values if attr == "values" else members[0].response.extra
    out: dict[str, Any] = {}
    for c in members:  # oldest first
        values = c.values if attr == "values" else c.response.extra
        for name, value in values.items():
            if value not in (None, "", [], ()):
                out[name] = value
            else:
                out.setdefault(name, value)
    return out


def _answers_by_title(problem: Problem, program: ProgramConfig) -> dict[str, Any]:
    """The original answers, with Sheets' serial-number dates shown as dates."""
    spec = PROGRAMS[program.key]
    out = {}
    for name, value in problem.response.fields.items():
        kind = spec.field(name).kind
        if kind in ("date", "datetime") and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            try:
                value = normalize.parse_datetime(value, source_tz=None, target_tz=ZoneInfo("UTC"))
            except ValueError:
                pass
        out[program.questions[name]] = value
    out.update(problem.response.extra)
    return out


def build_records(store: store_mod.Store, program: ProgramConfig, config: Config,
                   candidates: list[Candidate], problems: list[Problem],
                   now: dt.datetime, reuse: bool = False,
                   adopted: Mapping[str, sheetinput.AdoptedRow] | None = None) -> ProgramResult:
    """One program's records. With `reuse` (the configuration is as the last sync had it),
    a record made of the same unchanged responses as last time is known to be unchanged
    without comparing it. `adopted`: after a restore, the master's rows whose Record IDs the
    state does not know; the result's `claimed` are the IDs given back."""
    key = program.key
    past = _Past.load(store, key, reuse)
    split = pairs.splits(store, key, past.record_of, past.current, candidates)
    people = _people(key, candidates, past, set(split))
    decisions = store.decisions(key)
    merge = [(past.current(a), past.current(b)) for a, b, d in decisions if d == "Merge"]
    apart = [(past.current(a), past.current(b)) for a, b, d in decisions
             if d == "Not duplicate" or (d == "Split" and pairs.is_record_id(b))]
    at = {c.identity: i for i, c in enumerate(candidates)}
    grouping = dedupe.group(key, people, merge=merge, apart=apart,
                            split=[(at[identity], rid) for identity, (rid, _ref) in split.items()])
    made = _Made.start(store, key, candidates, problems, adopted or {})
    for members in sorted(grouping.groups, key=lambda g: min(g)):
        _make_record(made, key, members, people, candidates, past, reuse)
    made.counts["records"] = len(made.records)
    possible = pairs.possible(key, grouping.maybe, grouping.scores, made.index_to_rid, made.records,
                         decisions)
    made.counts["possible"] = len(possible)
    review = [ReviewItem(key, p.response.source, p.response.row, p.reasons,
                         _answers_by_title(p, program)) for p in problems]
    return ProgramResult(
        records=made.records, retired=made.retired, registry=made.registry, known=past.known,
        counts=made.counts, unchanged=made.unchanged, claimed=made.claimed, possible=possible,
        review=review, seq=past.seq_of, stored=past.stored,
        merges=pairs.merges(key, grouping, people, candidates, made.index_to_rid),
        splits={(rid, ref): made.index_to_rid[at[identity]]
                for identity, (rid, ref) in split.items() if ref})


@dataclass
class _Past:
    """What the state knew of a program before this sync."""

    known: dict[str, Any]  # response identity -> (record ID, fingerprint)
    stored: dict[str, Any]  # record ID -> the stored record
    seq_of: dict[str, int]
    merged_ids: dict[str, str]  # record ID merged away -> the record it went into
    made_of: dict[str, set[str]]  # record ID -> the responses it was made of (with reuse)

    @classmethod
    def load(cls, store: store_mod.Store, key: str, reuse: bool) -> _Past:
        known = store.responses(key)
        stored = store.records(key)
        merged_ids = {rid: r["merged_into"] for rid, r in
                      store.records(key, include_merged=True).items() if r["merged_into"]}
        # the responses each record was built from last time, to see that it is unchanged
        # without decoding it (same responses, same fingerprints, same configuration)
        made_of: dict[str, set[str]] = {}
        if reuse:
            for identity, (rid, _fp) in known.items():
                made_of.setdefault(rid, set()).add(identity)
        return cls(known, stored, {rid: r["seq"] for rid, r in stored.items()}, merged_ids,
                   made_of)

    def current(self, rid: str | None) -> str | None:
        seen = set()
        while rid in self.merged_ids and rid not in seen:
            seen.add(rid)
            rid = self.merged_ids[rid]
        return rid

    def record_of(self, identity: str) -> str | None:
        """The record a response belonged to at the last sync, as it is called now."""
        return self.current(self.known.get(identity, (None, None))[0])


@dataclass
class _Made:
    """The records of this sync as they are made, one group of responses at a time."""

    records: dict[str, dict[str, Any]]
    unchanged: set[str]  # records whose data is as stored
    retired: dict[str, str]
    registry: dict[str, tuple[str, str, Candidate | None]]
    index_to_rid: dict[int, str]
    counts: dict[str, int]
    shown: dict[Any, list[str]]  # after a restore: source row or first submission -> Record IDs
    adopted: Mapping[str, sheetinput.AdoptedRow]
    claimed: set[str]
    next_seq: int

    @classmethod
    def start(cls, store: store_mod.Store, key: str, candidates: list[Candidate],
              problems: list[Problem], adopted: Mapping[str, sheetinput.AdoptedRow]) -> _Made:
        counts = {k: 0 for k in layout.LOG_COUNTS}
        counts["read"] = len(candidates) + len(problems)
        counts["review"] = len(problems)
        next_seq = max([store.next_seq(key)] + [int(rid.split("-")[1]) + 1 for rid in adopted])
        return cls({}, set(), {}, {}, {}, counts, claims.claims(adopted), adopted, set(), next_seq)

    def record_id(self, key: str, ids: list[str], real: list[Candidate]) -> str:
        """The record's ID: the oldest record it continues, one a master row shows, or new."""
        if ids:
            for other in ids[1:]:
                self.retired[other] = ids[0]
            return ids[0]
        if (found := claims.claim(key, real, self.shown, self.adopted, self.claimed)) is not None:
            self.claimed.add(found)
            return found
        self.next_seq += 1
        return _record_id(key, self.next_seq - 1)


def _make_record(made: _Made, key: str, members: list[int], people: list[Any],
                 candidates: list[Candidate], past: _Past, reuse: bool) -> None:
    """One record from one group of `people` (indices past `candidates` are stored records
    none of whose responses came back), counted in `made.counts`."""
    n = len(candidates)
    ids = sorted({people[i].record_id for i in members if people[i].record_id},
                 key=lambda r: past.seq_of.get(r, 0))
    real = sorted((candidates[i] for i in members if i < n), key=lambda c: c.submitted)
    rid = made.record_id(key, ids, real)
    for i in members:
        made.index_to_rid[i] = rid
    old = [past.stored[people[i].record_id]["data"] for i in members if i >= n]
    counts = made.counts
    if real:
        data = _from_responses(real, old, [past.stored[r] for r in ids])
        counts["merged"] += len(real) - 1
        for c in real:
            # a response's normalised answers are saved when new or changed, or all of them
            # when the configuration changed; the others need not stay in memory till then
            unsaved = not reuse or past.known.get(c.identity) != (rid, c.fingerprint)
            made.registry[c.identity] = (rid, c.fingerprint, c if unsaved else None)
    else:
        data = _without_responses(old)
        counts["missing"] += 1
    if rid not in past.stored:
        if real:
            counts["new"] += 1
    elif real:
        if not ids[1:] and not old and _made_of(real, past.made_of.get(rid), past.known):
            made.unchanged.add(rid)  # the same responses, unchanged: no need to decode it
            same = True
        else:
            previous = past.stored[rid]["data"]
            same = not ids[1:] and {k: previous.get(k) for k in data} == data
        counts["unchanged" if same else "updated"] += 1
    made.records[rid] = data


def _people(key: str, candidates: list[Candidate], past: _Past, split: set[str]) -> list[Any]:
    """Who is who, for deduplication: every response (with the record it belonged to, if
    still there and staff did not split it off), then every stored record none of whose
    responses came back."""
    people = []
    present: set[str] = set()
    stored = past.stored
    edited = _edited_in_place(candidates, past.known, stored, past.current)
    for i, c in enumerate(candidates):
        rid = edited.get(i) or past.record_of(c.identity)
        if rid not in stored or c.identity in split:
            rid = None
        if rid:
            present.add(rid)
        people.append(dedupe.person(key, c.values, rid))
    orphans = [rid for rid in stored if rid not in present]
    for rid in orphans:
        people.append(dedupe.person(key, stored[rid]["data"]["values"], rid))
    return people


def _from_responses(real: list[Candidate], old: list[dict[str, Any]],
                    before: list[dict[str, Any]]) -> dict[str, Any]:
    """A record's data from its responses `real` (oldest first), the data of records without
    responses merged into it (`old`) and the stored records it continues (`before`)."""
    # A record's place in a first-come queue is when it was first seen: an edit or a
    # re-submission updates its answers and "Latest submitted", never this.
    firsts = [c.first for c in real] + [o["first"] for o in old]
    firsts += [r["first"] for r in before if r["first"] is not None]
    return {
        "values": _latest_values(real, "values"),
        "extra": _latest_values(real, "extra"),
        "first": min(firsts),
        "latest": max([real[-1].submitted] + [o["latest"] for o in old]),
        "sources": [c.response.ref for c in sorted(real, key=lambda c: c.response.row)],
        "eligibility": ("Ineligible: " + "; ".join(real[-1].ineligible))
        if real[-1].ineligible else "",
        "source_state": "",
    }


def _without_responses(old: list[dict[str, Any]]) -> dict[str, Any]:
    """A record none of whose responses is in the source any more, from its stored data."""
    data = dict(old[0])
    for o in old[1:]:
        data["first"] = min(data["first"], o["first"])
        data["latest"] = max(data["latest"], o["latest"])
        data["sources"] = sorted(set(data["sources"]) | set(o["sources"]))
    data["source_state"] = "Missing from source"
    return data


def _edited_in_place(candidates: list[Candidate], known: dict[str, tuple[str, str]],
                     stored: dict[str, Any], current: Any) -> dict[int, str]:
    """{candidate index: record ID} for responses edited through the form's edit link.

    A linked Sheet keeps no response ID: a response is known by its Timestamp, which an edit
    changes, so the edited response looks new and the old one vanishes. Row numbers only
    move when rows are deleted above, and a new submission is always appended below, so a
    response no earlier sync saw, standing in the row where a record's vanished response
    stood, is that response edited: it keeps the record (and its place in the queue) even
    when the edit changed what dedupe compares (a corrected birthdate). A respondent cannot
    choose the row of a new submission, so this trusts nothing a stranger can type."""
    seen = {c.identity for c in candidates}
    vanished = {current(rid) for identity, (rid, _fp) in known.items() if identity not in seen}
    vanished &= stored.keys()
    if not vanished:
        return {}
    taken = {c.response.ref for c in candidates if c.identity in known}
    row_of: dict[str, str] = {}  # "pip:7" -> the record whose vanished response stood there
    for rid in vanished:
        for ref in stored[rid]["data"].get("sources", []):
            if ref not in taken:
                row_of.setdefault(ref, rid)
    return {i: row_of[c.response.ref] for i, c in enumerate(candidates)
            if c.identity not in known and c.response.key is None and c.response.ref in row_of}


def _made_of(real: list[Candidate], before: set[str] | None,
             known: dict[str, tuple[str, str]]) -> bool:
    """Whether `real` are the responses (`before`) a record was made of, each unchanged."""
    return before is not None and len(before) == len(real) and all(
        c.identity in before and known[c.identity][1] == c.fingerprint for c in real)


def save_program(store: store_mod.Store, key: str, result: ProgramResult, now: dt.datetime,
                 finished: dt.datetime) -> None:
    stamp = now.isoformat()
    stored = result.stored
    for rid, data in result.records.items():
        if rid in result.unchanged:
            continue
        if rid in stored:
            before = stored[rid]["data"]
            if all(before.get(k) == v for k, v in data.items()) and \
                    set(before) <= set(data):
                continue  # unchanged: no write
            store.db.execute("UPDATE records SET data = ?, updated = ? WHERE record_id = ?",
                             (store_mod.dumps(data), stamp, rid))
        else:
            seq = int(rid.split("-")[1])
            store.db.execute(
                "INSERT INTO records (record_id, program, seq, data, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)", (rid, key, seq, store_mod.dumps(data), stamp, stamp))
    for old, new in result.retired.items():
        store.db.execute("UPDATE records SET merged_into = ?, updated = ? WHERE record_id = ?",
                         (new, stamp, old))
        log.info("%s merged into %s", old, new)
    # Only responses that are new or changed are written (with their normalised values, so
    # the next sync need not parse them again); vanished ones are forgotten.
    before = result.known
    registry = result.registry
    store.executemany("DELETE FROM responses WHERE program = ? AND identity = ?",
                      ((key, identity) for identity in before if identity not in registry))
    store.executemany(
        "INSERT OR REPLACE INTO responses (program, identity, record_id, fingerprint, cached) "
        "VALUES (?, ?, ?, ?, ?)",
        ((key, identity, rid, fp, None if result.records.get(rid, {}).get("purged")
          else store_mod.dumps({"values": c.values, "ineligible": c.ineligible}))
         for identity, (rid, fp, c) in registry.items() if c is not None))
    store.set_meta(f"review:{key}", [vars(r) for r in result.review])
    store.set_meta(f"possible:{key}", result.possible)
    store.set_meta(f"merged:{key}", result.merges)
    for (rid, ref), new in result.splits.items():  # remembered between the two records now
        store.db.execute("DELETE FROM decisions WHERE program = ? AND record_a = ? AND "
                         "record_b = ?", (key, rid, ref))
        store.db.execute("INSERT OR REPLACE INTO decisions (program, record_a, record_b, "
                         "decision, decided) VALUES (?, ?, ?, 'Split', ?)", (key, rid, new, stamp))
        log.info("%s split from %s", new, rid)
    # a decision on a merged source row is acted on at the sync after it was typed, or never:
    # by the next, that row number may be another response's
    store.db.execute("DELETE FROM decisions WHERE program = ? AND record_b NOT LIKE '%-%'", (key,))
    store.set_meta(f"counts:{key}", result.counts)
    store.db.execute("INSERT INTO runs (started, finished, program, counts) VALUES (?, ?, ?, ?)",
                     (stamp, finished.isoformat(), key,
                      store_mod.dumps(result.counts)))
