"""The master's "Confirmation sent" column, and after a restore of the state, what it shows
that the restored ledger lost (the package docstring, `sync.confirmations`, tells the story)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from sync.confirmations.due import SENT_COLUMN, addresses, record_aliases, record_values
from sync.master import layout
from sync.state.store import Store

log = logging.getLogger(__name__)

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
              or None for rid in records}
    return layout.ToolColumn(layout.Column(SENT_COLUMN, width=28, wrap=True), values)
