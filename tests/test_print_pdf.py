"""Every generated workbook, printed by a real spreadsheet application.

The master, a roster workbook and a route workbook from the example data are opened by
LibreOffice headless and printed to PDF, and pdftoppm turns every page into a PNG. A test
fails when LibreOffice cannot open a workbook, when a page of a sheet meant to print one
page wide holds only part of the table's width (each printed page must show both the first
and the last column heading of its sheet: a table cut across pages loses one of them), when
a page comes out in the wrong orientation or a one-page sheet takes more pages, or when a
chart of the Summary is missing from its page (its title is printed there, and its series
colours are drawn right of the tables).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string

from sync import config as config_mod
from sync import summary
from sync.classes.rosters import write_rosters
from sync.master.syncer import STATE, sync
from sync.state.store import Store
from sync.vacation.routes import write_routes
from sync.xlsx.charts import CHART_COLOURS
from sync.xlsx.saving import write_workbook
from tests.conftest import REPO, soffice_to_pdf, soffice_to_pdfs

DAY = dt.date(2020, 12, 24)
CHART_TITLES = ("Class fill: seats taken and capacity", "New applicants per week, by program",
                "Homes to check per day, next 30 days")

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
                                reason="poppler-utils (pdftoppm, pdftotext) is not installed")


@dataclass
class Printed:
    xlsx: Path
    pdf: Path
    pages: list[str]  # each page's words, whitespace-normalised, in reading order
    words: list[set[str]]  # each page's words
    sizes: list[tuple[int, int]]  # each page's PNG width and height


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def _print(path: Path, pdf: Path, outdir: Path) -> Printed:
    count = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(pdf))).group(1))
    # one pdftotext per document: pages end with a form feed, and -bbox gives one <page> each
    pages = [" ".join(text.split()) for text in _run("pdftotext", str(pdf), "-").split("\f")[:count]]
    bbox = _run("pdftotext", "-bbox", str(pdf), "-").split("<page ")[1:]
    words = [set(re.findall(r">([^<]+)</word>", page)) for page in bbox]
    assert len(pages) == len(words) == count, f"{pdf.name}: {count} pages, text of {len(pages)}"
    pngs = outdir / f"{path.stem}-png"
    pngs.mkdir()
    _run("pdftoppm", "-png", "-r", "50", str(pdf), str(pngs / "page"))
    files = sorted(pngs.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    assert len(files) == count, f"{pdf.name}: {count} pages but {len(files)} PNG pages"
    return Printed(path, pdf, pages, words, [_png_size(f) for f in files])


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[str, Printed]:
    root = tmp_path_factory.mktemp("print")
    shutil.copytree(REPO / "config", root / "config")
    config = config_mod.load(root / "config" / "example.toml")
    sync(config)
    rosters = write_rosters(config, "pip", "2020-spring")
    routes = write_routes(config, start=DAY, days=1)
    # The master's Summary is as of today, when the 2020 example data has no applications
    # or vacation checks to draw; the same Summary as of DAY has bars and a line in every chart.
    with Store(config.output / STATE) as store:
        dated = root / "summary-as-of-day.xlsx"
        write_workbook(dated, [summary.build(store, config, DAY)])
    outdir = root / "pdf"
    books = {"summary": dated, "master": config.output / "master.xlsx",
             "roster": rosters.classes[0].path, "route": routes.days[0].path}
    pdfs = soffice_to_pdfs(list(books.values()), outdir)  # one LibreOffice start for all four
    return {name: _print(path, pdf, outdir) for (name, path), pdf in zip(books.items(), pdfs, strict=True)}


@dataclass
class Intent:
    """What a sheet's print setup asks for, read back from the saved workbook."""

    title: str
    landscape: bool
    tall: int  # at most this many pages tall; 0: any number
    ends: tuple[set[str], set[str]]  # the words of the first and last column heading (of the
    # first only, on a sheet printed over pages side by side with its first columns repeated)
    header: set[str]  # the words of the page header's centre


def _intents(path: Path) -> list[Intent]:
    wb = load_workbook(path)
    out = []
    for ws in wb.worksheets:
        props = ws.sheet_properties.pageSetUpPr
        if not (props and props.fitToPage):
            continue  # no print setup: LibreOffice's defaults, nothing intended
        wide = int(ws.page_setup.fitToWidth or 1)  # > 1: pages side by side, first columns repeated
        rows = list(ws.iter_rows(values_only=True))
        if ws.print_title_rows:
            header = rows[int(re.match(r"\$?(\d+)", ws.print_title_rows).group(1)) - 1]
        else:
            header = next(r for r in rows if sum(v is not None for v in r) >= 2)
        if ws.print_area:  # only these columns are printed
            last = re.search(r"!\$?[A-Z]+\$?\d+:\$?([A-Z]+)", ws.print_area).group(1)
            header = header[:column_index_from_string(last)]
        names = [str(v) for v in header if v is not None and len(str(v)) >= 3]
        out.append(Intent(ws.title, ws.page_setup.orientation == "landscape",
                          int(ws.page_setup.fitToHeight or 0),
                          (set(names[0].split()), set(names[-1 if wide == 1 else 0].split())),
                          set((ws.oddHeader.center.text or "").split())))
    wb.close()
    return out


def _check_widths(doc: Printed) -> dict[str, int]:
    """Every page is a whole-width page of one fit-to-width sheet; returns pages per sheet."""
    intents = _intents(doc.xlsx)
    assert intents, f"{doc.xlsx.name}: no sheet has a print setup"
    pages: dict[str, int] = {i.title: 0 for i in intents}
    for n, words in enumerate(doc.words, 1):
        whole = [i for i in intents if i.header <= words and i.ends[0] <= words and i.ends[1] <= words]
        if not whole and not any(i.header <= words for i in intents):
            continue  # a page of a sheet printed with LibreOffice's defaults
        assert whole, (f"{doc.pdf.name} page {n}: a sheet meant to print one page wide is cut "
                       f"off: its first or last column heading is missing from the page")
        for intent in whole:
            pages[intent.title] += 1
            width, height = doc.sizes[n - 1]
            assert (width > height) == intent.landscape, f"{doc.pdf.name} page {n}: orientation"
    for intent in intents:
        assert pages[intent.title] >= 1, f"{doc.xlsx.name}: sheet {intent.title!r} was not printed"
        if intent.tall:
            assert pages[intent.title] <= intent.tall, (
                f"{doc.xlsx.name}: {intent.title!r} printed on {pages[intent.title]} pages, "
                f"meant for {intent.tall}")
    return pages


def test_route_workbook_prints_each_beat_whole_width(printed):
    doc = printed["route"]
    pages = _check_widths(doc)
    assert len(pages) == 4  # four beats, each from a new page, in beat order
    beats = [re.search(r"Beat (\d) - ", text).group(1) for text in doc.pages]
    assert beats == sorted(beats) and set(beats) == {"1", "2", "3", "4"}
    assert all("Vacation checks: Thursday, December 24, 2020" in text for text in doc.pages)


def test_roster_workbook_prints_every_sheet_whole_width(printed):
    doc = printed["roster"]
    pages = _check_widths(doc)
    assert set(pages) >= {"Roster", "Waitlist", "Attendance", "Contacts", "Sign-in 2020-03-05"}
    assert len([t for t in pages if t.startswith("Sign-in ")]) == 12
    assert sum(pages.values()) >= len(doc.pages) - 1  # every page belongs to a sheet
    assert all(w > h for w, h in doc.sizes)


def test_master_summary_is_the_first_page_with_its_charts(printed):
    doc = printed["master"]
    pages = _check_widths(doc)
    # fitted to one page wide: the Summary, Needs Review and Possible Duplicates; the logs
    # print at full size over pages side by side, like the program sheets
    assert pages == {"Summary": 1, "Needs Review": 1, "Possible Duplicates": 1}
    first = doc.pages[0]
    assert "community programs at a glance" in first
    assert "Programs at a glance" not in " ".join(doc.pages[1:])
    for title in CHART_TITLES:
        assert title in first, f"chart {title!r} is missing from the printed Summary"
    dated = printed["summary"]
    assert all(title in dated.pages[0] for title in CHART_TITLES)
    colours = _chart_colours(dated.pdf, dated.xlsx.parent / "summary-page")
    for colour, count in colours.items():
        assert count >= 100, f"no chart drawn in colour #{colour} ({colours})"


def _chart_colours(pdf: Path, prefix: Path) -> dict[str, int]:
    """Pixels of the first three series colours in the right half of page 1 (the tables, whose
    headers share the first colour, are on the left; the charts on the right)."""
    _run("pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix))
    data = prefix.with_suffix(".ppm").read_bytes()
    magic, width, height, _, pixels = data.split(maxsplit=4)
    assert magic == b"P6"
    width, height = int(width), int(height)
    wanted = {c: tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) for c in CHART_COLOURS[:3]}
    counts = dict.fromkeys(wanted, 0)
    for y in range(height):
        row = pixels[y * width * 3:(y + 1) * width * 3]
        for x in range(width // 2, width):
            rgb = row[x * 3:x * 3 + 3]
            for name, target in wanted.items():
                if all(abs(a - b) <= 40 for a, b in zip(rgb, target, strict=True)):
                    counts[name] += 1
    return counts


@pytest.mark.libreoffice
def test_an_answer_that_looks_like_a_formula_prints_as_typed(site, tmp_path):
    """Guards "no answer becomes a formula" where staff see it: LibreOffice opens the master
    and prints the name "=1+1" as those characters, never as the result 2."""
    site.write_pip(site.pip_rows + ['3/3/2020 10:00:00,fay@example.com,"=1+1",Wong,5/6/1970,'
                                    '3105550106,I live in Torrance,'])
    sync(site.config())
    doc = _print(site.master, soffice_to_pdf(site.master, tmp_path / "pdf"), tmp_path / "pdf")
    text = " ".join(doc.pages)
    assert "=1+1" in text
    assert "Wong" in text
