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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sync.config import Config, ProgramConfig
from sync.config.programs import PROGRAMS
from sync.ingest import dedupe, normalize
from sync.ingest.validate import Candidate, Problem
from sync.master import layout, sheetinput
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
    known = store.responses(key)
    stored = store.records(key)
    seq_of = {rid: r["seq"] for rid, r in stored.items()}
    merged_ids = {rid: r["merged_into"] for rid, r in store.records(key, include_merged=True).items()
                  if r["merged_into"]}

    def current(rid: str | None) -> str | None:
        seen = set()
        while rid in merged_ids and rid not in seen:
            seen.add(rid)
            rid = merged_ids[rid]
        return rid

    # the responses each record was built from last time, to see that it is unchanged
    # without decoding it (same responses, same fingerprints, same configuration)
    made_of: dict[str, set[str]] = {}
    if reuse:
        for identity, (rid, _fp) in known.items():
            made_of.setdefault(rid, set()).add(identity)

    people = _people(key, candidates, known, stored, current)
    decisions = store.decisions(key)
    merge = [(current(a), current(b)) for a, b, d in decisions if d == "Merge"]
    apart = [(current(a), current(b)) for a, b, d in decisions if d == "Not duplicate"]
    grouping = dedupe.group(key, people, merge=merge, apart=apart)

    adopted = adopted or {}
    claims = _claims(adopted)
    next_seq = max([store.next_seq(key)] + [int(rid.split("-")[1]) + 1 for rid in adopted])
    claimed: set[str] = set()
    records: dict[str, dict[str, Any]] = {}
    unchanged: set[str] = set()  # records whose data is as stored
    retired: dict[str, str] = {}
    registry: dict[str, tuple[str, str, Candidate | None]] = {}
    index_to_rid: dict[int, str] = {}
    counts = {k: 0 for k in layout.LOG_COUNTS}
    counts["read"] = len(candidates) + len(problems)
    counts["review"] = len(problems)
    n = len(candidates)
    for members in sorted(grouping.groups, key=lambda g: min(g)):
        ids = sorted({people[i].record_id for i in members if people[i].record_id},
                     key=lambda r: seq_of.get(r, 0))
        real = sorted((candidates[i] for i in members if i < n), key=lambda c: c.submitted)
        if ids:
            rid = ids[0]
            for other in ids[1:]:
                retired[other] = rid
        elif (found := _claim(key, real, claims, adopted, claimed)) is not None:
            rid = found
            claimed.add(rid)
        else:
            rid, next_seq = _record_id(key, next_seq), next_seq + 1
        for i in members:
            index_to_rid[i] = rid
        old = [stored[people[i].record_id]["data"] for i in members if i >= n]
        if real:
            data = _from_responses(real, old, [stored[r] for r in ids])
            counts["merged"] += len(real) - 1
            for c in real:
                # a response's normalised answers are saved when new or changed, or all of them
                # when the configuration changed; the others need not stay in memory till then
                unsaved = not reuse or known.get(c.identity) != (rid, c.fingerprint)
                registry[c.identity] = (rid, c.fingerprint, c if unsaved else None)
        else:
            data = _without_responses(old)
            counts["missing"] += 1
        if rid not in stored:
            if real:
                counts["new"] += 1
        elif real:
            if not ids[1:] and not old and _made_of(real, made_of.get(rid), known):
                unchanged.add(rid)  # the same responses, unchanged: no need to decode it
                same = True
            else:
                previous = stored[rid]["data"]
                same = not ids[1:] and {k: previous.get(k) for k in data} == data
            counts["unchanged" if same else "updated"] += 1
        records[rid] = data
    counts["records"] = len(records)
    possible = _possible(key, grouping.maybe, index_to_rid, records, decisions)
    counts["possible"] = len(possible)
    review = [ReviewItem(key, p.response.source, p.response.row, p.reasons,
                         _answers_by_title(p, program)) for p in problems]
    return ProgramResult(records=records, retired=retired, registry=registry, known=known,
                         counts=counts, unchanged=unchanged, claimed=claimed,
                         possible=possible, review=review, seq=seq_of, stored=stored)


def _people(key: str, candidates: list[Candidate], known: dict[str, tuple[str, str]],
            stored: dict[str, Any], current: Callable[[str | None], str | None]) -> list[Any]:
    """Who is who, for deduplication: every response (with the record it belonged to, if
    still there), then every stored record none of whose responses came back."""
    people = []
    present: set[str] = set()
    edited = _edited_in_place(candidates, known, stored, current)
    for i, c in enumerate(candidates):
        rid = edited.get(i) or current(known.get(c.identity, (None, None))[0])
        if rid not in stored:
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


def _claims(adopted: Mapping[str, sheetinput.AdoptedRow]) -> dict[Any, list[str]]:
    """Source ref or first submission -> the adopted rows' record IDs that show it."""
    claims: dict[Any, list[str]] = {}
    for rid, row in adopted.items():
        first = row.tool.get(layout.FIRST)
        for ref in row.sources + ([first] if first is not None else []):
            claims.setdefault(ref, []).append(rid)
    return claims


def _possible(key: str, maybe: Any, index_to_rid: dict[int, str],
              records: dict[str, dict[str, Any]],
              decisions: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The possible duplicate pairs for staff, with the decision staff made on each."""
    possible = []
    for i, j, evidence in maybe:
        a, b = sorted((index_to_rid[i], index_to_rid[j]), key=lambda r: (len(r), r))
        possible.append({"program": PROGRAMS[key].name, "a": a, "b": b,
                         "name_a": _name(key, records[a]["values"]),
                         "name_b": _name(key, records[b]["values"]), "evidence": evidence})
    decided = {(a, b): d for a, b, d in decisions}
    for p in possible:
        p["decision"] = decided.get((p["a"], p["b"]))
    return possible


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


def _claim(key: str, real: list[Candidate], claims: Mapping[Any, list[str]],
           adopted: Mapping[str, sheetinput.AdoptedRow], claimed: set[str]) -> str | None:
    """The Record ID a master row shows for a new record made of `real` (see the module's
    docstring), or None."""
    for c in real:
        for rid in claims.get(c.response.ref, []) + claims.get(layout.comparable(c.first), []):
            if rid in claimed:
                continue
            cells = adopted[rid].tool  # as text: only the names are compared
            shown = {f.name: str(cells[f.label]) for f in PROGRAMS[key].fields
                     if cells.get(f.label) is not None}
            if dedupe.same_name(dedupe.person(key, shown), dedupe.person(key, c.values)):
                return rid
    return None


def _made_of(real: list[Candidate], before: set[str] | None,
             known: dict[str, tuple[str, str]]) -> bool:
    """Whether `real` are the responses (`before`) a record was made of, each unchanged."""
    return before is not None and len(before) == len(real) and all(
        c.identity in before and known[c.identity][1] == c.fingerprint for c in real)


def _name(key: str, values: dict[str, Any]) -> str:
    if key == "tap":
        return f"{values.get('student_first_name') or ''} {values.get('student_last_name') or ''}".strip()
    return f"{values.get('first_name') or ''} {values.get('last_name') or ''}".strip()


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
    store.set_meta(f"counts:{key}", result.counts)
    store.db.execute("INSERT INTO runs (started, finished, program, counts) VALUES (?, ?, ?, ?)",
                     (stamp, finished.isoformat(), key,
                      store_mod.dumps(result.counts)))
