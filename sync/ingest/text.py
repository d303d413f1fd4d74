"""Answer text made safe and comparable: `clean_text` (what a workbook may hold), `collapse`
(whitespace collapsed) and `fold` (for comparison only). Re-exported by `sync.ingest.normalize`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sync.sources import Value

# Control characters other than tab and newlines, zero-width and byte-order marks, bidi
# controls, the non-characters U+FFFE/U+FFFF and surrogates (never valid on their own).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069"
    "\ufeff\ufffe\uffff\ud800-\udfff]"
)
_NEWLINES = re.compile("\r\n|[\r\u2028\u2029]")


def clean_text(value: Value) -> str:
    """Any value as trimmed NFC text without characters that break workbooks or hide text.

    None is "", integral floats lose their ".0" (3105550143.0 -> "3105550143"), dates are
    ISO ("2020-03-05", "2020-03-05 18:04:11"), line breaks become "\\n".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else format(value, ".15g")
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    text = _NEWLINES.sub("\n", _INVISIBLE.sub("", text))
    return unicodedata.normalize("NFC", text).strip()


def collapse(value: Value) -> str:
    return " ".join(clean_text(value).split())


def fold(value: Value) -> str:
    """Text for comparison only: lowercase, accents removed, whitespace collapsed."""
    text = collapse(value)
    if text.isascii():  # nothing to decompose (most names and addresses)
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
