"""The pairs staff see in Possible Duplicates, and their decisions.

- Possible duplicates: two records that might be one person, with the score of their best
  pair of responses and the fields that agree and differ, strongest first
  (`sync.ingest.match`); staff choose *Merge* or *Not duplicate*.
- Automatic merges that are not plain repeats: those on the score alone (no shared email,
  phone or student ID), and those on a shared contact or student ID between names only alike
  (a letter apart, not a nickname): the record and the source row merged into it, "merged because they
  agree: ...". Staff choose *Split* to undo one: at the next sync that response leaves the
  record and becomes a record of its own (a new Record ID), and the two are kept apart from
  then on: the decision is remembered in the state between the two Record IDs, like *Not
  duplicate*. A repeat under the same names (or a nickname: Bill for William) from the same
  email, phone or student ID is not listed: it is the everyday case and never in doubt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sync.config.programs import PROGRAMS
from sync.ingest import dedupe
from sync.ingest.validate import Candidate
from sync.master import layout
from sync.state import store as store_mod
from sync.xlsx.reading import labels
from sync.xlsx.sheet import Column, PrintSetup, Sheet

DECISIONS = ("Merge", "Not duplicate", "Split")
DUPLICATES_HEADER = ("Record A", ("Record B", "Decision", "Program"))


def is_record_id(text: str) -> bool:
    return "-" in text and text.rsplit("-", 1)[1].isdigit()


def splits(store: store_mod.Store, key: str, record_of: Callable[[str], str | None],
           current: Callable[[str | None], str | None],
           candidates: list[Candidate]) -> dict[str, tuple[str, str]]:
    """{response identity: (record ID, source row as the master showed it)} for each
    automatic merge staff marked "Split" (or "Not duplicate", which can only mean the same
    there) since the last sync: that response leaves the record.

    The master's Possible Duplicates sheet shows an automatic merge as (record, source row
    merged into it); the row is matched to its response through the list the last sync made,
    so a source row that moved since (rows deleted in the form's sheet) still names the right
    response. `record_of`: the record a response belonged to at the last sync; `current`: what
    a record ID is called now."""
    shown = {(m["a"], m["b"]): m["identity"] for m in store.get_meta(f"merged:{key}", [])}
    present = {c.identity: c for c in candidates}
    out = {}
    for a, b, decision in store.decisions(key):
        identity = shown.get((a, b))
        if decision in ("Split", "Not duplicate") and not is_record_id(b) and identity in present:
            rid = record_of(identity)
            if rid and rid == current(a):
                out[identity] = (rid, b)
    return out | _repeats(key, out, present, record_of)


def _repeats(key: str, split: dict[str, tuple[str, str]], present: dict[str, Candidate],
             record_of: Callable[[str], str | None]) -> dict[str, tuple[str, str]]:
    """The plain repeats (`dedupe.plain_repeat`) of each split response in its record, which
    were never listed: they leave with it (Alexander's second response leaves with his first
    when staff split him from his twin's record). The source row is "" for them: the
    decision is remembered once, for the row staff split."""
    rids = {rid for rid, _ref in split.values()}
    members: dict[str, list[str]] = {}  # the responses of each record a response leaves
    for identity in present:
        rid = record_of(identity)
        if rid in rids and identity not in split:
            members.setdefault(rid, []).append(identity)
    out: dict[str, tuple[str, str]] = {}
    for identity, (rid, _ref) in split.items():
        leaving = dedupe.person(key, present[identity].values)
        for other in members.get(rid, []):
            if other not in out and dedupe.plain_repeat(
                    key, leaving, dedupe.person(key, present[other].values)):
                out[other] = (rid, "")
    return out


def merges(key: str, grouping: dedupe.Grouping, people: list[Any], candidates: list[Candidate],
           index_to_rid: dict[int, str]) -> list[dict[str, Any]]:
    """The automatic merges that are not plain repeats (`dedupe.explain`), listed for staff
    with their evidence so that a wrong one can be undone ("Split"): the record, the name on
    the response it matched, and the source row merged into it."""
    if key == "vsc":
        return []
    out = []
    n = len(candidates)
    for members in grouping.groups:
        real = sorted((i for i in members if i < n), key=lambda i: candidates[i].submitted)
        if len(real) < 2:
            continue
        for i, j, evidence, score in dedupe.explain(key, people, real, grouping.freq):
            rid = index_to_rid[i]
            # the name of the response it matched: the record shows the latest answers, which
            # may be this response's own (Bill, merged into William's record, shows Bill)
            out.append({"program": PROGRAMS[key].name, "a": rid,
                        "name_a": name(key, candidates[j].values),
                        "b": candidates[i].response.ref,
                        "name_b": name(key, candidates[i].values), "evidence": evidence,
                        "score": score, "decision": None, "identity": candidates[i].identity})
    return sorted(out, key=lambda m: (len(m["a"]), m["a"], m["b"]))


def possible(key: str, maybe: Any, scores: list[float | None], index_to_rid: dict[int, str],
              records: dict[str, dict[str, Any]],
              decisions: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The possible duplicate pairs for staff, with the decision staff made on each."""
    pairs = []
    for (i, j, evidence), score in zip(maybe, scores, strict=True):
        a, b = sorted((index_to_rid[i], index_to_rid[j]), key=lambda r: (len(r), r))
        pairs.append({"program": PROGRAMS[key].name, "a": a, "b": b,
                         "name_a": name(key, records[a]["values"]),
                         "name_b": name(key, records[b]["values"]), "evidence": evidence,
                         "score": None if score is None else round(score, 1)})
    decided = {(a, b): d for a, b, d in decisions}
    for p in pairs:
        p["decision"] = decided.get((p["a"], p["b"]))
    return pairs


def name(key: str, values: dict[str, Any]) -> str:
    if key == "tap":
        return f"{values.get('student_first_name') or ''} {values.get('student_last_name') or ''}".strip()
    return f"{values.get('first_name') or ''} {values.get('last_name') or ''}".strip()


def duplicates_sheet(pairs: Sequence[dict[str, Any]],
                     title_rows: Sequence[Sequence[Any]] = ()) -> Sheet:
    """The Possible Duplicates sheet: possible pairs, then the automatic merges staff may split."""
    # narrow enough to print one page wide at 9 pt or more: long names and evidence wrap
    cols = [Column("Program", width=16, wrap=True), Column("Record A", width=11),
            Column("Name A", width=16, wrap=True), Column("Record B", width=11),
            Column("Name B", width=16, wrap=True), Column("Evidence", width=32, wrap=True),
            Column("Decision", staff=True, choices=DECISIONS, width=13),
            Column("Score", "number", width=8)]
    rows = [[p["program"], p["a"], p["name_a"], p["b"], p["name_b"], p["evidence"], p.get("decision"),
             p.get("score")] for p in pairs]
    return Sheet(layout.POSSIBLE_DUPLICATES, cols, rows, preamble=list(title_rows),
                 print_setup=PrintSetup(header_center=layout.POSSIBLE_DUPLICATES))


def read_decisions(rows: Sequence[tuple[Any, ...]], top: int = 0) -> list[tuple[str, str, str]]:
    """(record A, record B, decision) for every pair staff decided; `rows[top]` is the header."""
    if len(rows) <= top:
        return []
    header = labels(rows[top])
    try:
        a, b, d = header.index("Record A"), header.index("Record B"), header.index("Decision")
    except ValueError:
        return []
    out = []
    for values in rows[top + 1:]:
        padded = list(values) + [None] * (max(a, b, d) + 1 - len(values))
        decision = str(padded[d] or "").strip().casefold()
        match = next((x for x in DECISIONS if x.casefold() == decision), None)
        if match and isinstance(padded[a], str) and isinstance(padded[b], str):
            out.append((padded[a], padded[b], match))
    return out
