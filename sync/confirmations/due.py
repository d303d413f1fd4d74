"""Which confirmation messages are due: templates per status, recipients, the class and
waitlist context a template sees, and the ledger's say on what went already.

The package docstring (`sync.confirmations`) tells how the ledger makes each message go once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from sync.classes import attendance, seating, sessions
from sync.config import Config, ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.confirmations import headers, homecoming, render
from sync.confirmations.model import Contact, Due, Summary
from sync.errors import TemplateError
from sync.ingest import normalize, validate
from sync.state.store import Store

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES = {key: dict(p.templates) for key, p in PROGRAMS.items()}  # status -> template
CLOSED = ("Declined", "Withdrawn", "Cancelled")  # a "Received" template is not sent to these
CONTEXT_KEYS = ("record_id", "status", "program", "full_name", "class", "waitlist_position",
                "department", "eligibility_reason", "reasons")
RECIPIENTS = {key: [(r.role, r.names, r.address) for r in p.recipients]  # role, names, address
              for key, p in PROGRAMS.items()}
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def template_map(program: ProgramConfig) -> dict[str, str]:
    """Status -> template name: the config's table, or the defaults when it has none."""
    return dict(program.templates) if program.templates else dict(DEFAULT_TEMPLATES[program.key])


def templates_for(status: str, ineligible: bool, mapping: dict[str, str]) -> list[str]:
    """The templates a record with `status` should have had: an undecided ("New") ineligible
    record gets the Ineligible template; "Received" goes to every eligible open record."""
    names = []
    if ineligible and status == "New" and "Ineligible" in mapping:
        names.append(mapping["Ineligible"])
    elif status in mapping:
        names.append(mapping[status])
    if "Received" in mapping and not ineligible and status not in CLOSED:
        names.append(mapping["Received"])
    return list(dict.fromkeys(names))


def known_fields(key: str) -> set[str]:
    """What a template of program `key` may use (vacation checks have no class)."""
    known = set(PROGRAMS[key].field_names) | set(CONTEXT_KEYS)
    return known if key in seating.CLASS_KEYS else known - {"class", "waitlist_position"}


def template_fields(name: str) -> set[str]:
    """What template `name` may use: its program's fields (`known_fields`), with the checks
    for a welcome-home letter; a staff notice of a check sees the check only."""
    if name == homecoming.ALERT:
        return set(homecoming.ALERT_FIELDS)
    extra = homecoming.WELCOME_FIELDS if name == homecoming.WELCOME else ()
    return known_fields(name.split("-")[0]) | set(extra)


def template_folders(config: Config) -> list[Path]:
    """A `templates` folder beside the config file (staff's own) first, then the bundled one."""
    return [config.path.parent / "templates", render.BUNDLED]


def check_templates(config: Config, key: str, templates: render.Templates) -> None:
    """Every template the program's Status table names exists and uses known fields only."""
    program = config.program(key)
    for status, name in template_map(program).items():
        where = f"{config.path}: programs.{key}.templates.{status}"
        if not program.templates:
            where += f" (a default: {name!r})"
        if not _TEMPLATE_NAME.fullmatch(name):
            raise TemplateError(f"{where}: {name!r} is not a template name (letters, digits, -)")
        try:
            templates.check(name, known_fields(key))
        except TemplateError as err:
            raise TemplateError(f"{err}; used by {where}") from None


# -- what is due ------------------------------------------------------------------------------


def _class_context(session: Session | None, config: Config) -> dict[str, Any] | None:
    if session is None:
        return None
    dates = sessions.session_dates(session) or [session.start]
    return {"id": session.id, "name": session.name, "dates": dates, "first_date": dates[0],
            "last_date": dates[-1], "sessions": len(dates), "weekday": render.weekday(dates[0]),
            "start_time": session.start_time, "end_time": session.end_time,
            "graduation_minimum": session.graduation_minimum,
            "location": session.location or config.department.station}


def record_values(key: str, data: dict[str, Any], staff: dict[str, Any]) -> dict[str, Any]:
    """The record's answers, with any correction staff typed over a cell in the master."""
    out = {}
    for f in PROGRAMS[key].fields:
        value = staff[f.label] if f.label in staff else data["values"].get(f.name)
        out[f.name] = "" if value is None else value
    return out


def _name(values: dict[str, Any], names: tuple[str, ...]) -> str:
    return " ".join(str(values[n]).strip() for n in names if values.get(n)).strip()


def addresses(key: str, values: dict[str, Any]) -> tuple[list[Contact], list[Contact], list[str]]:
    """To and Cc as validated addresses, and what was missing or invalid."""
    to: list[Contact] = []
    cc: list[Contact] = []
    problems: list[str] = []
    seen: set[str] = set()
    for role, names, name in RECIPIENTS[key]:
        label = PROGRAMS[key].field(name).label
        try:
            addr = normalize.email(values.get(name))
        except ValueError:
            problems.append(f"{label!r} is not a valid email address")
            continue
        unsafe = headers.address_problem(addr) if addr else None
        if unsafe:
            problems.append(f"{label!r} {unsafe}")
            continue
        if not addr:
            problems.append(f"no {label.lower()}")
        elif addr.lower() not in seen:
            seen.add(addr.lower())
            (to if role == "to" else cc).append((_name(values, names), addr))
    return to, cc, problems


def reasons_of(data: dict[str, Any], program: ProgramConfig,
               config: Config) -> list[dict[str, Any]]:
    """The record's ineligibility reasons as a letter's fields (`validate.Reason`): the rules
    its answers break, as the master's Eligibility column names them. A reason the rules no
    longer give (the configuration changed since the sync) is rule "other", with its text."""
    shown = str(data.get("eligibility") or "").removeprefix("Ineligible: ")
    if not shown:
        return []
    found = validate.reasons(data["values"], program, config) if data.get("values") else []
    if "; ".join(r.text for r in found) == shown:
        return [vars(r) for r in found]
    return [vars(validate.Reason("other", text)) for text in shown.split("; ")]


def _waitlist(program: ProgramConfig, records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Each waiting record's place on its class's waitlist, as the roster shows it."""
    if program.key not in seating.CLASS_KEYS:
        return {}
    by_class, _ = seating.members(program, records)
    out: dict[str, int] = {}
    for session in program.cohorts:
        roster = seating.assign(program, session, by_class.get(session.id, []))
        out.update({p.applicant.record_id: p.number for p in roster.waitlist})
    return out


def _is_past(key: str, values: dict[str, Any], cls: dict[str, Any] | None, today: dt.date) -> bool:
    if key == "vsc":
        back = values.get("return_date")
        return isinstance(back, dt.date) and back < today
    return cls is not None and cls["last_date"] < today


def record_aliases(store: Store, key: str) -> dict[str, list[str]]:
    """Each record's own ID and the IDs merged into it (their ledger rows count as its own)."""
    merged = {rid: r["merged_into"] for rid, r in store.records(key, include_merged=True).items()}
    out: dict[str, list[str]] = {}
    for rid in merged:
        target, seen = rid, {rid}
        while merged.get(target) and merged[target] not in seen:
            target = merged[target]
            seen.add(target)
        out.setdefault(target, []).append(rid)
    return out


Ledger = dict[tuple[str, str, str], tuple[str, str, str]]  # (ID, template, to) -> (state, when, error)


def _unsent(due: Due, ids: list[str], ledger: Ledger, summary: Summary) -> bool:
    """Drop recipients the ledger has as sent or possibly sent; False when none are left, or
    when the message is possibly sent or was refused for good (staff decide on those)."""
    def state(addr: str) -> tuple[str, str, str] | None:
        found = [ledger.get((i, due.entry, addr.lower())) for i in ids]
        return max((f for f in found if f and f[0] in ("sent", "sending", "refused")),
                   default=None)

    states = {addr: state(addr) for addr in due.recipients}
    unsure = [s[1] for s in states.values() if s and s[0] == "sending"]
    if unsure:
        summary.unconfirmed.append((due.record_id, due.template, min(unsure)))
        return False
    refused = [s for s in states.values() if s and s[0] == "refused"]
    if refused:
        summary.held.append((due.record_id, due.template, refused[0][2] or "refused"))
        return False
    due.to = [c for c in due.to if states[c[1]] is None]
    due.cc = [c for c in due.cc if states[c[1]] is None]
    if not due.to:  # a Cc-only remainder (say, a corrected counselor address) becomes To
        due.to, due.cc = due.cc, []
    if not due.to and any(states.values()):
        summary.counts["already_sent"] += 1
    return bool(due.to)


def plan(store: Store, config: Config, keys: list[str], today: dt.date,
         templates: render.Templates, summary: Summary, only: str | None = None) -> list[Due]:
    """Every message due now (`only`: just that record, ignoring the ledger and dates)."""
    rows = store.db.execute("SELECT record_id, template, recipient, state, attempted, "
                            "COALESCE(error, '') FROM ledger")
    ledger = {(rid, tpl, rcpt): (state, when, error) for rid, tpl, rcpt, state, when, error in rows}
    dues: list[Due] = []
    for key in keys:
        program = config.program(key)
        check_templates(config, key, templates)
        mapping = template_map(program)
        records = store.records(key)
        aliases = record_aliases(store, key)
        positions = _waitlist(program, records)
        department = vars(config.department) | {"timezone": str(config.department.timezone)}
        for rid, r in records.items():
            if only is not None and rid != only:
                continue
            data, staff = r["data"], r["staff"]
            status = seating.status_of(key, staff) or "New"
            values = record_values(key, data, staff)
            cls = _class_context(attendance.member_class(program, data, staff)[0]
                                 if key in seating.CLASS_KEYS else None, config)
            for name in templates_for(status, bool(data.get("eligibility")), mapping):
                if only is None and _is_past(key, values, cls, today):
                    summary.counts["past"] += 1
                    continue
                if cls is None and "class" in templates.fields(name):
                    summary.problems.append((rid, f"{name}: not sent: not in any configured "
                                             "class (see the override column)"))
                    summary.counts["skipped"] += 1
                    continue
                to, cc, problems = addresses(key, values)
                if not to:
                    summary.problems.append((rid, f"{name}: not sent: {'; '.join(problems)}"))
                    summary.counts["skipped"] += 1
                    continue
                if problems:
                    summary.problems.append((rid, f"{name}: {'; '.join(problems)}; "
                                             "sent to the others"))
                context = {
                    **values, "record_id": rid, "status": status, "class": cls,
                    "program": PROGRAMS[key].name, "department": department,
                    "full_name": _name(values, RECIPIENTS[key][0][1]),
                    "waitlist_position": positions.get(rid),
                    "eligibility_reason": str(data.get("eligibility") or "")
                    .removeprefix("Ineligible: "),
                    "reasons": reasons_of(data, program, config),
                }
                due = Due(rid, name, to, cc, context)
                if only is None and not _unsent(due, aliases.get(rid, [rid]), ledger, summary):
                    continue
                dues.append(due)
                summary.by_template[name] += 1
    dues += _homecoming(store, config, keys, today, templates, summary, only, ledger)
    summary.counts["due"] = len(dues)
    return dues


def _homecoming(store: Store, config: Config, keys: list[str], today: dt.date,
                templates: render.Templates, summary: Summary, only: str | None,
                ledger: Ledger) -> list[Due]:
    """The welcome-home letters and staff notices of checks (`sync.confirmations.homecoming`)
    due and not sent; `only`: that record's, whatever the date and the ledger."""
    program = config.programs.get("vsc")
    if "vsc" not in keys or program is None or program.vsc is None:
        return []
    aliases = record_aliases(store, "vsc")
    rules = program.vsc
    notify = [("", a) for a in config.smtp.notify] if config.smtp is not None else []
    if rules.welcome_home:
        templates.check(homecoming.WELCOME, template_fields(homecoming.WELCOME))
    if notify:
        templates.check(homecoming.ALERT, template_fields(homecoming.ALERT))
    checks = homecoming.checks_by_record(store)
    department = vars(config.department) | {"timezone": str(config.department.timezone)}
    out: list[Due] = []
    for rid, r in store.records("vsc").items():
        data, staff, found = r["data"], r["staff"], checks.get(rid, [])
        if (only is not None and rid != only) or data.get("purged"):
            continue
        out += [Due(rid, homecoming.ALERT, notify, [], {
            "record_id": rid, "check": homecoming.check_context(c), "department": department,
            "program": PROGRAMS["vsc"].name}, homecoming.alert_key(c))
            for c in (homecoming.alerts({rid: found}) if notify else [])]
        due = homecoming.welcome_due(data, staff, bool(found), rules.welcome_home,
                                     rules.welcome_home_without_checks, today)
        if not due and (only is None or due is None):
            continue
        values = record_values("vsc", data, staff)
        to, cc, problems = addresses("vsc", values)
        if not to:
            summary.problems.append((rid, f"{homecoming.WELCOME}: not sent: {'; '.join(problems)}"))
            summary.counts["skipped"] += 1
            continue
        out.append(Due(rid, homecoming.WELCOME, to, cc, {
            **values, "record_id": rid, "status": seating.status_of("vsc", staff) or "New",
            "program": PROGRAMS["vsc"].name, "department": department, "class": None,
            "full_name": _name(values, RECIPIENTS["vsc"][0][1]), "waitlist_position": None,
            "eligibility_reason": "", "checks": [homecoming.check_context(c) for c in found]}))
    ledger = homecoming.per_check(ledger, [d for d in out if d.entry != d.template], aliases)
    out = [d for d in out if only is not None
           or _unsent(d, aliases.get(d.record_id, [d.record_id]), ledger, summary)]
    summary.by_template.update(d.template for d in out)
    return out
