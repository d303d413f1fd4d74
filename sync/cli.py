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
from sync.config.programs import PROGRAMS
from sync.errors import LockedError, RefusedError, SyncError
from sync.master import heap, progress
from sync.state import logfile

log = logging.getLogger("sync")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help_text: str):
    """Register `func(args, config) -> int` as subcommand `name`, with an options builder."""

    def wrap(func):
        def options(parser: argparse.ArgumentParser) -> None:
            add = getattr(func, "options", None)
            if add:
                add(parser)

        COMMANDS[name] = (help_text, options)
        func.command_name = name
        _HANDLERS[name] = func
        return func

    return wrap


_HANDLERS: dict[str, Callable] = {}


def _program_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--program", choices=sorted(PROGRAMS), help="only this program (default: every configured one)"
    )


def _selected(args: argparse.Namespace, cfg: config_mod.Config) -> list[str]:
    if getattr(args, "program", None):
        cfg.program(args.program)  # a clear error if it is not configured
        return [args.program]
    return list(cfg.programs)


def _show(args: argparse.Namespace, summary) -> None:
    """Print a command's summary; with -q only what needs a look: the summary's
    `attention()` lines when it has them, else its warnings and problems."""
    if not args.quiet:
        print(summary.render())
        return
    attention = getattr(summary, "attention", None)
    lines = attention() if attention is not None else (
        [f"Warning: {w}" for w in getattr(summary, "warnings", [])]
        + [f"{rid}: {problem}" for rid, problem in getattr(summary, "problems", [])])
    if lines:
        print("\n".join(lines))


# -- commands ------------------------------------------------------------------------------


@command("sync", "read every form's responses and update the master workbook")
def cmd_sync(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.master.syncer import sync

    summary = sync(cfg, _selected(args, cfg))
    _show(args, summary)
    if summary.failures:  # the others were synced; each failed program is one line
        raise summary.error()
    return EXIT_OK


cmd_sync.options = _program_option


@command("check", "check the configuration, the sources and that every mapped question exists")
def cmd_check(args: argparse.Namespace, cfg: config_mod.Config | None) -> int:
    from sync.check import check_file

    report = check_file(args.config, getattr(args, "program", None))
    _show(args, report)
    return EXIT_OK if report.ok else EXIT_ERROR


cmd_check.options = _program_option
cmd_check.needs_config = False  # a configuration error is one of the FIX lines


@command("run", "the daily job for a scheduler: sync, rosters, confirmations, routes; "
         "exit 1 if any step failed")
def cmd_run(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.run import run

    report = run(cfg)
    _show(args, report)
    return EXIT_OK if report.ok else EXIT_ERROR


def _run_failed(cfg: config_mod.Config, err: BaseException) -> str:
    from sync.run import notify_aborted

    return notify_aborted(cfg, err)


cmd_run.on_failure = _run_failed  # a run that stops outside its steps still tells staff


@command("init", "write a starter configuration and templates folder for a new department")
def cmd_init(args: argparse.Namespace, cfg: None) -> int:
    from sync.init import write_starter

    print(write_starter(args.folder, examples=args.examples, force=args.force).render())
    return EXIT_OK


def _init_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", type=Path, default=Path("config"),
                        help="where to write programs.toml and templates/ (default: config)")
    parser.add_argument("--examples", action="store_true",
                        help="also copy the sample form exports and read them, to try the "
                        "toolkit offline")
    parser.add_argument("--force", action="store_true", help="replace files that already exist")


cmd_init.options = _init_options
cmd_init.needs_config = False


def _iso_date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2020-03-05: {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, at least 1: {text!r}")
    return int(text)


@command("rosters", "write each class's roster, waitlist, attendance and sign-in sheets "
         "(one workbook per cohort or semester)")
def cmd_rosters(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.classes.rosters import write_rosters

    _show(args, write_rosters(cfg, args.program, args.cohort))
    return EXIT_OK


def _rosters_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--program", choices=["pip", "tap"],
                        help="only this program (default: both)")
    parser.add_argument("--cohort", metavar="ID",
                        help="only this cohort or semester (its id, e.g. 2020-spring, or name)")


cmd_rosters.options = _rosters_options


@command("routes", "write the vacation-check route sheets (one workbook per day, a sheet per beat)")
def cmd_routes(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.vacation.routes import write_routes

    _show(args, write_routes(cfg, start=args.date, days=args.days))
    return EXIT_OK


def _routes_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=_iso_date, default=None, metavar="YYYY-MM-DD",
                        help="first day (default: today in the department's time zone)")
    parser.add_argument("--days", type=_positive, default=None, metavar="N",
                        help="how many days from --date (default: routes.days in the config)")


cmd_routes.options = _routes_options


@command("purge", "remove vacation-check personal data past retention (dry run unless --apply)")
def cmd_purge(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.vacation.purge import purge

    _show(args, purge(cfg, apply=args.apply))
    return EXIT_OK


def _purge_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apply", action="store_true",
                        help="really remove it (default: only list what would be removed)")


cmd_purge.options = _purge_options


@command("confirmations", "render the confirmation emails that are due into the outbox "
         "(nothing is sent unless --send)")
def cmd_confirmations(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.confirmations import confirm, resolve

    if args.mark_sent:
        n = resolve(cfg, args.mark_sent, "sent")
        print(f"{args.mark_sent}: {n} possibly-sent message row(s) marked as sent.")
        return EXIT_OK
    if args.retry:
        n = resolve(cfg, args.retry, "retry")
        print(f"{args.retry}: {n} possibly-sent or refused message row(s) to be sent again by "
              "the next --send.")
        return EXIT_OK
    summary = confirm(cfg, _selected(args, cfg), send=args.send, limit=args.limit,
                      preview=args.preview)
    _show(args, summary)
    refusal = summary.refusal()
    if refusal:
        raise RefusedError(refusal)
    return EXIT_OK


def _confirmations_options(parser: argparse.ArgumentParser) -> None:
    _program_option(parser)
    parser.add_argument("--limit", type=_count, metavar="N",
                        help="write and send at most N messages this run")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--send", action="store_true",
                      help="deliver them through the [smtp] server (needs smtp.send = true)")
    what.add_argument("--preview", metavar="RECORD_ID",
                      help="show the confirmation of one record, whatever was sent before")
    what.add_argument("--mark-sent", metavar="RECORD_ID",
                      help="a possibly-sent message did arrive: never send it again")
    what.add_argument("--retry", metavar="RECORD_ID",
                      help="a possibly-sent message did not arrive, or the cause of a refused "
                      "one is fixed: send it with the next --send")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, at least 1: {text!r}")
    return int(text)


cmd_confirmations.options = _confirmations_options


@command("restore-state", "put back the newest backup of the state file (or --from FILE), "
         "or start a new one with --start-over")
def cmd_restore_state(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.master.restore import restore
    from sync.state.lock import run_lock
    from sync.vacation.purge import reapply

    def purges(replaced: Path, restored: Path) -> str | None:
        return reapply(cfg, replaced, restored)

    with run_lock(cfg.output):
        print(restore(cfg.output, args.source, start_over=args.start_over,
                      carry_over=[purges]))
    return EXIT_OK


def _restore_options(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--from", dest="source", type=Path, metavar="FILE",
                      help="this backup instead of the newest one in the backups folder")
    what.add_argument("--start-over", action="store_true",
                      help="begin an empty state: new record IDs, and every confirmation is "
                      "sent again (the old file is kept aside)")


cmd_restore_state.options = _restore_options


@command("login", "sign in to Google as yourself for google.auth = \"user\": allow read-only "
         "access in a browser once; scheduled runs then refresh the saved sign-in")
def cmd_login(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    import threading
    import webbrowser

    from sync.login import Login

    with Login(cfg.google, port=args.port) as pending:
        print(pending.instructions(browser=not args.no_browser), flush=True)
        if args.no_browser:
            threading.Thread(target=_read_pasted, args=(pending,), daemon=True).start()
        else:
            webbrowser.open(pending.url)
        signed = pending.wait()
    print(signed.render())
    return EXIT_OK


def _read_pasted(pending) -> None:
    """Hand each pasted line to the login until one is the redirect address (CLI only)."""
    try:
        for line in sys.stdin:
            problem = pending.offer(line)
            if problem is None:
                return
            if line.strip():
                print(f"tpd-programs: {problem}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no terminal (a closed or absent stdin): the port still waits
        return


def _login_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a browser: print the address to open on any computer, "
                        "then wait for the answer on a local port or for the pasted address")
    parser.add_argument("--port", type=_port, default=0, metavar="N",
                        help="the local port Google's answer comes back to (default: any free "
                        "one; fix it to forward it over ssh -L N:127.0.0.1:N)")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535: {text!r}")
    return int(text)


cmd_login.options = _login_options


@command("logout", "revoke the Google sign-in saved by `tpd-programs login` and delete its file")
def cmd_logout(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from sync.login import logout

    print(logout(cfg.google))
    return EXIT_OK


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
    setup_logging(args.verbose, args.quiet)
    progress.configure(False if args.quiet else None)
    handler = _HANDLERS[args.command]
    file_log = None
    cfg = None
    try:
        cfg = config_mod.load(args.config) if getattr(handler, "needs_config", True) else None
        if cfg is not None:  # every command that writes under the output folder logs there
            file_log = logfile.attach(cfg.output, zone=cfg.department.timezone)
        with heap.young_collections_only():  # every command builds many long-lived objects
            try:
                return handler(args, cfg)
            except (OSError, sqlite3.Error) as err:  # the state file, a full disk
                from sync.state.store import translate

                known = translate(err, cfg.output) if cfg is not None else None
                if known is None:
                    raise
                raise known from None
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
