"""The log file under the output folder: `<output>/logs/tpd-programs.log`, rotated, owner-only.

Scheduled runs have no terminal, so this file is where staff look when something went wrong.
Log lines carry counts, record IDs, file names and durations only. As a second line of
defence, `PersonalDataFilter` blanks anything that looks like an email address or a phone
number before a line is written, whatever logged it.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import re
import sys
import traceback
from pathlib import Path

from sync.errors import SyncError
from sync.state import files

LOG_DIR = "logs"
LOG_NAME = "tpd-programs.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A North American phone number however it is written; record IDs (PIP-00042), dates
# (2020-03-05) and durations never have ten digits in these groupings.
_PHONE = re.compile(r"(?<![\w-])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?![\w-])"
                    r"|(?<![\w-])\d{10}(?![\w-])")


def log_path(output: Path) -> Path:
    return output / LOG_DIR / LOG_NAME


class PersonalDataFilter(logging.Filter):
    """Replaces email addresses and phone numbers in a record's final text with [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken format: let the handler report it as usual
            return True
        clean = redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


def redact(text: str) -> str:
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def unexpected(err: BaseException) -> str:
    """An error that is not the toolkit's own, for a log line or the screen: its type and
    where it was raised, never its message (an outside error may quote a cell's value)."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"unexpected {type(err).__name__}{where}"


def frames(err: BaseException) -> str:
    """The traceback of `err` without its message: file, line and code of each frame."""
    return "".join(traceback.format_list(traceback.extract_tb(err.__traceback__)))


class _OwnerOnlyHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files (current and rotated) are readable by the owner only.

    A line that cannot be written (a full disk) is not worth a traceback on the screen: the
    first such failure is said in one line on stderr, and the run goes on."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            err = sys.exc_info()[1]
            reason = getattr(err, "strerror", None) or type(err).__name__
            sys.stderr.write(f"tpd-programs: cannot write the log file {self.baseFilename} "
                             f"({reason}); going on without it\n")

    def _open(self):  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT | files.O_BINARY,
                     0o600)
        os.close(fd)
        if os.name != "nt":
            os.chmod(self.baseFilename, 0o600)
        return super()._open()


class _ZoneFormatter(logging.Formatter):
    """Log lines stamped in `zone` (the department's, as the Sync Log is), not the server's."""

    def __init__(self, zone: dt.tzinfo | None):
        super().__init__(FORMAT)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        when = dt.datetime.fromtimestamp(record.created, self.zone or dt.UTC)
        return (when if self.zone else when.astimezone()).strftime("%Y-%m-%d %H:%M:%S")


def attach(output: Path, level: int = logging.INFO, logger: logging.Logger | None = None,
           zone: dt.tzinfo | None = None) -> logging.Handler:
    """Start writing `logger` (default: the root logger) to the output folder's log file,
    its lines stamped in `zone` (the department's; default: the server's).

    The folder is created owner-only. Returns the handler, for `detach`.
    """
    path = log_path(output)
    try:
        output.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        handler = _OwnerOnlyHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as err:
        where = err.filename or output
        raise SyncError(f"{where}: the output folder cannot be written ({err.strerror or err}); "
                        "give the account that runs the toolkit write access to it, or set "
                        "[output] folder to another place") from None
    handler.setFormatter(_ZoneFormatter(zone))
    handler.setLevel(level)
    handler.addFilter(PersonalDataFilter())
    target = logger if logger is not None else logging.getLogger()
    target.addHandler(handler)
    if target.getEffectiveLevel() > level:
        target.setLevel(level)
    return handler


def detach(handler: logging.Handler, logger: logging.Logger | None = None) -> None:
    target = logger if logger is not None else logging.getLogger()
    target.removeHandler(handler)
    handler.close()


def record(handler: logging.Handler | None, message: str, level: int = logging.ERROR) -> None:
    """Write one line to the log file only (e.g. the error the command printed to the screen)."""
    if handler is None:
        return
    entry = logging.LogRecord("sync.cli", level, __file__, 0, "%s", (message,), None)
    if handler.filter(entry):
        handler.handle(entry)
