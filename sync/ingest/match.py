"""How strongly two responses say they are one person: Fellegi-Sunter weights over every field.

Each field of a pair is compared at a few levels (the same, nearly the same, partly, different).
A level has a weight in bits, log2(m / u): m is how often it is seen when one person answers
twice, u how often between two different people. A pair's score is the sum over its fields,
so every field's evidence counts together: a new email weighs a little against, a typo in the
street a little less for, the same birthdate a lot for. A field left empty on either side is no
evidence either way (0), never a disagreement.

- First and last name: exact, a typo (Jaro-Winkler >= 0.94), similar (>= 0.88), a nickname
  (Bill / William, through `nicknames`), or first and last swapped. An exact name is weighed
  by how common it is among the responses (term frequency): "Smith" agreeing is weaker
  evidence than "Okonkwo" agreeing, because strangers share it more often.
- Birthdate: exact, day and month swapped, one digit off (in the year's last digit, the month
  or the day; never in the decade, which is a father and a son), the same year.
- Address: exact, the same house number and a street alike, the same street (another house
  number), the same ZIP only.
- Email, phone and (Teens and Policing) student ID: the same or different.

m and u were set from the FEBRL benchmark's corruption rates and the toolkit's own synthetic
forms (benchmarks/linkage.py, docs/matching.md), not fitted at run time: a small data set
would fit them badly, and staff need the same pair to score the same way every day.

`certain` says whether a score is enough to merge without asking: over the high threshold, AND
the names, the birthdate and the address all agree (emails may differ: people change them),
AND no student IDs or name suffixes (Jr. / Sr.) that differ. Everything between the two
thresholds goes to staff with the score and the fields strongest first (`describe`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz.distance import JaroWinkler

HIGH = 24.0  # bits: over this (and `certain`), merge automatically
LOW = 12.0  # bits: from this up to an automatic merge, ask staff

_PRIOR = 1000  # pseudo-responses behind the default name frequencies (small data: defaults)


def _bits(m: float, u: float) -> float:
    return math.log2(m / u)


# (field, level) -> (m, u); u None: the value's own frequency (term frequency), default below
_MU: dict[tuple[str, str], tuple[float, float | None]] = {
    ("first name", "exact"): (0.86, None), ("first name", "nickname"): (0.04, 0.001),
    ("first name", "typo"): (0.05, 0.0008), ("first name", "similar"): (0.02, 0.004),
    ("first name", "swapped"): (0.01, 0.00001), ("first name", "differ"): (0.03, 0.99),
    ("last name", "exact"): (0.88, None), ("last name", "typo"): (0.06, 0.0004),
    ("last name", "similar"): (0.02, 0.002), ("last name", "swapped"): (0.01, 0.00001),
    ("last name", "differ"): (0.03, 0.99),
    ("birthdate", "exact"): (0.86, 0.00005), ("birthdate", "day and month swapped"): (0.02, 0.00005),
    ("birthdate", "one digit off"): (0.07, 0.0004), ("birthdate", "same year"): (0.02, 0.02),
    ("birthdate", "differ"): (0.03, 0.98),
    ("address", "exact"): (0.75, 0.0001), ("address", "house number, street alike"): (0.12, 0.0002),
    ("address", "same street"): (0.06, 0.0008), ("address", "same ZIP"): (0.08, 0.05),
    ("address", "differ"): (0.05, 0.95),
    ("email", "same"): (0.5, 0.00002), ("email", "differ"): (0.5, 1.0),
    ("phone", "same"): (0.6, 0.00002), ("phone", "differ"): (0.2, 1.0),
    ("student ID", "same"): (0.9, 0.00001), ("student ID", "differ"): (0.02, 1.0),
}  # fmt: skip
_DEFAULT_U = {"first name": 0.005, "last name": 0.002}
WEIGHTS = {key: _bits(m, u) for key, (m, u) in _MU.items() if u is not None}
_NAME_AGREES = frozenset({"exact", "nickname", "typo", "similar", "swapped"})
_DOB_AGREES = frozenset({"exact", "day and month swapped", "one digit off"})
_ADDRESS_AGREES = frozenset({"exact", "house number, street alike", "same street"})


@dataclass(slots=True)
class Person:
    """What matching compares, taken from one response or one stored record (see
    `sync.ingest.dedupe.person`): folded names, keys, contacts, the address in parts."""

    first: str = ""
    last: str = ""
    dob: dt.date | None = None
    email: str = ""
    phone: str = ""
    address: str = ""  # the whole address key, street and ZIP
    student_id: str = ""
    school: str = ""
    leave: dt.date | None = None
    back: dt.date | None = None
    record_id: str | None = None  # known record this came from, if any
    variants: frozenset[str] = field(default_factory=frozenset)  # first name and nicknames
    first_key: str = ""  # the names with letters only ("de la cruz" -> "delacruz")
    last_key: str = ""
    suffix: str = ""  # jr, sr, ii, iii, iv
    house: str = ""  # the address in parts: house number, the rest of the street, ZIP
    street: str = ""
    zip: str = ""


class Frequencies:
    """How common each first and last name is among the people being matched."""

    def __init__(self, firsts: Iterable[str] = (), lasts: Iterable[str] = ()) -> None:
        self.counts = {"first name": Counter(f for f in firsts if f),
                       "last name": Counter(v for v in lasts if v)}
        self.n = {k: sum(c.values()) for k, c in self.counts.items()}
        self._weights: dict[tuple[str, str], float] = {}

    def weight(self, kind: str, value: str) -> float:
        """The weight of `value` agreeing exactly: the chance another person shares it,
        smoothed towards the default so a handful of responses weigh like any others."""
        weight = self._weights.get((kind, value))
        if weight is None:
            weight = self._weights[(kind, value)] = self._weight(kind, value)
        return weight

    def _weight(self, kind: str, value: str) -> float:
        others = max(self.counts[kind][value] - 1, 0)
        u = (others + _PRIOR * _DEFAULT_U[kind]) / (max(self.n[kind] - 1, 0) + _PRIOR)
        return _bits(_MU[(kind, "exact")][0], u)


NO_FREQUENCIES = Frequencies()


class Score(NamedTuple):
    """A pair's score in bits and each field's (level, weight), fields with no evidence left out
    (a named tuple: made for every pair compared, and quicker to make than a dataclass)."""

    total: float
    levels: dict[str, tuple[str, float]]

    def level(self, what: str) -> str:
        return self.levels.get(what, ("", 0.0))[0]

    def describe(self) -> str:
        """ "agree: birthdate, last name, address (house number, street alike); differ: email":
        the fields strongest first."""
        parts = sorted(self.levels.items(), key=lambda kv: -abs(kv[1][1]))

        def said(what: str, level: str) -> str:
            return what if level in ("exact", "same", "differ") else f"{what} ({level})"

        agree = [said(f, lv) for f, (lv, w) in parts if w > 0]
        differ = [said(f, lv) for f, (lv, w) in parts if w < 0]
        return "; ".join(p for p in (f"agree: {', '.join(agree)}" if agree else "",
                                      f"differ: {', '.join(differ)}" if differ else "") if p)


def name_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    similarity = JaroWinkler.similarity(a, b)
    return "typo" if similarity >= 0.94 else "similar" if similarity >= 0.88 else "differ"


def dob_level(a: dt.date, b: dt.date) -> str:
    if a == b:
        return "exact"
    if a.year != b.year:  # one digit off only in the year's last digit: 1981 for 1980
        same_day = a.month == b.month and a.day == b.day and a.year // 10 == b.year // 10
        return "one digit off" if same_day else "differ"
    if a.month == b.day and a.day == b.month:
        return "day and month swapped"
    # the digits of MMDD: one differs, or two side by side are swapped (03/14 for 03/41)
    x, y = (*divmod(a.month, 10), *divmod(a.day, 10)), (*divmod(b.month, 10), *divmod(b.day, 10))
    off = [i for i in (0, 1, 2, 3) if x[i] != y[i]]
    if len(off) == 1 or (len(off) == 2 and off[1] == off[0] + 1
                         and x[off[0]] == y[off[1]] and x[off[1]] == y[off[0]]):
        return "one digit off"
    return "same year"


def address_level(house: tuple[str, str], street: tuple[str, str], zips: tuple[str, str]) -> str:
    """Two addresses as (house number, street without it, ZIP) pairs; "" when nothing to say."""
    if street[0] and street[1]:
        if street[0] == street[1] and (house[0] == house[1] or not (house[0] and house[1])):
            if house[0] and house[1] and not (zips[0] and zips[1] and zips[0] != zips[1]):
                return "exact"
            return "house number, street alike"
        similarity = JaroWinkler.similarity(*street)
        if house[0] and house[0] == house[1] and similarity >= 0.85:
            return "house number, street alike"
        if similarity >= 0.94 and not (zips[0] and zips[1] and zips[0] != zips[1]):
            return "same street"  # another house number: a typo, or a move down the street
    if zips[0] and zips[0] == zips[1]:
        return "same ZIP"
    if (street[0] or zips[0]) and (street[1] or zips[1]):
        return "differ"
    return ""


def score(a: Person, b: Person, freq: Frequencies = NO_FREQUENCIES) -> Score:
    """The score of two people. Written for speed (most pairs blocking finds are strangers):
    each field's weights are looked up by level in a table of their own."""
    levels: dict[str, tuple[str, float]] = {}
    fa, fb, la, lb = a.first_key, b.first_key, a.last_key, b.last_key
    if fa and fb and la and lb and fa != fb and la != lb and fa == lb and la == fb:
        levels["first name"] = _FIRST["swapped"]
        levels["last name"] = _LAST["swapped"]
    else:
        if fa and fb:
            if fa == fb:
                levels["first name"] = ("exact", freq.weight("first name", fa))
            else:
                level = name_level(fa, fb)
                levels["first name"] = _FIRST["nickname" if level != "exact" and not
                                              a.variants.isdisjoint(b.variants) else level]
        if la and lb:
            levels["last name"] = (("exact", freq.weight("last name", la)) if la == lb
                                   else _LAST[name_level(la, lb)])
    if a.dob and b.dob:
        levels["birthdate"] = _DOB[dob_level(a.dob, b.dob)]
    if a.email and b.email:
        levels["email"] = _SAME["email"][a.email == b.email]
    if a.phone and b.phone:
        levels["phone"] = _SAME["phone"][a.phone == b.phone]
    if a.student_id and b.student_id:
        levels["student ID"] = _SAME["student ID"][a.student_id == b.student_id]
    level = address_level((a.house, b.house), (a.street, b.street), (a.zip, b.zip))
    if level:
        levels["address"] = _ADDRESS[level]
    return Score(sum(w for _lv, w in levels.values()), levels)


def _table(what: str) -> dict[str, tuple[str, float]]:
    """One field's (level, weight) by level."""
    return {level: (level, w) for (field_, level), w in WEIGHTS.items() if field_ == what}


_FIRST, _LAST, _DOB, _ADDRESS = (_table(w) for w in ("first name", "last name", "birthdate",
                                                     "address"))
_SAME = {w: {True: ("same", WEIGHTS[(w, "same")]), False: ("differ", WEIGHTS[(w, "differ")])}
         for w in ("email", "phone", "student ID")}


def certain(s: Score, suffixes: tuple[str, str] = ("", "")) -> bool:
    """Whether `s` is enough to merge without asking staff (see the module's docstring)."""
    first, last = s.level("first name"), s.level("last name")
    return (s.total >= HIGH and first in _NAME_AGREES and last in _NAME_AGREES
            and not (first == last == "similar")
            and s.level("birthdate") in _DOB_AGREES and s.level("address") in _ADDRESS_AGREES
            and s.level("student ID") != "differ"
            and not (suffixes[0] and suffixes[1] and suffixes[0] != suffixes[1]))
