"""`run`: the daily job for a scheduler. Sync, rosters, confirmations, routes, in that order.

The whole run holds the output folder's lock. Each step is timed and reported as one line
of counts and record IDs (never names, addresses or birthdates); a step that fails is
reported with the next action to take, and the steps after it still run:

- rosters and routes work from the state of the last successful sync, so a failed sync
  (Google unreachable, say) still leaves staff with tonight's sign-in sheet and tomorrow's
  route sheets, as of the last good read;
- confirmations are always rendered to the outbox, but sent (when `smtp.send = true`) only
  after a successful sync in the same run, so a Status staff changed since the last good
  sync can never be overtaken by a message sent from older state; a message the mail server
  refuses for good fails the step (naming the record) after the others were sent;
- when no sync has ever succeeded there is no state to work from, and the other steps are
  skipped.

When any step fails and `smtp.notify` lists addresses, staff get a short notice by email
with the step lines and the log file's place.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.errors import (
    ConfigError,
    DeliveryError,
    LockedError,
    RefusedError,
    SigninError,
    SourceError,
    StateError,
    SyncError,
    TemplateError,
    WorkbookError,
)
from sync.notice import notify_failure
from sync.state import clock
from sync.state.lock import run_lock
from sync.state.logfile import frames, log_path, redact, unexpected
from sync.state.store import translate

log = logging.getLogger(__name__)

STEPS = ("sync", "rosters", "confirmations", "routes")
OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"
MAX_IDS = 20  # record IDs listed per step line; the rest are counted


class Skip(Exception):
    """Raised by a step that has nothing to do here (e.g. its program is not configured)."""


@dataclass
class StepResult:
    """What a step did, as counts and record IDs only."""

    counts: dict[str, Any] = field(default_factory=dict)  # label -> number (or nested dict)
    ids: list[str] = field(default_factory=list)
    note: str = ""
    warned: bool = False  # the note counts warnings to read
    failure: SyncError | None = None  # what failed, when the rest was done


@dataclass
class StepOutcome:
    name: str
    status: str  # ok | FAILED | skipped
    seconds: float
    result: StepResult = field(default_factory=StepResult)
    error: str = ""
    next_action: str = ""

    def line(self) -> str:
        head = f"{self.name:<13} {self.status:<7} {self.seconds:6.1f} s"
        if self.status == FAILED and self.result.failure:  # the rest was done: say both
            return "\n".join([f"{head}  {self._done()}"] + [
                f"  {line}  Next: {self.next_action}" for line in self.error.splitlines()])
        if self.status == FAILED:
            return f"{head}  {self.error}  Next: {self.next_action}"
        done = self._done()
        return f"{head}  {done}" if done else head

    def _done(self) -> str:
        parts = [_counts_text(self.result.counts)] if self.result.counts else []
        if self.result.ids:
            shown = ", ".join(self.result.ids[:MAX_IDS])
            more = len(self.result.ids) - MAX_IDS
            parts.append(f"records {shown}" + (f" and {more} more" if more > 0 else ""))
        if self.result.note:
            parts.append(self.result.note)
        return "; ".join(parts)


@dataclass
class RunReport:
    started: dt.datetime
    steps: list[StepOutcome] = field(default_factory=list)
    seconds: float = 0.0
    log_file: Path | None = None
    notice: str = ""

    @property
    def ok(self) -> bool:
        return all(s.status != FAILED for s in self.steps)

    @property
    def failed(self) -> list[str]:
        return [s.name for s in self.steps if s.status == FAILED]

    def render(self) -> str:
        lines = [s.line() for s in self.steps]
        verdict = ("Run finished: every step succeeded" if self.ok else
                   f"Run finished with {len(self.failed)} failed step(s): {', '.join(self.failed)}")
        lines.append(f"{verdict} ({self.seconds:.1f} s).")
        if self.notice:
            lines.append(self.notice)
        if self.log_file:
            lines.append(f"Log: {self.log_file}")
        return "\n".join(lines)

    def attention(self) -> list[str]:
        """`run -q`: the steps that failed, warned or list records; after a failure, the verdict."""
        look = [s.line() for s in self.steps if s.status == FAILED or s.result.ids or s.result.warned]
        return look + ([] if self.ok else self.render().splitlines()[len(self.steps):])


def _counts_text(counts: dict[str, Any]) -> str:
    parts = []
    for label, value in counts.items():
        if isinstance(value, dict):
            parts.append(f"{label} ({_counts_text(value) or 'none'})")
        else:  # "1 stop", "2 stops"; labels that are not plural nouns ("read", "new") as they are
            one = value == 1 and label in _PLURALS
            parts.append(f"{value} {label[:-1] if one else label}")
    return ", ".join(parts)


_PLURALS = {"stops", "beats", "records", "messages"}


# -- next actions ------------------------------------------------------------------------------


def next_action(step: str, err: BaseException, config: Config) -> str:
    """What staff should do about `err`, raised by `step`."""
    if isinstance(err, ConfigError):
        return (f"fix the configuration key named above in {config.path}, then run "
                "`tpd-programs check`")
    if isinstance(err, SigninError):
        return ("run `tpd-programs login` as the account that runs the toolkit, then "
                "`tpd-programs check`; nothing else needs changing")
    if isinstance(err, SourceError):
        return ("run `tpd-programs check` to see which source or question to fix; if Google was "
                "busy or unreachable, the next scheduled run retries by itself")
    if isinstance(err, WorkbookError):
        return ("close the workbook named above if it is open in Excel; if it is damaged, copy "
                f"the newest file from {config.output / 'backups'} over it; then run again")
    if isinstance(err, TemplateError):
        return ("fix the template and field named above, then check it with "
                "`tpd-programs confirmations --preview RECORD_ID`")
    if isinstance(err, RefusedError):
        return ("fix what each reply names (run `tpd-programs confirmations` to read them; the "
                "master's Confirmation sent column shows them too), then `tpd-programs "
                "confirmations --retry RECORD_ID`; the other messages were sent")
    if isinstance(err, DeliveryError):
        return ("run `tpd-programs check` to test the SMTP login; unsent messages stay in the "
                "outbox and go out on the next run, never twice")
    if isinstance(err, SyncError):
        return f"fix what the message names, then run `tpd-programs {step}` to retry this step"
    return ("an unexpected error in the toolkit: keep the log file (it has the details) and "
            "report it; the other steps still ran")


def _describe(err: BaseException) -> str:
    """The error for a log line. Only our own errors' messages are shown: they name files,
    rows and keys. Anything else may carry a cell's value, so only its type and place are."""
    if isinstance(err, SyncError):
        return redact(str(err))
    return unexpected(err)


# -- the steps ---------------------------------------------------------------------------------


def _step_sync(config: Config, state: dict[str, Any]) -> StepResult:
    from sync.master.syncer import sync

    summary = sync(config)
    state["synced"] = list(summary.counts)
    counts = {key: {k: v for k, v in c.items() if v or k in ("read", "records")}
              for key, c in summary.counts.items()}
    note = "nothing changed" if summary.unchanged else ""
    if summary.failures:
        note = f"{len(summary.failures)} program(s) not synced, kept as last read"
    return StepResult(counts, note=note, failure=summary.error() if summary.failures else None)


def _step_rosters(config: Config, state: dict[str, Any]) -> StepResult:
    from sync.classes.rosters import write_rosters
    from sync.classes.seating import CLASS_KEYS

    if not any(k in config.programs for k in CLASS_KEYS):
        raise Skip("no class program (pip, tap) is configured")
    summary = write_rosters(config)
    counts: dict[str, Any] = {}
    for c in summary.classes:
        r = c.roster
        counts[f"{r.program} {r.session.id}"] = {"seated": len(r.seated),
                                                 "waitlisted": len(r.waitlist),
                                                 "attendance marks": c.marks}
    # Warnings can quote answers (a school, a cohort name): counted here, read on screen.
    note = (f"{len(summary.warnings)} warning(s): run `tpd-programs rosters` to read them"
            if summary.warnings else "")
    return StepResult(counts, note=note, warned=bool(summary.warnings))


def _step_confirmations(config: Config, state: dict[str, Any]) -> StepResult:
    from sync.confirmations import confirm

    wanted = bool(config.smtp and config.smtp.send)
    synced = state.get("synced", [])
    partly = wanted and not state["sync_ok"] and bool(synced)  # some programs synced
    send = wanted and (state["sync_ok"] or partly)
    # the staff's notices of an insecure home go even when the rest waits in the outbox
    summary = confirm(config, keys=synced if partly else None, send=send, alerts=True)
    notes = []
    if partly:
        waiting = [k for k in config.programs if k not in synced]
        notes.append(f"not sent for {', '.join(waiting)}: its sync failed, so its messages wait "
                     "for its next good sync")
    elif wanted and not send:
        notes.append("not sent: the sync failed, so sending waits for the next good sync "
                     "(the messages are in the outbox)")
    elif not send:
        notes.append("written to the outbox only (smtp.send is not true)")
        if summary.counts.get("sent"):
            notes.append(f"{summary.counts['sent']} staff notice(s) of an insecure or suspicious "
                         "check sent")
    if summary.problems or summary.unconfirmed or summary.held:
        notes.append("the records listed need a look: run `tpd-programs confirmations`")
    if summary.warnings:
        notes.append(f"{len(summary.warnings)} warning(s)")
    refusal = summary.refusal()
    if refusal:  # the others went; the step fails so that staff hear of it
        raise RefusedError(refusal)
    return StepResult(dict(summary.counts), summary.record_ids, "; ".join(notes), bool(summary.warnings))


def _step_routes(config: Config, state: dict[str, Any]) -> StepResult:
    from sync.vacation.routes import write_routes

    if "vsc" not in config.programs:
        raise Skip("the vacation-check program (vsc) is not configured")
    summary = write_routes(config, start=clock.today(config), days=config.route_days)
    counts: dict[str, Any] = {d.day.isoformat(): {"stops": d.stops, "beats": len(d.beats)}
                              for d in summary.days}
    unassigned = sorted({rid for d in summary.days for rid in d.unassigned})
    return StepResult(counts, unassigned,
                      note="the records listed match no beat" if unassigned else "")


Step = Callable[[Config, dict[str, Any]], StepResult]
DEFAULT_STEPS: dict[str, Step] = {
    "sync": _step_sync,
    "rosters": _step_rosters,
    "confirmations": _step_confirmations,
    "routes": _step_routes,
}


# -- the run -----------------------------------------------------------------------------------


def run(config: Config, steps: dict[str, Step] | None = None) -> RunReport:
    """Run every step in order under the lock; a failing step does not stop the others."""
    steps = steps if steps is not None else DEFAULT_STEPS
    began = time.monotonic()
    report = RunReport(started=clock.now(config),
                       log_file=log_path(config.output.resolve()))
    try:
        with run_lock(config.output):
            log.info("run started: %s", ", ".join(steps))
            _run_steps(config, steps, report)
    except LockedError:
        log.warning("run not started: another run holds the lock")
        raise
    report.seconds = time.monotonic() - began
    if report.ok:
        log.info("run finished in %.1f s: every step succeeded", report.seconds)
    else:
        log.error("run finished in %.1f s: %d step(s) failed: %s", report.seconds,
                  len(report.failed), ", ".join(report.failed))
        report.notice = notify_failure(config, report)
    return report


def _synced_before(config: Config) -> bool:
    """Whether any sync has ever completed here (the state records every completed sync)."""
    from sync.state.store import STATE, Store, used_before

    path = config.output / STATE
    if not path.exists() and not used_before(config.output):
        return False
    try:
        with Store(path) as store:
            return bool(store.runs(limit=1))
    except StateError:
        return True  # then each step reports what is wrong with the state file


def _run_steps(config: Config, steps: dict[str, Step], report: RunReport) -> None:
    state: dict[str, Any] = {"sync_ok": False}
    for name, step in steps.items():
        if name != "sync" and not state["sync_ok"] and not _synced_before(config):
            note = "no successful sync yet, so nothing to work from"
            outcome = StepOutcome(name, SKIPPED, 0.0, StepResult(note=note))
        else:
            outcome = _one_step(config, name, step, state)
        if name == "sync":
            state["sync_ok"] = outcome.status == OK
        report.steps.append(outcome)
        log.info("%s", outcome.line())  # the screen gets the whole report from the command


def _one_step(config: Config, name: str, step: Step, state: dict[str, Any]) -> StepOutcome:
    started = time.monotonic()
    try:
        result = step(config, state)
    except Skip as why:
        return StepOutcome(name, SKIPPED, time.monotonic() - started, StepResult(note=str(why)))
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("sync."):
            return StepOutcome(name, SKIPPED, time.monotonic() - started,
                               StepResult(note="not part of this installation"))
        return _failed(config, name, err, started)
    except LockedError:
        raise
    except Exception as err:  # one step's failure must not stop the others
        return _failed(config, name, translate(err, config.output) or err, started)
    if result.failure is not None:  # done in part: the step failed, and says what it did
        return StepOutcome(name, FAILED, time.monotonic() - started, result,
                           error=_describe(result.failure),
                           next_action=next_action(name, result.failure, config))
    return StepOutcome(name, OK, time.monotonic() - started, result)


def _failed(config: Config, name: str, err: BaseException, started: float) -> StepOutcome:
    if not isinstance(err, SyncError):
        # The traceback shows where, never what: frames only, no exception message.
        log.info("%s: unexpected %s; traceback:\n%s", name, type(err).__name__, frames(err))
    return StepOutcome(name, FAILED, time.monotonic() - started, error=_describe(err),
                       next_action=next_action(name, err, config))


# -- failure notice ---------------------------------------------------------------------------


def notify_aborted(config: Config, err: BaseException) -> str:
    """The run stopped outside any step (before the lock, say, or by a bug): tell
    `smtp.notify` as for a failed step. Returns a line saying what happened, or ""."""
    if isinstance(err, LockedError):
        return ""  # not a failure: the previous run is still going
    action = (next_action("run", err, config) if isinstance(err, SyncError) else
              "an unexpected error stopped the run: keep the log file (it has the details) "
              "and report it")
    report = RunReport(started=clock.now(config),
                       steps=[StepOutcome("run", FAILED, 0.0, error=_describe(err),
                                          next_action=action)])
    return notify_failure(config, report)
