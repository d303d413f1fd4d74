"""Mail merge: Jinja2 templates in, standard email messages (text + HTML) out.

The only module that imports jinja2. A template is three files in a templates folder:
`<name>.subject.txt`, `<name>.txt` (the plain-text body) and `<name>.html` (the HTML body).
Files whose names start with "_" are shared pieces (a layout, a signature) that templates
extend or include. Undefined fields are errors (StrictUndefined), and every value is
HTML-escaped in `.html` files. Templates run sandboxed: they can format values, not reach
into Python.

Template files are UTF-8 (`Utf8Loader`). Notepad's "UTF-8 with BOM" is read without the
mark, which would otherwise start the Subject. A file saved as "ANSI" (Windows-1252) is a
TemplateError naming the file, the line and how to save it as UTF-8; it is not read as
Windows-1252. Guessing is right for exports, which hold thousands of answers to count bytes
in (`sync.sources.exports`), but a template is a few lines whose wrong guess would go out in
every message, to people who cannot be asked to ignore it; the error is caught before any
message is written, and the fix takes a minute.

Messages: `compose` builds each message with its address headers written and checked by
`sync.confirmations.headers`, so that no answer can add a recipient or a header, and bodies encoded as
quoted-printable, so that no answer can make a line too long for SMTP. `message_bytes` is
what the outbox holds and SMTP sends.
"""

from __future__ import annotations

import datetime as dt
import os
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

from sync.confirmations import headers
from sync.confirmations.headers import one_line
from sync.errors import TemplateError
from sync.state import files

PARTS = (("subject", ".subject.txt"), ("text", ".txt"), ("html", ".html"))
BUNDLED = Path(__file__).resolve().parents[2] / "templates"
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


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

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class Utf8Loader(jinja2.FileSystemLoader):
    """Template files from `folders` (the first holding a file wins), read as UTF-8 with any
    byte-order mark dropped; TemplateError naming the file for one in another encoding."""

    def __init__(self, folders: Sequence[Path]):
        super().__init__([str(f) for f in folders], encoding="utf-8-sig")

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str | None, Any]:
        try:
            return super().get_source(environment, template)
        except UnicodeDecodeError:
            for folder in self.searchpath:
                path = Path(folder, *template.split("/"))
                if path.is_file():
                    raise TemplateError(not_utf8(path)) from None
            raise


def not_utf8(path: Path) -> str:
    """Where the template file at `path` stops being UTF-8, and how to fix it."""
    raw = path.read_bytes()
    fix = "open it in Notepad, choose File > Save As, set Encoding to UTF-8 and save"
    if raw.startswith(_UTF16_BOMS):
        return f'{path}: saved as "Unicode" (UTF-16), not UTF-8; {fix}'
    skip = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        raw[skip:].decode("utf-8")
        return f"{path}: not UTF-8 text; {fix}"  # changed since it was read
    except UnicodeDecodeError as err:
        at = skip + err.start
    line = raw.count(b"\n", 0, at) + 1
    column = at - raw.rfind(b"\n", 0, at)
    shown = raw[at:at + 1].decode("cp1252", "replace")
    return (f"{path}:{line}: not saved as UTF-8: column {column} holds the byte 0x{raw[at]:02X} "
            f'("{shown}" in Windows "ANSI" text); {fix}')



@dataclass(frozen=True)
class Rendered:
    template: str
    subject: str
    text: str
    html: str


class Templates:
    """The templates found in `folders` (the first folder holding a file wins)."""

    def __init__(self, folders: Sequence[Path]):
        self.folders = [Path(f) for f in folders if Path(f).is_dir()]
        self.env = SandboxedEnvironment(
            loader=Utf8Loader(self.folders),
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


def compose(rendered: Rendered, sender: Address, to: Sequence[Address],
            cc: Sequence[Address] = (), reply_to: Address | None = None,
            when: dt.datetime | None = None) -> EmailMessage:
    """An RFC 5322 message: multipart/alternative with the text and the HTML body.

    Checked as it will be written and sent (`headers.check`): UnsafeMessage when an answer
    would change a header or make a line too long."""
    msg = EmailMessage(policy=headers.POLICY)
    msg.set_raw("Subject", headers.subject_header(rendered.subject))
    addresses = {"From": [sender], "To": list(to), "Cc": list(cc),
                 "Reply-To": [reply_to] if reply_to is not None else []}
    for label, mailboxes in addresses.items():
        if mailboxes:
            msg.set_raw(label, headers.address_header(label, mailboxes))
    msg["Date"] = format_datetime((when or dt.datetime.now().astimezone()).replace(microsecond=0))
    msg["Message-ID"] = make_msgid(domain=sender.domain or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    try:
        raw = message_bytes(msg)
    except UnicodeError:
        # the email package decodes encoded words in the Subject it is given, and one of a
        # byte that is not text, beside a character that is not ASCII, cannot be written back
        raise headers.UnsafeMessage("the Subject would not read as the template wrote it (an "
                                    "answer holds text mail programs decode, such as '=?')"
                                    ) from None
    headers.check(raw, rendered.subject, addresses)
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as an .eml file holds it and SMTP sends it (CRLF line ends). The same
    bytes every time: the MIME boundary is chosen on the first call and kept."""
    return msg.as_bytes(policy=headers.POLICY)


def preview_text(msg: EmailMessage, rendered: Rendered) -> str:
    """A message for reading in a terminal: its headers, the text body, then the HTML."""
    head = [f"{h}: {msg[h]}" for h in ("Subject", "From", "To", "Cc", "Reply-To") if msg[h]]
    return "\n".join([f"== {rendered.template} ==", *head, "", rendered.text.rstrip(), "",
                      "-- HTML --", rendered.html.rstrip()])


def write_outbox(folder: Path, messages: dict[str, bytes], scratch: Path | None = None) -> list[Path]:
    """Make `folder` hold exactly `messages` ({file name: `message_bytes`}) as owner-only
    .eml files, each written in `scratch` (the run's private folder) and then moved in.

    Returns the files another program holds open (a viewer), which could not be replaced or
    removed; every other file is done. Messages are sent from memory, so these stop nothing."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    held = []
    for old in folder.glob("*.eml"):
        if old.name not in messages:
            try:
                files.delete(old)
            except PermissionError:
                held.append(old)
    for name, data in messages.items():
        tmp = (scratch or folder) / f".{name}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | files.O_BINARY, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        try:
            files.replace(tmp, folder / name)
        except PermissionError:
            held.append(folder / name)
            files.discard(tmp)
    return held
