"""Test configurations as plain data, and the one way to turn them into a TOML file.

A test that needs another configuration edits one of these dicts with `edited` (which
fails when a key to change is not there) instead of editing TOML text, where a `replace`
silently does nothing once the text drifts. `toml` writes what `sync.config.load` reads.
"""

from __future__ import annotations

import copy
import datetime
import datetime as dt
import json
from typing import Any

DEPARTMENT = {
    "name": "Torrance Police Department",
    "city": "Torrance",
    "state": "CA",
    "timezone": "America/Los_Angeles",
    "zip_codes": ["90501", "90502", "90503", "90504", "90505"],
    "station": "3300 Civic Center Drive, Torrance, CA 90503",
    "phone": "(310) 328-3456",
}
OUTPUT = {"folder": "out"}

# tests/conftest.py's Site: one program (PIP) read from pip.csv, one small class
PIP = {"department": DEPARTMENT, "output": OUTPUT, "programs": {"pip": {
    "source": {"file": "pip.csv"},
    "questions": {
        "submitted_at": "Timestamp",
        "email": "Email Address",
        "first_name": "First Name",
        "last_name": "Last Name",
        "date_of_birth": "Date of Birth",
        "phone": "Phone",
        "affiliations": "Connection to Torrance",
        "organization": "Organization",
    },
    "options": {
        "affiliations": {
            "I live in Torrance": "live",
            "I work in Torrance": "work",
            "I belong to a civic organization (Kiwanis, Rotary, etc.)": "civic",
        },
    },
    "cohorts": [
        {
            "id": "2020-spring",
            "name": "Spring 2020",
            "start": dt.date(2020, 3, 5),
            "sessions": 12,
            "weekday": "Thursday",
            "capacity": 3,
            "minimum": 2,
            "graduation_minimum": 9,
            "registration_opens": dt.date(2020, 1, 1),
            "registration_closes": dt.date(2020, 3, 4),
        },
    ],
}}}

# The vacation-check questions both VSC configurations ask
VSC_QUESTIONS = {
    "submitted_at": "Timestamp",
    "email": "Email Address",
    "first_name": "First Name",
    "last_name": "Last Name",
    "phone": "Phone",
    "street": "Street",
    "city": "City",
    "zip": "ZIP",
    "leave_date": "Leaving",
    "return_date": "Returning",
    "emergency_contact_name": "Emergency contact",
}

# test_confirmations: every program, a class in 2030 so that confirmations are due
CONFIRMATIONS = {"department": DEPARTMENT, "output": OUTPUT, "programs": {
    "pip": {
        "source": {"file": "pip.csv"},
        "questions": {
            "submitted_at": "Timestamp",
            "email": "Email Address",
            "first_name": "First Name",
            "last_name": "Last Name",
            "date_of_birth": "Date of Birth",
            "phone": "Phone",
            "affiliations": "Connection to Torrance",
        },
        "options": {
            "affiliations": {"I live in Torrance": "live", "I work in Torrance": "work"},
        },
        "cohorts": [
            {
                "id": "2030-spring",
                "name": "Spring 2030",
                "start": dt.date(2030, 3, 7),
                "sessions": 12,
                "weekday": "Thursday",
                "start_time": "18:00",
                "end_time": "20:00",
                "capacity": 40,
                "skip": [dt.date(2030, 4, 11)],
                "location": "Torrance Police Department, 3300 Civic Center Drive (Community Room)",
                "graduation_minimum": 9,
                "registration_opens": dt.date(2020, 1, 1),
                "registration_closes": dt.date(2030, 3, 6),
            },
        ],
    },
    "tap": {
        "schools": ["Torrance High School", "North High School"],
        "source": {"file": "tap.csv"},
        "questions": {
            "submitted_at": "Timestamp",
            "counselor_email": "Email Address",
            "counselor_name": "Counselor Name",
            "school": "High School",
            "semester": "Semester",
            "student_first_name": "Student First Name",
            "student_last_name": "Student Last Name",
            "grade": "Grade",
            "student_email": "Student Email",
            "guardian_name": "Parent/Guardian Name",
            "guardian_phone": "Parent/Guardian Phone",
            "guardian_email": "Parent/Guardian Email",
            "guardian_consent": "Consent",
        },
        "semesters": [
            {
                "id": "2030-fall",
                "name": "Fall 2030",
                "start": dt.date(2030, 9, 3),
                "sessions": 12,
                "weekday": "Tuesday",
                "capacity": 30,
                "credit_minimum": 10,
                "registration_opens": dt.date(2020, 1, 1),
                "registration_closes": dt.date(2030, 9, 2),
            },
        ],
    },
    "vsc": {
        "source": {"file": "vsc.csv"},
        "questions": VSC_QUESTIONS,
    },
}}

# test_routes: vacation checks only, with geocodes for route order
VSC = {
    "department": {k: v for k, v in DEPARTMENT.items() if k not in ("state", "phone")},
    "output": OUTPUT,
    "programs": {"vsc": {
    "source": {"file": "vsc.csv"},
    "questions": {
        **VSC_QUESTIONS,
        "emergency_contact_phone": "Emergency phone",
        "key_holder": "Key holder",
        "alarm_company": "Alarm company",
        "vehicles": "Vehicles",
        "lights_on_timers": "Lights",
        "pets": "Pets",
        "authorized_persons": "Authorized",
        "instructions": "Instructions",
    },
    "rules": {
        "retention_days": 30,
        "geocodes": "geocodes.csv",
        "beats": [
            {
                "name": "Beat 1 - North",
                "zip_codes": ["90501", "90504"],
            },
            {
                "name": "Beat 2 - West",
                "zip_codes": ["90503"],
                "streets": [
                    {"street": "Hawthorne Blvd", "from": 17000, "to": 19999},
                ],
            },
        ],
    },
}},
}


class Replace:
    """In `edited` changes: put this value in place of the one there (which must exist)."""

    def __init__(self, value: Any):
        self.value = value


def pip_from(source: dict[str, Any], google: dict[str, Any] | None = None) -> str:
    """`PIP` as TOML, reading its answers from `source` (a spreadsheet and worksheet, or a
    form) instead of pip.csv, with `google` as its [google] table."""
    changes: dict[str, Any] = {"programs": {"pip": {"source": Replace(source)}}}
    if google is not None:
        changes["google"] = google
    return toml(edited(PIP, changes))


def edited(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `changes` merged in: a dict merges into the table at its
    key, `Replace(v)` (or any other value) sets the key; `Replace` and `None` (remove the
    key) fail when the key is missing, so an edit never silently does nothing."""
    out = copy.deepcopy(base)
    _merge(out, changes, "")
    return out


def _merge(target: dict[str, Any], changes: dict[str, Any], where: str) -> None:
    for key, value in changes.items():
        path = f"{where}.{key}" if where else key
        if isinstance(value, Replace) or value is None:
            if key not in target:
                raise KeyError(f"{path}: not in the configuration to change")
            if value is None:
                del target[key]
            else:
                target[key] = copy.deepcopy(value.value)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, path)
        else:
            target[key] = copy.deepcopy(value)


def toml(data: dict[str, Any]) -> str:
    """`data` as TOML text: tables, arrays of tables, strings, numbers, booleans, dates,
    times and lists of those."""
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(data: dict[str, Any], path: list[str], lines: list[str]) -> None:
    for key, value in data.items():
        if not isinstance(value, dict) and not _is_tables(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            if not value or any(not isinstance(v, dict) and not _is_tables(v) for v in value.values()):
                lines += ["", "[" + ".".join(map(_key, [*path, key])) + "]"]
            _table(value, [*path, key], lines)
        elif _is_tables(value):
            for item in value:
                lines += ["", "[[" + ".".join(map(_key, [*path, key])) + "]]"]
                _table(item, [*path, key], lines)
