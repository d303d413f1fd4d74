"""Properties of the normalisers on arbitrary input: safe text, and only ValueError."""

from __future__ import annotations

import re
import unicodedata
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from sync.ingest import normalize as n

LA = ZoneInfo("America/Los_Angeles")
BROKEN_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")

# Any code point, surrogates included, plus the characters forms and exports tend to carry.
characters = st.one_of(
    st.characters(),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from("\x00\x07\x0b\x1f\x7f\r\n\t\u200b\u202e\u2066\ufeff\ufffe\uffff"),
)
any_text = st.text(characters, max_size=60)
# Text that looks like dates, times and phone numbers, so parsers get past their first check.
datey = st.text(st.sampled_from("0123456789/-.:, +TZamp APMGUTCESTPDgmt Mar March Thursday"))
values = st.one_of(
    any_text, datey, st.none(), st.integers(), st.floats(), st.datetimes(), st.dates()
)


@given(values)
def test_clean_text_output_is_safe_for_workbooks(value):
    text = n.clean_text(value)
    assert not ILLEGAL_CHARACTERS_RE.search(text)
    assert not BROKEN_XML.search(text)
    assert "\r" not in text
    assert text == text.strip()
    assert n.clean_text(text) == text


@given(values)
def test_parsers_raise_only_value_error(value):
    for parse in (
        n.parse_date,
        lambda v: n.parse_datetime(v, source_tz=None, target_tz=LA),
        n.phone,
        n.email,
        n.zip_code,
        n.parse_bool,
        n.parse_int,
    ):
        try:
            parse(value)
        except ValueError:
            pass


@given(any_text, st.lists(any_text, max_size=4))
def test_text_helpers_never_fail(text, options):
    n.name(text)
    n.address_key(text, text)
    n.phonetic(text)
    n.first_name_variants(text)
    n.email_key(text)
    items = n.split_choices(text, options)
    assert len(items) == len(set(items))
    assert all(item for item in items)


def assert_shortcut_agrees(parse, shortcut: str, text: str) -> None:
    """`parse(text)` gives the same answer, or the same refusal, with its fast-path pattern
    (the module attribute `shortcut`) disabled, so only the full parse runs."""

    def outcome():
        try:
            return parse(text)
        except ValueError:
            return "refused"

    fast = outcome()
    saved = getattr(n, shortcut)
    setattr(n, shortcut, re.compile("(?!)"))  # never matches: the full parse only
    try:
        assert outcome() == fast
    finally:
        setattr(n, shortcut, saved)


SHAPES = ["({a}) {b}-{c}", "{a}.{b}.{c}", "{a}-{b}-{c}", "{a}{b}{c}", "+1 {a} {b} {c}",
          "1-{a}-{b}-{c}", "+1{a}{b}{c}", "1 ({a}) {b}-{c}", "{a} {b} {c}", "({a}){b}-{c}"]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SHAPES), st.integers(0, 999), st.integers(0, 999), st.integers(0, 9999))
def test_phone_shortcut_agrees_with_the_full_parse(shape, a, b, c):
    """Guards the fast path for common US shapes: same answer (or the same refusal) as
    phonenumbers' full parse."""
    text = shape.format(a=f"{a:03d}", b=f"{b:03d}", c=f"{c:04d}")
    assert_shortcut_agrees(n.phone, "_PLAIN_NANP", text)


LOCAL = st.from_regex(r"[A-Za-z0-9._%+'-]{1,70}", fullmatch=True)
DOMAIN = st.from_regex(r"([A-Za-z0-9-]{1,70}\.){1,3}[A-Za-z0-9]{1,8}", fullmatch=True) | st.sampled_from(
    ["example.com", "Example.ORG", "x.test", "a.local", "mail.example.arpa", "localhost", "123.com"])


@settings(max_examples=1500, deadline=None)
@given(LOCAL, DOMAIN)
@example("0", "00--0.AA")  # found by this test: IDNA refuses "ab--" labels that are not Punycode
@example("a", "xn--abc.com")
@example("WWW", "example.com")  # found by this test: role mailboxes are lowercased
def test_email_shortcut_agrees_with_the_full_check(local, domain):
    """Guards the fast path for plain addresses: same answer (or the same refusal) as
    email-validator's full check."""
    assert_shortcut_agrees(n.email, "_PLAIN_EMAIL", f"{local}@{domain}")


@settings(max_examples=1000, deadline=None)
@given(st.one_of(any_text, st.text(st.characters(max_codepoint=127), max_size=40)))
@example("Ångström  O'Brien")
@example("ÉMILE\tDE LA CRUZ")
def test_fold_shortcut_for_ascii_agrees_with_the_full_fold(text):
    collapsed = n.collapse(text)
    decomposed = unicodedata.normalize("NFKD", collapsed)
    full = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    assert n.fold(text) == full
