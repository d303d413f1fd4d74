"""Helpers the test modules share: sites built from the example data, reading cells back,
sending through the loopback SMTP server. Fixtures are in conftest.py."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import textwrap
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from sync import cli
from sync.master import syncer
from sync.state.store import Store
from tests import configs
from tests.conftest import Site
from tests.fake_google import FakeGoogle

# -- from test_confirmations --------------------------------------------------------------

SHEETS = {"pip": "Partners in Policing", "tap": "Teens and Policing", "vsc": "Vacation Checks"}


# -- from test_confirmations --------------------------------------------------------------

PIP_CSV = """Timestamp,Email Address,First Name,Last Name,Date of Birth,Phone,Connection to Torrance
3/1/2020 10:00:00,ann@example.com,Ann,Smith,1/2/1980,(310) 555-0101,I live in Torrance
3/1/2020 11:00:00,bob@example.com,Bob,Jones,4/5/1975,310-555-0102,I work in Torrance
3/2/2020 09:30:00,,Cy,Lee,7/8/1990,310 555 0103,I live in Torrance
3/2/2020 09:40:00,dee@example.com,Dee,Park,7/8/2015,310 555 0104,I live in Torrance
3/3/2020 08:00:00,eve@example.com,Eve,Stone,9/9/1985,310 555 0105,I work in Torrance
"""


# -- from test_confirmations --------------------------------------------------------------

TAP_CSV = """Timestamp,Email Address,Counselor Name,High School,Semester,Student First Name,\
Student Last Name,Grade,Student Email,Parent/Guardian Name,Parent/Guardian Phone,\
Parent/Guardian Email,Consent
3/1/2020 10:00:00,counselor@tusd.example,Pat Gomez,Torrance High School,Fall 2030,Tina,\
Nguyen,11,tina@example.com,Hoa Nguyen,310-555-0201,hoa@example.com,Yes
3/1/2020 10:05:00,counselor@tusd.example,Pat Gomez,North High School,Fall 2030,Omar,\
Haddad,12,,Rania Haddad,310-555-0202,rania@example.com,Yes
"""


# -- from test_confirmations --------------------------------------------------------------

VSC_CSV = """Timestamp,Email Address,First Name,Last Name,Phone,Street,City,ZIP,Leaving,Returning,\
Emergency contact
3/1/2020 10:00:00,val@example.com,Val,Reyes,310-555-0301,\
1 Main St <script>alert(1)</script>,Torrance,90503,6/1/2030,6/10/2030,Sam Reyes
3/1/2020 11:00:00,wes@example.com,Wes,Long,310-555-0302,9 Elm St,Beverly Hills,90210,\
6/1/2030,6/10/2030,
"""


# -- from test_confirmations --------------------------------------------------------------

def make_site(root: Path, extra: str = "", changes: dict[str, Any] | None = None) -> Site:
    """Three programs with a few people each, synced once: `configs.CONFIRMATIONS` with
    `changes` (`configs.edited`), and the TOML text `extra` at the end."""
    text = configs.toml(configs.edited(configs.CONFIRMATIONS, changes or {}))
    site = Site(root, text + textwrap.dedent(extra))
    (root / "pip.csv").write_text(PIP_CSV)
    (root / "tap.csv").write_text(TAP_CSV)
    (root / "vsc.csv").write_text(VSC_CSV)
    syncer.sync(site.config())
    return site


# -- from test_confirmations --------------------------------------------------------------

def set_cells(site: Site, edits: dict[tuple[str, str], object]) -> None:
    """Type into the master as staff do ({(record ID, column): value}), then sync."""
    wb = load_workbook(site.master)
    for (rid, column), value in edits.items():
        ws = wb[SHEETS[rid[:3].lower()]]
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            if row[0].value == rid:
                row[header.index(column)].value = value
    wb.save(site.master)
    syncer.sync(site.config())


# -- from test_confirmations --------------------------------------------------------------

def set_status(site: Site, statuses: dict[str, str]) -> None:
    set_cells(site, {(rid, "Status"): s for rid, s in statuses.items()})


# -- from test_confirmations --------------------------------------------------------------

def decided(site: Site) -> Site:
    set_status(site, {"PIP-00001": "Accepted", "PIP-00002": "Waitlisted",
                      "PIP-00003": "Accepted", "PIP-00005": "Waitlisted", "TAP-00001": "Enrolled"})
    return site


# -- from test_confirmations --------------------------------------------------------------

def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


# -- from test_delivery -------------------------------------------------------------------

SENDER = "Community Programs <programs@tpd.example>"


# -- from test_delivery -------------------------------------------------------------------

ALL = 7  # messages due on a decided site


# -- from test_delivery -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- from test_delivery -------------------------------------------------------------------

def smtp_section(port: int, security: str = "none", extra: str = "", send: bool = True) -> str:
    return f"""
[smtp]
host = "127.0.0.1"
port = {port}
security = "{security}"
from = "{SENDER}"
reply_to = "programs@tpd.example"
rate_per_minute = 6000
send = {"true" if send else "false"}
timeout_seconds = 10
{extra}
"""


# -- from test_delivery -------------------------------------------------------------------

def ledger(site) -> dict[tuple[str, str, str], str]:
    with Store(site.out / syncer.STATE) as store:
        rows = store.db.execute("SELECT record_id, template, recipient, state FROM ledger")
        return {(r, t, a): s for r, t, a, s in rows}


# -- from test_delivery -------------------------------------------------------------------

def send(site, *extra: str) -> int:
    return cli.main(["confirmations", "--config", str(site.config_path), "--send", *extra])


# -- from test_purge ----------------------------------------------------------------------

TODAY = dt.date(2020, 4, 20)  # 30 days' retention: requests back before March 21 are purged


# -- from test_purge ----------------------------------------------------------------------

SECRETS = ("Smith", "ann@example.com", "555-0101", "5550101", "1200 Maple", "Zed", "ADT",
           "7ABC123", "Gardener", "HYPERLINK", "Called the daughter", "Jones", "Hawthorne",
           "blue")


# -- from test_purge ----------------------------------------------------------------------

def leaks(out: Path) -> list[str]:
    """Every file under the output folder that still holds one of SECRETS."""
    found = []
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name.startswith("~$"):  # Excel's owner file: no data
            continue
        if path.suffix == ".xlsx":
            wb = load_workbook(path, read_only=True)
            text = " ".join(str(v) for ws in wb.worksheets
                            for row in ws.iter_rows(values_only=True) for v in row if v)
            wb.close()
        else:
            text = path.read_bytes().decode("utf-8", "replace")
        found += [f"{path.relative_to(out)}: {s}" for s in SECRETS if s in text]
    return found


# -- from test_rosters --------------------------------------------------------------------

def seats(roster) -> list[str]:
    return [p.applicant.record_id for p in roster.seated]


# -- from test_rosters --------------------------------------------------------------------

def waiting(roster) -> list[str]:
    return [p.applicant.record_id for p in roster.waitlist]


# -- from test_routes ---------------------------------------------------------------------

VSC_CONFIG = configs.toml(configs.VSC)


# -- from test_routes ---------------------------------------------------------------------

VSC_HEADER = ("Timestamp,Email Address,First Name,Last Name,Phone,Street,City,ZIP,Leaving,"
              "Returning,Emergency contact,Emergency phone,Key holder,Alarm company,Vehicles,"
              "Lights,Pets,Authorized,Instructions,Favourite colour\n")


# -- from test_routes ---------------------------------------------------------------------

# Ann and Bob are away around March 5-10, 2020; Cy's ZIP is in no beat; Di cancels later.
VSC_ROWS = [
    "2/20/2020 10:00:00,ann@example.com,Ann,Smith,(310) 555-0101,1200 Maple Ave,Torrance,90501,"
    "3/1/2020,3/10/2020,Zed Neighbour,310-555-0199,Zed has a key,ADT 800-555-0100,"
    "Blue Civic 7ABC123,Living room,Cat,Gardener Tue,=HYPERLINK(\"http://x\"),blue",
    "2/20/2020 11:00:00,bob@example.com,Bob,Jones,310-555-0102,18000 Hawthorne Boulevard,Torrance,"
    "90504,3/5/2020,3/7/2020,,,,,,,,,,",
    "2/21/2020 09:00:00,cy@example.com,Cy,Lee,310-555-0103,55 Unknown Rd,Torrance,90505,"
    "3/5/2020,3/6/2020,,,,,,,,,,",
    "2/21/2020 10:00:00,di@example.com,Di,Park,310-555-0104,1210 Maple Ave,Torrance,90501,"
    "3/4/2020,3/8/2020,,,,,,,,,,",
]


# -- from test_routes ---------------------------------------------------------------------

GEOCODES = """address,latitude,longitude
"3300 Civic Center Drive, Torrance, CA 90503",33.8366,-118.3420
1200 Maple Avenue,33.8700,-118.3300
18000 Hawthorne Blvd,33.8650,-118.3530
not an address,north,west
"""


# -- from test_routes ---------------------------------------------------------------------

class VscSite(Site):
    def write_vsc(self, rows: list[str]) -> None:
        (self.root / "vsc.csv").write_text(VSC_HEADER + "".join(r + "\n" for r in rows),
                                           encoding="utf-8")


# -- from test_routes ---------------------------------------------------------------------

def vsc_site(root: Path, rows: list[str] | None = None, config_text: str = VSC_CONFIG) -> VscSite:
    site = VscSite(root, config_text)
    site.write_vsc(VSC_ROWS if rows is None else rows)
    (root / "geocodes.csv").write_text(GEOCODES, encoding="utf-8")
    return site


# -- from test_routes ---------------------------------------------------------------------

def ws_rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


# -- from test_sync -----------------------------------------------------------------------

PIP = "Partners in Policing"


# -- from test_sync -----------------------------------------------------------------------

def cells(path: Path) -> dict[str, list[tuple]]:
    wb = load_workbook(path)
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
    finally:
        wb.close()


# -- from test_sync -----------------------------------------------------------------------

def rows_by_id(path: Path, sheet: str = PIP) -> dict[str, dict]:
    data = cells(path)[sheet]
    header = data[0]
    return {r[0]: dict(zip(header, r, strict=False)) for r in data[1:]}


# -- from test_checklog -------------------------------------------------------------------

def type_checks(path: Path, entries: dict[str, dict[str, object]]) -> None:
    """Fill the checker columns of the named stops, as staff do in Excel."""
    wb = load_workbook(path)
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            rid = row[header.index("Record ID")].value
            for column, value in entries.get(rid, {}).items():
                row[header.index(column)].value = value
    wb.save(path)


# -- from test_health ---------------------------------------------------------------------

KEY = "1PipResponsesSheet0123456789"


# -- from test_health ---------------------------------------------------------------------

HEADER = ["Timestamp", "Email Address", "First Name", "Last Name", "Date of Birth", "Phone",
          "Connection to Torrance", "Organization"]


# -- from test_health ---------------------------------------------------------------------

ROW = [dt.datetime(2020, 3, 1, 10, 0), "ann@example.com", "Ann", "Smith", dt.date(1980, 1, 2),
       "(310) 555-0101", "I live in Torrance", ""]


# -- from test_health ---------------------------------------------------------------------

def google_site(root: Path, fake: FakeGoogle, smtp: str = "") -> Path:
    """The conftest configuration, reading PIP from the fake's spreadsheet."""
    key_file = fake.write_key(root)
    text = configs.pip_from(
        {"spreadsheet": KEY, "worksheet": "Form Responses 1"},
        {"credentials": key_file.name, "api_endpoint": fake.url, "timeout_seconds": 2,
         "retry_seconds": 1, "max_attempts": 1}) + textwrap.dedent(smtp)
    path = root / "programs.toml"
    path.write_text(text)
    return path


# -- from test_health ---------------------------------------------------------------------

def lines(report) -> dict[str, tuple[bool, str]]:
    return {what: (ok, detail) for what, ok, detail in report.lines}


# -- from test_state_file -----------------------------------------------------------------

def run_command(site, *args: str) -> int:
    return cli.main([*args, "--config", str(site.config_path)])


# -- from test_state_file -----------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (but the log and the lock with its holder's details, which
    every run touches)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "logs" not in p.parts
            and p.name not in (".tpd-programs.lock", "lock-holder.txt")}


# -- from test_state_file -----------------------------------------------------------------

def set_pip_status(site, statuses: dict[str, str]) -> None:
    wb = load_workbook(site.master)
    ws = wb["Partners in Policing"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        rid = row[header.index("Record ID")].value
        if rid in statuses:
            row[header.index("Status")].value = statuses[rid]
    wb.save(site.master)


# -- from test_state_file -----------------------------------------------------------------

def statuses(site) -> dict[str, str]:
    wb = load_workbook(site.master, read_only=True)
    rows = list(wb["Partners in Policing"].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    return {r[header.index("Record ID")]: r[header.index("Status")] for r in rows[1:]}


def step_lines(out: str) -> dict[str, str]:
    """{step name: its status word} from the report printed by `run`."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"(sync|rosters|confirmations|routes)\s+(ok|FAILED|skipped)\s", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


class Calls:
    """How often `module.name` was called since `count_calls` replaced it (`n`, which a test
    may set back to 0)."""

    def __init__(self) -> None:
        self.n = 0


def count_calls(monkeypatch: Any, module: Any, name: str) -> Calls:
    calls = Calls()
    real = getattr(module, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.n += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls
