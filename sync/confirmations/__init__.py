"""Confirmations: which messages are due, the outbox, and the ledger that sends each once.

A record is due a confirmation when its Status (or, for an application the staff have not
decided on, its eligibility) maps to a template in `[programs.<key>.templates]` (defaults
below) and the ledger has not recorded that template as sent to that address. Plain Python:
rendering is `sync.confirmations.render`, sending is `sync.confirmations.delivery`.

Never twice. The ledger (the state file's `ledger` table) has one row per record, template
and recipient address, in one of four states. When the SMTP transmission of a message
starts (after the rate limit's pause, never before it) its rows are committed as 'sending';
when the server accepts it they become 'sent'. So:
- a rerun never sends a 'sent' message again, and a changed Status (Waitlisted, then
  Accepted) sends the new template once;
- 'failed': the server did not take it, for a reason that may pass (a 4xx reply, every
  recipient refused, or staff asked to send it again): it goes out on the next run. A
  temporary failure (4xx, a dropped connection) also stops the run, as the next message
  would most likely fail the same way;
- 'refused': the server refused the message itself for good (a 5xx reply to it, such as a
  content filter's). Its reply is kept in the ledger and shown in the master's
  "Confirmation sent" column; the run goes on with the other messages and ends with exit
  code 1 naming the record. It is not sent again on its own, since it would be refused
  again. Staff fix what the reply names (often an answer: correct it in the master) and run
  `tpd-programs confirmations --retry RECORD_ID`; the next `--send` sends it once more.
  The same reply to `SAME_REPLY_LIMIT` messages in a row is about the server (a sending
  quota), not the messages: those go back to 'failed' and the run stops;
- 'sending' left behind means the run stopped (crash, power cut, dropped connection) while
  the message was in flight: it may have been delivered. It is never resent silently; every
  run lists it until staff check the mailbox's Sent folder and run
  `tpd-programs confirmations --mark-sent RECORD_ID` (it did go) or `--retry RECORD_ID`
  (it did not: send it on the next `--send`).

A message an answer would make unsafe (another address in a header, a Subject that does not
read as written, a line too long for SMTP; see `sync.confirmations.headers`) is neither written nor
sent, and has no ledger row: it is listed with its reason on every run until staff correct
the answer in the master.

Only the message's own rows are consulted: for a TAP enrollment (student and guardian, the
counselor copied) a fixed guardian address later gets its own message, once.

Restoring an older backup of the state (`tpd-programs restore-state`, `sync.master.restore`) puts
back an older ledger, and must not make the messages sent since then go again:
- the ledger rows of the file it replaces that say a message went, may have gone or was
  refused are carried into the restored state whenever that file can be read at all (a
  damaged file often still can); the restore says how many;
- the first sync after it reads the master's "Confirmation sent" column: a message shown
  there as sent ("pip-accepted 2020-03-05 10:00") that the ledger has neither as sent nor as
  possibly sent is recorded as 'sent' at that time, and one shown as "possibly sent" as
  'sending', to the record's addresses as they are now (`take_evidence`), and logged by
  record ID. The column is the tool's own text, written from a 'sent' row only, so it is
  taken at its word: asking staff to check every message sent since the backup in the
  Sent folder would only teach them to answer without looking. A record made since the
  backup gets its own Record ID back in that sync (`sync.master.records`), so its rows stay its own;
- until that sync, `--send` refuses to run (without `--send`, a warning says so).
The outbox is no evidence: a sent message's file is removed from it, and a file left there
was written, not necessarily sent. A message sent after the master was last synced, over a
replaced file that cannot be read, left nothing behind here: the restore says so, and names
the mailbox's Sent folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import ssl
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sync.classes import attendance, rosters
from sync.classes import sessions as classes
from sync.config import Config, ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.confirmations import delivery, headers
from sync.confirmations import render as mailmerge
from sync.errors import ConfigError, DeliveryError, SyncError, TemplateError
from sync.ingest import normalize
from sync.master import layout, restore
from sync.master.hooks import Feature
from sync.state import clock, files, scratch
from sync.state.lock import run_lock
from sync.state.store import MASTER, STATE, Store

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES = {
    "pip": {"Accepted": "pip-accepted", "Waitlisted": "pip-waitlisted",
            "Ineligible": "pip-ineligible"},
    "tap": {"Enrolled": "tap-enrolled"},
    "vsc": {"New": "vsc-received", "Active": "vsc-received", "Ineligible": "vsc-declined"},
}
CLOSED = ("Declined", "Withdrawn", "Cancelled")  # a "Received" template is not sent to these
OUTBOX = "outbox"
# The same refusal for this many messages in a row is about the server (a sending quota, a
# suspended account), not about the messages: the run stops as for a temporary failure.
SAME_REPLY_LIMIT = 3
SENT_COLUMN = "Confirmation sent"
CONTEXT_KEYS = ("record_id", "status", "program", "full_name", "class", "waitlist_position",
                "department", "eligibility_reason")
RECIPIENTS = {  # program -> [(role, name fields, address field)]
    "pip": [("to", ("first_name", "last_name"), "email")],
    "vsc": [("to", ("first_name", "last_name"), "email")],
    "tap": [("to", ("student_first_name", "student_last_name"), "student_email"),
            ("to", ("guardian_name",), "guardian_email"),
            ("cc", ("counselor_name",), "counselor_email")],
}
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
Contact = tuple[str, str]  # (display name, address)


@dataclass
class Due:
    """One message to render and send."""

    record_id: str
    template: str
    to: list[Contact]
    cc: list[Contact]
    context: dict[str, Any]

    @property
    def recipients(self) -> list[str]:
        return [a for _, a in self.to + self.cc]

    @property
    def file(self) -> str:
        return f"{self.record_id}-{self.template}.eml"


@dataclass
class Summary:
    """What a run found and did. `counts` and `record_ids` are safe for logs."""

    counts: Counter[str] = field(default_factory=Counter)
    by_template: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (record ID, what is wrong)
    unconfirmed: list[tuple[str, str, str]] = field(default_factory=list)  # (ID, template, when)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (ID, template, reply)
    held: list[tuple[str, str, str]] = field(default_factory=list)  # refused on an earlier run
    outbox: Path | None = None
    sent_via: str = ""
    preview: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def record_ids(self) -> list[str]:
        """Records that need a look from staff."""
        return sorted({rid for rid, _ in self.problems} | {u[0] for u in self.unconfirmed}
                      | {r[0] for r in self.refused + self.held})

    def refusal(self) -> str | None:
        """The error for a run in which the server refused messages for good (record IDs
        only), or None."""
        if not self.refused:
            return None
        ids = ", ".join(f"{rid} {tpl}" for rid, tpl, _ in self.refused)
        return (f"{len(self.refused)} confirmation(s) refused by the mail server for good: "
                f"{ids}; the others were sent. Fix what each reply names (`tpd-programs "
                f'confirmations` lists them; after the next sync, so does the master\'s '
                f'"{SENT_COLUMN}" column), then run `tpd-programs confirmations --retry '
                "RECORD_ID` so that the next --send sends it again")

    def render(self) -> str:
        c = self.counts
        lines = list(self.warnings) + ([self.preview] if self.preview else [])
        kinds = ", ".join(f"{n} {name}" for name, n in sorted(self.by_template.items()))
        lines.append(f"{c['due']} confirmations due" + (f" ({kinds})" if kinds else "")
                     + f"; {c['already_sent']} already sent; {c['skipped']} skipped; "
                     f"{c['past']} not due as the class ended or the resident is back.")
        if self.outbox is not None:
            lines.append(f"Outbox: {self.outbox} ({c['written']} messages)")
        if self.sent_via:
            lines.append(f"Sent {c['sent']} via {self.sent_via}"
                         + (f"; {c['undelivered']} refused for every recipient (they go out on "
                            "the next run)" if c["undelivered"] else "")
                         + (f"; {c['refused']} refused by the server for good (below)"
                            if c["refused"] else "") + ".")
        elif not self.preview:
            lines.append("Nothing was sent: run with --send to deliver them.")
        lines.extend(f"  {rid}: {problem}" for rid, problem in self.problems)
        if self.refused or self.held:
            lines.append("Refused by the mail server (not sent, and not tried again on their "
                         "own). Fix what the reply names, often an answer (correct it in the "
                         "master), then run `tpd-programs confirmations --retry RECORD_ID`:")
            lines.extend(f"  {rid} {tpl}: {reply}" for rid, tpl, reply in self.refused)
            lines.extend(f"  {rid} {tpl}: {reply} (an earlier run)"
                         for rid, tpl, reply in self.held)
        if self.unconfirmed:
            lines.append("Possibly sent (a run stopped while sending them; never resent on "
                         "their own). Look in the mailbox's Sent folder, then run `tpd-programs "
                         "confirmations --mark-sent RECORD_ID` if it went, or `--retry "
                         "RECORD_ID` to send it again:")
            lines.extend(f"  {rid} {tpl} (started {when})" for rid, tpl, when in self.unconfirmed)
        return "\n".join(lines)


def template_map(program: ProgramConfig) -> dict[str, str]:
    """Status -> template name: the config's table, or the defaults when it has none."""
    return dict(program.templates) if program.templates else dict(DEFAULT_TEMPLATES[program.key])


def templates_for(status: str, ineligible: bool, mapping: dict[str, str]) -> list[str]:
    """The templates a record with `status` should have had: an undecided ("New") ineligible
    record gets the Ineligible template; "Received" goes to every eligible open record."""
    names = []
    if ineligible and status == "New" and "Ineligible" in mapping:
        names.append(mapping["Ineligible"])
    elif status in mapping:
        names.append(mapping[status])
    if "Received" in mapping and not ineligible and status not in CLOSED:
        names.append(mapping["Received"])
    return list(dict.fromkeys(names))


def known_fields(key: str) -> set[str]:
    """What a template of program `key` may use (vacation checks have no class)."""
    known = set(PROGRAMS[key].field_names) | set(CONTEXT_KEYS)
    return known if key in rosters.CLASS_KEYS else known - {"class", "waitlist_position"}


def template_folders(config: Config) -> list[Path]:
    """A `templates` folder beside the config file (staff's own) first, then the bundled one."""
    return [config.path.parent / "templates", mailmerge.BUNDLED]


def check_templates(config: Config, key: str, templates: mailmerge.Templates) -> None:
    """Every template the program's Status table names exists and uses known fields only."""
    program = config.program(key)
    for status, name in template_map(program).items():
        where = f"{config.path}: programs.{key}.templates.{status}"
        if not program.templates:
            where += f" (a default: {name!r})"
        if not _TEMPLATE_NAME.fullmatch(name):
            raise TemplateError(f"{where}: {name!r} is not a template name (letters, digits, -)")
        try:
            templates.check(name, known_fields(key))
        except TemplateError as err:
            raise TemplateError(f"{err}; used by {where}") from None


# -- what is due ------------------------------------------------------------------------------


def _class_context(session: Session | None, config: Config) -> dict[str, Any] | None:
    if session is None:
        return None
    dates = classes.session_dates(session) or [session.start]
    return {"id": session.id, "name": session.name, "dates": dates, "first_date": dates[0],
            "last_date": dates[-1], "sessions": len(dates), "weekday": mailmerge.weekday(dates[0]),
            "start_time": session.start_time, "end_time": session.end_time,
            "graduation_minimum": session.graduation_minimum,
            "location": session.location or config.department.station}


def _values(key: str, data: dict[str, Any], staff: dict[str, Any]) -> dict[str, Any]:
    """The record's answers, with any correction staff typed over a cell in the master."""
    out = {}
    for f in PROGRAMS[key].fields:
        value = staff[f.label] if f.label in staff else data["values"].get(f.name)
        out[f.name] = "" if value is None else value
    return out


def _name(values: dict[str, Any], names: tuple[str, ...]) -> str:
    return " ".join(str(values[n]).strip() for n in names if values.get(n)).strip()


def _addresses(key: str, values: dict[str, Any]) -> tuple[list[Contact], list[Contact], list[str]]:
    """To and Cc as validated addresses, and what was missing or invalid."""
    to: list[Contact] = []
    cc: list[Contact] = []
    problems: list[str] = []
    seen: set[str] = set()
    for role, names, name in RECIPIENTS[key]:
        label = PROGRAMS[key].field(name).label
        try:
            addr = normalize.email(values.get(name))
        except ValueError:
            problems.append(f"{label!r} is not a valid email address")
            continue
        unsafe = headers.address_problem(addr) if addr else None
        if unsafe:
            problems.append(f"{label!r} {unsafe}")
            continue
        if not addr:
            problems.append(f"no {label.lower()}")
        elif addr.lower() not in seen:
            seen.add(addr.lower())
            (to if role == "to" else cc).append((_name(values, names), addr))
    return to, cc, problems


def _waitlist(program: ProgramConfig, records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Each waiting record's place on its class's waitlist, as the roster shows it."""
    if program.key not in rosters.CLASS_KEYS:
        return {}
    by_class, _ = rosters.members(program, records)
    out: dict[str, int] = {}
    for session in program.cohorts:
        roster = rosters.assign(program, session, by_class.get(session.id, []))
        out.update({p.applicant.record_id: p.number for p in roster.waitlist})
    return out


def _is_past(key: str, values: dict[str, Any], cls: dict[str, Any] | None, today: dt.date) -> bool:
    if key == "vsc":
        back = values.get("return_date")
        return isinstance(back, dt.date) and back < today
    return cls is not None and cls["last_date"] < today


def _aliases(store: Store, key: str) -> dict[str, list[str]]:
    """Each record's own ID and the IDs merged into it (their ledger rows count as its own)."""
    merged = {rid: r["merged_into"] for rid, r in store.records(key, include_merged=True).items()}
    out: dict[str, list[str]] = {}
    for rid in merged:
        target, seen = rid, {rid}
        while merged.get(target) and merged[target] not in seen:
            target = merged[target]
            seen.add(target)
        out.setdefault(target, []).append(rid)
    return out


Ledger = dict[tuple[str, str, str], tuple[str, str, str]]  # (ID, template, to) -> (state, when, error)


def _unsent(due: Due, ids: list[str], ledger: Ledger, summary: Summary) -> bool:
    """Drop recipients the ledger has as sent or possibly sent; False when none are left, or
    when the message is possibly sent or was refused for good (staff decide on those)."""
    def state(addr: str) -> tuple[str, str, str] | None:
        found = [ledger.get((i, due.template, addr.lower())) for i in ids]
        return max((f for f in found if f and f[0] in ("sent", "sending", "refused")),
                   default=None)

    states = {addr: state(addr) for addr in due.recipients}
    unsure = [s[1] for s in states.values() if s and s[0] == "sending"]
    if unsure:
        summary.unconfirmed.append((due.record_id, due.template, min(unsure)))
        return False
    refused = [s for s in states.values() if s and s[0] == "refused"]
    if refused:
        summary.held.append((due.record_id, due.template, refused[0][2] or "refused"))
        return False
    due.to = [c for c in due.to if states[c[1]] is None]
    due.cc = [c for c in due.cc if states[c[1]] is None]
    if not due.to:  # a Cc-only remainder (say, a corrected counselor address) becomes To
        due.to, due.cc = due.cc, []
    if not due.to and any(states.values()):
        summary.counts["already_sent"] += 1
    return bool(due.to)


def plan(store: Store, config: Config, keys: list[str], today: dt.date,
         templates: mailmerge.Templates, summary: Summary, only: str | None = None) -> list[Due]:
    """Every message due now (`only`: just that record, ignoring the ledger and dates)."""
    rows = store.db.execute("SELECT record_id, template, recipient, state, attempted, "
                            "COALESCE(error, '') FROM ledger")
    ledger = {(rid, tpl, rcpt): (state, when, error) for rid, tpl, rcpt, state, when, error in rows}
    dues: list[Due] = []
    for key in keys:
        program = config.program(key)
        check_templates(config, key, templates)
        mapping = template_map(program)
        records = store.records(key)
        aliases = _aliases(store, key)
        positions = _waitlist(program, records)
        department = vars(config.department) | {"timezone": str(config.department.timezone)}
        for rid, r in records.items():
            if only is not None and rid != only:
                continue
            data, staff = r["data"], r["staff"]
            status = rosters.status_of(key, staff) or "New"
            values = _values(key, data, staff)
            cls = _class_context(attendance.member_class(program, data, staff)[0]
                                 if key in rosters.CLASS_KEYS else None, config)
            for name in templates_for(status, bool(data.get("eligibility")), mapping):
                if only is None and _is_past(key, values, cls, today):
                    summary.counts["past"] += 1
                    continue
                if cls is None and "class" in templates.fields(name):
                    summary.problems.append((rid, f"{name}: not sent: not in any configured "
                                             "class (see the override column)"))
                    summary.counts["skipped"] += 1
                    continue
                to, cc, problems = _addresses(key, values)
                if not to:
                    summary.problems.append((rid, f"{name}: not sent: {'; '.join(problems)}"))
                    summary.counts["skipped"] += 1
                    continue
                if problems:
                    summary.problems.append((rid, f"{name}: {'; '.join(problems)}; "
                                             "sent to the others"))
                context = {
                    **values, "record_id": rid, "status": status, "class": cls,
                    "program": PROGRAMS[key].name, "department": department,
                    "full_name": _name(values, RECIPIENTS[key][0][1]),
                    "waitlist_position": positions.get(rid),
                    "eligibility_reason": str(data.get("eligibility") or "")
                    .removeprefix("Ineligible: "),
                }
                due = Due(rid, name, to, cc, context)
                if only is None and not _unsent(due, aliases.get(rid, [rid]), ledger, summary):
                    continue
                dues.append(due)
                summary.by_template[name] += 1
    summary.counts["due"] = len(dues)
    return dues


# -- the run ----------------------------------------------------------------------------------


def _sender(config: Config) -> tuple[headers.Address, headers.Address | None]:
    if config.smtp is None:
        return headers.named(config.department.name, "no-reply@invalid"), None
    try:
        sender = headers.parse_sender(config.smtp.sender)
    except headers.UnsafeMessage as err:
        raise ConfigError(f"{config.path}: smtp.from: {err}") from None
    try:
        reply = headers.parse_sender(config.smtp.reply_to) if config.smtp.reply_to else None
    except headers.UnsafeMessage as err:
        raise ConfigError(f"{config.path}: smtp.reply_to: {err}") from None
    return sender, reply


def _master_changed(config: Config, store: Store) -> bool:
    path = config.output / MASTER
    if not path.exists() or store.get_meta("master_digest") is None:
        return False
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "blake2b").hexdigest() != store.get_meta("master_digest")


def confirm(config: Config, keys: list[str] | None = None, send: bool = False,
            limit: int | None = None, preview: str | None = None, today: dt.date | None = None,
            ssl_context: ssl.SSLContext | None = None) -> Summary:
    """Render every due confirmation into `<output>/outbox/`; with `send`, deliver them.

    Every due message is rendered before any is sent, so a template error stops the run
    before the first message. `limit` caps how many messages this run writes and sends;
    `preview` renders one record's confirmations for reading, whatever the ledger says.
    """
    keys = list(keys) if keys is not None else list(config.programs)
    if preview is not None:
        preview = preview.strip().upper()
        keys = [k for k in config.programs if preview.startswith(PROGRAMS[k].prefix + "-")]
        if not keys:
            raise SyncError(f"{preview}: not a record ID of a configured program (like PIP-00042)")
    if send and config.smtp is None:
        raise SyncError(f"{config.path}: smtp: no [smtp] section, so nothing can be sent")
    if send and config.smtp is not None and not config.smtp.send:
        raise SyncError(f"{config.path}: smtp.send: is false; set send = true once the outbox "
                        "looks right")
    today = today or clock.now(config).date()
    summary = Summary()
    templates = mailmerge.Templates(template_folders(config))
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    with run_lock(config.output), Store(config.output / STATE, backups=config.backups) as store:
        if send:
            restore.require_sync(store, "sending confirmations")
        elif store.get_meta(restore.RESTORED):
            summary.warnings.append("The state was restored from a backup and not synced since: "
                                    "messages sent since that backup count after "
                                    "`tpd-programs sync`.")
        if _master_changed(config, store):
            if send:
                raise SyncError(f"{config.output / MASTER}: changed since the last sync; "
                                "run `tpd-programs sync` first so every Status staff set counts")
            summary.warnings.append("The master workbook changed since the last sync: Status "
                                    "changes made since then count after `tpd-programs sync`.")
        dues = plan(store, config, keys, today, templates, summary, only=preview)
        sender, reply_to = _sender(config)
        when = clock.moment(config)
        messages: list[Outgoing] = []
        for due in dues:  # render all before sending any
            rendered = templates.render(due.template, due.context)
            try:
                to = [headers.address(n, a) for n, a in due.to]
                cc = [headers.address(n, a) for n, a in due.cc]
                msg = mailmerge.compose(rendered, sender, to, cc, reply_to, when)
            except headers.UnsafeMessage as err:  # skipped, as one without an address is
                summary.problems.append((due.record_id, f"{due.template}: not sent: {err}; "
                                         "correct the answer in the master"))
                summary.counts["skipped"] += 1
                summary.counts["due"] -= 1
                summary.by_template[due.template] -= 1
                summary.by_template += Counter()  # drops a template with none left
                log.warning("confirmations: %s %s not sent: unsafe to send as it is",
                            due.record_id, due.template)
                continue
            messages.append(Outgoing(due, rendered, msg, mailmerge.message_bytes(msg)))
        if preview is not None:
            texts = [mailmerge.preview_text(m.msg, m.rendered) for m in messages]
            summary.preview = "\n\n".join(texts) or f"{preview}: no confirmation for its Status."
            return summary
        messages = messages[:limit] if limit is not None else messages
        summary.outbox = config.output / OUTBOX
        held = mailmerge.write_outbox(summary.outbox, {m.due.file: m.data for m in messages},
                                      scratch=scratch.folder(config.output))
        summary.counts["written"] = len(messages)
        log.info("confirmations: %d due, %d written to the outbox", len(dues), len(messages))
        if send:
            _send_all(store, config, messages, summary, ssl_context)
    if held:  # the rest is done; an open file was not rewritten or removed
        sent = f"; {summary.counts['sent']} sent" if send else ""
        raise files.held_error(held, f"every other outbox file was written{sent}",
                               "tpd-programs confirmations")
    return summary


@dataclass(frozen=True)
class Outgoing:
    """A due message, rendered, composed and checked: `data` is what is written and sent."""

    due: Due
    rendered: mailmerge.Rendered
    msg: EmailMessage
    data: bytes


def _record(store: Store, m: Outgoing, state: str, now: dt.datetime,
            why: dict[str, str] | str | None = None) -> None:
    """Replace the message's ledger rows (new row ids, so the next sync sees the change).

    `why` is the server's reply: for the whole message (a str, kept with `state`), or for
    the recipients it refused while it took the message (a dict: those rows are 'failed')."""
    with store.transaction():
        for addr in m.due.recipients:
            row, error = state, why
            if isinstance(why, dict):
                error = why.get(addr.lower())
                row = "failed" if error else state
            store.db.execute(
                "INSERT OR REPLACE INTO ledger (record_id, template, recipient, state, message_id,"
                " attempted, sent, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (m.due.record_id, m.due.template, addr.lower(), row, m.msg["Message-ID"],
                 now.isoformat(), now.isoformat() if row == "sent" else None, error))


def _send_all(store: Store, config: Config, messages: list[Outgoing], summary: Summary,
              ssl_context: ssl.SSLContext | None) -> None:
    assert config.smtp is not None
    outbox = config.output / OUTBOX
    with delivery.Mailer(config.smtp, ssl_context=ssl_context) as mailer:
        summary.sent_via = mailer.where
        streak: list[Outgoing] = []  # refused in a row, with the same reply
        for i, m in enumerate(messages):
            due = m.due

            def started(m: Outgoing = m) -> None:  # after the rate limit's pause
                _record(store, m, "sending", clock.now(config))  # committed before the send

            try:
                refused = mailer.send(m.data, config.smtp.sender, due.recipients,
                                      started=started)
            except delivery.MessageRefused as err:
                if streak and summary.refused[-1][2] != err.reply:
                    streak = []
                streak.append(m)
                if len(streak) >= SAME_REPLY_LIMIT:  # the server refuses all mail, not these
                    for refused_one in streak:
                        _record(store, refused_one, "failed", clock.now(config), err.reply)
                    del summary.refused[len(summary.refused) - len(streak) + 1:]
                    summary.counts["refused"] -= len(streak) - 1
                    raise DeliveryError(
                        f"the mail server refused {len(streak)} messages in a row with the same "
                        f"reply ({err.reply}): it is refusing all mail, not these messages; "
                        f"{summary.counts['sent']} sent before, {len(messages) - i - 1} not "
                        "tried (they go out on the next run, never twice)") from None
                _record(store, m, "refused", clock.now(config), err.reply)
                summary.refused.append((due.record_id, due.template, err.reply))
                summary.counts["refused"] += 1
                log.warning("confirmations: %s %s refused by the server for good",
                            due.record_id, due.template)
                continue
            except delivery.RecipientsRefused as err:
                streak = []
                _record(store, m, "failed", clock.now(config), str(err))
                summary.problems.append((due.record_id, f"{due.template}: refused by the server"))
                summary.counts["undelivered"] += 1
                continue
            except delivery.Uncertain as err:
                log.error("confirmations: %s %s possibly sent", due.record_id, due.template)
                raise DeliveryError(
                    f"{err}; {due.record_id} {due.template} is left as possibly sent; "
                    f"{summary.counts['sent']} sent before it, {len(messages) - i - 1} not tried "
                    "(they stay in the outbox)") from None
            except DeliveryError as err:
                _record(store, m, "failed", clock.now(config), str(err))
                raise DeliveryError(
                    f"{err}; {summary.counts['sent']} sent before it, {len(messages) - i} not "
                    "sent (they stay in the outbox and go out on the next run, never twice)"
                ) from None
            streak = []
            _record(store, m, "sent", clock.now(config), refused)
            if refused:
                summary.problems.append((due.record_id, f"{due.template}: {len(refused)} "
                                         "recipient(s) refused by the server; the others got it"))
            files.discard(outbox / due.file, "a message that was sent")  # next run
            summary.counts["sent"] += 1
            log.info("confirmations: sent %s %s", due.record_id, due.template)
# -- staff actions and the master's column ----------------------------------------------------


def resolve(config: Config, record_id: str, outcome: str) -> int:
    """Settle a record's messages: "sent" (a possibly-sent one went) or "retry" (send a
    possibly-sent or refused one again with the next --send). Returns the rows changed."""
    state = {"sent": "sent", "retry": "failed"}[outcome]
    record_id = record_id.strip().upper()
    with run_lock(config.output), Store(config.output / STATE, backups=config.backups) as store:
        with store.transaction():
            rows = store.db.execute(
                "SELECT template, recipient, message_id, attempted FROM ledger WHERE "
                "record_id = ? AND (state = 'sending' OR (? AND state = 'refused'))",
                (record_id, outcome == "retry")).fetchall()
            for tpl, rcpt, mid, when in rows:
                store.db.execute(
                    "INSERT OR REPLACE INTO ledger (record_id, template, recipient, state, "
                    "message_id, attempted, sent, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record_id, tpl, rcpt, state, mid, when, when if state == "sent" else None,
                     "staff asked to send it again" if state == "failed" else None))
    log.info("confirmations: %s: %d ledger row(s) marked %s", record_id, len(rows), state)
    return len(rows)


REPLY_SHOWN = 200  # characters of a server's reply shown in the master
# an entry of the master's column that says a message went ("pip-accepted 2020-03-05 10:00")
# or may have gone ("pip-accepted possibly sent"), as `sent_column` writes them
_SHOWN_SENT = re.compile(r"(?P<template>[A-Za-z0-9][A-Za-z0-9._-]*) "
                         r"(?:(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d)|possibly sent)")


def take_evidence(store: Store, key: str, shown: dict[str, Any],
                  records: dict[str, dict[str, Any]], now: dt.datetime) -> int:
    """After a restore: record in the ledger each message the master's "Confirmation sent"
    column (`shown`, by record ID) says went or may have gone, when the ledger has it neither
    as sent nor as possibly sent: 'sent' at the time shown, or 'sending' (possibly sent, for
    staff to settle), to the record's addresses as they are now. Returns the rows recorded."""
    aliases = _aliases(store, key)
    stored = store.records(key)
    known = {(rid, tpl) for rid, tpl in store.db.execute(
        "SELECT record_id, template FROM ledger WHERE state IN ('sent', 'sending')")}
    rows = []
    for rid, text in shown.items():
        if rid not in records or not isinstance(text, str):
            continue
        for entry in text.split(";"):
            found = _SHOWN_SENT.fullmatch(entry.strip())
            if found is None or any((i, found["template"]) in known
                                    for i in aliases.get(rid, [rid])):
                continue
            staff = stored[rid]["staff"] if rid in stored else {}
            to, cc, _ = _addresses(key, _values(key, records[rid], staff))
            when = dt.datetime.strptime(found["when"], "%Y-%m-%d %H:%M") if found["when"] else None
            rows += [(rid, found["template"], addr.lower(), "sent" if when else "sending",
                      (when or now).isoformat(), when.isoformat() if when else None)
                     for _, addr in to + cc]
            log.warning("confirmations: %s %s: the master's %r column shows it %s and the "
                        "restored state did not know it: %s", rid, found["template"],
                        SENT_COLUMN, "sent" if when else "possibly sent",
                        "recorded so" if to + cc else "not recorded, as it has no address now")
    with store.transaction():
        store.executemany(
            "INSERT OR REPLACE INTO ledger (record_id, template, recipient, state, attempted, "
            "sent) VALUES (?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def sent_column(store: Store, key: str, records: dict[str, Any]) -> layout.ToolColumn:
    """The master's "Confirmation sent" column: each template and when it went, or that it
    may have gone, is not sent yet, or was refused (with the server's reply)."""
    target_of = {alias: rid for rid, ids in _aliases(store, key).items() for alias in ids}
    rank = {"sent": 3, "sending": 2, "refused": 1, "failed": 0}
    best: dict[str, dict[str, tuple[int, str, str]]] = {}  # id -> template -> (rank, when, text)
    for rid, tpl, state, when, error in store.db.execute(
            "SELECT record_id, template, state, COALESCE(sent, attempted), error FROM ledger"):
        reply = " ".join(str(error or "").split())[:REPLY_SHOWN]
        text = {"sent": f"{tpl} {when[:16].replace('T', ' ')}", "sending": f"{tpl} possibly sent",
                "failed": f"{tpl} not sent yet",
                "refused": f"{tpl} refused: {reply}" if reply else f"{tpl} refused",
                }.get(state, f"{tpl} {state}")
        entry = (rank.get(state, 0), when, text)
        target = target_of.get(rid, rid)
        found = best.setdefault(target, {}).get(tpl)
        if found is None or entry[:2] >= found[:2]:
            best[target][tpl] = entry
    values = {rid: "; ".join(e[2] for e in sorted(best.get(rid, {}).values(), key=lambda e: e[1]))
              or None for rid in records}
    return layout.ToolColumn(layout.Column(SENT_COLUMN, width=28, wrap=True), values)


class Confirmations(Feature):
    """The ledger of messages, the master's "Confirmation sent" column and, after a restore
    of the state, the messages the master shows that the restored ledger lost."""

    tables = ("ledger",)

    def amend(self, store: Store, config: Config, key: str, result: dict[str, Any],
              started: dt.datetime, settling: restore.Settling | None) -> None:
        if settling is not None and settling.unsure.get(key):
            take_evidence(store, key, settling.cells(key, SENT_COLUMN), result["records"], started)

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
        return [sent_column(store, key, records)]
