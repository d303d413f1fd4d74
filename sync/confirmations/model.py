"""A confirmation run's plain data: a message that is due (`Due`) and what a run found and
did (`Summary`), which `sync.confirmations.due` plans and the run renders, sends and reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SENT_COLUMN = "Confirmation sent"
Contact = tuple[str, str]  # (display name, address)


@dataclass
class Due:
    """One message to render and send."""

    record_id: str
    template: str
    to: list[Contact]
    cc: list[Contact]
    context: dict[str, Any]
    entry: str = ""  # the ledger's name for it: the template's, or one per check (an alert)

    def __post_init__(self) -> None:
        self.entry = self.entry or self.template

    @property
    def recipients(self) -> list[str]:
        return [a for _, a in self.to + self.cc]

    @property
    def file(self) -> str:
        return f"{self.record_id}-{self.entry}.eml"


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
        if self.preview:  # a preview is not a due message: it ignores the ledger and dates
            lines.append(f"Previewed {c['previewed']} message(s), whatever was sent before or "
                         "the dates; nothing was written or sent. Run without --preview to see "
                         "what is due.")
            return "\n".join(lines + self._to_look_at())
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
        else:
            lines.append("Nothing was sent: run with --send to deliver them.")
        return "\n".join(lines + self._to_look_at())

    def attention(self) -> list[str]:
        """What needs a look (`-q`): the warnings, and the messages not sent and why."""
        return list(self.warnings) + self._to_look_at()

    def _to_look_at(self) -> list[str]:
        lines = [f"  {rid}: {problem}" for rid, problem in self.problems]
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
        return lines
