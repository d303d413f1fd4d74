"""Which responses are compared at all: blocking on several keys, near-linear.

Every response has several keys: its email, phone, address and student ID; its birthdate
with the sound of either name, or with both initials; the sounds of both names (in either
order) with its ZIP and decade of birth, or with its street's name; its house number with its
ZIP and an initial, or with its street's name; for Teens and Policing, its school with the
sound of its last name, its initial and birth year. Two responses are compared only when they
share a key. One wrong field (a birthdate typo, a new email, a move, a typo in a name, first
and last swapped) leaves other keys shared, so the pair is still found; 50,000 responses never
mean 1.25 billion comparisons.

Keys of alike names, birthdates and houses come from a fixed range of values, so by chance
more responses share them the more there are: such a block is compared whole only up to
`SMALL_BLOCK` people, in sorted windows past that.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence

from sync.ingest import normalize
from sync.ingest.match import Person

FULL_BLOCK = 60  # blocks of one contact up to this size compare every pair; bigger: a window
WINDOW = 12
SMALL_BLOCK = 6  # blocks of alike names or birthdates: up to this size compare every pair
SMALL_WINDOW = 4

_phonetic = functools.lru_cache(maxsize=1 << 16)(normalize.phonetic)


def blocks(program: str, people: Sequence[Person]) -> Iterable[tuple[list[int], int]]:
    """Every block of two or more people, as (members, window): each member is compared with
    the next `window` ones (0: with all). A block of one email, phone, address or student ID
    is compared whole up to `FULL_BLOCK` people; past that, in a window of `WINDOW` in name
    order. A block of alike names or birthdates grows with the number of responses, so past
    `SMALL_BLOCK` people it is compared twice in a window of `SMALL_WINDOW`, once in
    birthdate order and once in street order (sorted neighbourhoods): near-linear."""
    # key's hash -> the first person with it (most keys have only one); held as numbers, not
    # tuples, to keep the table small (a shared hash of two keys only adds comparisons)
    first: dict[int, int] = {}
    shared: dict[int, list[int]] = {}
    exact: set[int] = set()  # keys of one contact
    for i, p in enumerate(people):
        for key in _keys_of(program, p):
            h = hash(key)
            if (j := first.setdefault(h, i)) != i:
                if h in shared:
                    shared[h].append(i)
                else:
                    shared[h] = [j, i]
                    if key[0].islower():
                        exact.add(h)
    for h, members in shared.items():
        if h in exact:
            if len(members) <= FULL_BLOCK:
                yield members, 0
            else:
                yield sorted(members, key=lambda k: (people[k].last, people[k].first)), WINDOW
        elif len(members) <= SMALL_BLOCK:
            yield members, 0
        else:
            yield sorted(members, key=lambda k: (people[k].dob or _NO_DATE, people[k].street)), \
                SMALL_WINDOW
            yield sorted(members, key=lambda k: (people[k].street, people[k].dob or _NO_DATE)), \
                SMALL_WINDOW


_NO_DATE = dt.date.min


def _keys_of(program: str, p: Person) -> list[tuple]:
    keys: list[tuple] = [k for k in (("e", p.email), ("p", p.phone), ("a", p.address),
                                     ("s", p.student_id)) if k[1]]
    last = _phonetic(p.last_key) if p.last_key else ""
    if p.dob:
        keys.append(("D", p.dob, last))
    if program == "tap" and p.school:
        keys.append(("S", p.school, last, p.first_key[:1], p.dob.year if p.dob else None))
    if program == "vsc":
        return keys
    first = _phonetic(p.first_key) if p.first_key else ""
    if p.dob:  # typos in a name, either order
        keys += [("B", p.dob, *sorted((p.first_key[:1], p.last_key[:1]))), ("D", p.dob, first)]
    if first and last and (p.zip or p.street):  # another birthdate, either order
        names = sorted((first, last))
        keys += [("N", *names, p.zip, p.dob.year // 10 if p.dob else None),
                 ("N", *names, _word(p.street))]
    if p.house and p.zip:  # typos in the names, the same home
        keys += [("H", p.house, p.zip, 1, p.first_key[:1]), ("H", p.house, p.zip, 2, p.last_key[:1])]
    if p.house and p.street:
        keys.append(("H", p.house, _word(p.street)))
    return keys


def pairs(members: list[int], window: int) -> Iterable[tuple[int, int]]:
    for x, i in enumerate(members):
        for j in members[x + 1:x + 1 + window] if window else members[x + 1:]:
            yield i, j


def _word(street: str) -> str:
    """The street's longest word: its name ("sepulveda" of "w sepulveda blvd unit 4")."""
    return max(street.split(), key=len, default="")
