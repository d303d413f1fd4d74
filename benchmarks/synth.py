"""Synthetic form responses for the three programs at any size, the same for the same seed.

Rows are typed the way the Sheets API answers with UNFORMATTED_VALUE: a `datetime` for the
form timestamp, a `date` for date questions, an `int` where an answer was all digits (ZIP
codes, a phone typed without punctuation, a student ID without a leading zero). They can
also be written as the exports staff download (`write_csv`, `write_xlsx`).

The question titles are those of config/example.toml (taken from scripts/make_example_data.py).
About 5% of the rows are the same person again (email in another case, the phone written
another way, a nickname, an update of the same vacation trip) and about 2% cannot be
accepted (an impossible date, a missing name). Classes: 44 past PIP cohorts and TAP
semesters plus the next one, relative to `today`, so confirmations and routes have work.
Every name, address and number is made up; emails use example.com/.org/.net.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARES = {"pip": 0.5, "tap": 0.2, "vsc": 0.3}
REPEAT_RATE = 0.05
BAD_RATE = 0.02
PAST_CLASSES = 44


def _examples() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_example_data", ROOT / "scripts" / "make_example_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


EX = _examples()
HEADERS = {"pip": EX.PIP_HEADERS, "tap": EX.TAP_HEADERS, "vsc": EX.VSC_HEADERS}
EXPORTS = {"pip": "partners-in-policing-responses.csv", "tap": "teens-and-policing-responses.csv",
           "vsc": "vacation-check-responses.xlsx"}

NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "Elizabeth": "Liz", "Katherine": "Kathy",
    "Michael": "Mike", "James": "Jim", "Jennifer": "Jenny", "Richard": "Rick",
    "Thomas": "Tom", "Margaret": "Peggy", "Daniel": "Dan", "Christopher": "Chris",
    "Joseph": "Joe", "Patricia": "Pat", "Anthony": "Tony", "Steven": "Steve",
    "Rebecca": "Becky", "Samuel": "Sam", "Alexander": "Alex", "Nicholas": "Nick",
    "Matthew": "Matt", "Benjamin": "Ben", "Edward": "Ed", "Susan": "Sue",
}
FIRST = list(NICKNAMES) + (
    "Maria Jose Luis Carlos Ana Sofia Isabella Mateo Diego Camila Valentina Juan Elena Rosa "
    "Wei Mei Jun Hiroshi Keiko Yuki Kenji Aiko Min-jun Ji-woo Seo-yeon Priya Arjun Vikram "
    "Neha Aarav Fatima Omar Ahmed Layla Noah Emma Olivia Ava Liam Ethan Mia Harper Lucas "
    "Grace Hannah Chloe Zoe Kai Leilani Malia Darnell Tamika Andre Keisha Jamal Aaliyah "
    "Xavier Destiny Ngozi Chidi Amara Irina Olga Ivan Sergei Nadia Gregory Diane Linda "
    "Brenda Gerald Harold Nancy Frank Ruth Stan Colleen Patrick Megan Ryan Lauren Kevin "
    "Erin Brian Tyler Brandon Julian Eun-ji Trevor Yolanda Marisol Teresa Manuel Lucia"
).split()
LAST = (
    "Garcia Rodriguez Martinez Hernandez Lopez Gonzalez Perez Sanchez Ramirez Torres Flores "
    "Rivera Gomez Diaz Reyes Cruz Morales Ortiz Gutierrez Chavez Ramos Ruiz Alvarez Mendoza "
    "Castillo Jimenez Moreno Romero Herrera Medina Aguilar Vargas Kim Lee Park Choi Chen Wang "
    "Li Zhang Liu Huang Lin Wu Nguyen Tran Pham Le Hoang Tanaka Suzuki Watanabe Yamamoto "
    "Nakamura Sato Ito Kobayashi Yamada Patel Shah Singh Sharma Mehta Malhotra Khan Hassan "
    "Haddad Rahman Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor "
    "Thomas Moore Jackson Martin Thompson White Harris Clark Lewis Robinson Walker Young "
    "Allen King Wright Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner "
    "Phillips Campbell Parker Evans Edwards Collins Stewart Morris Murphy Cook Rogers Reed "
    "O'Brien Sullivan Walsh Kowalski Petrov Ivanova Okafor Okonkwo Baptiste Goldberg "
    "Friedman Schmidt Schultz Fujimoto Kahale Farouk Feldman DiMarco Santos Vega Coleman"
).split()
STREETS = (
    "Carson St|Torrance Blvd|Del Amo Blvd|Sepulveda Blvd|Madrona Ave|Anza Ave|Prairie Ave|"
    "Hawthorne Blvd|Crenshaw Blvd|Western Ave|Arlington Ave|Cabrillo Ave|Post Ave|Cota Ave|"
    "Engracia Ave|Beech Ave|Amapola Ave|Gramercy Ave|Maple Ave|Spencer St|Emerald St|"
    "Newton St|Sonoma St|Calle Mayor|Via Valmonte|Paseo de las Tortugas|Kent Ave|Amie Ave|"
    "Yukon Ave|Plaza del Amo|El Prado Ave|W 182nd St|W 186th St|W 190th St|W 223rd St|"
    "W 230th St|W 235th St|Pacific Coast Hwy|Vail Ave|Lomita Blvd"
).split("|")
TORRANCE_ZIPS = [90501, 90502, 90503, 90504, 90505]
NEARBY = [("Gardena", 90247), ("Redondo Beach", 90277), ("Redondo Beach", 90278),
          ("Lomita", 90717), ("Carson", 90745)]
OCCUPATIONS = ["Teacher", "Nurse", "Engineer, aerospace", "Retired", "Accountant",
               "Store manager, Del Amo Fashion Center", "Software developer", "Electrician",
               "Paralegal", "Pharmacist", "Real estate agent", "Student", "Chef", "Librarian"]
ORGANIZATIONS = ["Kiwanis Club of Torrance", "Torrance Rotary", "Torrance Area Chamber of Commerce",
                 "Torrance First Presbyterian Church", "Torrance Buddhist Temple",
                 "El Camino College", "Torrance Community Church"]
HEARD = ["A friend or family member", "Social media", "City of Torrance website", "Nextdoor",
         "Church or organization"]
REASONS = ["Wants to study criminal justice.", "Student body officer.", "Explorer post applicant.",
           "Interested in forensics.", "Peer mentor.", "Honor roll.", "Eagle Scout.",
           "Wants to work in victim services.", "Interested in the K9 unit."]
ALARMS = ["None", "ADT, (800) 555-0199", "Brinks Home, (800) 555-0188", "SimpliSafe, (888) 555-0107"]
VEHICLES = ["None", "White Toyota Camry, in the garage", "Silver Honda CR-V, in the driveway",
            "Gray Hyundai Elantra, on the street", "Black Ford F-150, in the driveway"]
PETS = ["None", "One cat", "Two dogs (boarded)"]
BAD_DATES = ["2/30/1985", "13/45/1990", "sometime in 1975", "N/A", "31/31/2001"]
LOCATION = "Torrance Police Department, 3300 Civic Center Drive, Torrance, CA 90503 (Community Room)"


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    start: dt.date
    opens: dt.date
    closes: dt.date


def schedule(today: dt.date, weekday: int, months: tuple[int, int], nth: tuple[int, int],
             past: int = PAST_CLASSES) -> list[Session]:
    """`past` classes that started before `today` and the next one (starting 2+ weeks out)."""
    starts = []
    for year in range(today.year - past // 2 - 2, today.year + 2):
        for month, n in zip(months, nth, strict=True):
            first = dt.date(year, month, 1)
            starts.append(first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1)))
    upcoming = next(i for i, s in enumerate(starts) if s > today + dt.timedelta(days=14))
    starts = starts[upcoming - past: upcoming + 1]
    out = []
    for i, start in enumerate(starts):
        season = "Spring" if start.month < 7 else "Fall"
        opens = starts[i - 1] + dt.timedelta(days=1) if i else start - dt.timedelta(days=150)
        out.append(Session(f"{start.year}-{season.lower()}", f"{season} {start.year}", start, opens,
                           start - dt.timedelta(days=1)))
    return out


def _phone_text(digits: str, style: int) -> Any:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", int(digits),
            f"+1 {a} {b} {c}"][style]


class Generator:
    """Rows for the three programs; `generate(size)` once, then `extend(fraction)` for more."""

    def __init__(self, seed: int = 2020, today: dt.date | None = None,
                 past: int = PAST_CLASSES) -> None:
        self.rng = random.Random(seed)
        self.today = today or dt.date.today()
        self.now = dt.datetime.combine(self.today, dt.time(7, 0))
        # PIP: Thursdays from March and September; TAP: Tuesdays from February and September.
        self.cohorts = schedule(self.today, 3, (3, 9), (1, 2), past)
        self.semesters = schedule(self.today, 1, (2, 9), (1, 2), past)
        self.rows: dict[str, list[list[Any]]] = {k: [] for k in SHARES}
        self.people: dict[str, list[dict[str, Any]]] = {k: [] for k in SHARES}
        self.who: dict[str, list[int]] = {k: [] for k in SHARES}  # each row's person, by number
        self.serial = 0

    # -- public ------------------------------------------------------------------------------

    def generate(self, size: int) -> dict[str, list[list[Any]]]:
        end = self.now - dt.timedelta(days=2)
        for key, share in SHARES.items():
            count = max(3, round(size * share))
            for when, session in self._times(key, count, end):
                self.rows[key].append(self._row(key, when, session))
        return self.rows

    def extend(self, fraction: float) -> dict[str, list[list[Any]]]:
        """New responses (about `fraction` of each program's rows) from the last two days."""
        added: dict[str, list[list[Any]]] = {}
        for key in SHARES:
            count = max(1, round(len(self.rows[key]) * fraction))
            start = self.now - dt.timedelta(days=2)
            times = sorted(start + dt.timedelta(seconds=self.rng.randrange(2 * 86400))
                           for _ in range(count))
            session = (self.cohorts if key == "pip" else self.semesters)[-1]
            added[key] = [self._row(key, t, session) for t in times]
            self.rows[key].extend(added[key])
        return added

    # -- timestamps ------------------------------------------------------------------------------

    def _times(self, key: str, count: int, end: dt.datetime) -> list[tuple[dt.datetime, Session | None]]:
        rng = self.rng
        out: list[tuple[dt.datetime, Session | None]] = []
        if key == "vsc":
            span = int((end - (end - dt.timedelta(days=730))).total_seconds())
            for _ in range(count):
                out.append((end - dt.timedelta(seconds=rng.randrange(span)), None))
        else:
            sessions = self.cohorts if key == "pip" else self.semesters
            weights = [1 + i / len(sessions) for i in range(len(sessions))]
            for session in rng.choices(sessions, weights, k=count):
                first = dt.datetime.combine(session.opens, dt.time(7, 0))
                last = min(dt.datetime.combine(session.closes, dt.time(23, 0)), end)
                seconds = max(1, int((last - first).total_seconds()))
                out.append((first + dt.timedelta(seconds=rng.randrange(seconds)), session))
        out.sort(key=lambda pair: pair[0])
        return [(t.replace(microsecond=0), s) for t, s in out]

    # -- rows ----------------------------------------------------------------------------------

    def _row(self, key: str, when: dt.datetime, session: Session | None) -> list[Any]:
        rng = self.rng
        people = self.people[key]
        roll = rng.random()
        if roll < REPEAT_RATE and people:
            pool = people[-100:] if key == "vsc" else people
            person = self._again(key, dict(rng.choice(pool)))
        else:
            person = getattr(self, f"_new_{key}")(when)
            person["who"] = len(people)
            people.append(person)
        self.who[key].append(person["who"])
        row = getattr(self, f"_{key}_row")(person, when, session)
        if REPEAT_RATE <= roll < REPEAT_RATE + BAD_RATE:
            self._spoil(key, row)
        return row

    def _name(self) -> tuple[str, str]:
        return self.rng.choice(FIRST), self.rng.choice(LAST)

    def _email(self, first: str, last: str) -> str:
        self.serial += 1
        local = re.sub(r"[^a-z.]", "", f"{first}.{last}".lower())
        return f"{local}{self.serial % 9973}@{self.rng.choice(['example.com', 'example.org', 'example.net'])}"

    def _digits(self) -> str:
        rng = self.rng
        return f"{rng.choice(['310', '424', '562'])}{rng.randrange(200, 1000)}{rng.randrange(10000):04d}"

    def _address(self) -> tuple[str, str, int]:
        rng = self.rng
        street = f"{rng.randrange(1000, 26000)} {rng.choice(STREETS)}"
        if rng.random() < 0.15:
            street += f" Apt {rng.randrange(1, 40)}"
        if rng.random() < 0.85:
            return street, "Torrance", rng.choice(TORRANCE_ZIPS)
        city, zip_code = rng.choice(NEARBY)
        return street, city, zip_code

    def _dob(self, when: dt.datetime, low: int, high: int) -> dt.date:
        return when.date() - dt.timedelta(days=self.rng.randrange(low * 365 + 5, high * 365))

    def _again(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """The same person answering again: email case, phone format, nickname, address."""
        rng = self.rng
        p["email"] = p["email"].capitalize() if rng.random() < 0.5 else p["email"].upper()
        p["style"] = (p["style"] + rng.randrange(1, 6)) % 6
        if p["first"] in NICKNAMES and rng.random() < 0.6:
            p["first"] = NICKNAMES[p["first"]]
        if key == "pip" and rng.random() < 0.2:
            p["street"], p["city"], p["zip"] = self._address()
        if key == "tap":
            same = [c for c, v in EX.COUNSELORS.items() if v[2] == EX.COUNSELORS[p["counselor"]][2]]
            p["counselor"] = rng.choice(same)
        if key == "vsc":
            p["street"] = p["street"].replace(" Apt ", " #")
            p["back"] = p["back"] + dt.timedelta(days=rng.randrange(1, 6))
        return p

    def _spoil(self, key: str, row: list[Any]) -> None:
        """Make the row unacceptable: an impossible date or a missing name."""
        rng = self.rng
        if rng.random() < 0.5:
            index = {"pip": 4, "tap": 9, "vsc": 8}[key]
            row[index] = rng.choice(BAD_DATES)
        else:
            row[{"pip": 3, "tap": 6, "vsc": 3}[key]] = ""

    def _new_pip(self, when: dt.datetime) -> dict[str, Any]:
        rng = self.rng
        first, last = self._name()
        street, city, zip_code = self._address()
        letters = "L" if city == "Torrance" else "W"
        letters += "".join(k for k in "WSCO" if rng.random() < 0.15)
        return {"first": first, "last": last, "email": self._email(first, last),
                "digits": self._digits(), "style": rng.randrange(6), "street": street,
                "city": city, "zip": zip_code, "dob": self._dob(when, 18, 80), "letters": letters,
                "org": rng.choice(ORGANIZATIONS) if set(letters) & set("SCO") else "",
                "job": rng.choice(OCCUPATIONS), "ec": f"{rng.choice(FIRST)} {last}",
                "ec_digits": self._digits(), "heard": rng.choice(HEARD)}

    def _pip_row(self, p: dict[str, Any], when: dt.datetime, _s: Session | None) -> list[Any]:
        affiliations = ", ".join(EX.PIP_OPTIONS[k] for k in "LWSCO" if k in p["letters"])
        return [when, p["email"], p["first"], p["last"], p["dob"], _phone_text(p["digits"], p["style"]),
                p["street"], p["city"], p["zip"], affiliations, p["org"], p["job"], p["ec"],
                _phone_text(p["ec_digits"], 1), "Yes", p["heard"]]

    def _new_tap(self, when: dt.datetime) -> dict[str, Any]:
        rng = self.rng
        first, last = self._name()
        counselor = rng.choice(list(EX.COUNSELORS)[:-1]) if rng.random() > 0.02 else "RUHS"
        sid = f"{rng.choice(['0', '1', '1', '1'])}{rng.randrange(10**6):06d}"
        grade = rng.choice([11, 12]) if rng.random() > 0.02 else 10
        return {"first": first, "last": last, "email": self._email(first, last),
                "digits": self._digits(), "style": rng.randrange(6), "sid": sid, "grade": grade,
                "dob": self._dob(when, 15, 18), "counselor": counselor,
                "guardian": f"{rng.choice(FIRST)} {last}", "g_digits": self._digits(),
                "g_email": self._email(last, "family"), "reason": rng.choice(REASONS),
                "consent": "Yes" if rng.random() > 0.01 else ""}

    def _tap_row(self, p: dict[str, Any], when: dt.datetime, s: Session | None) -> list[Any]:
        c_email, c_name, school = EX.COUNSELORS[p["counselor"]]
        sid = p["sid"] if p["sid"].startswith("0") else int(p["sid"])
        return [when, c_email, c_name, school, s.name if s else "", p["first"], p["last"], sid,
                p["grade"], p["dob"], p["email"], _phone_text(p["digits"], p["style"]),
                p["guardian"], _phone_text(p["g_digits"], 1), p["g_email"], p["consent"],
                p["reason"]]

    def _new_vsc(self, when: dt.datetime) -> dict[str, Any]:
        rng = self.rng
        first, last = self._name()
        street, city, zip_code = self._address()
        notice = rng.randrange(1, 21) if rng.random() > 0.03 else 0
        leave = when.date() + dt.timedelta(days=notice)
        days = rng.randrange(2, 22) if rng.random() > 0.01 else 45
        return {"first": first, "last": last, "email": self._email(first, last),
                "digits": self._digits(), "style": rng.randrange(6), "street": street,
                "city": city, "zip": zip_code, "leave": leave,
                "back": leave + dt.timedelta(days=days), "ec": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "ec_digits": self._digits(), "alarm": rng.choice(ALARMS),
                "vehicles": rng.choice(VEHICLES), "pets": rng.choice(PETS),
                "notes": rng.choice(["", "", "Side gate is locked.", "Please check the back door."])}

    def _vsc_row(self, p: dict[str, Any], when: dt.datetime, _s: Session | None) -> list[Any]:
        return [when, p["email"], p["first"], p["last"], _phone_text(p["digits"], p["style"]),
                p["street"], p["city"], p["zip"], p["leave"], p["back"], p["ec"],
                _phone_text(p["ec_digits"], 1), "Yes", p["alarm"], p["vehicles"],
                "Living room", p["pets"], "None", p["notes"] or None]


# -- writing --------------------------------------------------------------------------------------


def _text(value: Any, key: str) -> str:
    if isinstance(value, dt.datetime):
        return EX.forms_timestamp(value) if key == "pip" else EX.sheets_timestamp(value)
    if isinstance(value, dt.date):
        return EX.sheets_date(value)
    return "" if value is None else str(value)


def write_csv(path: Path, key: str, rows: list[list[Any]]) -> None:
    """A Google Forms (PIP, with a byte-order mark) or Sheets (TAP) CSV download."""
    with path.open("w", encoding="utf-8-sig" if key == "pip" else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(HEADERS[key])
        writer.writerows([_text(v, key) for v in row] for row in rows)


def write_xlsx(path: Path, key: str, rows: list[list[Any]]) -> None:
    """A Google Sheets .xlsx download: real date cells, numbers where answers were digits."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Form Responses 1")
    ws.append(HEADERS[key])
    for row in rows:
        ws.append(row)
    wb.save(path)


def write_exports(folder: Path, rows: dict[str, list[list[Any]]]) -> dict[str, Path]:
    """Every program's rows as the export file config/example.toml names; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, name in EXPORTS.items():
        paths[key] = folder / name
        (write_xlsx if name.endswith(".xlsx") else write_csv)(paths[key], key, rows[key])
    return paths


# -- configuration ----------------------------------------------------------------------------------

_CLASS_HEADERS = ("[[programs.pip.cohorts]]", "[[programs.tap.semesters]]",
                  "[programs.tap.semesters.school_capacity]")


def _class_blocks(table: str, sessions: list[Session], weekday: str, extra: str) -> str:
    out = []
    for s in sessions:
        out.append(f'\n[[{table}]]\nid = "{s.id}"\nname = "{s.name}"\nstart = {s.start}\n'
                   f'sessions = 12\nweekday = "{weekday}"\nstart_time = "18:00"\n'
                   f'end_time = "20:00"\n{extra}\nlocation = "{LOCATION}"\n'
                   f"registration_opens = {s.opens}\nregistration_closes = {s.closes}\n")
    return "".join(out)


def write_config(path: Path, gen: Generator, sources: dict[str, str], output: Path,
                 google: str = "") -> Path:
    """config/example.toml with the given source lines, output folder and generated classes.

    `sources` maps a program key to the TOML lines of its [programs.<key>.source] table;
    `google` is extra lines for the [google] table (credentials, api_endpoint).
    """
    text = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("["):
            skipping = line.strip() in _CLASS_HEADERS
        if not skipping:
            kept.append(line)
    text = "\n".join(kept) + "\n"
    for key, lines in sources.items():
        old = f'file = "examples/{EXPORTS[key]}"'
        if old not in text:
            raise ValueError(f"config/example.toml: no line {old!r} to replace")
        text = text.replace(old, lines)
    text = re.sub(r'(?m)^folder = ".*"$', f'folder = "{output.as_posix()}"', text, count=1)
    if google:
        text = text.replace("[google]\n", f"[google]\n{google}\n", 1)
    text += _class_blocks("programs.pip.cohorts", gen.cohorts, "Thursday",
                          "capacity = 40\nminimum = 25\ngraduation_minimum = 9")
    text += _class_blocks("programs.tap.semesters", gen.semesters, "Tuesday",
                          "capacity = 30\nminimum = 10\ncredit_minimum = 10")
    path.write_text(text, encoding="utf-8")
    return path
