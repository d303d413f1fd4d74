"""The three programs: their canonical fields, labels, statuses and record-ID prefixes.

Plain data only. Everything else (config, validation, the workbook) looks fields up here,
so adding a question to a program is a change in one place.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | email | phone | date | datetime | zip | list | bool | int
    required_mapping: bool = False  # the config must map this field to a question


@dataclass(frozen=True)
class Classes:
    """How a program run as classes (PIP cohorts, TAP semesters) names them."""

    config_key: str  # the configuration's list of classes: programs.<key>.<config_key>
    column: str  # the master's computed class column (its id), apart from the form's answer
    override: str  # the master's staff column that puts a record in another class
    eligible: str  # the attendance column saying whether the minimum was met
    attended: str = "Sessions attended"  # the attendance column counting the sessions attended
    former: str = ""  # `column`'s earlier header: a class staff typed under it still counts

    @property
    def computed(self) -> frozenset[str]:
        """The master's columns the classes compute (the attendance ones only once a class
        has a roll): never columns staff added, even on a sheet that lacks them."""
        return frozenset({self.column, self.eligible, self.attended})


@dataclass(frozen=True)
class Recipient:
    """Who a confirmation goes to: `role` "to" or "cc", the name from `names`, the
    address from the field `address`."""

    role: str
    names: tuple[str, ...]
    address: str


@dataclass(frozen=True)
class Program:
    key: str  # pip | tap | vsc
    name: str  # sheet title in the master workbook
    prefix: str  # record-ID prefix
    fields: tuple[Field, ...]
    statuses: tuple[str, ...]
    # (status, template name) a confirmation is sent for, unless the configuration says
    # otherwise; "Ineligible" stands for a record whose eligibility rule is not met
    templates: tuple[tuple[str, str], ...] = ()
    recipients: tuple[Recipient, ...] = ()  # the first one's name is the record's full name
    classes: Classes | None = None  # None: the program does not run as classes

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return self._by_name[name]

    @functools.cached_property
    def _by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}


def _f(name: str, label: str, kind: str = "text", required: bool = False) -> Field:
    return Field(name, label, kind, required)


PIP = Program(
    key="pip",
    name="Partners in Policing",
    prefix="PIP",
    fields=(
        _f("submitted_at", "Submitted", "datetime", True),
        _f("email", "Email", "email"),
        _f("first_name", "First name", required=True),
        _f("last_name", "Last name", required=True),
        _f("date_of_birth", "Date of birth", "date", True),
        _f("phone", "Phone", "phone"),
        _f("street", "Street address"),
        _f("city", "City"),
        _f("zip", "ZIP", "zip"),
        _f("affiliations", "Torrance affiliation", "list", True),
        _f("organization", "Organization"),
        _f("occupation", "Occupation"),
        _f("emergency_contact_name", "Emergency contact"),
        _f("emergency_contact_phone", "Emergency contact phone", "phone"),
        _f("background_check_consent", "Background check consent", "bool"),
        _f("cohort", "Cohort requested"),
        _f("how_heard", "How they heard"),
    ),
    statuses=("New", "Accepted", "Waitlisted", "Declined", "Withdrawn", "Graduated"),
    templates=(("Accepted", "pip-accepted"), ("Waitlisted", "pip-waitlisted"),
               ("Ineligible", "pip-ineligible")),
    recipients=(Recipient("to", ("first_name", "last_name"), "email"),),
    classes=Classes("cohorts", "Assigned cohort", "Cohort override", "Graduation eligible",
                    former="Cohort"),
)

TAP = Program(
    key="tap",
    name="Teens and Policing",
    prefix="TAP",
    fields=(
        _f("submitted_at", "Submitted", "datetime", True),
        _f("counselor_email", "Counselor email", "email"),
        _f("counselor_name", "Counselor", required=True),
        _f("student_first_name", "Student first name", required=True),
        _f("student_last_name", "Student last name", required=True),
        _f("student_id", "Student ID"),
        _f("grade", "Grade", "int", True),
        _f("school", "School", required=True),
        _f("semester", "Semester requested"),
        _f("date_of_birth", "Date of birth", "date"),
        _f("student_email", "Student email", "email"),
        _f("student_phone", "Student phone", "phone"),
        _f("guardian_name", "Guardian", required=True),
        _f("guardian_phone", "Guardian phone", "phone", True),
        _f("guardian_email", "Guardian email", "email"),
        _f("guardian_consent", "Guardian consent", "bool", True),
    ),
    statuses=("New", "Enrolled", "Declined", "Withdrawn", "Completed"),
    templates=(("Enrolled", "tap-enrolled"),),
    recipients=(Recipient("to", ("student_first_name", "student_last_name"), "student_email"),
                Recipient("to", ("guardian_name",), "guardian_email"),
                Recipient("cc", ("counselor_name",), "counselor_email")),
    classes=Classes("semesters", "Assigned semester", "Semester override", "Credit eligible",
                    former="Semester"),
)

VSC = Program(
    key="vsc",
    name="Vacation Checks",
    prefix="VSC",
    fields=(
        _f("submitted_at", "Submitted", "datetime", True),
        _f("email", "Email", "email"),
        _f("first_name", "First name", required=True),
        _f("last_name", "Last name", required=True),
        _f("phone", "Phone", "phone", True),
        _f("street", "Street address", required=True),
        _f("city", "City"),
        _f("zip", "ZIP", "zip"),
        _f("leave_date", "Leaving", "date", True),
        _f("return_date", "Returning", "date", True),
        _f("emergency_contact_name", "Emergency contact"),
        _f("emergency_contact_phone", "Emergency contact phone", "phone"),
        _f("key_holder", "Key holder"),
        _f("alarm_company", "Alarm company"),
        _f("vehicles", "Vehicles at the house"),
        _f("lights_on_timers", "Lights on timers"),
        _f("pets", "Pets"),
        _f("authorized_persons", "Authorized persons"),
        _f("instructions", "Special instructions"),
        _f("latitude", "Latitude"),
        _f("longitude", "Longitude"),
    ),
    statuses=("New", "Active", "Completed", "Cancelled"),
    templates=(("New", "vsc-received"), ("Active", "vsc-received"), ("Ineligible", "vsc-declined")),
    recipients=(Recipient("to", ("first_name", "last_name"), "email"),),
)

PROGRAMS: dict[str, Program] = {p.key: p for p in (PIP, TAP, VSC)}
