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
  'sending', to the record's addresses as they are now (`column.take_evidence`), and logged by
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
import ssl
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sync.config import Config
from sync.config.programs import PROGRAMS
from sync.confirmations import column, delivery, headers
from sync.confirmations import render as mailmerge
from sync.confirmations.due import (
    SENT_COLUMN,
    Due,
    Summary,
    plan,
    template_folders,
)
from sync.errors import ConfigError, DeliveryError, SyncError
from sync.master import layout, restore
from sync.master.hooks import Feature
from sync.master.records import ProgramResult
from sync.state import clock, files, scratch
from sync.state.lock import run_lock
from sync.state.store import MASTER, STATE, Store

log = logging.getLogger(__name__)

OUTBOX = "outbox"
# The same refusal for this many messages in a row is about the server (a sending quota, a
# suspended account), not about the messages: the run stops as for a temporary failure.
SAME_REPLY_LIMIT = 3

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
                (m.due.record_id, m.due.entry, addr.lower(), row, m.msg["Message-ID"],
                 now.isoformat(), now.isoformat() if row == "sent" else None, error))


def _refused(store: Store, config: Config, m: Outgoing, reply: str, streak: list[Outgoing],
             summary: Summary, left: int) -> list[Outgoing]:
    """Record a message the server refused for good, and return the streak of messages
    refused in a row with the same reply; at `SAME_REPLY_LIMIT` of them the server refuses
    all mail, not these messages: they go back to 'failed' and the run stops."""
    if streak and summary.refused[-1][2] != reply:
        streak = []
    streak.append(m)
    if len(streak) >= SAME_REPLY_LIMIT:
        for refused_one in streak:
            _record(store, refused_one, "failed", clock.now(config), reply)
        del summary.refused[len(summary.refused) - len(streak) + 1:]
        summary.counts["refused"] -= len(streak) - 1
        raise DeliveryError(
            f"the mail server refused {len(streak)} messages in a row with the same reply "
            f"({reply}): it is refusing all mail, not these messages; "
            f"{summary.counts['sent']} sent before, {left} not tried (they go out on the next "
            "run, never twice)") from None
    _record(store, m, "refused", clock.now(config), reply)
    summary.refused.append((m.due.record_id, m.due.template, reply))
    summary.counts["refused"] += 1
    log.warning("confirmations: %s %s refused by the server for good", m.due.record_id,
                m.due.template)
    return streak


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
                streak = _refused(store, config, m, err.reply, streak, summary,
                                  len(messages) - i - 1)
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


class Confirmations(Feature):
    """The ledger of messages, the master's "Confirmation sent" column and, after a restore
    of the state, the messages the master shows that the restored ledger lost."""

    tables = ("ledger",)

    def amend(self, store: Store, config: Config, key: str, result: ProgramResult,
              started: dt.datetime, settling: restore.Settling | None) -> None:
        if settling is not None and settling.unsure.get(key):
            column.take_evidence(store, key, settling.cells(key, SENT_COLUMN), result.records,
                                 started)

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[layout.ToolColumn]:
        return [column.sent_column(store, key, records)]
