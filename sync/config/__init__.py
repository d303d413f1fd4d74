"""Load and validate the TOML configuration once; every error names the key.

`load(path)` returns a frozen `Config`; `load(path, as_of=day)` one whose clock
(`sync.state.clock`) reads as if today were `day`. Nothing else in the package reads the
file or the environment for settings: secrets (the SMTP password) arrive here from the
variable the file names, and travel on in the returned object. Names that become file or sheet names
(class ids, beat names) must differ when case is ignored, as on Windows (`sync.state.filenames`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.config.cohorts import WEEKDAYS, Session, read_session
from sync.config.geocoder import Geocoder, read_geocoder
from sync.config.google import Google, read_google
from sync.config.programs import PROGRAMS
from sync.config.source import Source, form_id, read_source, spreadsheet_key
from sync.config.tomltable import TableReader, parse
from sync.errors import ConfigError
from sync.state import clock, filenames

__all__ = [
    "DEFAULT_CONFIG", "UNASSIGNED", "WEEKDAYS", "Beat", "Config", "Department", "Google",
    "ProgramConfig", "Session", "Smtp", "Source", "VscRules", "form_id", "load", "spreadsheet_key",
]

DEFAULT_CONFIG = Path("config/programs.toml")
UNASSIGNED = "Unassigned"  # the beat of a residence no configured beat claims


@dataclass(frozen=True)
class Department:
    name: str
    city: str
    state: str
    timezone: ZoneInfo
    zip_codes: tuple[str, ...]
    station: str
    phone: str


@dataclass(frozen=True)
class Beat:
    name: str
    zip_codes: tuple[str, ...] = ()
    streets: tuple[tuple[str, int, int], ...] = ()  # (street, lowest number, highest number)


@dataclass(frozen=True)
class VscRules:
    advance_notice_hours: int = 48
    max_days: int = 30
    retention_days: int = 30
    geocodes: Path | None = None
    beats: tuple[Beat, ...] = ()
    welcome_home: bool = True  # a vsc-welcome-home letter the day after the return date
    welcome_home_without_checks: bool = True  # ...also when no check was logged


@dataclass(frozen=True)
class ProgramConfig:
    key: str
    source: Source
    questions: dict[str, str]  # canonical field -> question title
    options: dict[str, dict[str, str]]  # list field -> {option text: canonical value}
    minimum_age: int = 18
    cohorts: tuple[Session, ...] = ()  # PIP cohorts or TAP semesters
    schools: tuple[str, ...] = ()  # TAP
    vsc: VscRules | None = None
    templates: dict[str, str] = field(default_factory=dict)  # status -> template name


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str  # starttls | ssl | none
    username: str | None
    password: str | None = field(repr=False)
    password_env: str | None
    sender: str
    reply_to: str | None
    rate_per_minute: int
    send: bool
    timeout_seconds: float = 30.0
    notify: tuple[str, ...] = ()  # staff addresses told when a scheduled run fails


@dataclass(frozen=True)
class Config:
    path: Path
    department: Department
    output: Path
    google: Google
    programs: dict[str, ProgramConfig]
    smtp: Smtp | None
    backups: int = 5
    route_days: int = 3
    as_of: clock.AsOf | None = None  # --as-of: the day every command takes as today
    geocoder: Geocoder | None = None  # None: addresses are never sent to the Census geocoder

    def program(self, key: str) -> ProgramConfig:
        try:
            return self.programs[key]
        except KeyError:
            raise ConfigError(f"{self.path}: programs.{key}: not configured") from None


# -- sections --------------------------------------------------------------------------------


def _department(r: TableReader) -> Department:
    r.only({"name", "city", "state", "timezone", "zip_codes", "station", "phone"})
    tz_name = r.text("timezone", "America/Los_Angeles")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder of zones
        raise r.fail("timezone", f"unknown time zone {tz_name!r} (e.g. America/Los_Angeles)") from None
    zips = r.strings("zip_codes", ())
    for z in zips:
        if not re.fullmatch(r"\d{5}", z):
            raise r.fail("zip_codes", f"{z!r} is not a 5-digit ZIP code")
    return Department(
        name=r.text("name", "Police Department"),
        city=r.text("city"),
        state=r.text("state", "CA"),
        timezone=tz,
        zip_codes=zips,
        station=r.text("station", ""),
        phone=r.text("phone", ""),
    )


def _vsc_rules(r: TableReader) -> VscRules:
    r.only({"advance_notice_hours", "max_days", "retention_days", "geocodes", "beats",
            "welcome_home", "welcome_home_without_checks"})
    beats = []
    for i, raw in enumerate(r.get("beats", list, [])):
        if not isinstance(raw, dict):
            raise r.fail(f"beats[{i}]", "must be a table")
        b = TableReader(r.path, raw, r.key(f"beats[{i}]"))
        b.only({"name", "zip_codes", "streets"})
        streets = []
        for j, s in enumerate(b.get("streets", list, [])):
            ok = isinstance(s, dict) and isinstance(s.get("street"), str)
            if not ok:
                raise b.fail(f"streets[{j}]",
                             'must be a table like {street = "Maple Ave", from = 1, to = 999}')
            low, high = s.get("from", 0), s.get("to", 10**9)
            if not (isinstance(low, int) and isinstance(high, int)) or high < low:
                raise b.fail(f"streets[{j}]", "from/to must be house numbers with from <= to")
            streets.append((s["street"], low, high))
        beats.append(Beat(b.text("name"), b.strings("zip_codes", ()), tuple(streets)))
        if beats[-1].name.strip().casefold() == UNASSIGNED.casefold():
            raise b.fail("name", f"{beats[-1].name!r} is the route sheet of the residences "
                         f"no beat claims ({UNASSIGNED}): give the beat another name")
    if clash := filenames.first_clash(b.name for b in beats):  # sheet titles ignore case
        i, j = clash
        raise r.fail(f"beats[{j}].name", f"{beats[j].name!r} and {r.key(f'beats[{i}].name')} "
                     f"{beats[i].name!r} are one name when case is ignored, as Excel does in "
                     "sheet names, and each beat is a sheet of the route workbook: give them "
                     "names that differ in a letter or digit")
    return VscRules(
        advance_notice_hours=r.number("advance_notice_hours", 48),
        max_days=r.number("max_days", 30, minimum=1),
        retention_days=r.number("retention_days", 30),
        geocodes=r.path_value("geocodes", None),
        beats=tuple(beats),
        welcome_home=r.get("welcome_home", bool, True),
        welcome_home_without_checks=r.get("welcome_home_without_checks", bool, True),
    )


def _program(r: TableReader, key: str) -> ProgramConfig:
    program = PROGRAMS[key]
    allowed = {"source", "questions", "options", "minimum_age", "templates"}
    allowed |= {"pip": {"cohorts"}, "tap": {"semesters", "schools"}, "vsc": {"rules"}}[key]
    r.only(allowed)
    source = read_source(r.sub("source", required=True))
    q = r.sub("questions", required=True)
    questions: dict[str, str] = {}
    for name in q.table:
        if name not in program.field_names:
            known = ", ".join(program.field_names)
            raise q.fail(name, f"unknown field for {program.name} (known fields: {known})")
        questions[name] = q.text(name).strip()
    for f in program.fields:
        if f.required_mapping and f.name not in questions:
            raise q.fail(f.name, "missing: map it to the form's question title")
    options: dict[str, dict[str, str]] = {}
    opts = r.sub("options")
    for name in opts.table:
        if name not in program.field_names or program.field(name).kind != "list":
            raise opts.fail(name, "options can only be given for a checkbox (list) field")
        table = opts.sub(name)
        options[name] = {k: table.text(k) for k in table.table}
    classes = PROGRAMS[key].classes
    sessions_key = classes.config_key if classes else None
    sessions: list[Session] = []
    if sessions_key:
        for i, raw in enumerate(r.get(sessions_key, list, [])):
            if not isinstance(raw, dict):
                raise r.fail(f"{sessions_key}[{i}]", "must be a table")
            sessions.append(read_session(TableReader(r.path, raw, r.key(f"{sessions_key}[{i}]")), key))
        names = [filenames.class_file_name(key, s.id) for s in sessions]
        if clash := filenames.first_clash(names):
            i, j = clash
            first, other = sessions[i].id, r.key(f"{sessions_key}[{i}].id")
            if sessions[j].id == first:
                raise r.fail(f"{sessions_key}[{j}].id", f"duplicate id {first!r} (as {other})")
            raise r.fail(f"{sessions_key}[{j}].id", f"{sessions[j].id!r} and {other} {first!r} "
                         f"would share one roster file, {names[i]} (file names ignore case on "
                         "Windows, and characters other than letters, digits, '.', '_' and '-' "
                         "become '-'): give the classes ids that differ in a letter or digit")
    templates_table = r.sub("templates")
    templates = {status: templates_table.text(status) for status in templates_table.table}
    for status in templates:
        if status not in program.statuses and status not in ("Ineligible", "Received"):
            raise templates_table.fail(status, f"unknown status (known: {', '.join(program.statuses)})")
    return ProgramConfig(
        key=key,
        source=source,
        questions=questions,
        options=options,
        minimum_age=r.number("minimum_age", 18 if key == "pip" else 0),
        cohorts=tuple(sessions),
        schools=r.strings("schools", ()) if key == "tap" else (),
        vsc=_vsc_rules(r.sub("rules")) if key == "vsc" else None,
        templates=templates,
    )


def _smtp(r: TableReader) -> Smtp | None:
    if not r.table:
        return None
    r.only({
        "host", "port", "security", "username", "password_env", "from", "reply_to",
        "rate_per_minute", "send", "timeout_seconds", "notify",
    })
    if "password" in r.table:  # pragma: no cover - caught by only() above; kept for the message
        raise r.fail("password", "never put a password in the file: use password_env")
    security = r.text("security", "starttls").lower()
    if security not in ("starttls", "ssl", "none"):
        raise r.fail("security", f"must be starttls, ssl or none, got {security!r}")
    password_env = r.text("password_env", None)
    password = None
    if password_env:
        password = os.environ.get(password_env)
    username = r.text("username", None)
    return Smtp(
        host=r.text("host"),
        port=r.number("port", {"ssl": 465, "starttls": 587, "none": 25}[security], minimum=1),
        security=security,
        username=username,
        password=password,
        password_env=password_env,
        sender=r.text("from"),
        reply_to=r.text("reply_to", None),
        rate_per_minute=r.number("rate_per_minute", 30, minimum=1),
        send=r.get("send", bool, False),
        timeout_seconds=float(r.get("timeout_seconds", (int, float), 30.0)),
        notify=r.strings("notify", ()),
    )


def load(path: str | os.PathLike[str] = DEFAULT_CONFIG, as_of: dt.date | None = None) -> Config:
    """Read and validate the configuration file at `path`; with `as_of`, its clock reads as if
    today were that day in the department's time zone."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found; make one with `tpd-programs "
                          f"init {path.parent}` (or copy config/example.toml there), or name "
                          "yours with --config FILE") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    data = parse(path, raw)
    if "password" in data.get("smtp", {}):
        raise ConfigError(f"{path}: smtp.password: never put a password in the file: use password_env")
    root = TableReader(path, data, "")
    root.only({"department", "output", "google", "programs", "smtp", "routes", "geocoder"})
    out = root.sub("output")
    out.only({"folder", "backups"})
    routes = root.sub("routes")
    routes.only({"days"})
    progs = root.sub("programs", required=True)
    for key in progs.table:
        if key not in PROGRAMS:
            raise progs.fail(key, f"unknown program (known programs: {', '.join(PROGRAMS)})")
    if not progs.table:
        raise root.fail("programs", "configure at least one program (pip, tap or vsc)")
    config = Config(
        path=path,
        department=_department(root.sub("department", required=True)),
        output=out.path_value("folder", "out"),
        google=read_google(root.sub("google")),
        programs={key: _program(progs.sub(key), key) for key in PROGRAMS if key in progs.table},
        smtp=_smtp(root.sub("smtp")),
        backups=out.number("backups", 5),
        route_days=routes.number("days", 3, minimum=1),
        geocoder=read_geocoder(root.sub("geocoder")),
    )
    if as_of is None:
        return config
    return replace(config, as_of=clock.as_of(as_of, config.department.timezone))
