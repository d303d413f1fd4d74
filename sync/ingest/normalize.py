"""Answers as forms give them, turned into clean values, and keys for comparing people.

Plain functions over plain values, no I/O. A parser returns the normalised value or raises
`ValueError` with a short reason staff can act on; reasons never repeat a long answer
(they may show a short one, such as a date). Text-valued parsers return "" for an empty
answer; `parse_bool` returns None; `parse_date`, `parse_datetime` and `parse_int` raise.
Dates and times live in `sync.ingest.dates`, text folding in `sync.ingest.text` and names in
`sync.ingest.names`; all are re-exported here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from sync.ingest.dates import parse_date, parse_datetime
from sync.ingest.names import first_name_variants, name, name_key, phonetic
from sync.ingest.text import clean_text, collapse, fold
from sync.sources import Value

__all__ = [
    "address_key", "clean_text", "email", "email_key", "first_name_variants", "fold", "name",
    "name_key", "parse_bool", "parse_date", "parse_datetime", "parse_int", "phone", "phonetic",
    "split_choices", "street_key", "zip_code", "zip_key",
]  # fmt: skip

# --- contact details -----------------------------------------------------------------------


# The common shape of an address (plain ASCII local part and host names): what
# email-validator accepts and returns unchanged, found without its (slow) full check.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_EMAIL = re.compile(
    rf"({_ATEXT}(?:\.{_ATEXT})*)@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+([A-Za-z]{{2,63}}))")
_SPECIAL_USE = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)
# RFC 2142 role mailboxes, which email-validator lowercases ("WWW@" -> "www@"): the full check
_ROLE_MAILBOXES = frozenset({"info", "marketing", "sales", "support", "abuse", "noc", "security",
                             "postmaster", "hostmaster", "usenet", "news", "webmaster", "www",
                             "uucp", "ftp"})


def email(value: Value) -> str:
    """A syntactically valid address (no DNS lookup), domain lowercased; "" when empty."""
    text = collapse(value)
    if not text:
        return ""
    text = text.removeprefix("mailto:").strip("<> ")
    plain = _PLAIN_EMAIL.fullmatch(text)
    if (plain and len(plain.group(1)) <= 64 and len(text) <= 254 and len(plain.group(2)) <= 253
            and plain.group(3).lower() not in _SPECIAL_USE
            and "--" not in plain.group(2)  # IDNA rules for "ab--" labels: the full check
            and plain.group(1).lower() not in _ROLE_MAILBOXES):
        return f"{plain.group(1)}@{plain.group(2).lower()}"
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None
    local, _, domain = info.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_key(value: Value) -> str:
    """The address lowercased, for comparison; invalid text is folded instead of raising."""
    try:
        return email(value).lower()
    except ValueError:
        return fold(value)


_NANP = re.compile(r"[2-9]\d\d[2-9]\d{6}")
# The common shapes of a complete North American number ("(310) 555-0143", "310.555.0143",
# "+1 310 555 0143"): what phonenumbers would accept and format as "+1" + the ten digits,
# found without its (slow) full parse.
_PLAIN_NANP = re.compile(r"(?:\+?1[ .-]?)?\(?([2-9]\d\d)\)?[ .-]?([2-9]\d\d)[ .-]?(\d{4})")


def phone(value: Value, region: str = "US") -> str:
    """E.164 text ("+13105550143"); an extension is kept as "+13105550143;ext=12".

    Accepts "(310) 555-0143", "310.555.0143", the int 3105550143 (Sheets turns typed digits
    into numbers), "+1 310 555 0143". A number is accepted when phonenumbers calls it valid,
    or when it has a complete length and (in North America) a well-formed area code and
    exchange: invented test numbers pass and 7-digit local numbers fail. "" when empty.
    """
    if isinstance(value, bool):
        raise ValueError("not a valid phone number")
    text = collapse(value)
    if not text:
        return ""
    if region == "US" and (plain := _PLAIN_NANP.fullmatch(text)):
        return "+1" + "".join(plain.groups())
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a valid phone number") from None
    national = phonenumbers.national_significant_number(number)
    complete = (
        phonenumbers.is_possible_number_with_reason(number)
        == phonenumbers.ValidationResult.IS_POSSIBLE
    )
    if not phonenumbers.is_valid_number(number) and not (
        complete and (number.country_code != 1 or _NANP.fullmatch(national))
    ):
        raise ValueError("not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


_STORED_NANP = re.compile(r"\+1(\d{3})(\d{3})(\d{4})(?:;ext=(.+))?")


def phone_display(text: str) -> str:
    """A North American number as `phone` stores it, as people write it: "+13105550101" ->
    "(310) 555-0101", "+13105550101;ext=12" -> "(310) 555-0101 ext. 12"; anything else as
    given."""
    found = _STORED_NANP.fullmatch(text)
    if not found:
        return text
    area, exchange, line, ext = found.groups()
    return f"({area}) {exchange}-{line}" + (f" ext. {ext}" if ext else "")


def zip_code(value: Value) -> str:
    """A five-digit ZIP: "90501-1234" -> "90501"; numbers get their leading zeros back
    (2134 -> "02134", 21341234 -> "02134"). "" when empty."""
    if isinstance(value, bool):
        raise ValueError("not a valid ZIP code")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if 0 < value < 100_000:
            return f"{value:05d}"
        if 10_000_000 <= value < 1_000_000_000:
            return f"{value:09d}"[:5]
        raise ValueError("not a valid ZIP code")
    text = collapse(value)
    if not text:
        return ""
    m = re.fullmatch(r"(\d{5})(?:\s*-?\s*\d{4})?", text)
    if not m or m.group(1) == "00000":
        raise ValueError("not a valid ZIP code")
    return m.group(1)


# --- other answers -------------------------------------------------------------------------

_TRUE = {"yes", "y", "true", "t", "1", "x", "checked", "on", "agree", "agreed", "accept",
         "accepted", "consent", "ok", "okay"}  # fmt: skip
_FALSE = {"no", "n", "false", "f", "0", "unchecked", "off", "disagree", "decline", "declined"}
_I_AGREE = re.compile(
    r"i (?:hereby )?(?:agree|consent|accept|acknowledge|authori[sz]e|grant|understand and agree"
    r"|give (?:my )?(?:permission|consent))\b"
)
_I_REFUSE = re.compile(r"i (?:do not|don't|dont|will not|won't|decline|disagree|refuse)\b")


def parse_bool(value: Value) -> bool | None:
    """Yes/no, true/false, x/checked, 1/0 and consent sentences ("I agree", "I consent",
    "I give permission for ...", "Yes, ..."; "I do not consent", "No, ..."). None when
    empty."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = fold(value).replace("’", "'").rstrip(".!")
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE or _I_REFUSE.match(text) or re.match(r"no\b", text):
        return False
    if _I_AGREE.match(text) or re.match(r"yes\b", text):
        return True
    raise ValueError("not a yes/no answer")


_GRADE_WORDS = {"freshman": 9, "sophomore": 10, "junior": 11, "senior": 12}
_NUMBER_FILLER = {"grade", "gr", "st", "nd", "rd", "th"}


def parse_int(value: Value) -> int:
    """A whole number: 11, 11.0, "11", "11th", "Grade 11", "1,200"; grade words ("Junior"
    -> 11, "Senior" -> 12) count when they agree with any number given."""
    if isinstance(value, bool):
        raise ValueError("not a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    if isinstance(value, int):
        return value
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", fold(value))
    if not text:
        raise ValueError("no number given")
    found: set[int] = set()
    for token in re.findall(r"[+-]?\d+(?:\.\d+)?|[a-z]+", text):
        if token in _GRADE_WORDS:
            found.add(_GRADE_WORDS[token])
        elif token[-1].isdigit():
            number = float(token)
            if not number.is_integer() or not math.isfinite(number):
                raise ValueError("not a whole number")
            found.add(int(token.split(".")[0]))
        elif token not in _NUMBER_FILLER:
            raise ValueError("not a whole number")
    if len(found) != 1:
        raise ValueError("not a whole number")
    return found.pop()


def _same_case(text: str) -> str:
    """Lowercase with the length kept, so positions match the original text."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def split_choices(value: Value | Sequence[Value], options: Iterable[str]) -> list[str]:
    """A checkbox answer as the list of chosen items, in answer order, without repeats.

    Forms joins the chosen options with ", ", and options may contain commas themselves, so
    known options (case-insensitive, longest first) are matched where each item starts; text
    between them is one free-text ("Other") item. Matched items are returned spelled as in
    `options`. A list value (already split) is only matched against the options.
    """
    opts = sorted({o for o in map(collapse, options) if o}, key=len, reverse=True)
    keyed = [(_same_case(o), o) for o in opts]
    if isinstance(value, list | tuple):
        by_key = dict(keyed)
        items = [by_key.get(_same_case(t), t) for t in map(collapse, value) if t]
        return list(dict.fromkeys(items))
    text = collapse(value)
    low = _same_case(text)

    def option_at(start: int) -> tuple[str, int] | None:
        for key, option in keyed:
            end = start + len(key)
            if low.startswith(key, start) and (end == len(low) or low[end] == ","):
                return option, end
        return None

    items: list[str] = []
    pos = 0
    while pos < len(text):
        if hit := option_at(pos):
            items.append(hit[0])
            pos = hit[1]
        else:  # free text up to the next comma that is followed by a known option
            end = text.find(",", pos)
            while end != -1 and not option_at(len(text) - len(text[end + 1 :].lstrip())):
                end = text.find(",", end + 1)
            end = len(text) if end == -1 else end
            if other := text[pos:end].strip(" ,"):
                items.append(other)
            pos = end
        while pos < len(text) and text[pos] in ", ":
            pos += 1
    return list(dict.fromkeys(items))


# --- addresses -----------------------------------------------------------------------------

_STREET_SUFFIXES = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "boulevard": "blvd",
    "boul": "blvd", "drive": "dr", "drv": "dr", "road": "rd", "lane": "ln", "court": "ct",
    "place": "pl", "wy": "way", "circle": "cir", "parkway": "pkwy", "pky": "pkwy",
    "highway": "hwy", "terrace": "ter", "trail": "trl", "plaza": "plz", "square": "sq",
}  # fmt: skip
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne",
               "northwest": "nw", "southeast": "se", "southwest": "sw"}  # fmt: skip
_UNIT_WORDS = {"apartment", "apt", "unit", "suite", "ste", "#", "space", "spc", "room", "rm"}


def address_key(street: Value, zip: Value = "") -> str:
    """A street address for comparison only (never shown): lowercase, no punctuation, USPS
    suffixes and directionals ("Drive" -> "dr", "West" -> "w"), unit designators unified
    ("Apt. 4", "#4", "Suite 4" -> "unit 4"), the five-digit ZIP appended when given."""
    return " ".join(part for part in (street_key(street), zip_key(zip)) if part)


def street_key(street: Value) -> str:
    """The street part of `address_key`."""
    text = fold(street).replace("'", "").replace("’", "")
    tokens = re.findall(r"[a-z0-9]+|#", text)
    out: list[str] = []
    units: list[str] = []  # placed last, so "Apt 4, 123 Main St" meets "123 Main St #4"
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token not in _UNIT_WORDS:
            out.append(_STREET_SUFFIXES.get(token) or _DIRECTIONS.get(token) or token)
            continue
        while i < len(tokens) and tokens[i] in _UNIT_WORDS:
            i += 1
        if i < len(tokens):
            unit = tokens[i]
            i += 1
            if i == len(tokens) - 1 and len(tokens[i]) == 1:  # "Apt 4 B", "Apt 4-B"
                unit += tokens[i]
                i += 1
            units += ["unit", unit]
    return " ".join(out + units)


def zip_key(zip: Value) -> str:
    """The ZIP part of `address_key`: the five-digit ZIP, or what is typed, letters and
    digits only, when it is none."""
    try:
        return zip_code(zip)
    except ValueError:
        return re.sub(r"[\W_]+", "", fold(zip))
