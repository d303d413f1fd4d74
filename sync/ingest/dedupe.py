"""Find the same person (or the same vacation trip) among responses; near-linear by blocking.

`group(program, people, ...)` returns groups of indices that are one record, and pairs of
groups that might be (for staff to decide). Candidates are only ever compared inside a block
of `sync.ingest.blocking`, whose several keys per response keep a pair together when one of
its fields is wrong (a birthdate typo, a new email, a move), so that 50,000 responses never
mean 1.25 billion comparisons.

People (Partners in Policing, Teens and Policing) are merged automatically when certain:
similar names AND a shared contact (email or phone), or the same student ID, or, on the
evidence of every field together (`sync.ingest.match`), names, birthdate and address that
agree even with different emails. Similar names with the same birthdate or address and
different contacts that fall short of that, the same name and contact with different
birthdates (a corrected typo, or a relative), and for TAP the same name, school and birthdate
with different student IDs (a classmate knows all three) are only *possible* duplicates, and
so is any pair whose score passes the lower threshold. Family members sharing an email (other
first names) and a father and son (Jr. / Sr., another birth year) never merge.

Respondents are strangers: one detail anyone can know (an address, a school) never merges on
its own, since a merge lets the later response replace the record's answers. A vacation
request is updated only by the same household: the same residence on overlapping dates with a
shared contact (email or phone). A stranger's request for someone else's home stays its own
record, shown to staff as a possible duplicate, and the resident's request keeps its place on
the route; so does one that gives the resident's name (it is on the mailbox) with other contacts.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import JaroWinkler

from sync.ingest import blocking, match, normalize
from sync.ingest.blocking import blocks
from sync.ingest.match import Frequencies, Person

__all__ = ["Frequencies", "Grouping", "Person", "blocks", "compare", "explain", "group", "judge",
           "person", "plain_repeat", "same_name", "similar_name"]

log = logging.getLogger(__name__)

MAX_PAIRS = 5  # possible duplicates listed per record
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


@functools.lru_cache(maxsize=1 << 16)
def _variants(first: str) -> frozenset[str]:
    return frozenset(normalize.first_name_variants(first)) if first else frozenset()


def person(program: str, values: dict[str, Any], record_id: str | None = None) -> Person:
    if program == "tap":
        first, last = values.get("student_first_name") or "", values.get("student_last_name") or ""
        email, phone = values.get("student_email") or "", values.get("student_phone") or ""
    else:
        first, last = values.get("first_name") or "", values.get("last_name") or ""
        email, phone = values.get("email") or "", values.get("phone") or ""
    street, zip_code = values.get("street") or "", values.get("zip") or ""
    first_key, last_key, suffix = _keys(_fold(first), _fold(last))
    address, house, rest, zip5 = _address(street, zip_code)
    return Person(
        first=_fold(first), last=_fold(last), dob=values.get("date_of_birth"),
        email=email.casefold(), phone=phone, address=address,
        student_id="".join(str(values.get("student_id") or "").split()).casefold(),
        school=(values.get("school") or "").casefold(),
        leave=values.get("leave_date"), back=values.get("return_date"), record_id=record_id,
        variants=_variants(first), first_key=first_key, last_key=last_key, suffix=suffix,
        house=house, street=rest, zip=zip5,
    )


@functools.lru_cache(maxsize=1 << 16)
def _keys(first: str, last: str) -> tuple[str, str, str]:
    """(first, last, suffix): the names with letters only, a Jr./Sr./III taken off either."""
    words = (first + " | " + last).replace(".", "").replace(",", " ").split()
    suffix = next((w for w in words[1:] if w in _SUFFIXES), "")
    words = [w for w in words if w not in _SUFFIXES or w is words[0]]
    first, _, last = " ".join(words).partition("|")
    return "".join(c for c in first if c.isalnum()), "".join(c for c in last if c.isalnum()), suffix


def _address(street: str, zip_code: str) -> tuple[str, str, str, str]:
    """(the whole address key, house number, the rest of the street, ZIP) for comparison:
    the street normalised once for all four. Not cached, unlike the names: addresses seldom
    repeat, and a cache of them held 5 MB at 50,000 responses for a sync's whole run."""
    key = normalize.street_key(street) if street else ""
    words = key.split()
    house = words.pop(0) if words and any(c.isdigit() for c in words[0]) else ""
    try:
        zip5 = normalize.zip_code(zip_code)
    except ValueError:
        zip5 = ""
    whole = " ".join(p for p in (key, normalize.zip_key(zip_code)) if p) if street else ""
    return whole, house, " ".join(words), zip5


@functools.lru_cache(maxsize=1 << 16)
def _fold(name: str) -> str:
    return " ".join(normalize.fold(name).replace("-", " ").replace("'", "").split())


# -- comparisons ------------------------------------------------------------------------------


def _similar(a: str, b: str, threshold: float) -> bool:
    return bool(a and b) and (a == b or JaroWinkler.similarity(a, b) >= threshold)


def same_name(a: Person, b: Person, threshold: float = 0.92) -> bool:
    """Last names alike (a typo at most) and first names alike or nickname-related."""
    if not _similar(a.last, b.last, threshold):
        return False
    return bool(a.variants & b.variants) or _similar(a.first, b.first, threshold)


def similar_name(a: Person, b: Person) -> bool:
    """Looser than `same_name`, for "possible duplicate" only: Steven / Stephen Park."""
    return same_name(a, b, threshold=0.88)


def _overlap(a: Person, b: Person) -> bool:
    if not (a.leave and a.back and b.leave and b.back):
        return False
    return a.leave <= b.back and b.leave <= a.back


def compare(program: str, a: Person, b: Person,
            freq: Frequencies = match.NO_FREQUENCIES) -> tuple[str, str]:
    """("merge" | "maybe" | "", evidence) for one pair."""
    verdict, evidence, _score = judge(program, a, b, freq)
    return verdict, evidence


def judge(program: str, a: Person, b: Person,
          freq: Frequencies = match.NO_FREQUENCIES) -> tuple[str, str, float | None]:
    """("merge" | "maybe" | "", evidence, score in bits or None) for one pair."""
    if program == "vsc":
        return (*_vsc(a, b), None)
    s = match.score(a, b, freq)
    verdict, evidence = _rules(program, a, b)
    if verdict == "merge":
        return verdict, evidence, s.total
    if match.certain(s, (a.suffix, b.suffix)):
        return "merge", f"{MERGED_BECAUSE}{s.describe()}", s.total
    if verdict:
        return verdict, evidence, s.total
    if s.total >= match.LOW:
        return "maybe", s.describe(), s.total
    return "", "", s.total


MERGED_BECAUSE = "merged because they "


def _vsc(a: Person, b: Person) -> tuple[str, str]:
    if a.address and a.address == b.address and _overlap(a, b):
        # The address and the dates are no proof of who is asking: anyone can type them,
        # and the name is on the mailbox. Only a shared contact (email or phone) shows
        # that the same household asks again; a name alone is for staff to judge.
        same = [w for w, ok in (("email", a.email and a.email == b.email),
                                ("phone", a.phone and a.phone == b.phone)) if ok]
        if same:
            return "merge", f"same residence, overlapping dates, same {' and '.join(same)}"
        if same_name(a, b):
            return "maybe", "same address, overlapping dates and name, different email and phone"
        return "maybe", "same address, overlapping dates, different person"
    if a.phone and a.phone == b.phone and same_name(a, b) and _overlap(a, b):
        return "maybe", "same resident and phone, overlapping dates, different address"
    return "", ""


def _rules(program: str, a: Person, b: Person) -> tuple[str, str]:
    """The certain merges on a shared contact or student ID, and the possible duplicates that
    staff have always been shown, each with its own words. Every rule needs one answer the
    same on both sides; most pairs have none, and are done with at once."""
    tap = program == "tap"
    same_email, same_phone = bool(a.email and a.email == b.email), bool(a.phone and a.phone == b.phone)
    same_dob, same_address = bool(a.dob and a.dob == b.dob), bool(a.address and a.address == b.address)
    same_id = tap and bool(a.student_id and a.student_id == b.student_id)
    same_school = tap and bool(a.school and a.school == b.school)
    if not (same_email or same_phone or same_dob or same_address or same_id or same_school):
        return "", ""
    dob_conflict = bool(a.dob and b.dob and a.dob != b.dob)
    if same_id:
        if similar_name(a, b) and not dob_conflict:
            return "merge", "same student ID"
        return "maybe", "same student ID, different name or birthdate"
    contact = [w for w, ok in (("email", same_email), ("phone", same_phone)) if ok]
    if contact and same_name(a, b):
        if dob_conflict:  # a corrected birthdate, or a relative: staff know
            return "maybe", f"same name and {' and '.join(contact)}, different birthdate"
        return "merge", f"same name and {' and '.join(contact)}"
    if same_school and same_dob and same_name(a, b):
        # a classmate knows all three: another student ID is another student until staff say
        if a.student_id and b.student_id:
            return "maybe", "same name, school and birthdate, different student ID"
        return "merge", "same name, school and birthdate"
    place = [w for w, ok in (("birthdate", same_dob), ("address", same_address),
                              ("school", same_school and not dob_conflict)) if ok]
    if place and similar_name(a, b):
        return "maybe", f"similar names, same {' and '.join(place)}, different contacts"
    if contact and same_dob and not similar_name(a, b):
        return "maybe", f"same {' and '.join(contact)} and birthdate, different name"
    return "", ""


def explain(program: str, people: Sequence[Person], members: Sequence[int],
            freq: Frequencies = match.NO_FREQUENCIES) -> list[tuple[int, int, str, float]]:
    """The automatic merges in one record for staff to check, and undo if wrong: (later member,
    the earlier one it matched best, evidence, score) for each member (oldest first in
    `members`) that is not a plain repeat, that is, no earlier member shares a contact or
    student ID with it under the same names (a nickname counts: Bill for William). A merge on
    the score alone is listed, and so is one on a shared contact between names only alike:
    Alexander and Alexandra, twins with the family email and one birthdate, are a letter
    apart."""
    out = []
    for x, i in enumerate(members[1:], 1):
        earlier = members[max(0, x - 10):x]
        judged = [(judge(program, people[i], people[j], freq), j) for j in earlier]
        if not judged or any(_plain(v, e, people[i], people[j]) for (v, e, _s), j in judged):
            continue
        (verdict, evidence, score), j = max(judged, key=lambda t: (t[0][0] == "merge", t[0][2] or 0))
        if verdict == "merge":
            if not evidence.startswith(MERGED_BECAUSE):
                evidence = f"{MERGED_BECAUSE}{match.score(people[i], people[j], freq).describe()}"
            out.append((i, j, evidence, round(score or 0, 1)))
    return out


def plain_repeat(program: str, a: Person, b: Person, freq: Frequencies = match.NO_FREQUENCIES) -> bool:
    """Whether `b` is `a` answering again, never in doubt: merged by the rules on a shared
    contact or student ID, under the same names (or a nickname: Bill for William)."""
    verdict, evidence, _score = judge(program, a, b, freq)
    return _plain(verdict, evidence, a, b)


def _plain(verdict: str, evidence: str, a: Person, b: Person) -> bool:
    return (verdict == "merge" and not evidence.startswith(MERGED_BECAUSE)
            and (a.last_key, a.suffix) == (b.last_key, b.suffix)
            and (a.first_key == b.first_key or a.first in b.variants or b.first in a.variants))


# -- grouping ---------------------------------------------------------------------------------


class _Groups:
    def __init__(self, people: Sequence[Person]):
        self.parent = list(range(len(people)))
        self.ids: list[set[str]] = [{p.record_id} if p.record_id else set() for p in people]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def apart(self, a: int, b: int, apart: set[frozenset[str]]) -> bool:
        return bool(apart) and any(frozenset((x, y)) in apart
                                   for x in self.ids[a] for y in self.ids[b])

    def union(self, i: int, j: int, apart: set[frozenset[str]]) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        if self.apart(a, b, apart):
            return False
        self.parent[b] = a
        self.ids[a] |= self.ids[b]
        return True


@dataclass
class Grouping:
    groups: list[list[int]]  # indices into people, each group one record
    maybe: list[tuple[int, int, str]]  # (index in group A, index in group B, evidence)
    scores: list[float | None] = field(default_factory=list)  # each maybe pair's score
    freq: Frequencies = field(default_factory=Frequencies)  # how common each name is


def frequencies(people: Sequence[Person]) -> Frequencies:
    return Frequencies((p.first_key for p in people), (p.last_key for p in people))


def group(program: str, people: Sequence[Person], merge: Iterable[tuple[str, str]] = (),
          apart: Iterable[tuple[str, str]] = (), split: Iterable[tuple[int, str]] = ()) -> Grouping:
    """Group people: same known record, staff "Merge" decisions, then certain matches.

    `merge` and `apart` are staff decisions between record IDs ("Merge" / "Not duplicate");
    `split`: (index of a person, record ID it was split from by staff), never joined again.

    Python's cycle collector is paused meanwhile: blocking makes about ten small tuples per
    response, none in a cycle, and each collection would walk every live object again (at
    50,000 responses, 60% of the time, and growing faster than the responses).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _group(program, people, merge, apart, split)
    finally:
        if enabled:
            gc.enable()


def _group(program: str, people: Sequence[Person], merge: Iterable[tuple[str, str]],
           apart: Iterable[tuple[str, str]], split: Iterable[tuple[int, str]]) -> Grouping:
    apart_set = {frozenset(p) for p in apart}
    g = _Groups(people)
    for i, rid in split:
        g.ids[i].add(f"#{i}")
        apart_set.add(frozenset((rid, f"#{i}")))
    by_id: dict[str, int] = {}
    for i, p in enumerate(people):
        if p.record_id:
            g.union(by_id.setdefault(p.record_id, i), i, set())
    for a, b in merge:
        if a in by_id and b in by_id:
            g.union(by_id[a], by_id[b], set())
    freq = frequencies(people) if program != "vsc" else Frequencies()
    maybe: dict[frozenset[int], tuple[int, int, str, float | None]] = {}
    # Merges touching a record staff keep apart from another wait, and are then made strongest
    # first: a response joins the record it is likelier to be (Alexandra's repeat from the
    # family email joins Alexandra's record, not her twin's). The rest are made at once.
    kept_apart = {rid for pair in apart_set for rid in pair}
    waiting: list[tuple[int, int, str, float | None]] = []
    seen: set[int] = set()
    n = len(people)
    for members, window in blocks(program, people):
        for i, j in blocking.pairs(members, window):
            pair = i * n + j if i < j else j * n + i
            if pair in seen or g.find(i) == g.find(j):
                continue
            seen.add(pair)
            verdict, evidence, score = judge(program, people[i], people[j], freq)
            if verdict == "merge" and kept_apart and not (
                    g.ids[g.find(i)].isdisjoint(kept_apart) and g.ids[g.find(j)].isdisjoint(kept_apart)):
                waiting.append((i, j, evidence, score))
            elif verdict == "merge" and g.union(i, j, apart_set):
                continue
            elif verdict:
                maybe.setdefault(frozenset((i, j)), (i, j, evidence, score))
    for i, j, evidence, score in sorted(waiting, key=lambda m: -(m[3] or 0)):
        if not g.union(i, j, apart_set):
            maybe.setdefault(frozenset((i, j)), (i, j, evidence, score))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[g.find(i)].append(i)
    pairs = _listed(g, maybe.values(), apart_set)
    return Grouping(list(groups.values()), [(i, j, e) for i, j, e, _s in pairs],
                    [s for _i, _j, _e, s in pairs], freq)


def _listed(g: _Groups, maybe: Iterable[tuple[int, int, str, float | None]],
            apart: set[frozenset[str]]) -> list[tuple[int, int, str, float | None]]:
    """The possible pairs between groups, strongest first within each, at most `MAX_PAIRS`
    for a group: a record alike to many others shows staff the likeliest few, not all."""
    seen: set[frozenset[int]] = set()
    per_group: dict[int, int] = defaultdict(int)
    pairs = []
    for i, j, evidence, score in sorted(maybe, key=lambda m: -(m[3] or 0)):
        a, b = g.find(i), g.find(j)
        key = frozenset((a, b))
        if a == b or key in seen or g.apart(a, b, apart):
            continue
        if per_group[a] >= MAX_PAIRS or per_group[b] >= MAX_PAIRS:
            continue
        per_group[a] += 1
        per_group[b] += 1
        seen.add(key)
        pairs.append((i, j, evidence, score))
    return sorted(pairs, key=lambda m: (min(m[0], m[1]), max(m[0], m[1])))
