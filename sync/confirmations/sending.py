"""Sending the rendered messages, each recorded in the ledger before and after it goes.

The package docstring (`sync.confirmations`) tells the ledger's states and why a message
is never sent twice; this module writes them: 'sending' once the SMTP transmission starts,
then 'sent', 'failed' or 'refused' by the server's answer.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from sync.config import Config
from sync.confirmations import delivery, render
from sync.confirmations.due import Due, Summary
from sync.errors import DeliveryError
from sync.state import clock, files
from sync.state.store import Store

log = logging.getLogger(__name__)

OUTBOX = "outbox"
# The same refusal for this many messages in a row is about the server (a sending quota, a
# suspended account), not about the messages: the run stops as for a temporary failure.
SAME_REPLY_LIMIT = 3


@dataclass(frozen=True)
class Outgoing:
    """A due message, rendered, composed and checked: `data` is what is written and sent."""

    due: Due
    rendered: render.Rendered
    msg: EmailMessage
    data: bytes


def record(store: Store, m: Outgoing, state: str, now: dt.datetime,
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


def send_all(store: Store, config: Config, messages: list[Outgoing], summary: Summary,
              ssl_context: ssl.SSLContext | None) -> None:
    assert config.smtp is not None
    outbox = config.output / OUTBOX
    with delivery.Mailer(config.smtp, ssl_context=ssl_context) as mailer:
        summary.sent_via = mailer.where
        streak: list[Outgoing] = []  # refused in a row, with the same reply
        for i, m in enumerate(messages):
            due = m.due

            def started(m: Outgoing = m) -> None:  # after the rate limit's pause
                record(store, m, "sending", clock.now(config))  # committed before the send

            try:
                refused = mailer.send(m.data, config.smtp.sender, due.recipients,
                                      started=started)
            except delivery.MessageRefused as err:
                streak = _refused(store, config, m, err.reply, streak, summary,
                                  len(messages) - i - 1)
                continue
            except delivery.RecipientsRefused as err:
                streak = []
                record(store, m, "failed", clock.now(config), str(err))
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
                record(store, m, "failed", clock.now(config), str(err))
                raise DeliveryError(
                    f"{err}; {summary.counts['sent']} sent before it, {len(messages) - i} not "
                    "sent (they stay in the outbox and go out on the next run, never twice)"
                ) from None
            streak = []
            record(store, m, "sent", clock.now(config), refused)
            if refused:
                summary.problems.append((due.record_id, f"{due.template}: {len(refused)} "
                                         "recipient(s) refused by the server; the others got it"))
            files.discard(outbox / due.file, "a message that was sent")  # next run
            summary.counts["sent"] += 1
            log.info("confirmations: sent %s %s", due.record_id, due.template)


def _refused(store: Store, config: Config, m: Outgoing, reply: str, streak: list[Outgoing],
             summary: Summary, left: int) -> list[Outgoing]:
    """Record a message the server refused for good; returns the streak of messages refused
    in a row with this reply. `SAME_REPLY_LIMIT` of them is about the server, not these
    messages: they go back to 'failed' and the run stops (DeliveryError)."""
    if streak and summary.refused[-1][2] != reply:
        streak = []
    streak = [*streak, m]
    if len(streak) >= SAME_REPLY_LIMIT:  # the server refuses all mail, not these
        for refused_one in streak:
            record(store, refused_one, "failed", clock.now(config), reply)
        del summary.refused[len(summary.refused) - len(streak) + 1:]
        summary.counts["refused"] -= len(streak) - 1
        raise DeliveryError(
            f"the mail server refused {len(streak)} messages in a row with the same "
            f"reply ({reply}): it is refusing all mail, not these messages; "
            f"{summary.counts['sent']} sent before, {left} not "
            "tried (they go out on the next run, never twice)") from None
    record(store, m, "refused", clock.now(config), reply)
    summary.refused.append((m.due.record_id, m.due.template, reply))
    summary.counts["refused"] += 1
    log.warning("confirmations: %s %s refused by the server for good",
                m.due.record_id, m.due.template)
    return streak
