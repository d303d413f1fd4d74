"""What staff see on paper and in every generated sheet, from the bundled example.

The example's daily cycle (sync, rosters, the next sync, route sheets for a day with stops)
writes every kind of workbook. The tests read them back with openpyxl (every header unique,
no column the toolkit fills always empty, formulas carrying their results) and print the
roster workbook and the master with LibreOffice, then measure the PDF: the words' boxes
(`pdftotext -bbox-layout`: no two overlap on a sign-in page) and the printed font sizes
(pdfminer.six: the size of every character as drawn, whatever the page's scale).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar

from sync import config as config_mod
from sync.classes.classbook import attendance_sheet
from sync.classes.rosters import write_rosters
from sync.config import Session
from sync.config.programs import PROGRAMS
from sync.master.assemble import rewrite_master
from sync.master.syncer import sync
from sync.state.store import Store
from sync.vacation.routes import write_routes
from sync.xlsx.saving import write_workbook
from sync.xlsx.sheet import Column
from tests.conftest import REPO, soffice_to_pdfs

ROUTE_DAY = dt.date(2020, 12, 24)  # the example has vacation checks that day
STAFF_HEADER = "7F6000"  # the header colour of a column staff fill in (sync.xlsx.writer)
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> config_mod.Config:
    """The example's outputs after a day's cycle and the next morning's sync."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(REPO / "config", root / "config")
    config = config_mod.load(root / "config" / "example.toml")
    sync(config)
    write_rosters(config)
    sync(config)  # the attendance sheets now exist: the master shows their columns
    write_routes(config, start=ROUTE_DAY, days=1)
    return config


def _workbooks(config: config_mod.Config) -> list[Path]:
    out = config.output
    found = [out / "master.xlsx", *sorted((out / "rosters").glob("*.xlsx")),
             *sorted((out / "routes").glob("*.xlsx"))]
    assert len(found) >= 6, found
    return found


@dataclass
class Table:
    workbook: str
    sheet: str
    header: list
    rows: list[tuple]
    staff: set[int]  # columns staff fill in: staff-coloured header, boxes to tick, dropdowns


def _tables(path: Path) -> list[Table]:
    wb = load_workbook(path)
    out = []
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        top = next((i for i, r in enumerate(rows) if sum(v is not None for v in r) >= 2), None)
        if top is None:
            continue
        header_cells = list(ws.iter_rows(min_row=top + 1, max_row=top + 1))[0]
        staff = {i for i, c in enumerate(header_cells)
                 if (c.fill.fgColor.rgb or "").endswith(STAFF_HEADER)}
        if top + 2 <= ws.max_row:
            first = list(ws.iter_rows(min_row=top + 2, max_row=top + 2))[0]
            staff |= {i for i, c in enumerate(first) if c.border.left.style == "thin"}
        for validation in ws.data_validations.dataValidation:
            for cell_range in validation.sqref.ranges:
                staff |= set(range(cell_range.min_col - 1, cell_range.max_col))
        out.append(Table(path.name, ws.title, list(rows[top]), rows[top + 1:], staff))
    wb.close()
    return out


def test_every_header_in_every_generated_sheet_is_unique(example):
    """Guards "every column means one thing": Teens and Policing had two "Semester" columns
    (the form's answer and the class the record was put in)."""
    for path in _workbooks(example):
        for table in _tables(path):
            names = [h for h in table.header if h is not None]
            repeated = sorted({h for h in names if names.count(h) > 1})
            assert not repeated, f"{table.workbook} {table.sheet!r}: repeated headers {repeated}"
    tap = {t.sheet: t for t in _tables(example.output / "master.xlsx")}["Teens and Policing"]
    semester = {h: [r[tap.header.index(h)] for r in tap.rows]
                for h in ("Semester requested", "Assigned semester")}
    assert "Spring 2020" in semester["Semester requested"]
    assert "2020-spring" in semester["Assigned semester"]


def test_no_column_the_toolkit_fills_is_always_empty(example):
    """Guards against columns that say nothing: "Source row" sat always empty beside
    "Source rows", attendance columns before any class had a roll, answer columns of Needs
    Review no rejected response answered. Columns staff fill in (boxes, dropdowns, their
    own columns) are theirs to leave empty, and a column of the form's answers is the form's."""
    answers = {f.label for program in PROGRAMS.values() for f in program.fields}
    checked = 0
    for path in _workbooks(example):
        for table in _tables(path):
            if not table.rows:
                continue
            for i, header in enumerate(table.header):
                if header is None or i in table.staff or header in answers:
                    continue
                checked += 1
                assert any(i < len(r) and r[i] not in (None, "") for r in table.rows), (
                    f"{table.workbook} {table.sheet!r}: column {header!r} is always empty")
    assert checked > 100
    pip = {t.sheet: t for t in _tables(example.output / "master.xlsx")}["Partners in Policing"]
    assert "Source row" not in pip.header and "Sessions attended" in pip.header


def test_attendance_formulas_carry_their_results(example, tmp_path):
    """Guards "formulas show their values everywhere": "Attended", "Graduation eligible"
    and the Present row were formulas without a cached result, read as 0 by LibreOffice,
    file previews and openpyxl's data_only. A tick typed in, as staff do, is counted."""
    path = example.output / "rosters" / "pip-2020-spring.xlsx"
    copy = tmp_path / "ticked.xlsx"
    shutil.copy(path, copy)
    values = load_workbook(path, data_only=True)["Attendance"]
    formulas = load_workbook(path)["Attendance"]
    rows = [list(r) for r in values.iter_rows(values_only=True)]
    top = next(i for i, r in enumerate(rows) if r[0] == "Record ID")
    header = rows[top]
    attended, eligible = header.index("Attended"), header.index("Graduation eligible")
    people = [r for r in rows[top + 1:] if r[0]]
    assert people and all(r[attended] == 0 and r[eligible] == "No" for r in people)
    assert rows[-1][1] == "Present" and rows[-1][header.index("2020-03-05")] == 0
    formula = formulas.cell(top + 2, attended + 1).value
    assert isinstance(formula, str) and formula.startswith("=COUNTIF(")  # Excel still calculates
    assert formulas.cell(top + 2, eligible + 1).value.startswith("=IF(")


def test_attendance_results_count_the_marks_written(tmp_path):
    """The cached results are those of the marks in the sheet: 2 of 3 sessions present."""
    days = [dt.date(2020, 3, 5), dt.date(2020, 3, 12), dt.date(2020, 3, 19)]
    session = Session(id="2020-spring", name="Spring 2020", start=days[0], sessions=3, weekday=3,
                      start_time=dt.time(18), end_time=dt.time(20), capacity=25, minimum=1,
                      skip=(), location="", graduation_minimum=2, registration_opens=None,
                      registration_closes=None)
    marks = {"PIP-00001": {days[0]: "✓", days[1]: "x"}, "PIP-00002": {days[0]: "late"}}
    sheet = attendance_sheet("pip", session, days, [Column("Name")],
                             [("PIP-00001", ["Ann"]), ("PIP-00002", ["Bob"])], marks)
    write_workbook(tmp_path / "a.xlsx", [sheet])
    rows = list(load_workbook(tmp_path / "a.xlsx", data_only=True)["Attendance"]
                .iter_rows(min_row=4, values_only=True))
    assert [r[-2:] for r in rows[:2]] == [(2, "Yes"), (0, "No")]
    assert rows[2][2:5] == (1, 1, 0)


# -- on paper --------------------------------------------------------------------------------




@dataclass
class Page:
    number: int
    text: str  # whitespace-normalised
    words: list[tuple[float, float, float, float, str]]  # x0, y0, x1, y1, text
    landscape: bool
    smallest: float  # the smallest printed font size on the page, in points


def _pages(pdf: Path) -> list[Page]:
    layout = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True,
                            text=True, check=True, timeout=120).stdout
    pages = []
    for n, (chunk, drawn) in enumerate(zip(layout.split("<page ")[1:], extract_pages(pdf),
                                           strict=True), 1):
        width, height = (float(v) for v in re.match(r'width="([\d.]+)" height="([\d.]+)"',
                                                      chunk).groups())
        words = [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in WORD.findall(chunk)]
        sizes = []
        stack = [drawn]
        while stack:
            item = stack.pop()
            if isinstance(item, LTChar):
                if item.get_text().strip():
                    sizes.append(item.size)
            elif hasattr(item, "__iter__"):
                stack.extend(item)
        pages.append(Page(n, " ".join(w[4] for w in words), words, width > height,
                          round(min(sizes), 1)))
    return pages


def _overlaps(words: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    found = []
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(words):
        for bx0, by0, bx1, by1, b in words[i + 1:]:
            if min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5:
                found.append((a, b))
    return found


@pytest.fixture(scope="module")
def printed(example, tmp_path_factory) -> dict[str, list[Page]]:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed")
    outdir = tmp_path_factory.mktemp("pdf")
    names = ("rosters/pip-2020-spring.xlsx", "rosters/tap-2020-spring.xlsx", "master.xlsx")
    pdfs = soffice_to_pdfs([example.output / name for name in names], outdir)  # one start
    return {name: _pages(pdf) for name, pdf in zip(names, pdfs, strict=True)}


@pytest.mark.libreoffice
def test_sign_in_page_headers_keep_the_class_date_and_hours_apart(printed):
    """Guards the sign-in sheet's page header: its right part held the whole address, which
    ran over the centre ("Sign-in: Thursday, March 5, 2020") and the left part. Each part is
    legible now, no two words on the page overlap, and the place is a line of the sheet."""
    pages = [p for p in printed["rosters/pip-2020-spring.xlsx"] if "Sign-in:" in p.text]
    assert len(pages) >= 12  # twelve nights, 33 people: two pages each
    nights = set()
    for page in pages:
        overlapping = _overlaps(page.words)
        assert not overlapping, f"page {page.number}: overlapping words {overlapping[:3]}"
        top = " ".join(w[4] for w in sorted(page.words, key=lambda w: w[0]) if w[3] < 40)
        assert top.startswith("Partners in Policing: Spring 2020 Sign-in: "), top
        assert top.endswith(" 6:00-8:00 p.m."), top
        nights.add(re.search(r"Sign-in: (\w+, \w+ \d+, 2020)", top).group(1))
        assert page.smallest >= 10, f"page {page.number}: text printed at {page.smallest} pt"
    assert len(nights) == 12 and "Thursday, March 5, 2020" in nights
    firsts = [p for p in pages if "Place: Torrance Police Department" in p.text]
    assert len(firsts) == 12 and all("Civic Center Drive" in p.text for p in firsts)


def _smallest(pages: list[Page]) -> dict[str, float]:
    """The smallest printed font size of each kind of roster page, by its page header."""
    sizes: dict[str, float] = {}
    for page in pages:
        header = re.findall(r"[a-z-]+:?", " ".join(w[4] for w in page.words if w[3] < 40).casefold())
        kind = next((k for k in ("sign-in:", "roster", "waitlist", "withdrawn", "attendance",
                                 "contacts") if k in header), "other")
        sizes[kind] = min(sizes.get(kind, 99.0), page.smallest)
    return sizes


@pytest.mark.libreoffice
def test_roster_workbooks_print_readable_text(printed, capsys):
    """Guards the roster workbooks on paper: a sheet too wide for one page (the Attendance
    sheet's twelve dates, the TAP roster's contacts) printed at 4-5 pt; it now spreads over
    pages side by side with Record ID and name on each, and every page prints at 9 pt or more,
    with no two words overlapping. Sizes are LibreOffice's with its fallback font, whose
    digits are a quarter wider than Calibri's: Excel prints larger."""
    pip = _smallest(printed["rosters/pip-2020-spring.xlsx"])
    tap = _smallest(printed["rosters/tap-2020-spring.xlsx"])
    with capsys.disabled():
        print(f"\nsmallest printed text, pt: PIP {pip}; TAP {tap}")
    assert "other" not in pip and "other" not in tap
    assert pip["sign-in:"] >= 10 and tap["sign-in:"] >= 10
    for name in ("rosters/pip-2020-spring.xlsx", "rosters/tap-2020-spring.xlsx"):
        for page in printed[name]:
            overlapping = _overlaps(page.words)
            assert not overlapping, f"{name} page {page.number}: overlapping words {overlapping[:3]}"
    assert min(pip.values()) >= 9 and min(tap.values()) >= 9, (pip, tap)
    attendance = [p for p in printed["rosters/tap-2020-spring.xlsx"] if "attendance" in p.text[:200]]
    assert len(attendance) >= 2 and all("Record ID" in p.text and "Student" in p.text
                                        for p in attendance)


@pytest.mark.libreoffice
def test_master_prints_landscape_with_record_id_on_every_page(example, printed):
    """Guards the master on paper: the program sheets printed as 70 portrait pages of one or
    two columns, Record ID on the first page only; Needs Review cut its Source column."""
    wb = load_workbook(example.output / "master.xlsx")
    for title in ("Partners in Policing", "Teens and Policing", "Vacation Checks"):
        ws = wb[title]
        assert (ws.print_title_rows, ws.print_title_cols) == ("$1:$1", "$A:$A"), title
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.pageOrder == "overThenDown"
    assert wb["Needs Review"].print_area == "'Needs Review'!$A$1:$D$6"
    wb.close()
    pages = printed["master.xlsx"]
    assert len(pages) <= 55  # was 70 portrait pages
    for program in ("Partners in Policing", "Teens and Policing", "Vacation Checks"):
        mine = [p for p in pages if p.text.startswith(program)]
        assert 2 <= len(mine) <= 16, f"{program}: {len(mine)} pages"
        for page in mine:
            assert page.landscape, f"{program} page {page.number} is portrait"
            ids = re.findall(r"\b(?:PIP|TAP|VSC)-\d{5}\b", page.text)
            assert "Record ID" in page.text and ids, f"page {page.number}: no Record ID"
            assert page.smallest >= 9, f"{program} page {page.number}: {page.smallest} pt"
    # the other sheets' tables too (Possible Duplicates and Sync Log printed at 6.7 pt); the
    # Summary's charts are drawings, scaled as a whole
    smallest = {p.text.split()[0]: p.smallest for p in pages if not p.text.startswith("Programs")}
    assert min(smallest.values()) >= 8.5, smallest
    review = [p for p in pages if p.text.startswith("Needs Review")]
    assert len(review) == 1 and review[0].landscape
    assert "partners-in-policing-responses.csv" in review[0].text.split()
    assert "Reasons" in review[0].text


def test_a_class_typed_under_the_columns_former_name_still_counts(example_site, tmp_path):
    """Guards the rename of the master's computed class column ("Cohort" -> "Assigned
    cohort"): a class staff typed over it before, stored under the old header, still puts
    the person in that class, and the master shows it in the renamed column."""
    config = dataclasses.replace(config_mod.load(example_site), output=tmp_path / "out")
    sync(config)
    with Store(config.output / "state.sqlite") as store:
        spring = write_rosters(config, "pip", "2020-spring").classes[0].roster
        moved = spring.seated[0].applicant.record_id
        store.db.execute("UPDATE records SET staff = ? WHERE record_id = ?",
                         (json.dumps({"Status": "Accepted", "Cohort": "2020-fall"}), moved))
        store.db.commit()
    summary = write_rosters(config, "pip")
    by_class = {c.roster.session.id: [p.applicant.record_id for p in c.roster.seated]
                for c in summary.classes}
    assert moved in by_class["2020-fall"] and moved not in by_class["2020-spring"]
    with Store(config.output / "state.sqlite") as store:
        rewrite_master(store, config, config.output / "master.xlsx")
    pip = {t.sheet: t for t in _tables(config.output / "master.xlsx")}["Partners in Policing"]
    row = next(r for r in pip.rows if r[0] == moved)
    assert row[pip.header.index("Assigned cohort")] == "2020-fall"
