"""Confirmations: which messages are due, the outbox, and the ledger that sends each once.

A record is due a confirmation when its Status (or, for an application the staff have not
decided on, its eligibility) maps to a template in `[programs.<key>.templates]` (defaults
below) and the ledger has not recorded that template as sent to that address. Plain Python:
rendering is `sync.mailmerge`, sending is `sync.delivery`.

Never twice. The ledger (the state file's `ledger` table) has one row per record, template
and recipient address. Before a message is handed to the SMTP server its rows are committed
as 'sending'; when the server accepts it they become 'sent' ('failed' when it refuses). So:
- a rerun never sends a 'sent' message again, and a changed Status (Waitlisted, then
  Accepted) sends the new template once;
- a message the server refused is 'failed' and goes out on the next run;
- a row left at 'sending' means the run stopped (crash, power cut, dropped connection) while
  the message was in flight: it may have been delivered. It is never resent silently; every
  run lists it until staff check the mailbox's Sent folder and run
  `tpd-programs confirmations --mark-sent RECORD_ID` (it did go) or `--retry RECORD_ID`
  (it did not: send it on the next `--send`).

Only the message's own rows are consulted: for a TAP enrollment (student and guardian, the
counselor copied) a fixed guardian address later gets its own message, once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import ssl
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sync import classes, delivery, mailmerge, master, normalize, syncer
from sync.config import Config, ProgramConfig, Session
from sync.errors import DeliveryError, SyncError, TemplateError
from sync.lock import run_lock
from sync.programs import PROGRAMS
from sync.store import Store

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES = {
    "pip": {"Accepted": "pip-accepted", "Waitlisted": "pip-waitlisted", "Ineligible": "pip-ineligible"},
    "tap": {"Enrolled": "tap-enrolled"},
    "vsc": {"New": "vsc-received", "Active": "vsc-received", "Ineligible": "vsc-declined"},
}
CLOSED = ("Declined", "Withdrawn", "Cancelled")  # a "Received" template is not sent to these
OUTBOX = "outbox"
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


@dataclass
class Due:
    """One message to render and send."""

    record_id: str
    program: str
    template: str
    to: list[tuple[str, str]]  # (display name, address)
    cc: list[tuple[str, str]]
    context: dict[str, Any]
    file: str = ""

    @property
    def recipients(self) -> list[str]:
        return [a for _, a in self.to + self.cc]


@dataclass
class Summary:
    """What a run found and did. `counts` and `record_ids` are safe for logs."""

    counts: dict[str, int] = field(default_factory=dict)
    by_template: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (record ID, what is wrong)
    unconfirmed: list[tuple[str, str, str]] = field(default_factory=list)  # (ID, template, when)
    outbox: Path | None = None
    sent_via: str = ""
    preview: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def record_ids(self) -> list[str]:
        """Records that need a look from staff."""
        return sorted({rid for rid, _ in self.problems} | {u[0] for u in self.unconfirmed})

    def render(self) -> str:
        c = self.counts
        lines = list(self.warnings)
        if self.preview:
            lines.append(self.preview)
        templates = ", ".join(f"{n} {name}" for name, n in sorted(self.by_template.items()))
        lines.append(f"{c.get('due', 0)} confirmations due" + (f" ({templates})" if templates else "")
                     + f"; {c.get('already_sent', 0)} already sent; {c.get('skipped', 0)} skipped; "
                     f"{c.get('past', 0)} not due because the class ended or the resident is back.")
        if self.outbox is not None:
            lines.append(f"Outbox: {self.outbox} ({c.get('written', 0)} messages)")
        if self.sent_via:
            lines.append(f"Sent {c.get('sent', 0)} via {self.sent_via}; {c.get('refused', 0)} refused "
                         "by the server (they go out on the next run).")
        elif not self.preview:
            lines.append("Nothing was sent: run with --send to deliver them.")
        for rid, problem in self.problems:
            lines.append(f"  {rid}: {problem}")
        if self.unconfirmed:
            lines.append("Possibly sent (a run stopped while sending them; never resent on their own). "
                         "Look in the mailbox's Sent folder, then run `tpd-programs confirmations "
                         "--mark-sent RECORD_ID` if it went, or `--retry RECORD_ID` to send it again:")
            lines.extend(f"  {rid} {tpl} (started {when})" for rid, tpl, when in self.unconfirmed)
        return "\n".join(lines)


def _now(config: Config) -> dt.datetime:
    return dt.datetime.now(config.department.timezone).replace(tzinfo=None, microsecond=0)


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
    return set(PROGRAMS[key].field_names) | set(CONTEXT_KEYS)


def template_folders(config: Config) -> list[Path]:
    """A `templates` folder beside the config file (staff's own) first, then the bundled one."""
    return [config.path.parent / "templates", mailmerge.BUNDLED]


# -- what is due ------------------------------------------------------------------------------


def member_class(program: ProgramConfig, data: dict[str, Any], staff: dict[str, Any]) -> Session | None:
    """The record's class: staff's override, else the class the master computed."""
    if program.key not in master.OVERRIDE:
        return None
    wanted = staff.get(master.OVERRIDE[program.key])
    if wanted not in (None, ""):
        found = classes.find(program.cohorts, str(wanted))
        if found is not None:
            return found
    class_id = syncer.assigned_class(program, data)
    return next((s for s in program.cohorts if s.id == class_id), None)


def _class_context(session: Session | None, config: Config) -> dict[str, Any] | None:
    if session is None:
        return None
    dates = classes.session_dates(session)
    return {"id": session.id, "name": session.name, "dates": dates, "first_date": dates[0],
            "last_date": dates[-1], "sessions": len(dates), "weekday": dates[0].strftime("%A"),
            "start_time": session.start_time, "end_time": session.end_time,
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


def _addresses(key: str, values: dict[str, Any], problems: list[str]) -> tuple[list, list]:
    to: list[tuple[str, str]] = []
    cc: list[tuple[str, str]] = []
    seen: set[str] = set()
    for role, names, name in RECIPIENTS[key]:
        label = PROGRAMS[key].field(name).label
        raw = values.get(name)
        try:
            addr = normalize.email(raw) if raw not in (None, "") else ""
        except ValueError:
            problems.append(f"{label!r} is not a valid email address")
            continue
        if not addr:
            problems.append(f"no {label.lower()}")
        elif addr.lower() not in seen:
            seen.add(addr.lower())
            (to if role == "to" else cc).append((_name(values, names), addr))
    return to, cc


def _waitlist(records: dict[str, dict[str, Any]], program: ProgramConfig) -> dict[str, int]:
    """Position on the waitlist of one's class, by first submission."""
    queues: dict[str, list[tuple[Any, int, str]]] = {}
    for rid, r in records.items():
        if (r["staff"].get(master.STATUS) or "") == "Waitlisted":
            session = member_class(program, r["data"], r["staff"])
            queues.setdefault(session.id if session else "", []).append((r["data"]["first"], r["seq"], rid))
    return {rid: i for q in queues.values() for i, (_, _, rid) in enumerate(sorted(q), 1)}


def _is_past(key: str, values: dict[str, Any], cls: dict[str, Any] | None, today: dt.date) -> bool:
    if key == "vsc":
        back = values.get("return_date")
        return isinstance(back, dt.date) and back < today
    return cls is not None and cls["last_date"] < today


def _ledger(store: Store) -> dict[tuple[str, str, str], tuple[str, str]]:
    rows = store.db.execute("SELECT record_id, template, recipient, state, attempted FROM ledger")
    return {(rid, tpl, rcpt): (state, attempted) for rid, tpl, rcpt, state, attempted in rows}


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


def plan(store: Store, config: Config, keys: list[str], today: dt.date,
         templates: mailmerge.Templates, summary: Summary, only: str | None = None) -> list[Due]:
    """Every message due now (`only`: just that record, ignoring the ledger and dates)."""
    ledger = _ledger(store)
    due: list[Due] = []
    for key in keys:
        program = config.program(key)
        mapping = template_map(program)
        for status, name in mapping.items():
            try:
                templates.check(name, known_fields(key))
            except TemplateError as err:
                raise TemplateError(f"{err} (used by {config.path}: programs.{key}.templates."
                                    f"{status}{'' if program.templates else ', a default'})") from None
        records = store.records(key)
        aliases = _aliases(store, key)
        positions = _waitlist(records, program)
        for rid, r in records.items():
            if only is not None and rid != only:
                continue
            data, staff = r["data"], r["staff"]
            status = str(staff.get(master.STATUS) or "New").strip()
            values = _values(key, data, staff)
            session = member_class(program, data, staff)
            cls = _class_context(session, config)
            for name in templates_for(status, bool(data.get("eligibility")), mapping):
                if only is None and _is_past(key, values, cls, today):
                    summary.counts["past"] += 1
                    continue
                if cls is None and "class" in templates.fields(name):
                    summary.problems.append((rid, f"{name}: not in a class (set the "
                                             f"{master.OVERRIDE.get(key, 'class')} column)"))
                    summary.counts["skipped"] += 1
                    continue
                problems: list[str] = []
                to, cc = _addresses(key, values, problems)
                if not to:
                    summary.problems.append((rid, f"{name}: not sent: {'; '.join(problems)}"))
                    summary.counts["skipped"] += 1
                    continue
                if problems:
                    summary.problems.append((rid, f"{name}: {'; '.join(problems)}; sent to the others"))
                if only is None:
                    to, cc = _unsent(to, cc, aliases.get(rid, [rid]), name, ledger, rid, summary)
                    if not to:
                        continue
                context = {**values, "record_id": rid, "status": status,
                           "program": PROGRAMS[key].name, "full_name": _name(values, RECIPIENTS[key][0][1]),
                           "class": cls, "waitlist_position": positions.get(rid),
                           "department": vars(config.department) | {"timezone": str(config.department.timezone)},
                           "eligibility_reason": str(data.get("eligibility") or "").removeprefix("Ineligible: ")}
                due.append(Due(rid, key, name, to, cc, context, f"{rid}-{name}.eml"))
                summary.by_template[name] += 1
    summary.counts["due"] = len(due)
    return due


def _unsent(to: list, cc: list, ids: list[str], name: str, ledger: dict, rid: str,
            summary: Summary) -> tuple[list, list]:
    """Drop recipients the ledger has as sent or possibly sent; a Cc-only remainder becomes To."""
    def state(addr: str) -> tuple[str, str] | None:
        for i in ids:
            found = ledger.get((i, name, addr.lower()))
            if found and found[0] in ("sent", "sending"):
                return found
        return None

    keep_to, keep_cc, sent, sending = [], [], 0, ""
    for bucket, keep in ((to, keep_to), (cc, keep_cc)):
        for name_addr in bucket:
            found = state(name_addr[1])
            if found is None:
                keep.append(name_addr)
            elif found[0] == "sent":
                sent += 1
            else:
                sending = found[1]
    if sending:
        summary.unconfirmed.append((rid, name, sending))
        return [], []
    if sent and not keep_to and not keep_cc:
        summary.counts["already_sent"] += 1
    return (keep_to or keep_cc), (keep_cc if keep_to else [])


# -- the run ----------------------------------------------------------------------------------


def _sender(config: Config) -> tuple[mailmerge.Address, mailmerge.Address | None]:
    if config.smtp is None:
        return mailmerge.address(config.department.name, "no-reply@invalid"), None
    reply = mailmerge.parse_sender(config.smtp.reply_to) if config.smtp.reply_to else None
    return mailmerge.parse_sender(config.smtp.sender), reply


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _master_changed(config: Config, store: Store) -> bool:
    path = config.output / syncer.MASTER
    if not path.exists() or store.get_meta("master_digest") is None:
        return False
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "blake2b").hexdigest() != store.get_meta("master_digest")


def _record(store: Store, due: Due, msg: EmailMessage, state: str, now: dt.datetime,
            refused: dict[str, str] | None = None, error: str | None = None) -> None:
    """Replace the message's ledger rows (a new row id, so the next sync notices)."""
    with store.transaction():
        for addr in due.recipients:
            why = (refused or {}).get(addr) or error
            row_state = "failed" if why and state != "sending" else state
            store.db.execute(
                "INSERT OR REPLACE INTO ledger (record_id, template, recipient, state, message_id, "
                "attempted, sent, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (due.record_id, due.template, addr.lower(), row_state, msg["Message-ID"],
                 now.isoformat(), now.isoformat() if row_state == "sent" else None, why))


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
        key = next((k for k in PROGRAMS if preview.upper().startswith(PROGRAMS[k].prefix + "-")), None)
        if key is None or key not in config.programs:
            raise SyncError(f"{preview}: not a record ID of a configured program (like PIP-00042)")
        keys = [key]
    if send and config.smtp is None:
        raise SyncError(f"{config.path}: smtp: no [smtp] section, so nothing can be sent")
    if send and not config.smtp.send:  # type: ignore[union-attr]
        raise SyncError(f"{config.path}: smtp.send: is false; set send = true once the outbox "
                        "looks right")
    today = today or _now(config).date()
    summary = Summary(counts=Counter())  # type: ignore[arg-type]
    templates = mailmerge.Templates(template_folders(config))
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    with run_lock(config.output), Store(config.output / syncer.STATE) as store:
        if _master_changed(config, store):
            if send:
                raise SyncError(f"{config.output / syncer.MASTER}: changed since the last sync; run "
                                "`tpd-programs sync` first so every Status staff set counts")
            summary.warnings.append("The master workbook changed since the last sync: Status "
                                    "changes made since then count after `tpd-programs sync`.")
        due = plan(store, config, keys, today, templates, summary, only=preview)
        sender, reply_to = _sender(config)
        messages = []
        for d in due:  # render all before sending any
            rendered = templates.render(d.template, d.context)
            to = [mailmerge.address(n, a) for n, a in d.to]
            cc = [mailmerge.address(n, a) for n, a in d.cc]
            messages.append((d, rendered, mailmerge.compose(rendered, sender, to, cc, reply_to)))
        if preview is not None:
            if not due:
                summary.preview = f"{preview}: no confirmation is due for this record's Status."
            summary.preview += "\n\n".join(_preview_text(m, r) for _, r, m in messages)
            return summary
        messages = messages[:limit] if limit is not None else messages
        summary.outbox = _fill_outbox(config.output / OUTBOX, messages)
        summary.counts["written"] = len(messages)
        log.info("confirmations: %d due, %d written to the outbox", len(due), len(messages))
        if send:
            _send_all(store, config, messages, summary, ssl_context)
    return summary


def _fill_outbox(outbox: Path, messages: list) -> Path:
    outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(outbox, 0o700)
    keep = {d.file for d, _, _ in messages}
    for old in outbox.glob("*.eml"):
        if old.name not in keep:
            old.unlink()
    for d, _, msg in messages:
        _write_private(outbox / d.file, mailmerge.message_bytes(msg))
    return outbox


def _send_all(store: Store, config: Config, messages: list, summary: Summary,
              ssl_context: ssl.SSLContext | None) -> None:
    assert config.smtp is not None
    outbox = config.output / OUTBOX
    with delivery.Mailer(config.smtp, ssl_context=ssl_context) as mailer:
        summary.sent_via = mailer.where
        for i, (d, _, msg) in enumerate(messages):
            _record(store, d, msg, "sending", _now(config))
            try:
                refused = mailer.send(msg, config.smtp.sender, d.recipients)
            except delivery.Refused as err:
                _record(store, d, msg, "failed", _now(config), error=str(err))
                summary.problems.append((d.record_id, f"{d.template}: refused by the server"))
                summary.counts["refused"] += 1
                continue
            except delivery.Uncertain as err:
                log.error("confirmations: %s %s may have been sent; stopping", d.record_id, d.template)
                raise DeliveryError(f"{err}. {d.record_id} {d.template} is left as possibly sent; "
                                    f"{summary.counts['sent']} sent before it, {len(messages) - i - 1} "
                                    "not tried (they stay in the outbox)") from None
            except DeliveryError as err:
                _record(store, d, msg, "failed", _now(config), error=str(err))
                raise DeliveryError(f"{err}; {summary.counts['sent']} sent before it, "
                                    f"{len(messages) - i} not sent (they stay in the outbox and go "
                                    "out on the next run, never twice)") from None
            _record(store, d, msg, "sent", _now(config), refused=refused)
            if refused:
                summary.problems.append((d.record_id, f"{d.template}: {len(refused)} recipient(s) "
                                         "refused by the server; the others got it"))
            (outbox / d.file).unlink(missing_ok=True)
            summary.counts["sent"] += 1
            log.info("confirmations: sent %s %s", d.record_id, d.template)


def _preview_text(msg: EmailMessage, rendered: mailmerge.Rendered) -> str:
    head = [f"{h}: {msg[h]}" for h in ("Subject", "From", "To", "Cc", "Reply-To") if msg[h]]
    return "\n".join([f"== {rendered.template} ==", *head, "", rendered.text.rstrip(), "",
                      "-- HTML --", rendered.html.rstrip()])


# -- staff actions and the master's column ----------------------------------------------------


def resolve(config: Config, record_id: str, outcome: str) -> int:
    """Settle a record's possibly-sent messages: "sent" (it went) or "retry" (send again)."""
    state = {"sent": "sent", "retry": "failed"}[outcome]
    with run_lock(config.output), Store(config.output / syncer.STATE) as store, store.transaction():
        rows = store.db.execute("SELECT record_id, template, recipient, message_id, attempted FROM "
                                "ledger WHERE record_id = ? AND state = 'sending'", (record_id,)).fetchall()
        for rid, tpl, rcpt, mid, attempted in rows:
            store.db.execute(
                "INSERT OR REPLACE INTO ledger (record_id, template, recipient, state, message_id, "
                "attempted, sent, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rid, tpl, rcpt, state, mid, attempted, attempted if state == "sent" else None,
                 "staff asked to send it again" if state == "failed" else None))
    log.info("confirmations: %s: %d possibly-sent message row(s) marked %s", record_id, len(rows), state)
    return len(rows)


def sent_column(store: Store, key: str, records: dict[str, Any]) -> master.ToolColumn:
    """The master's "Confirmation sent" column: each template and when it went."""
    aliases = _aliases(store, key)
    rows = store.db.execute("SELECT record_id, template, state, COALESCE(sent, attempted) FROM ledger "
                            "ORDER BY COALESCE(sent, attempted)").fetchall()
    rank = {"sent": 2, "sending": 1, "failed": 0}
    best: dict[str, dict[str, tuple[int, str, str]]] = {}  # id -> template -> (rank, when, text)
    for rid, tpl, state, when in rows:
        text = {"sent": f"{tpl} {when[:16].replace('T', ' ')}", "sending": f"{tpl} possibly sent",
                "failed": f"{tpl} not sent"}.get(state, f"{tpl} {state}")
        found = best.setdefault(rid, {}).get(tpl)
        if found is None or (rank.get(state, 0), when) >= found[:2]:
            best[rid][tpl] = (rank.get(state, 0), when, text)
    values = {}
    for rid in records:
        entries: dict[str, tuple[int, str, str]] = {}
        for alias in aliases.get(rid, [rid]):
            for tpl, entry in best.get(alias, {}).items():
                if tpl not in entries or entry[:2] >= entries[tpl][:2]:
                    entries[tpl] = entry
        ordered = sorted(entries.values(), key=lambda e: e[1])
        values[rid] = "; ".join(e[2] for e in ordered) or None
    return master.ToolColumn(master.Column(SENT_COLUMN, width=28, wrap=True), values)
