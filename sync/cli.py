"""The `tpd-programs` command line: parse, load config, call one library function, report.

Exit codes: 0 done, 1 error (the message names the file, row, question or key), 2 bad usage,
3 another run holds the lock.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sync import __version__
from sync import config as config_mod
from sync.commands import COMMANDS, EXIT_ERROR, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, HANDLERS
from sync.errors import LockedError, SyncError
from sync.master import heap, progress
from sync.state import clock, logfile

__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_LOCKED", "EXIT_OK", "EXIT_USAGE", "HANDLERS", "main"]

log = logging.getLogger("sync")

# -- entry point ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpd-programs",
        description="Community Programs Toolkit: form responses to the master workbook, "
        "rosters, confirmations and vacation-check routes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=config_mod.DEFAULT_CONFIG,
        help=f"configuration file (default: {config_mod.DEFAULT_CONFIG})",
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail")
    common.add_argument("-q", "--quiet", action="store_true",
                        help="errors only, and of the summary only what needs a look "
                        "(warnings, records listed)")
    common.add_argument("--as-of", metavar="YYYY-MM-DD",
                        help="run as if today were this day in the department's time zone "
                        "(what is due, active, this week, the route day, retention), at the "
                        "real time of day")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, options) in COMMANDS.items():
        sub = subs.add_parser(name, parents=[common], help=help_text, description=help_text)
        options(sub)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(level)  # the log file (sync.state.logfile) may take more detail than the screen
    handler.set_name("tpd-programs screen")  # one, however often main() runs in a process
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != handler.get_name() and (
        not isinstance(h, logging.StreamHandler)
        or getattr(h, "stream", None) not in (sys.stderr, sys.__stderr__))]
    root.addHandler(handler)
    root.setLevel(level)


def tolerant_output() -> None:
    """Characters the console's code page cannot show are written as \\u escapes, never an
    error: on a Windows PC whose output goes to a file (the scheduled task's log) Python
    encodes it as cp1252, which has no "ễ", and printing a Vietnamese name ended the run with
    UnicodeEncodeError. Backslash escapes, as Python already writes on stderr, lose nothing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # None under pythonw, or replaced
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: leave it as it is
                pass


def main(argv: Sequence[str] | None = None) -> int:
    tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    try:
        args.as_of = clock.parse_day(args.as_of) if args.as_of is not None else None
    except ValueError as err:
        print(f"tpd-programs {args.command}: --as-of: {err}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(args.verbose, args.quiet)
    progress.configure(False if args.quiet else None)
    handler = HANDLERS[args.command]
    file_log = None
    cfg = None
    try:
        cfg = config_mod.load(args.config, as_of=args.as_of) \
            if getattr(handler, "needs_config", True) else None
        if cfg is not None:  # every command that writes under the output folder logs there
            file_log = logfile.attach(cfg.output, zone=cfg.department.timezone)
        if args.as_of is not None:
            log.info("%s runs as of %s (--as-of)", args.command, args.as_of.isoformat())
        with heap.young_collections_only():  # every command builds many long-lived objects
            return _call(handler, args, cfg)
    except LockedError as err:
        print(f"tpd-programs: {err}", file=sys.stderr)
        return EXIT_LOCKED
    except SyncError as err:
        print(f"tpd-programs: error: {err}", file=sys.stderr)
        logfile.record(file_log, f"{args.command} failed: {err}")
        _after_failure(handler, cfg, err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tpd-programs: interrupted; the previous master workbook is unchanged", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # a bug, or an outside error nothing above translated
        # Its message may quote a cell or an address: the screen and the log get its type
        # and frames only.
        what = logfile.unexpected(err)
        logfile.record(file_log, f"{args.command} failed: {what}; traceback:\n"
                       f"{logfile.frames(err)}")
        where = (f"the log file {logfile.log_path(cfg.output)} has the details"
                 if file_log is not None and cfg is not None else "please report it")
        print(f"tpd-programs: {what}; {where}", file=sys.stderr)
        _after_failure(handler, cfg, err)
        return EXIT_ERROR
    finally:
        if file_log is not None:
            logfile.detach(file_log)


def _call(handler: Callable, args: argparse.Namespace, cfg: config_mod.Config | None) -> int:
    """The command's handler, with an outside error the state knows (a full disk, a damaged
    state file) translated into its message."""
    try:
        return handler(args, cfg)
    except (OSError, sqlite3.Error) as err:
        from sync.state.store import translate

        known = translate(err, cfg.output) if cfg is not None else None
        if known is None:
            raise
        raise known from None


def _after_failure(handler: Callable, cfg: config_mod.Config | None, err: BaseException) -> None:
    """The failed command's own follow-up, if it has one (`run`: the failure notice)."""
    follow_up = getattr(handler, "on_failure", None)
    if follow_up is None or cfg is None:
        return
    try:
        said = follow_up(cfg, err)
    except Exception as failed:  # the notice must never hide the error it is about
        said = f"Failure notice not sent: {logfile.unexpected(failed)}"
    if said:
        print(said, file=sys.stderr)
