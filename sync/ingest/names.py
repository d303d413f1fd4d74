"""People's names: re-cased for display (`name`), keys and variants for comparison
(`name_key`, `first_name_variants`, `phonetic`). Re-exported by `sync.ingest.normalize`.
"""

from __future__ import annotations

import functools
import re

import jellyfish
from nicknames import NickNamer

from sync.ingest.text import collapse, fold
from sync.sources import Value

_PARTICLES = {"da", "das", "de", "del", "della", "der", "den", "di", "dos", "du", "van", "von",
              "ten", "ter", "y"}  # fmt: skip
_SECOND_PARTICLES = {"la", "las", "le", "lo", "los"}  # lowercase right after a particle only
_NAME_SUFFIXES = {"jr": "Jr.", "sr": "Sr.", "ii": "II", "iii": "III", "iv": "IV", "esq": "Esq."}


def _cap_word(word: str) -> str:
    """ "o'brien" -> "O'Brien", "mcdonald" -> "McDonald", "smith-jones" -> "Smith-Jones"."""
    pieces = re.split(r"([-.'’])", word.lower())
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if i % 2 or (i and pieces[i - 1] in "'’" and len(pieces[i - 2]) != 1):
            out.append(piece)  # a delimiter, or after an apostrophe not following O/D/L
        elif piece.startswith("mc") and len(piece) > 2:
            out.append("Mc" + piece[2].upper() + piece[3:])
        else:
            out.append(piece[:1].upper() + piece[1:])
    return "".join(out)


def name(value: Value) -> str:
    """A person's name, whitespace collapsed; all-lower or ALL-UPPER input is re-cased.

    Mixed case ("DeShawn", "McKenzie", "van Dyke") is kept as typed. Re-casing handles
    O'Brien, McDonald (not "Mac", which would break Mack and Macy), Smith-Jones, particles
    (de la Cruz, van, von: lowercase unless first) and suffixes (Jr., Sr., II, III).
    """
    text = collapse(value)
    if text != text.lower() and text != text.upper():
        return text
    words = text.lower().split(" ")
    out: list[str] = []
    for i, word in enumerate(words):
        bare = word.rstrip(".,")
        if i and bare in _NAME_SUFFIXES:
            out.append(_NAME_SUFFIXES[bare] + ("," if word.endswith(",") else ""))
        elif 0 < i < len(words) - 1 and (
            word in _PARTICLES or (word in _SECOND_PARTICLES and words[i - 1] in _PARTICLES)
        ):
            out.append(word)
        else:
            out.append(_cap_word(word))
    return " ".join(out)


def name_key(first: Value, last: Value) -> tuple[str, str]:
    """(first, last) for comparison: folded, letters and digits only ("De La Cruz" ==
    "delacruz", "O'Brien" == "OBrien")."""
    return (re.sub(r"[\W_]+", "", fold(first)), re.sub(r"[\W_]+", "", fold(last)))


@functools.cache
def _nicknamer() -> NickNamer:
    return NickNamer()


def first_name_variants(first: Value) -> set[str]:
    """The folded first name with its canonical forms: "Bill" -> {"bill", "william", ...}.

    Two first names may belong to the same person when their variant sets intersect
    ("Bill"/"William", "Liz"/"Elizabeth", "Liz"/"Beth"). For several words, the first word
    counts too ("William Henry" meets "Bill").
    """
    folded = fold(first)
    if not folded:
        return set()
    names = {folded, folded.split(" ")[0], re.sub(r"[\W_]+", "", folded)}
    variants = set(names)
    for n in names:
        variants |= _nicknamer().canonicals_of(n)
    return {fold(v) for v in variants}


def phonetic(value: Value) -> str:
    """Metaphone key of the folded name, for grouping likely duplicates."""
    letters = re.sub(r"[^a-z ]+", "", fold(value))
    return jellyfish.metaphone(letters).replace(" ", "") if letters.strip() else ""
