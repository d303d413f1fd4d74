"""Address headers that no answer can change, and the check that proves it.

Anyone can fill in a form, so a name or an address is hostile text, and the email package
alone does not keep it in its place: a display name that is an RFC 2047 encoded word
(`=?utf-8?b?...?=`) is decoded into the header, a long name loses its quotes when the
header is folded, and a long name in another script can have the comma before the next
address encoded away. Each showed a different recipient to anything that reads the header
(Reply-All, the .eml files). So:
- an address must be plain ASCII (`local@domain`) without `=?`; otherwise `UnsafeMessage`;
- a display name is one line without control characters (`one_line`), and it is dropped
  (the address alone is shown) when it holds `=?`, angle brackets, commas, semicolons,
  colons, quotes, backslashes, parentheses, brackets or `@`, or is longer than any real
  name (`safe_name`);
- address headers are written here (`address_header`): a name is plain words, one quoted
  string, or base64 encoded words, and lines are folded between words, never inside one,
  so the email package's folder never rewrites them;
- once `sync.confirmations.render.compose` has built a message, its bytes are parsed again as a mail
  program reads them (`check`): every address header must hold exactly the intended
  addresses, the Subject must read as the template wrote it (modulo folding whitespace), no
  other header may appear, and no line may pass SMTP's 998 characters (bodies are
  quoted-printable). A message that fails is `UnsafeMessage`, with a reason that names no
  personal data; it is neither written nor sent.
Recipients are given to SMTP from the same validated addresses, never read back from headers.

Plain Python over the standard email package; `sync.confirmations.render` builds messages with it.
"""

from __future__ import annotations

import email.charset
import email.header
import email.parser
import email.policy
import re
from collections.abc import Sequence
from email.headerregistry import Address
from typing import Any

from sync.errors import SyncError

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# The email package's SMTP policy (CRLF, lines folded at 78, quoted-printable bodies at 76),
# except that headers written here as text (the address headers) are never refolded.
POLICY = email.policy.SMTP.clone(refold_source="none")
MAX_LINE = 998  # RFC 5321 4.5.3.1.6, without the CRLF
MAX_NAME = 100  # characters; a longer "name" is not one, and could not be folded
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_PLAIN_PHRASE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")  # words that need no quotes
_UNSAFE_NAME = re.compile(r'=\?|[<>,;:"\\()\[\]@]')
_UTF8_BASE64 = email.charset.Charset("utf-8")
_UTF8_BASE64.header_encoding = email.charset.BASE64
ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Resent-From",
                   "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Bcc")
_OTHER_HEADERS = {"subject", "date", "message-id", "auto-submitted", "mime-version",
                  "content-type", "content-transfer-encoding"}


class UnsafeMessage(SyncError):
    """An answer would change a header of the message (or make a line too long to send).

    The message is not written or sent; the text says why without quoting the answer."""


def one_line(value: Any) -> str:
    """Text safe for a header: control characters and line breaks become single spaces."""
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())


def address_problem(addr: str) -> str | None:
    """Why `addr` cannot go into a header as it is, or None for a plain ASCII address."""
    if "=?" in addr:
        return "contains '=?', which mail programs decode as an encoded word"
    if len(addr) > 254 or not _PLAIN_ADDRESS.fullmatch(addr):
        return ("is not a plain ASCII address like name@example.org (an address with other "
                "characters cannot be written into a message safely)")
    return None


def _mailbox(name: str, addr: str) -> Address:
    problem = address_problem(addr)
    if problem:
        raise UnsafeMessage(f"the email address {problem}, so no message is sent to it")
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def safe_name(value: Any) -> str:
    """A display name that cannot be read as (part of) an address, or "" to show none."""
    name = one_line(value)
    return "" if len(name) > MAX_NAME or _UNSAFE_NAME.search(name) else name


def address(name: Any, addr: str) -> Address:
    """An answer's name and address for a header: the address must be plain (UnsafeMessage
    otherwise, naming no data), and a name that is not safe to show is dropped."""
    return _mailbox(safe_name(name), addr)


def named(name: str, addr: str) -> Address:
    """An address from the configuration (the sender): the name is kept, quoted as needed."""
    return _mailbox(one_line(name), addr)


def parse_sender(text: str) -> Address:
    """`Name <addr>` or `addr` (from the [smtp] from setting) as an Address."""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*", text)
    if match:
        return named(match.group(1).strip('"'), match.group(2))
    return named("", text.strip())


def _words(addr: Address) -> list[str]:
    """The mailbox as words that may be folded apart: the name (plain words, one quoted
    string or encoded words of at most 75 characters), then `<addr>`."""
    name, spec = addr.display_name, addr.addr_spec
    if not name:
        return [spec]
    if _PLAIN_PHRASE.fullmatch(name) and "=?" not in name:
        words = name.split(" ")
    elif name.isascii():
        words = ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    else:
        words = email.header.Header(name, _UTF8_BASE64).encode(maxlinelen=75,
                                                              linesep="\n").split("\n ")
    return [*words, f"<{spec}>"]


def _fold(label: str, words: Sequence[str]) -> str:
    """A header's value from `words`, folded between words at 78 characters; the first word
    always shares the line with the label, however long it is."""
    lines = [f"{label}:"]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > 78 and lines[-1] != f"{label}:":
            lines.append("")
        lines[-1] += " " + word
    return "\n".join(lines).removeprefix(f"{label}: ")


def address_header(label: str, addresses: Sequence[Address]) -> str:
    """The value of an address header, folded between words at 78 characters."""
    words: list[str] = []
    for i, addr in enumerate(addresses):
        words += _words(addr)
        if i < len(addresses) - 1:
            words[-1] += ","
    return _fold(label, words)


def subject_header(subject: str) -> str:
    """The Subject's value as written: ASCII words as they are, each run of other words (or
    of words too long for a line) as UTF-8 encoded words (the spaces inside a run encoded
    with it, as a reader drops the space between two encoded words), folded between words
    as `_fold` does. The email package's own folder moves a Subject that overflows the
    first line onto a line of its own ("Subject:" alone, then the text), which some mail
    programs show as empty."""
    words: list[str] = []
    run: list[str] = []
    for word in one_line(subject).split(" ") + [""]:
        if word and (not word.isascii() or len(word) > 75):  # a long one is cut in pieces
            run.append(word)
            continue
        if run:
            words += email.header.Header(" ".join(run), _UTF8_BASE64).encode(
                maxlinelen=75, linesep="\n").split("\n ")
            run = []
        if word:
            words.append(word)
    return _fold("Subject", words)


def check(raw: bytes, subject: str, addresses: dict[str, Sequence[Address]]) -> None:
    """UnsafeMessage unless `raw`, parsed as a mail program would, has exactly `addresses`
    in its address headers (none in the others), reads `subject` as its Subject, has no
    header beyond those a confirmation has, and no line longer than SMTP allows."""
    longest = max(len(line) for line in raw.split(b"\r\n"))
    if longest > MAX_LINE:
        raise UnsafeMessage(f"a line of the message would be {longest} characters long; SMTP "
                            f"allows {MAX_LINE}")
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw,
                                                                              headersonly=True)
    known = {h.lower() for h in addresses} | _OTHER_HEADERS
    for label in parsed.keys():
        if label.lower() not in known:
            raise UnsafeMessage(f"the message would carry an unexpected {label} header "
                                "(an answer reads as a header)")
    for label in ADDRESS_HEADERS:
        want = addresses.get(label, [])
        found = parsed.get_all(label) or []
        got = [a for header in found for a in getattr(header, "addresses", ())]
        if (len(found) > 1 or [a.addr_spec for a in got] != [a.addr_spec for a in want]
                or [_squash(a.display_name) for a in got]
                != [_squash(a.display_name) for a in want]):
            raise UnsafeMessage(f"the {label} header would not hold exactly the intended "
                                "address(es) (an answer in a name or an email address reads "
                                "as part of the header)")
    if len(parsed.get_all("Subject") or []) != 1 or _squash(parsed["Subject"]) != _squash(subject):
        raise UnsafeMessage("the Subject would not read as the template wrote it (an answer "
                            "holds text mail programs decode, such as '=?')")


def _squash(text: Any) -> str:
    """Text without its whitespace: folding may add or drop spaces between encoded words."""
    return "".join(str(text).split())
