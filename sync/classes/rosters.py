"""`tpd-programs rosters`: the workbook staff run each class from.

One workbook per class, `<output>/rosters/<program>-<class id>.xlsx`, its seats given by
`sync.classes.seating` and its sheets laid out by `sync.classes.classbook`: Roster,
Waitlist, Declined or withdrawn, Attendance (ticks read back by `sync.classes.attendance`),
Contacts, and one Sign-in sheet per session night.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sync.classes import attendance, classbook, sessions
from sync.classes.seating import CLASS_KEYS, Applicant, ClassRoster, assign, members
from sync.config import Config, ProgramConfig, Session
from sync.config.programs import PROGRAMS
from sync.errors import ConfigError, HeldError
from sync.state import files, scratch
from sync.state.lock import run_lock
from sync.state.store import MASTER, STATE, Store
from sync.xlsx.saving import write_workbook

log = logging.getLogger(__name__)

# -- writing the workbooks -------------------------------------------------------------------


@dataclass
class ClassResult:
    roster: ClassRoster
    path: Path
    marks: int


@dataclass
class RostersSummary:
    classes: list[ClassResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        for c in self.classes:
            r, s = c.roster, c.roster.session
            dates = (f"{len(r.dates)} sessions, {r.dates[0]:%A} {r.dates[0]} to {r.dates[-1]}"
                     if r.dates else "no session dates")
            lines.append(f"{r.label}: {len(r.seated)} of {s.capacity} seats taken, "
                         f"{len(r.waitlist)} waitlisted, {len(r.released)} declined or withdrawn; "
                         f"{dates}; {c.marks} attendance marks")
            lines.append(f"  {c.path}")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        if not self.classes:
            lines.append("No rosters written.")
        return "\n".join(lines)


def _selected(config: Config, program_key: str | None,
              cohort: str | None) -> list[tuple[ProgramConfig, Session, str]]:
    if program_key is not None:
        program = config.program(program_key)
        if program_key not in CLASS_KEYS:
            raise ConfigError(f"{config.path}: programs.{program_key}: has no classes "
                              "to make rosters for")
        programs = [program]
    else:
        programs = [config.programs[k] for k in CLASS_KEYS if k in config.programs]
    chosen = []
    for program in programs:
        for i, session in enumerate(program.cohorts):
            if cohort is None or sessions.find([session], cohort) is not None:
                where = f"programs.{program.key}.{CLASS_KEYS[program.key]}[{i}]"
                chosen.append((program, session, where))
    if cohort is not None and not chosen:
        known = ", ".join(f"{p.key}:{s.id}" for p in programs for s in p.cohorts) or "none"
        raise ConfigError(f"{config.path}: no cohort or semester {cohort!r} is configured "
                          f"(known: {known})")
    return chosen


def _digest(path: Path) -> str | None:
    """The master's digest as the sync records it, to tell whether staff saved it since."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "blake2b").hexdigest()
    except FileNotFoundError:
        return None


def write_rosters(config: Config, program_key: str | None = None,
                  cohort: str | None = None) -> RostersSummary:
    """Write the roster workbook of every selected class; ticks already made are kept."""
    chosen = _selected(config, program_key, cohort)
    summary = RostersSummary()
    keys = [k for k in CLASS_KEYS if (program_key in (None, k)) and k in config.programs]
    for key in keys:
        if not config.programs[key].cohorts:
            summary.warnings.append(f"{config.path}: programs.{key}.{CLASS_KEYS[key]}: "
                                    "no classes configured")
    config.output.mkdir(mode=0o700, parents=True, exist_ok=True)
    (config.output / attendance.FOLDER).mkdir(mode=0o700, exist_ok=True)
    with run_lock(config.output), Store(config.output / STATE, backups=config.backups) as store:
        master_digest = _digest(config.output / MASTER)
        if master_digest is not None and master_digest != store.get_meta("master_digest"):
            summary.warnings.append(f"{config.output / MASTER} changed since the last sync: run "
                                    "`tpd-programs sync` first so Status changes made there count")
        attendance.collect(store, config)  # ticks made in the current files are kept
        groups: dict[str, dict[str, list[Applicant]]] = {}
        held: list[Path] = []
        for program, session, where in chosen:
            if program.key not in groups:
                records = store.records(program.key)
                if not records:
                    summary.warnings.append(f"{PROGRAMS[program.key].name}: no records yet: "
                                            "run `tpd-programs sync` first")
                groups[program.key], warnings = members(program, records)
                summary.warnings.extend(warnings)
            roster = assign(program, session, groups[program.key].get(session.id, []), where)
            summary.warnings.extend(roster.warnings)
            class_marks = attendance.marks(store, program.key, session.id)
            book = classbook.workbook_sheets(config, program, roster, class_marks)
            path = attendance.roster_path(config, program.key, session.id)
            try:
                write_workbook(path, book.sheets, backups=config.backups,
                               scratch=scratch.folder(config.output), if_changed=True)
            except HeldError:  # open in Excel: the other classes are written all the same
                held.append(path)
                continue
            attendance.remember(store, config, program.key, session.id, book.roll)
            n = sum(len(v) for v in class_marks.values())
            summary.classes.append(ClassResult(roster, path, n))
            log.info("%s %s: %d seated, %d waitlisted, %d released, %d marks", program.key,
                     session.id, len(roster.seated), len(roster.waitlist), len(roster.released), n)
    if held:
        raise files.held_error(held, f"{len(summary.classes)} other roster(s) were written",
                               "tpd-programs rosters")
    return summary
