"""Which responses are compared at all: blocking on several keys, near-linear.

Every response has several keys: its email, phone, address and student ID; its birthdate
with the sound of either name, or with both initials; the sounds of both names (in either
order) with its ZIP and the year or the day of birth, or with its street's name and ZIP; its
house number with its ZIP and the initial of its last name, or with its street's name. For
Teens and Policing, the birthdate keys go with the school (students share birthdays), and
there are also its birthdate with both names (another school) and its school with the last
name, the first initial and two of the year, month and day of birth (another birthdate, or
none). Two responses are compared only when they share a key. One wrong answer (a birthdate
typo, a new email, a move, a typo in a name, a nickname, first and last swapped, another
school) leaves other keys shared, also when the optional contacts are empty, so the pair is
still found; 50,000 responses never mean 1.25 billion comparisons.

Keys of alike names, birthdates and houses come from a fixed range of values, so by chance
more responses share them the more there are: such a block is compared whole only up to
`SMALL_BLOCK` people, in sorted windows past that. Each such key joins enough answers that
strangers rarely share one (the names with a year of birth and a ZIP, not a decade): every
pair of strangers sharing a key costs a comparison, and their number grows with the square of
the responses, while true pairs grow with the responses.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Hashable, Iterable, Iterator, Sequence

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
    birthdate order and once in street order (sorted neighbourhoods): near-linear.

    Keys are gathered one kind at a time (every email, then every phone, ...), each kind in a
    table of its own: one table of every key at once outgrows the processor's cache at
    100,000 responses and made the whole step a third slower per response."""
    for exact, columns in _kinds(program, people):
        for members in _shared(columns):
            if exact:
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
Column = list[Hashable | None]  # each person's key of one kind, None: no key


def _kinds(program: str, people: Sequence[Person]) -> Iterator[tuple[bool, tuple[Column, ...]]]:
    """(exact, columns) for each kind of key: exact keys are one contact or student ID. A kind
    may have two columns whose keys are compared with each other (a birthdate with the sound
    of either name). Composite keys are held as their hashes, to keep each table small: two
    keys sharing a hash by chance only add a comparison."""
    P = people
    yield True, ([p.email or None for p in P],)
    yield True, ([p.phone or None for p in P],)
    yield True, ([p.address or None for p in P],)
    if program == "tap":
        yield True, ([p.student_id or None for p in P],)
    # a student's birthdate is shared by many classmates: for Teens and Policing it goes with
    # the school
    at = [p.school for p in P] if program == "tap" else [""] * len(P)
    lasts = [_phonetic(p.last_key) if p.last_key else "" for p in P]
    by_last: Column = [hash((p.dob, s, a)) if p.dob else None
                       for p, s, a in zip(P, lasts, at, strict=True)]
    if program == "vsc":
        yield False, (by_last,)
        return
    firsts = [_phonetic(p.first_key) if p.first_key else "" for p in P]
    # typos in a name, either order
    by_first: Column = [hash((p.dob, s, a)) if p.dob else None
                        for p, s, a in zip(P, firsts, at, strict=True)]
    yield False, (by_last, by_first)
    yield False, ([hash((p.dob, *sorted((p.first_key[:1], p.last_key[:1])), a)) if p.dob else None
                   for p, a in zip(P, at, strict=True)],)
    if program == "tap":
        # another school: the birthdate with both names; another birthdate (or none on either):
        # the school with the last name, the first initial and two of the birthdate's year,
        # month and day (a typo in one leaves the other two)
        yield False, ([hash((p.dob, s, f)) if p.dob and s and f else None
                       for p, s, f in zip(P, lasts, firsts, strict=True)],)
        born = [(p.dob.year, p.dob.month, p.dob.day) if p.dob else (None,) * 3 for p in P]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            yield False, ([hash((p.school, s, p.first_key[:1], d[a], d[b])) if p.school else None
                           for p, s, d in zip(P, lasts, born, strict=True)],)
    if not any(p.street or p.zip for p in P):
        return  # a form that asks no address (Teens and Policing): the rest are all empty
    # another birthdate: the sounds of both names, either order, with the ZIP and the year of
    # birth or its day (a typo in the year), or with the street's name and ZIP
    names = [((f, s) if f < s else (s, f)) if f and s and (p.zip or p.street) else None
             for p, f, s in zip(P, firsts, lasts, strict=True)]
    words = [_word(p.street) for p in P]
    yield False, ([hash((n, p.zip, p.dob.year if p.dob else None)) if n else None
                   for p, n in zip(P, names, strict=True)],)
    yield False, ([hash((n, p.zip, p.dob.month, p.dob.day)) if n and p.dob else None
                   for p, n in zip(P, names, strict=True)],)
    yield False, ([hash((n, w, p.zip)) if n else None
                   for p, n, w in zip(P, names, words, strict=True)],)
    # typos in the names, the same home
    yield False, ([hash((p.house, p.zip, p.last_key[:1])) if p.house and p.zip else None
                   for p in P],)
    yield False, ([hash((p.house, w)) if p.house and p.street else None
                   for p, w in zip(P, words, strict=True)],)


def _shared(columns: tuple[Column, ...]) -> Iterable[list[int]]:
    """The people (in order) who share a key, for each key shared by two or more."""
    first: dict[Hashable, int] = {}
    shared: dict[Hashable, list[int]] = {}
    for column in columns:
        for i, key in enumerate(column):
            if key is None:
                continue
            if (j := first.setdefault(key, i)) != i:
                if key in shared:
                    shared[key].append(i)
                else:
                    shared[key] = [j, i]
    if len(columns) == 1:
        return shared.values()
    # with two columns one person may hold the key twice ("Lee Lee")
    unique = (sorted(set(members)) for members in shared.values())
    return [members for members in unique if len(members) > 1]


def pairs(members: list[int], window: int) -> Iterable[tuple[int, int]]:
    for x, i in enumerate(members):
        for j in members[x + 1:x + 1 + window] if window else members[x + 1:]:
            yield i, j


def _word(street: str) -> str:
    """The street's longest word: its name ("sepulveda" of "w sepulveda blvd unit 4")."""
    return max(street.split(), key=len, default="")
