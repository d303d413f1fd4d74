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
  The same reply to `sending.SAME_REPLY_LIMIT` messages in a row is about the server (a sending
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
from typing import Any

from sync.config import Config
from sync.config.programs import PROGRAMS
from sync.confirmations import headers, homecoming, render
from sync.confirmations.due import (
    Due,
    Summary,
    addresses,
    plan,
    record_aliases,
    record_values,
    template_folders,
)
from sync.confirmations.model import SENT_COLUMN
from sync.confirmations.sending import OUTBOX, Outgoing, send_all
from sync.errors import ConfigError, SyncError
from sync.master import layout, restore
from sync.master.hooks import Feature
from sync.master.records import ProgramResult
from sync.state import clock, files, scratch
from sync.state.lock import run_lock
from sync.state.store import MASTER, STATE, Store

log = logging.getLogger(__name__)


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
            ssl_context: ssl.SSLContext | None = None, alerts: bool = False) -> Summary:
    """Render every due confirmation into `<output>/outbox/`; with `send`, deliver them.

    Every due message is rendered before any is sent, so a template error stops the run
    before the first message. `limit` caps how many messages this run writes and sends;
    `preview` renders one record's confirmations for reading, whatever the ledger says.
    With `alerts` (the daily run), the staff's notices of an Insecure or Suspicious check
    are sent even without `send`, like the notice of a failed run: they go to staff only.
    """
    keys = list(keys) if keys is not None else list(config.programs)
    if preview is not None:
        preview = preview.strip().upper()
        keys = [k for k in config.programs if preview.startswith(PROGRAMS[k].prefix + "-")]
        if not keys:
            raise SyncError(f"{preview}: not a record ID of a configured program (like PIP-00042)")
    _may_send(config, send)
    today = today or clock.now(config).date()
    summary = Summary()
    templates = render.Templates(template_folders(config))
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    with run_lock(config.output), Store(config.output / STATE, backups=config.backups) as store:
        _state_is_current(config, store, send, summary)
        dues = plan(store, config, keys, today, templates, summary, only=preview)
        messages = _compose_all(config, templates, dues, summary)
        if preview is not None:
            texts = [render.preview_text(m.msg, m.rendered) for m in messages]
            summary.preview = "\n\n".join(texts) or f"{preview}: no confirmation for its Status."
            summary.counts["previewed"] = len(messages)
            return summary
        messages = messages[:limit] if limit is not None else messages
        summary.outbox = config.output / OUTBOX
        held = render.write_outbox(summary.outbox, {m.due.file: m.data for m in messages},
                                      scratch=scratch.folder(config.output))
        summary.counts["written"] = len(messages)
        log.info("confirmations: %d due, %d written to the outbox", len(dues), len(messages))
        if send:
            send_all(store, config, messages, summary, ssl_context)
        elif alerts and config.smtp is not None and (
                staff := [m for m in messages if m.due.template == homecoming.ALERT]):
            send_all(store, config, staff, summary, ssl_context)
    if held:  # the rest is done; an open file was not rewritten or removed
        sent = f"; {summary.counts['sent']} sent" if send else ""
        raise files.held_error(held, f"every other outbox file was written{sent}",
                               "tpd-programs confirmations")
    return summary


def _may_send(config: Config, send: bool) -> None:
    """SyncError naming the setting when `send` is asked for and the configuration forbids it."""
    if send and config.smtp is None:
        raise SyncError(f"{config.path}: smtp: no [smtp] section, so nothing can be sent")
    if send and config.smtp is not None and not config.smtp.send:
        raise SyncError(f"{config.path}: smtp.send: is false; set send = true once the outbox "
                        "looks right")


def _state_is_current(config: Config, store: Store, send: bool, summary: Summary) -> None:
    """Sending needs the state to know every Status staff set (a sync since a restore, or
    since the master was edited): refuse to send, or warn when only writing the outbox."""
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


def _compose_all(config: Config, templates: render.Templates, dues: list[Due],
                 summary: Summary) -> list[Outgoing]:
    """Every due message rendered and composed (all before any is sent); one an answer makes
    unsafe to send is left out, counted as skipped and listed with the reason."""
    sender, reply_to = _sender(config)
    when = clock.moment(config)
    messages: list[Outgoing] = []
    for due in dues:
        rendered = templates.render(due.template, due.context)
        try:
            to = [headers.address(n, a) for n, a in due.to]
            cc = [headers.address(n, a) for n, a in due.cc]
            msg = render.compose(rendered, sender, to, cc, reply_to, when)
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
        messages.append(Outgoing(due, rendered, msg, render.message_bytes(msg)))
    return messages



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


NONE_SENT = "none sent"  # the master's "Confirmation sent" cell of a record with no message yet
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
    aliases = record_aliases(store, key)
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
            to, cc, _ = addresses(key, record_values(key, records[rid], staff))
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
    target_of = {alias: rid for rid, ids in record_aliases(store, key).items() for alias in ids}
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
              or NONE_SENT for rid in records}
    return layout.ToolColumn(layout.Column(SENT_COLUMN, width=28, wrap=True), values)


class Confirmations(Feature):
    """The ledger of messages, the master's "Confirmation sent" column and, after a restore
    of the state, the messages the master shows that the restored ledger lost."""

    tables = ("ledger",)

    def amend(self, store: Store, config: Config, key: str, result: ProgramResult,
              started: dt.datetime, settling: restore.Settling | None) -> None:
        if settling is not None and settling.unsure.get(key):
            take_evidence(store, key, settling.cells(key, SENT_COLUMN), result.records, started)

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
        return [sent_column(store, key, records)]
