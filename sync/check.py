"""`check`: is everything in place for a run? Each line says what is OK or what to fix.

In order: the configuration; when a program reads a Google Sheet or Form, the Google
service-account key, the saved sign-in of `tpd-programs login` (who, and when it was last
refreshed) or the Application Default Credentials, as `google.auth` says; each program's
source and its mapped questions (naming the closest titles the form has when one is
missing); the SMTP login (without sending anything); and the output folder.
Nothing here stops at the first problem: one report lists everything to fix.

Who else can open the output folder and the key is read from the mode bits on POSIX and from
the access list on Windows (`sync.state.winacl`). When that list cannot be read the line says WARN:
neither OK (nobody looked) nor FIX (nothing is known to be wrong), so the check still passes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sync.config import Config, ProgramConfig, Smtp, load
from sync.confirmations.delivery import Mailer
from sync.errors import ConfigError, DeliveryError, SourceError, SyncError
from sync.sources.exports import read_export
from sync.sources.responses import closest_titles, export_setting
from sync.state import files, winacl
from sync.vacation import census


@dataclass
class CheckReport:
    lines: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, detail)
    warned: set[int] = field(default_factory=set)  # indexes of lines that say WARN

    def add(self, what: str, ok: bool, detail: str) -> None:
        self.lines.append((what, ok, detail))

    def warn(self, what: str, detail: str) -> None:
        """A line to read that does not fail the check (something could not be verified)."""
        self.warned.add(len(self.lines))
        self.lines.append((what, True, detail))

    @property
    def ok(self) -> bool:
        return all(ok for _what, ok, _detail in self.lines)

    def render(self) -> str:
        width = max((len(w) for w, _ok, _d in self.lines), default=10)
        rows = [f"{'WARN' if i in self.warned else 'OK  ' if ok else 'FIX '} "
                f"{what:<{width}}  {detail}" for i, (what, ok, detail) in enumerate(self.lines)]
        verdict = ("Some checks need attention (FIX lines above)." if not self.ok
                   else "All checks passed; read the WARN lines above." if self.warned
                   else "All checks passed.")
        return "\n".join([*rows, verdict])

    def attention(self) -> list[str]:
        """`check -q`: the FIX and WARN lines and the verdict, or nothing when all passed."""
        lines = self.render().splitlines()
        return [line for line in lines[:-1] if not line.startswith("OK ")] + (
            lines[-1:] if not self.ok or self.warned else [])


def check_file(path: Path, program: str | None = None,
               as_of: dt.date | None = None) -> CheckReport:
    """Load the configuration at `path` (its clock set to `as_of`, if given) and check it; a
    configuration error is one FIX line."""
    try:
        config = load(path, as_of=as_of)
        keys = [config.program(program).key] if program else list(config.programs)
    except ConfigError as err:
        report = CheckReport()
        report.add("configuration", False, str(err))
        return report
    return check(config, keys)


def check(config: Config, keys: list[str]) -> CheckReport:
    """Check everything `keys` (program keys) need for a run, and the shared settings."""
    report = CheckReport()
    names = ", ".join(keys)
    report.add("configuration", True, f"{config.path} ({names})")
    google = [k for k in keys if config.program(k).source.file is None]
    credentials_ok = _check_credentials(config, report) if google else True
    for key in keys:
        program = config.program(key)
        if program.source.file is not None:
            _check_export(program, report, export_setting(config, key))
    sheets = [k for k in google if config.program(k).source.spreadsheet is not None]
    if sheets:
        _check_spreadsheets(config, sheets, credentials_ok, report)
    forms = [k for k in google if config.program(k).source.form is not None]
    if forms:
        _check_forms(config, forms, credentials_ok, report)
    if "vsc" in keys:
        _check_geocoder(config, report)
    _check_smtp(config.smtp, report)
    _check_output(config.output, report)
    return report


# -- questions ---------------------------------------------------------------------------------


def missing_questions(headers: tuple[str, ...], program: ProgramConfig) -> list[str]:
    """One message per mapped question the form does not have, naming the closest titles."""
    lowered = {h.casefold() for h in headers}
    problems = []
    for name, title in program.questions.items():
        if title in headers or " ".join(title.split()).casefold() in lowered:
            continue
        near = closest_titles(title, headers)
        hint = f" (closest: {', '.join(repr(t) for t in near)})" if near else ""
        problems.append(f"{title!r} (programs.{program.key}.questions.{name}) "
                        f"is not in the form{hint}")
    return problems


def _report_questions(program: ProgramConfig, headers: tuple[str, ...],
                      report: CheckReport) -> None:
    what = f"{program.key} questions"
    if not headers:
        report.add(what, False, "the responses sheet has no header row yet: submit one test "
                   "response to the form, then check again")
        return
    missing = missing_questions(headers, program)
    if missing:
        report.add(what, False, "; ".join(missing))
    else:
        report.add(what, True, f"all {len(program.questions)} mapped questions found")


# -- sources -----------------------------------------------------------------------------------


def _check_export(program: ProgramConfig, report: CheckReport, setting: str) -> None:
    assert program.source.file is not None
    try:
        table = read_export(program.source.file, setting)
    except SyncError as err:
        report.add(f"{program.key} source", False, str(err))
        return
    report.add(f"{program.key} source", True,
               f"{program.source.file}: {len(table.rows)} responses")
    _report_questions(program, table.headers, report)


def _check_credentials(config: Config, report: CheckReport) -> bool:
    if config.google.auth == "user":
        return _check_signin(config, report)
    if config.google.auth == "adc":
        return _check_adc(report)
    path = config.google.credentials
    what = "google credentials"
    if path is None:
        report.add(what, False, "not configured: set google.credentials to the service account's "
                   "JSON key file, or the GOOGLE_APPLICATION_CREDENTIALS environment variable")
        return False
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.add(what, False, f"{path}: key file not found (google.credentials)")
        return False
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "not a JSON file"
        report.add(what, False, f"{path}: cannot read the key ({reason}); download a new JSON "
                   "key for the service account from the Google Cloud console")
        return False
    email = info.get("client_email") if isinstance(info, dict) else None
    if not isinstance(info, dict) or info.get("type") != "service_account" or not email:
        report.add(what, False, f"{path}: not a service-account JSON key; create one under "
                   "IAM & Admin > Service Accounts > Keys in the Google Cloud console")
        return False
    detail = (f"{path} (service account {email}: share each response spreadsheet with this "
              "address as a Viewer)")
    _private_file(report, what, path, detail, "the key")
    return True


def _private_file(report: CheckReport, what: str, path: Path, detail: str, noun: str) -> None:
    """OK with `detail` when only the owner can read the secret at `path`, else a FIX line
    with the command that makes it so (an access list on Windows, file modes elsewhere)."""
    if os.name == "nt":
        found = _open_to_others(report, what, path, detail, path, False)
        if found:
            report.add(what, False, f"{path}: {found[0]} can read {noun}: run {found[1]}")
    elif path.stat().st_mode & 0o077:
        report.add(what, False, f"{path}: other users of this computer can read {noun}: "
                   f"run chmod 600 {path}")
    else:
        report.add(what, True, detail)


def _check_signin(config: Config, report: CheckReport) -> bool:
    """auth = "user": the OAuth client, the saved sign-in, who it is and when it was last
    refreshed (before this check's own requests, which may refresh it again)."""
    from sync.sources import googleauth  # only checks that use Google import it

    google, what = config.google, "google sign-in"
    assert google.token is not None
    try:
        googleauth.read_client(google)
        saved = googleauth.read_token(google.token)
    except SourceError as err:
        report.add(what, False, str(err))
        return False
    missing = saved.missing((googleauth.SHEETS, googleauth.FORMS_RESPONSES, googleauth.FORMS_BODY))
    if missing:
        names = ", ".join(googleauth.SCOPE_NAMES[s] for s in missing)
        report.add(what, False, f"{google.token}: the sign-in does not allow the toolkit to "
                   f"{names}; run `tpd-programs login` again and leave every box ticked")
        return False
    zone = config.department.timezone

    def when(moment) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}" if moment else "never"

    who = saved.account or "a Google account that was not named"
    detail = (f"{google.token}: signed in as {who} with `tpd-programs login` on "
              f"{when(saved.signed_in)}; token last refreshed {when(saved.refreshed)} (this "
              "account must be able to open each response spreadsheet and form)")
    _private_file(report, what, google.token, detail, "the sign-in")
    return True


def _check_adc(report: CheckReport) -> bool:
    """auth = "adc": Application Default Credentials can be found; whom they stand for."""
    from sync.sources import googleauth  # only checks that use Google import it

    scopes = [googleauth.SHEETS, googleauth.FORMS_RESPONSES, googleauth.FORMS_BODY]
    try:
        found = googleauth.adc_credentials(scopes)
    except SourceError as err:
        report.add("google credentials", False, str(err))
        return False
    report.add("google credentials", True, "Application Default Credentials "
               f"({googleauth.describe_adc(found)})")
    return True


def _not_checked(config: Config, keys: list[str], report: CheckReport) -> None:
    for key in keys:
        report.add(f"{key} source", False, f"{config.program(key).source.label}: not "
                   "checked: fix the Google credentials first")


def _check_spreadsheets(config: Config, keys: list[str], credentials_ok: bool,
                        report: CheckReport) -> None:
    if not credentials_ok:
        _not_checked(config, keys, report)
        return
    from sync.sources.google import check_spreadsheets  # only checks that use Google import it

    sources = {k: config.program(k).source for k in keys}
    wanted = [(s.spreadsheet or "", s.worksheet) for s in sources.values()]
    try:
        found = check_spreadsheets(wanted, config.google)
    except SourceError as err:
        found = {w: err for w in wanted}
    for key, source in sources.items():
        result = found[(source.spreadsheet or "", source.worksheet)]
        if isinstance(result, SourceError):
            report.add(f"{key} source", False, str(result))
            continue
        report.add(f"{key} source", True, f"{source.label}: reached ({len(result)} columns)")
        _report_questions(config.program(key), result, report)


def _check_forms(config: Config, keys: list[str], credentials_ok: bool,
                 report: CheckReport) -> None:
    """One forms.get per form: reachable, and every mapped question title is in it."""
    if not credentials_ok:
        _not_checked(config, keys, report)
        return
    from sync.sources.forms import check_forms  # only checks that read a form import it

    ids = [config.program(k).source.form or "" for k in keys]
    try:
        found = check_forms(ids, config.google)
    except SourceError as err:
        found = {i: err for i in ids}
    for key, form in zip(keys, ids, strict=True):
        result = found[form]
        if isinstance(result, SourceError):
            report.add(f"{key} source", False, str(result))
            continue
        report.add(f"{key} source", True, f"{config.program(key).source.label}: reached "
                   f"({len(result)} columns)")
        _report_questions(config.program(key), result, report)


# -- email and output ------------------------------------------------------------------------


def _check_geocoder(config: Config, report: CheckReport) -> None:
    """Whether vacation-request addresses go to the Census geocoder, and whether it answers
    (a connection only: no address is sent). Unreachable is a WARN: routes go on by street."""
    what, geocoder = "geocoder", config.geocoder
    if geocoder is None:
        report.add(what, True, "off ([geocoder] enabled is not true): no address is sent; "
                   "routes use programs.vsc.rules.geocodes and coordinates typed in the master")
        return
    host = urlsplit(geocoder.url).hostname
    if (why := census.unreachable(geocoder)) is not None:
        report.warn(what, f"{why}: routes are ordered by street until it answers; check the "
                    "network, or turn [geocoder] off")
        return
    report.add(what, True, f"on: new vacation-request addresses are sent to {host} "
               f"(benchmark {geocoder.benchmark}); it accepts connections")


def _check_smtp(smtp: Smtp | None, report: CheckReport) -> None:
    what = "email (SMTP)"
    if smtp is None:
        report.add(what, True, "not configured: confirmations are written to the outbox only")
        return
    try:
        with Mailer(smtp):  # connect, secure and log in; then quit without sending
            pass
    except DeliveryError as err:
        report.add(what, False, str(err))
        return
    who = f"logged in as {smtp.username}" if smtp.username else "connected (no login configured)"
    sending = ("sending is on (send = true)" if smtp.send
               else "send = false: confirmations stay in the outbox")
    report.add(what, True, f"{smtp.host}:{smtp.port} ({smtp.security}): {who}; {sending}")
    if smtp.notify:
        report.add("failure notices", True, f"sent to {len(smtp.notify)} address(es) when a "
                   "scheduled run fails")


def _check_output(folder: Path, report: CheckReport) -> None:
    what = "output folder"
    if not folder.exists():
        parent = folder.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            report.add(what, False, f"{folder}: does not exist and {parent} is not writable: "
                       "create it, or change output.folder")
            return
        detail = f"{folder}: will be created by the first run"
        if os.name != "nt":
            report.add(what, True, detail)
            return
        # On Windows the new folder inherits the parent's access list: the fix protects the
        # folder once made, never the parent (it may be C:\).
        found = _open_to_others(report, what, parent, detail, folder, True)
        if found:
            report.add(what, False, f"{detail}, and {found[0]} could open it (inherited from "
                       f'{parent}): run mkdir "{folder}", then {found[1]}')
        return
    if not folder.is_dir():
        report.add(what, False, f"{folder}: is a file, not a folder: change output.folder")
        return
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".check-")
        os.close(fd)
        files.delete(Path(probe))
    except OSError as err:
        report.add(what, False, f"{folder}: cannot write there ({err.strerror}): fix its "
                   "permissions, or change output.folder")
        return
    if os.name == "nt":
        found = _open_to_others(report, what, folder, f"{folder}: writable", folder, True)
        if found:
            report.add(what, False, f"{folder}: {found[0]} can open it, and it holds personal "
                       f"data: run {found[1]}")
        return
    if stat.S_IMODE(folder.stat().st_mode) & 0o007:
        report.add(what, False, f"{folder}: every user of this computer can open it, and it "
                   f"holds personal data: run chmod 700 {folder}")
        return
    report.add(what, True, f"{folder}: writable")


def _open_to_others(report: CheckReport, what: str, path: Path, ok_detail: str,
                    target: Path, folder: bool) -> tuple[str, str] | None:
    """Windows: who besides the user, SYSTEM and Administrators can open `path`, and the
    icacls line that protects `target`, for the caller's FIX line. When nobody else can,
    adds the OK line `ok_detail`; when the access list cannot be read, a WARN line."""
    try:
        found, explicit = winacl.who_else(path)
    except winacl.UnknownAcl as err:
        report.warn(what, f"{ok_detail}; could not read who else can open {path} "
                    f"({err.reason}): protect it as docs/setup.md says (Windows: protecting "
                    "the folder)")
        return None
    if not found:
        report.add(what, True, ok_detail)
        return None
    command = winacl.protect_command(target, folder, explicit if target == path else ())
    return ", ".join(found), command
