"""Route sheets an officer can use in the car: readable print, directions to follow.

The example's route workbook is printed by LibreOffice and measured with `pdftotext
-bbox-layout`: no text is smaller than a 9-point reference printed the same way, no phone
number, date or record ID is split across lines, and a stop's row (its details and its check
boxes) prints on one page. Each beat's Google Maps links follow the stops in order within
Google's documented limits, and each printed QR code, sampled from the rendered page, is
exactly the code of its link. The stop order is compared with the exact shortest order.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import random
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import xlsxwriter
from openpyxl import Workbook, load_workbook

from sync import config as config_mod
from sync.master.syncer import sync
from sync.vacation import checklog, maps, tour
from sync.vacation.routes import write_routes
from sync.vacation.routesheet import COLUMNS, NOTES
from tests.conftest import REPO, soffice_to_pdf

DAY = dt.date(2020, 12, 24)
STATION = (33.8366, -118.3420)
PHONE = re.compile(r"\(\d{3}\) \d{3}-\d{4}|\b\d{3}-\d{3}-\d{4}\b")
DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{1,2}(?:, \d{4})?")
RECORD_ID = re.compile(r"\bVSC-\d{5}\b")
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u2011", "-")


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


def pdf_pages(pdf: Path) -> list[list[list[tuple[float, float, float, float, str]]]]:
    """Each page's lines, each line's words as (xMin, yMin, xMax, yMax, text)."""
    layout = _run("pdftotext", "-bbox-layout", str(pdf), "-")
    pages = []
    for page in layout.split("<page ")[1:]:
        lines = []
        for line in re.findall(r"<line[^>]*>(.*?)</line>", page, flags=re.S):
            lines.append([(float(a), float(b), float(c), float(d), plain(html.unescape(t)))
                          for a, b, c, d, t in WORD.findall(line)])
        pages.append(lines)
    return pages


def _nine_point_height(outdir: Path) -> float:
    """The height pdftotext gives a word printed at 9 points by the same LibreOffice."""
    path = outdir / "nine-points.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet().write("A1", "Reference 9", wb.add_format({"font_size": 9}))
    wb.close()
    words = [w for line in pdf_pages(soffice_to_pdf(path, outdir))[0] for w in line]
    return min(w[3] - w[1] for w in words)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftotext, pdftoppm) is not installed")
    root = tmp_path_factory.mktemp("routesheet")
    shutil.copytree(REPO / "config", root / "config")
    config = config_mod.load(root / "config" / "example.toml")
    sync(config)
    path = write_routes(config, start=DAY, days=1).days[0].path
    outdir = root / "pdf"
    pdf = soffice_to_pdf(path, outdir)
    return {"config": config, "xlsx": path, "pdf": pdf, "pages": pdf_pages(pdf),
            "nine": _nine_point_height(outdir), "root": root}


def _stops(path: Path) -> list[tuple[str, list[dict]]]:
    """(sheet title, stop rows as {header: value}) for every beat."""
    wb = load_workbook(path)
    out = []
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        header = rows[0]
        out.append((ws.title, [dict(zip(header, r, strict=False)) for r in rows[1:]
                               if isinstance(r[0], int)]))
    wb.close()
    return out


@pytest.mark.libreoffice
def test_route_sheet_text_prints_at_nine_points_or_more(printed):
    """Guards the patrol-car print: 18 columns squeezed onto one page width printed at about
    5 points. Every word on every page is at least as tall as 9-point text."""
    heights = [w[3] - w[1] for page in printed["pages"] for line in page for w in line]
    assert heights
    assert min(heights) >= printed["nine"] - 0.05, (
        f"smallest text {min(heights) / printed['nine'] * 9:.1f} pt")


@pytest.mark.libreoffice
def test_phone_numbers_dates_and_ids_never_break_across_lines(printed):
    """Guards "(424) 555-" / "0192": each phone number, date and record ID of the sheet is
    whole on one printed line, as often as the cells hold it."""
    lines = [" ".join(w[4] for w in line) for page in printed["pages"] for line in page]
    wanted: dict[str, int] = {}
    for _, stops in _stops(printed["xlsx"]):
        for stop in stops:
            for value in stop.values():
                for pattern in (PHONE, DATE, RECORD_ID):
                    for found in pattern.findall(plain(str(value or ""))):
                        wanted[found] = wanted.get(found, 0) + 1
    assert sum(1 for k in wanted if PHONE.fullmatch(k)) >= 10 and any(DATE.fullmatch(k) for k in wanted)
    for text, count in wanted.items():
        whole = sum(line.count(text) for line in lines)
        assert whole >= count, f"{text!r} is split across lines ({whole} whole of {count})"


@pytest.mark.libreoffice
def test_a_stop_and_its_check_boxes_print_on_one_page(printed):
    """Each stop's Record ID, the last line of its notes and the check columns' headings are
    on the same page: the stop's row is never cut by a page break."""
    pages = [" ".join(w[4] for line in page for w in line) for page in printed["pages"]]
    for _, stops in _stops(printed["xlsx"]):
        for stop in stops:
            on = [n for n, text in enumerate(pages) if stop["Record ID"] in text]
            assert len(on) == 1, f"{stop['Record ID']} printed on pages {on}"
            last = plain(stop[NOTES]).splitlines()[-1].split()[-1]
            assert last in pages[on[0]]
            words = set(pages[on[0]].split())
            assert {"Date", "Time", "checked", "Checked", "by", "Result", "Check", "notes"} <= words


def _links(path: Path) -> dict[str, list[str]]:
    wb = load_workbook(path)
    out = {ws.title: [c.hyperlink.target for row in ws.iter_rows() for c in row if c.hyperlink]
           for ws in wb.worksheets}
    wb.close()
    return out


def _address(stop: dict) -> str:
    residence = plain(stop["Residence"]).splitlines()
    city, zip_code = residence[1].rsplit(" ", 1)
    return f"{residence[0]}, {city}, CA {zip_code}"


def test_each_beat_links_its_stops_in_order_within_the_maps_limits(printed):
    """The links of a beat, leg after leg, drive from the station through every stop in the
    sheet's order; no leg has more than three waypoints (Google's documented limit on mobile
    browsers) or more characters than a legible printed code holds (412, under Google's
    2,048); each leg starts where the last one ended."""
    links = _links(printed["xlsx"])
    station = printed["config"].department.station
    for title, stops in _stops(printed["xlsx"]):
        assert links[title], f"{title}: no directions link"
        route, origin = [], station
        for link in links[title]:
            parts = urlsplit(link)
            assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.google.com",
                                                                "/maps/dir/")
            query = parse_qs(parts.query)
            assert query["api"] == ["1"] and query["travelmode"] == ["driving"]
            assert query["origin"] == [origin]
            waypoints = query["waypoints"][0].split("|") if "waypoints" in query else []
            assert len(waypoints) <= maps.MAX_WAYPOINTS and len(link) <= maps.PRINTED_URL
            route += waypoints + query["destination"]
            origin = query["destination"][0]
        assert route == [_address(s) for s in stops]


def test_a_long_route_and_long_addresses_split_into_legs():
    places = [f"{n} Maple Ave, Torrance, CA 90501" for n in range(1, 11)]
    legs = maps.legs("3300 Civic Center Drive, Torrance, CA 90503", places)
    assert [(leg.first, leg.last) for leg in legs] == [(1, 4), (5, 8), (9, 10)]
    assert [leg.label for leg in legs] == ["Stops 1-4", "Stops 5-8", "Stops 9-10"]
    long = [f"{n} {'Long Street Name ' * 5}, Torrance, CA 90501" for n in range(1, 5)]
    legs = maps.legs("Station", long)
    assert all(0 < len(leg.url) <= maps.PRINTED_URL <= maps.MAX_URL for leg in legs)
    assert len(legs) > 1 and legs[-1].last == 4  # fewer waypoints a leg, every stop still there
    assert [leg.first for leg in legs] == [1] + [leg.last + 1 for leg in legs[:-1]]
    assert maps.legs("Station", ["x" * 3000])[0].url == ""  # too long for any link
    assert len(maps.legs("Station", ["x" * 1000], max_url=maps.MAX_URL)[0].url) > maps.PRINTED_URL


def _page_image(pdf: Path, page: int, dpi: int, prefix: Path) -> tuple[int, int, bytes]:
    _run("pdftoppm", "-r", str(dpi), "-gray", "-f", str(page), "-l", str(page), "-singlefile",
         str(pdf), str(prefix))
    data = prefix.with_suffix(".pgm").read_bytes()
    magic, width, height, _, pixels = data.split(maxsplit=4)
    assert magic == b"P5"
    return int(width), int(height), pixels


def _sample(image: tuple[int, int, bytes], x0: float, y0: float, size: int) -> list[list[bool]]:
    """The QR symbol whose top-left dark pixel is the first one right of and below (x0, y0)
    (pixels), sampled at its modules' centres."""
    width, height, pixels = image

    def dark(x: int, y: int) -> bool:
        return pixels[y * width + x] < 128

    top = next(y for y in range(int(y0), height) if any(dark(x, y) for x in range(int(x0), int(x0) + 300)))
    left = next(x for x in range(int(x0), width) if dark(x, top))
    run = next(x for x in range(left, width) if not dark(x, top)) - left  # the finder: 7 modules
    right = max(x for x in range(left, min(width, left + int(run / 7 * size * 1.15)))
                if dark(x, top))  # the top-right finder's right edge
    across = down = (right + 1 - left) / size  # a square: the printed code is not stretched
    return [[dark(int(left + (c + 0.5) * across), int(top + (r + 0.5) * down))
             for c in range(size)] for r in range(size)]


@pytest.mark.libreoffice
def test_each_printed_qr_code_is_the_code_of_its_link(printed):
    """Every leg's QR code is on the printed page, below its link's caption, and sampled
    from the rendered page it is module for module segno's code of that link (no QR decoder
    is installed here; this compares the printed symbol with the link's own)."""
    dpi = 300
    links = _links(printed["xlsx"])
    checked = 0
    for n, page in enumerate(printed["pages"], 1):
        captions = [w for line in page for w in line if w[4] == "Stops" or w[4] == "Stop"]
        if not captions:
            continue
        title = next(w[4] for line in page for w in line)  # the page header starts with the beat
        beat = next(t for t in links if " ".join(w[4] for w in page[0]).startswith(t))
        image = _page_image(printed["pdf"], n, dpi, printed["root"] / f"page{n}")
        for caption, link in zip(sorted(captions, key=lambda w: (w[1], w[0])), links[beat],
                                 strict=False):
            expected = maps.qr_modules(link)
            got = _sample(image, caption[0] * dpi / 72, (caption[3] + 3) * dpi / 72, len(expected))
            assert got == expected, f"page {n}: the QR code under {caption[4]} is not its link's"
            checked += 1
        assert title
    assert checked == sum(len(v) for v in links.values()) >= 4


def test_checks_typed_into_an_old_layout_sheet_are_still_read(tmp_path):
    """Route workbooks written before the ten-column layout (18 columns) still give their
    typed checks to the Check Log."""
    old = ["#", "Record ID", "Address", "Resident", "Phone", "Away",
           "Emergency contact / key holder", "Alarm company", "Vehicles", "Lights on timers",
           "Pets", "Authorized persons", "Special instructions", *checklog.CHECK_HEADERS]
    wb = Workbook()
    wb.active.title = "Beat 1 - North"
    wb.active.append(old)
    wb.active.append([1, "VSC-00001", "1200 Maple Ave", "Ann Smith"] + [None] * 9
                     + [dt.date(2020, 3, 5), dt.time(21, 15), "Ofc. Kim", "Secure", "All dark"])
    path = tmp_path / "routes-2020-03-05.xlsx"
    wb.save(path)
    checks, listed = checklog.read_route_file(path)
    assert listed == {"VSC-00001"}
    assert [(c.date, c.time, c.checked_by, c.result, c.notes) for c in checks] == [
        ("2020-03-05", "21:15", "Ofc. Kim", "Secure", "All dark")]
    assert [c.header for c in COLUMNS][-5:] == list(checklog.CHECK_HEADERS)


def _random_points(seed: int, n: int) -> list[tour.Point]:
    rng = random.Random(seed)
    return [(STATION[0] + rng.uniform(-0.04, 0.04), STATION[1] + rng.uniform(-0.04, 0.04))
            for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 8, 20])
def test_or_opt_finds_the_shortest_order_where_two_opt_alone_does_not(seed):
    points = _random_points(seed, 7)
    best = min(tour.route_length(p, points, STATION) for p in itertools.permutations(range(7)))
    two_opt = tour.two_opt(tour.nearest_neighbour(points, STATION), points, STATION)
    assert tour.route_length(two_opt, points, STATION) > best * 1.03
    assert tour.route_length(tour.plan_route(points, STATION), points, STATION) == pytest.approx(best)


def test_the_route_is_never_longer_than_nearest_neighbour():
    for seed in range(40):
        points = _random_points(1000 + seed, 3 + seed % 10)
        for start in (STATION, None):
            nn = tour.nearest_neighbour(points, start)
            ours = tour.plan_route(points, start)
            assert sorted(ours) == list(range(len(points)))
            assert tour.route_length(ours, points, start) <= tour.route_length(nn, points, start) + 1e-9


def test_the_route_quality_benchmark_meets_its_target():
    """A few instances of benchmarks/route_quality.py: the exact order by dynamic programming
    is never longer than the toolkit's, which is within the target on average."""
    from benchmarks import route_quality

    result = route_quality.measure(instances=18, seed=3)
    assert result["longer_than_nn"] == 0
    assert 0 <= result["mean_gap"] <= route_quality.TARGET_GAP
    assert "met" in route_quality.render(result)


def test_glue_keeps_numbers_dates_and_ids_whole():
    from sync.vacation.routesheet import glue

    text = glue("Call Zed at 310-555-0199 or (424) 555 0192 ext. 12, back March 10, 2020 "
                "(2020-03-10), see VSC-00012; 3 cats")
    for whole in ("310-555-0199", "(424) 555 0192 ext. 12", "March 10, 2020", "2020-03-10",
                  "VSC-00012"):
        glued = whole.replace(" ", "\u00a0").replace("-", "\u2011")
        assert glued in text, whole
    assert "Call Zed at " in text and " 3 cats" in text  # ordinary words still wrap
