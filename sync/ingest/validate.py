"""Normalise and validate responses per program.

`validate(responses, program, config)` returns `(candidates, problems)`: a candidate is a
response whose answers parsed and that has what the program requires (it may still be
ineligible under a program rule, with the reason, for staff to decline politely); a problem
is a response that cannot be accepted, with every reason, for the Needs Review sheet. What
the source found wrong in a row as it read it (`Response.problems`) comes first among them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from sync.classes import sessions
from sync.config import Config, ProgramConfig
from sync.config.programs import PROGRAMS
from sync.ingest import normalize
from sync.sources.responses import Response

NAME_FIELDS = {
    "first_name", "last_name", "student_first_name", "student_last_name", "counselor_name",
    "guardian_name", "emergency_contact_name",
}


@dataclass
class Candidate:
    response: Response
    identity: str  # stable identity of the response (survives rows deleted above it)
    submitted: dt.datetime
    values: dict[str, Any]  # canonical field -> normalised value ("" / None when empty)
    ineligible: list[str] = field(default_factory=list)  # program-rule reasons
    fingerprint: str = ""  # hash of every answer: changes when the row is edited

    @property
    def first(self) -> dt.datetime:
        """When the response was first submitted: an edit moves `submitted`, not this."""
        created = self.response.created
        return created if created is not None and created < self.submitted else self.submitted


@dataclass(frozen=True)
class Reason:
    """Why a record is ineligible under a program rule. `text` is for staff (the master's
    Eligibility column, Needs Review); the rest is for a letter to the applicant: the `rule`
    broken, the applicant's `value` under it, the rule's `limit`, and the `date` it concerns
    (`on` says which: "class_start" or "application" for the age rule)."""

    rule: str
    text: str
    value: Any = None
    limit: Any = None
    date: dt.date | None = None
    on: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass
class Problem:
    response: Response
    reasons: list[str]


def identity_of(response: Response, occurrence: int) -> str:
    """Who this response is, independent of its row number: the source's own response ID
    when it has one (Forms: an edited response keeps it), else source + timestamp (+ repeat)."""
    if response.key:
        return f"{response.source}|{response.key}"
    stamp = response.fields.get("submitted_at")
    return f"{response.source}|{stamp!r}|{occurrence}"


def _parsed(response: Response) -> Response:
    """The response without its raw answers, once they are parsed into a candidate's values
    and fingerprint (50,000 responses' answers take about 100 MB)."""
    return Response(program=response.program, source=response.source, row=response.row,
                    fields={}, extra=response.extra, timezone=response.timezone, key=response.key,
                    created=response.created)


def fingerprint_of(response: Response) -> str:
    """A hash of the response's row and every answer (their repr: the answers are str,
    numbers, dates or None). The row is in it because the record shows it."""
    payload = repr((response.ref, response.fields, response.extra))
    return hashlib.blake2b(payload.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def _title(program: ProgramConfig, name: str) -> str:
    return program.questions.get(name, name)


def _parse(kind: str, name: str, raw: Any, response: Response, program: ProgramConfig,
           config: Config) -> Any:
    if kind == "datetime":
        return normalize.parse_datetime(
            raw, source_tz=response.timezone, target_tz=config.department.timezone
        )
    if kind == "date":
        return normalize.parse_date(raw, future=name in ("leave_date", "return_date"))
    if kind == "email":
        return normalize.email(raw)
    if kind == "phone":
        return normalize.phone(raw)
    if kind == "zip":
        return normalize.zip_code(raw)
    if kind == "list":
        options = program.options.get(name, {})
        return normalize.split_choices(raw, options.keys())
    if kind == "bool":
        return normalize.parse_bool(raw)
    if kind == "int":
        return normalize.parse_int(raw)
    if name in NAME_FIELDS:
        return normalize.name(raw)
    return normalize.clean_text(raw)


def _memo_parse(memo: dict[tuple[Any, ...], Any], kind: str, name: str, raw: Any,
                response: Response, program: ProgramConfig, config: Config) -> Any:
    """`_parse`, remembering each distinct answer's result (or its error) for this run."""
    try:
        key = (kind, name, type(raw), raw, response.timezone)
        hit = memo.get(key)
    except TypeError:  # an unhashable answer: parse it every time
        return _parse(kind, name, raw, response, program, config)
    if hit is None:
        try:
            hit = (True, _parse(kind, name, raw, response, program, config))
        except ValueError as err:
            hit = (False, str(err))  # not the error: its traceback would hold this frame
        memo[key] = hit
    ok, result = hit
    if not ok:
        raise ValueError(result)
    return list(result) if isinstance(result, list) else result


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def validate(responses: Iterable[Response], program: ProgramConfig, config: Config,
             known: dict[str, tuple[str, Any]] | None = None,
             ) -> tuple[list[Candidate], list[Problem]]:
    """Normalise and check each response.

    `known` ({identity: (fingerprint, {"values", "ineligible"})}) holds what an earlier run
    found for unchanged responses under the same configuration; those are not parsed again.
    """
    spec = PROGRAMS[program.key]
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    memo: dict[tuple[Any, ...], Any] = {}  # answers repeat (checkboxes, cities, dates)
    known = known or {}
    for response in responses:
        fingerprint = fingerprint_of(response)
        key = identity_of(response, 0)
        seen[key] = seen.get(key, 0) + 1
        identity = identity_of(response, seen[key] - 1)
        cached = known.get(identity)
        if cached is not None and cached[0] == fingerprint and not response.problems:
            values = cached[1]["values"]
            candidates.append(Candidate(_parsed(response), identity, values["submitted_at"],
                                        values, cached[1]["ineligible"], fingerprint))
            continue
        values: dict[str, Any] = {}
        reasons: list[str] = list(response.problems)  # found while reading the row
        failed: set[str] = set()
        for name in program.questions:
            raw = response.fields.get(name)
            if raw is None or (isinstance(raw, str) and not normalize.clean_text(raw)):
                values[name] = None
                continue
            try:
                values[name] = _memo_parse(memo, spec.field(name).kind, name, raw, response,
                                           program, config)
            except ValueError as err:
                values[name] = None
                failed.add(name)
                reasons.append(f"{_title(program, name)!r}: {err}")
        rules = RULES[program.key]
        reasons.extend(reason for name, reason in rules.required(values, program)
                       if name not in failed)
        if reasons:
            problems.append(Problem(response, reasons))
            continue
        candidate = Candidate(
            response=_parsed(response),
            identity=identity,
            submitted=values["submitted_at"],
            values=values,
            fingerprint=fingerprint,
        )
        candidate.ineligible = [r.text for r in rules.eligibility(values, program, config)]
        candidates.append(candidate)
    return candidates, problems


# -- program rules ---------------------------------------------------------------------------


Reasons = list[tuple[str | None, str]]  # (field the reason is about, reason)


def _missing(values: dict[str, Any], program: ProgramConfig, names: Iterable[str]) -> Reasons:
    return [(n, f"{_title(program, n)!r}: an answer is required")
            for n in names if _empty(values.get(n))]


class PipChecks:
    @staticmethod
    def required(values: dict[str, Any], program: ProgramConfig) -> Reasons:
        reasons = _missing(values, program, ("submitted_at", "first_name", "last_name",
                                             "date_of_birth", "affiliations"))
        if _empty(values.get("email")) and _empty(values.get("phone")):
            reasons.append((None, "no way to reach them: give an email address or a phone number"))
        return reasons

    @staticmethod
    def eligibility(values: dict[str, Any], program: ProgramConfig, config: Config) -> list[Reason]:
        reasons = []
        known = program.options.get("affiliations", {})
        chosen = [known[c] for c in values.get("affiliations") or [] if c in known]
        if known and not chosen:
            reasons.append(Reason("affiliation", "no Torrance affiliation (live, work, school, "
                                  "church or civic organization)", limit=config.department.city))
        cohort = sessions.class_for(values["submitted_at"].date(), program.cohorts)
        day = cohort.start if cohort else values["submitted_at"].date()
        born = values["date_of_birth"]
        if born and (age := sessions.age_on(born, day)) < program.minimum_age:
            when = f"the class start date {day.isoformat()}" if cohort else "the application date"
            reasons.append(Reason("minimum_age", f"under {program.minimum_age} on {when}", age,
                                  program.minimum_age, day, "class_start" if cohort else "application"))
        return reasons


class TapChecks:
    @staticmethod
    def required(values: dict[str, Any], program: ProgramConfig) -> Reasons:
        reasons = _missing(values, program, (
            "submitted_at", "student_first_name", "student_last_name", "grade", "school",
            "counselor_name", "guardian_name", "guardian_phone",
        ))
        if values.get("guardian_consent") is not True and "guardian_consent" in program.questions:
            reasons.append(("guardian_consent",
                            f"{_title(program, 'guardian_consent')!r}: guardian consent not given"))
        return reasons

    @staticmethod
    def eligibility(values: dict[str, Any], program: ProgramConfig, config: Config) -> list[Reason]:
        reasons = []
        if values["grade"] not in (11, 12):
            reasons.append(Reason("grade", f"grade {values['grade']}: the program is for juniors "
                                  "and seniors (11, 12)", values["grade"], [11, 12]))
        school = match_school(values["school"], program.schools)
        if school is None and program.schools:
            reasons.append(Reason("school", "not a Torrance Unified high school", values["school"],
                                  list(program.schools)))
        elif school:
            values["school"] = school
        return reasons


def match_school(answer: str, schools: Iterable[str]) -> str | None:
    """The configured school an answer names ("Torrance High" -> "Torrance High School")."""
    schools = list(schools)
    if not schools:
        return answer
    def key(s: str) -> str:
        words = normalize.clean_text(s).casefold().replace("high school", "").replace("high", "")
        return " ".join(words.replace("school", "").split())
    keys = {key(s): s for s in schools}
    if key(answer) in keys:
        return keys[key(answer)]
    found = process.extractOne(key(answer), list(keys), scorer=fuzz.ratio, score_cutoff=90)
    return keys[found[0]] if found else None


class VscChecks:
    @staticmethod
    def required(values: dict[str, Any], program: ProgramConfig) -> Reasons:
        reasons = _missing(values, program, ("submitted_at", "first_name", "last_name", "phone",
                                             "street", "leave_date", "return_date"))
        leave, back = values.get("leave_date"), values.get("return_date")
        if leave and back and back < leave:
            reasons.append(("return_date", f"{_title(program, 'return_date')!r}: the return "
                            "date is before the leave date"))
        return reasons

    @staticmethod
    def eligibility(values: dict[str, Any], program: ProgramConfig, config: Config) -> list[Reason]:
        rules = program.vsc
        assert rules is not None
        reasons = []
        zip_code = values.get("zip")
        city = (values.get("city") or "").strip()
        home = config.department.city
        if config.department.zip_codes and zip_code and zip_code not in config.department.zip_codes:
            reasons.append(Reason("zip_code", f"ZIP {zip_code} is outside {home} city limits",
                                  zip_code, home))
        elif city and city.casefold() != home.casefold() and not zip_code:
            reasons.append(Reason("city", f"the address is not in {home}", city, home))
        leave, back = values["leave_date"], values["return_date"]
        notice = dt.datetime.combine(leave, dt.time()) - values["submitted_at"]
        if notice < dt.timedelta(hours=rules.advance_notice_hours):
            reasons.append(Reason(
                "advance_notice", f"less than {rules.advance_notice_hours} hours' notice before "
                "leaving", notice // dt.timedelta(hours=1), rules.advance_notice_hours, leave))
        days = (back - leave).days
        if days > rules.max_days:
            reasons.append(Reason("max_days", f"away {days} days: the longest absence checked is "
                                  f"{rules.max_days} days", days, rules.max_days, leave))
        return reasons


RULES = {"pip": PipChecks, "tap": TapChecks, "vsc": VscChecks}


def reasons(values: dict[str, Any], program: ProgramConfig, config: Config) -> list[Reason]:
    """The program rules a record's normalised `values` do not meet (none: eligible)."""
    return RULES[program.key].eligibility(dict(values), program, config)
