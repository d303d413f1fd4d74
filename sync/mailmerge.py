"""Mail merge: Jinja2 templates in, standard email messages (text + HTML) out.

The only module that imports jinja2. A template is three files in a templates folder:
`<name>.subject.txt`, `<name>.txt` (the plain-text body) and `<name>.html` (the HTML body).
Files whose names start with "_" are shared pieces (a layout, a signature) that templates
extend or include. Undefined fields are errors (StrictUndefined), and every value is
HTML-escaped in `.html` files. Templates run sandboxed: they can format values, not reach
into Python.

Header safety. Anyone can fill in a form, so a name or an address is hostile text, and the
email package alone does not keep it in its place: a display name that is an RFC 2047 encoded
word (`=?utf-8?b?...?=`) is decoded into the header, a long name loses its quotes when the
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
- after composing, the bytes are parsed again (`check`): every address header must hold
  exactly the intended addresses, the Subject must read as the template wrote it (modulo
  folding whitespace), no other header may appear, and no line may pass SMTP's 998
  characters (bodies are quoted-printable). A message that fails is `UnsafeMessage`, with
  a reason that names no personal data; it is neither written nor sent.
Recipients are given to SMTP from the same validated addresses, never read back from headers.
"""

from __future__ import annotations

import datetime as dt
import email.charset
import email.header
import email.parser
import email.policy
import os
import re
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from sync.errors import SyncError, TemplateError

PARTS = (("subject", ".subject.txt"), ("text", ".txt"), ("html", ".html"))
BUNDLED = Path(__file__).resolve().parents[1] / "templates"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
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


# -- filters staff can use in templates -----------------------------------------------------


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def longdate(value: Any) -> str:
    """Thursday, March 5, 2020"""
    d = _as_date(value)
    if d is None:
        return str(value or "")
    return f"{_DAYS[d.weekday()]}, {_MONTHS[d.month - 1]} {d.day}, {d.year}"


def date(value: Any) -> str:
    """March 5, 2020"""
    d = _as_date(value)
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}" if d else str(value or "")


def shortdate(value: Any) -> str:
    """March 5"""
    d = _as_date(value)
    return f"{_MONTHS[d.month - 1]} {d.day}" if d else str(value or "")


def weekday(value: Any) -> str:
    """Thursday"""
    d = _as_date(value)
    return _DAYS[d.weekday()] if d else str(value or "")


def clock(value: Any) -> str:
    """6:00 p.m."""
    if not isinstance(value, (dt.time, dt.datetime)):
        return str(value or "")
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'a.m.' if value.hour < 12 else 'p.m.'}"


def ordinal(value: Any) -> str:
    """1st, 2nd, 3rd, 4th"""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return str(value or "")
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


FILTERS = {"longdate": longdate, "date": date, "shortdate": shortdate, "weekday": weekday,
           "clock": clock, "ordinal": ordinal}


# -- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    template: str
    subject: str
    text: str
    html: str


def one_line(value: Any) -> str:
    """Text safe for a header: control characters and line breaks become single spaces."""
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())


class Templates:
    """The templates found in `folders` (the first folder holding a file wins)."""

    def __init__(self, folders: Sequence[Path]):
        self.folders = [Path(f) for f in folders if Path(f).is_dir()]
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(f) for f in self.folders]),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm"),
                                                default_for_string=False, default=False),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(FILTERS)

    def names(self) -> list[str]:
        """Every complete template (all three files present), sorted."""
        found: set[str] = set()
        for folder in self.folders:
            for path in folder.glob("*.subject.txt"):
                name = path.name.removesuffix(".subject.txt")
                if not name.startswith("_"):
                    found.add(name)
        return sorted(n for n in found if all(self._exists(n + s) for _, s in PARTS))

    def _exists(self, filename: str) -> bool:
        return any((f / filename).is_file() for f in self.folders)

    def where(self, filename: str) -> str:
        for folder in self.folders:
            if (folder / filename).is_file():
                return str(folder / filename)
        return str((self.folders[0] if self.folders else BUNDLED) / filename)

    def _load(self, filename: str) -> jinja2.Template:
        try:
            return self.env.get_template(filename)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"{self.where(filename)}: template file not found "
                                f"(known templates: {', '.join(self.names()) or 'none'})") from None
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"{err.filename or self.where(filename)}:{err.lineno}: "
                                f"{err.message}") from None

    def _files(self, name: str) -> dict[str, set[str]]:
        """{file: top-level fields it uses} for the template's three files and their pieces."""
        found: dict[str, set[str]] = {}
        pending = [name + suffix for _, suffix in reversed(PARTS)]
        while pending:
            filename = pending.pop()
            if filename in found:
                continue
            self._load(filename)  # not found / syntax errors first, with the file's name
            source = self.env.loader.get_source(self.env, filename)[0]  # type: ignore[union-attr]
            ast = self.env.parse(source, filename)
            found[filename] = set(jinja2.meta.find_undeclared_variables(ast))
            pending.extend(ref for ref in jinja2.meta.find_referenced_templates(ast) if ref)
        return found

    def fields(self, name: str) -> set[str]:
        """The top-level fields the template's files (and the pieces they use) refer to."""
        return set().union(*self._files(name).values())

    def check(self, name: str, known: Iterable[str]) -> None:
        """TemplateError naming the file, template and field if it uses a field not in `known`."""
        if not any(self._exists(name + suffix) for _, suffix in PARTS):
            folders = " or ".join(str(f) for f in self.folders) or str(BUNDLED)
            raise TemplateError(f"no template {name!r}: expected {name}.subject.txt, {name}.txt "
                                f"and {name}.html in {folders} (known templates: "
                                f"{', '.join(self.names()) or 'none'})")
        known = set(known) | set(self.env.globals)
        for filename, used in self._files(name).items():
            unknown = sorted(used - known)
            if unknown:
                more = f" (and {', '.join(unknown[1:])})" if unknown[1:] else ""
                fields = ", ".join(sorted(known - set(self.env.globals)))
                raise TemplateError(f"{self.where(filename)}: template {name!r} uses unknown "
                                    f"field {unknown[0]!r}{more}; known fields: {fields}")

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        """The template's subject, text and HTML for `context`; TemplateError names the file."""
        out: dict[str, str] = {}
        for part, suffix in PARTS:
            template = self._load(name + suffix)
            try:
                out[part] = template.render(context)
            except jinja2.UndefinedError as err:
                raise TemplateError(f"{_location(err, template)}: template {name!r} uses an "
                                    f"unknown field: {err.message}") from None
            except jinja2.TemplateError as err:
                raise TemplateError(f"{_location(err, template)}: template {name!r}: "
                                    f"{err}") from None
        subject = one_line(out["subject"])
        if not subject:
            raise TemplateError(f"{self.where(name + '.subject.txt')}: the subject is empty")
        return Rendered(name, subject, out["text"].strip() + "\n", out["html"].strip() + "\n")


def _location(err: Exception, template: jinja2.Template) -> str:
    """file:line of the template line that failed (Jinja2 maps frames to template lines)."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename and frame.filename.endswith((".txt", ".html", ".htm")):
            return f"{frame.filename}:{frame.lineno}"
    return str(template.filename or template.name)


# -- messages -------------------------------------------------------------------------------


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


def address_header(label: str, addresses: Sequence[Address]) -> str:
    """The value of an address header, folded between words at 78 characters."""
    lines = [f"{label}:"]
    for i, addr in enumerate(addresses):
        words = _words(addr)
        if i < len(addresses) - 1:
            words[-1] += ","
        for word in words:
            if len(lines[-1]) + 1 + len(word) > 78 and lines[-1] != f"{label}:":
                lines.append("")
            lines[-1] += " " + word
    return "\n".join(lines).removeprefix(f"{label}: ")


def compose(rendered: Rendered, sender: Address, to: Sequence[Address],
            cc: Sequence[Address] = (), reply_to: Address | None = None,
            when: dt.datetime | None = None) -> EmailMessage:
    """An RFC 5322 message: multipart/alternative with the text and the HTML body.

    Checked as it will be written and sent (`check`): UnsafeMessage when an answer would
    change a header or make a line too long."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = rendered.subject
    headers = {"From": [sender], "To": list(to), "Cc": list(cc),
               "Reply-To": [reply_to] if reply_to is not None else []}
    for label, addresses in headers.items():
        if addresses:
            msg.set_raw(label, address_header(label, addresses))
    msg["Date"] = format_datetime((when or dt.datetime.now().astimezone()).replace(microsecond=0))
    msg["Message-ID"] = make_msgid(domain=sender.domain or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    check(message_bytes(msg), rendered.subject, headers)
    return msg


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


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as an .eml file holds it and SMTP sends it (CRLF line ends). The same
    bytes every time: the MIME boundary is chosen on the first call and kept."""
    return msg.as_bytes(policy=POLICY)


def preview_text(msg: EmailMessage, rendered: Rendered) -> str:
    """A message for reading in a terminal: its headers, the text body, then the HTML."""
    head = [f"{h}: {msg[h]}" for h in ("Subject", "From", "To", "Cc", "Reply-To") if msg[h]]
    return "\n".join([f"== {rendered.template} ==", *head, "", rendered.text.rstrip(), "",
                      "-- HTML --", rendered.html.rstrip()])


def write_outbox(folder: Path, messages: dict[str, bytes]) -> None:
    """Make `folder` hold exactly `messages` ({file name: `message_bytes`}) as owner-only
    .eml files."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for old in folder.glob("*.eml"):
        if old.name not in messages:
            old.unlink()
    for name, data in messages.items():
        tmp = folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, folder / name)
