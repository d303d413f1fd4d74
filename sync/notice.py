"""The failure notice: when a scheduled run fails and `smtp.notify` lists addresses, staff
get a short email with the failed steps' lines, what to do next and where the log file is.
Counts and record IDs only, as in the log; never an answer from a form."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from sync.config import Config
from sync.errors import SyncError
from sync.state.logfile import log_path, redact

log = logging.getLogger(__name__)


class Step(Protocol):
    def line(self) -> str: ...


class Report(Protocol):
    """What the notice tells of a run (`sync.run.RunReport`)."""

    @property
    def started(self) -> dt.datetime: ...

    @property
    def failed(self) -> list[str]: ...

    @property
    def steps(self) -> Sequence[Step]: ...


def notify_failure(config: Config, report: Report) -> str:
    """Email `smtp.notify` that the run failed; returns a line saying what happened."""
    smtp = config.smtp
    if smtp is None or not smtp.notify:
        return ""
    message = failure_message(config, report)
    try:
        _deliver(config, message)
    except (SyncError, OSError) as err:
        reason = redact(str(err)) if isinstance(err, SyncError) else type(err).__name__
        log.error("failure notice not sent: %s", reason)
        return f"Failure notice not sent: {reason}"
    log.info("failure notice sent to %d address(es)", len(smtp.notify))
    return f"Failure notice sent to {len(smtp.notify)} address(es)."


def failure_message(config: Config, report: Report) -> EmailMessage:
    """The notice: which steps failed, what to do, where the log is. Counts and IDs only."""
    assert config.smtp is not None
    message = EmailMessage()
    message["Subject"] = (f"Community Programs Toolkit: run of {report.started:%Y-%m-%d %H:%M} "
                          f"failed ({', '.join(report.failed)})")
    message["From"] = config.smtp.sender
    message["To"] = ", ".join(config.smtp.notify)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="tpd-programs.local")
    body = [
        f"The scheduled run of the Community Programs Toolkit ({config.department.name}) "
        f"started at {report.started:%Y-%m-%d %H:%M} had {len(report.failed)} failed step(s).",
        "",
        *(s.line() for s in report.steps),
        "",
        "What to do next is at the end of each FAILED line. Steps that did not fail have "
        "written their files as usual.",
        f"Configuration: {config.path}",
        f"Log file: {log_path(config.output)}",
        "",
        "Run `tpd-programs check` to test the configuration, sources and email settings.",
    ]
    message.set_content(redact("\n".join(body)) + "\n")
    return message


def _deliver(config: Config, message: EmailMessage) -> None:
    """Send one message through the configured SMTP server (sync.confirmations.delivery)."""
    from sync.confirmations.delivery import Mailer

    assert config.smtp is not None
    with Mailer(config.smtp) as mailer:
        mailer.send(message, config.smtp.sender, config.smtp.notify)
