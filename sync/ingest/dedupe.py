"""Find the same person (or the same vacation trip) among responses; near-linear by blocking.

`group(program, people, ...)` returns groups of indices that are certainly one record, and
pairs of groups that might be (for staff to decide). Candidates are only ever compared
inside a block (same email, same phone, same birthdate + sound of the last name, same
address, same student ID), so 50,000 responses never mean 1.25 billion comparisons.

Merging is automatic only when certain: similar names AND a shared contact (email or phone),
or the same student ID, or the same residence on overlapping dates asked for with a shared
contact (email or phone). Similar names with the same birthdate or address but
different contacts are only *possible* duplicates, and so are the same name and contact with
different birthdates (a corrected typo, or a relative) and, for TAP, the same name, school and
birthdate with different student IDs (a classmate knows all three).

Respondents are strangers: one detail anyone can know (an address, a school) never merges on
its own, since a merge lets the later response replace the record's answers. A stranger's
request for someone else's home stays its own record, shown to staff as a possible duplicate,
and the resident's request keeps its place on the route; so does one that gives the
resident's name (it is on the mailbox) with other contacts.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import JaroWinkler

from sync.ingest import normalize

log = logging.getLogger(__name__)

FULL_BLOCK = 60  # blocks up to this size compare every pair; bigger ones a sorted window
WINDOW = 12
MAX_PAIRS = 5  # possible duplicates listed per record


@dataclass
class Person:
    """What dedupe compares, taken from one response or one stored record."""

    first: str = ""
    last: str = ""
    dob: dt.date | None = None
    email: str = ""
    phone: str = ""
    address: str = ""
    student_id: str = ""
    school: str = ""
    leave: dt.date | None = None
    back: dt.date | None = None
    record_id: str | None = None  # known record this came from, if any
    variants: frozenset[str] = field(default_factory=frozenset)


@functools.lru_cache(maxsize=1 << 16)
def _variants(first: str) -> frozenset[str]:
    return frozenset(normalize.first_name_variants(first)) if first else frozenset()


@functools.lru_cache(maxsize=1 << 16)
def _address(street: str, zip_code: str) -> str:
    return normalize.address_key(street, zip_code) if street else ""


def person(program: str, values: dict[str, Any], record_id: str | None = None) -> Person:
    if program == "tap":
        first, last = values.get("student_first_name") or "", values.get("student_last_name") or ""
        email, phone = values.get("student_email") or "", values.get("student_phone") or ""
    else:
        first, last = values.get("first_name") or "", values.get("last_name") or ""
        email, phone = values.get("email") or "", values.get("phone") or ""
    street = values.get("street") or ""
    return Person(
        first=_fold(first),
        last=_fold(last),
        dob=values.get("date_of_birth"),
        email=email.casefold(),
        phone=phone,
        address=_address(street, values.get("zip") or ""),
        student_id="".join(str(values.get("student_id") or "").split()).casefold(),
        school=(values.get("school") or "").casefold(),
        leave=values.get("leave_date"),
        back=values.get("return_date"),
        record_id=record_id,
        variants=_variants(first),
    )


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


def compare(program: str, a: Person, b: Person) -> tuple[str, str]:
    """("merge" | "maybe" | "", evidence) for one pair."""
    if program == "vsc":
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
    dob_conflict = bool(a.dob and b.dob and a.dob != b.dob)
    same_dob = bool(a.dob and a.dob == b.dob)
    if program == "tap" and a.student_id and a.student_id == b.student_id:
        if similar_name(a, b) and not dob_conflict:
            return "merge", "same student ID"
        return "maybe", "same student ID, different name or birthdate"
    contact = [w for w, ok in (("email", a.email and a.email == b.email),
                                ("phone", a.phone and a.phone == b.phone)) if ok]
    if contact and same_name(a, b):
        if dob_conflict:  # a corrected birthdate, or a relative: staff know
            return "maybe", f"same name and {' and '.join(contact)}, different birthdate"
        return "merge", f"same name and {' and '.join(contact)}"
    if program == "tap" and same_name(a, b) and same_dob and a.school and a.school == b.school:
        # a classmate knows all three: another student ID is another student until staff say
        if a.student_id and b.student_id:
            return "maybe", "same name, school and birthdate, different student ID"
        return "merge", "same name, school and birthdate"
    place = [w for w, ok in (("birthdate", same_dob),
                              ("address", a.address and a.address == b.address),
                              ("school", program == "tap" and a.school and a.school == b.school
                               and not dob_conflict)) if ok]
    if place and similar_name(a, b):
        return "maybe", f"similar names, same {' and '.join(place)}, different contacts"
    if contact and same_dob and not similar_name(a, b):
        return "maybe", f"same {' and '.join(contact)} and birthdate, different name"
    return "", ""


# -- blocking ---------------------------------------------------------------------------------


_phonetic = functools.lru_cache(maxsize=1 << 16)(normalize.phonetic)


def blocks(program: str, people: Sequence[Person]) -> Iterable[list[int]]:
    index: dict[tuple, list[int]] = defaultdict(list)
    for i, p in enumerate(people):
        keys: list[tuple] = []
        if p.email:
            keys.append(("e", p.email))
        if p.phone:
            keys.append(("p", p.phone))
        if p.address:
            keys.append(("a", p.address))
        if p.student_id:
            keys.append(("s", p.student_id))
        sound = _phonetic(p.last) if p.last else ""
        if p.dob:
            keys.append(("d", p.dob, sound))
        if program == "tap" and p.school:
            keys.append(("n", p.school, sound))
        for key in keys:
            index[key].append(i)
    for members in index.values():
        if len(members) > 1:
            yield members


def _pairs(members: list[int], people: Sequence[Person]) -> Iterable[tuple[int, int]]:
    if len(members) <= FULL_BLOCK:
        for x, i in enumerate(members):
            for j in members[x + 1:]:
                yield i, j
        return
    ordered = sorted(members, key=lambda k: (people[k].last, people[k].first))
    for x, i in enumerate(ordered):
        for j in ordered[x + 1:x + 1 + WINDOW]:
            yield i, j


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

    def union(self, i: int, j: int, apart: set[frozenset[str]]) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        if apart and any(frozenset((x, y)) in apart for x in self.ids[a] for y in self.ids[b]):
            return False
        self.parent[b] = a
        self.ids[a] |= self.ids[b]
        return True


@dataclass
class Grouping:
    groups: list[list[int]]  # indices into people, each group one record
    maybe: list[tuple[int, int, str]]  # (index in group A, index in group B, evidence)


def group(program: str, people: Sequence[Person], merge: Iterable[tuple[str, str]] = (),
          apart: Iterable[tuple[str, str]] = ()) -> Grouping:
    """Group people: same known record, staff "Merge" decisions, then certain matches.

    `merge` and `apart` are staff decisions between record IDs ("Merge" / "Not duplicate").
    """
    apart_set = {frozenset(p) for p in apart}
    g = _Groups(people)
    by_id: dict[str, int] = {}
    for i, p in enumerate(people):
        if p.record_id:
            g.union(by_id.setdefault(p.record_id, i), i, set())
    for a, b in merge:
        if a in by_id and b in by_id:
            g.union(by_id[a], by_id[b], set())
    maybe: dict[frozenset[int], tuple[int, int, str]] = {}
    for members in blocks(program, people):
        for i, j in _pairs(members, people):
            if g.find(i) == g.find(j):
                continue
            verdict, evidence = compare(program, people[i], people[j])
            if verdict == "merge" and g.union(i, j, apart_set):
                continue
            if verdict:
                maybe.setdefault(frozenset((i, j)), (i, j, evidence))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(people)):
        groups[g.find(i)].append(i)
    seen: set[frozenset[int]] = set()
    per_group: dict[int, int] = defaultdict(int)
    pairs = []
    for i, j, evidence in maybe.values():
        a, b = g.find(i), g.find(j)
        key = frozenset((a, b))
        if a == b or key in seen:
            continue
        if per_group[a] >= MAX_PAIRS or per_group[b] >= MAX_PAIRS:
            continue  # a record alike to many others: show staff the first few, not all
        per_group[a] += 1
        per_group[b] += 1
        ids_a, ids_b = g.ids[a], g.ids[b]
        if any(frozenset((x, y)) in apart_set for x in ids_a for y in ids_b):
            continue
        seen.add(key)
        pairs.append((i, j, evidence))
    return Grouping(list(groups.values()), pairs)
