"""Vacation-check routes: who is checked on a day, in which beat, in what order, on what sheet."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
import stat
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import cli
from sync.config import Beat
from sync.errors import ConfigError
from sync.master.syncer import sync
from sync.vacation import routing, tour
from sync.vacation.routes import write_routes
from sync.vacation.routesheet import COLUMNS
from tests.helpers import GEOCODES, VSC_ROWS, VscSite, vsc_site, ws_rows


@pytest.fixture
def vsite(tmp_path: Path) -> VscSite:
    return vsc_site(tmp_path)


def _record(leave: dt.date, back: dt.date, eligibility: str = "", **staff: str) -> dict:
    return {"data": {"values": {"leave_date": leave, "return_date": back, "street": "1 A St"},
                     "eligibility": eligibility}, "staff": dict(staff)}


# -- which requests ---------------------------------------------------------------------------


def test_active_on_date_includes_leave_and_return_days_only():
    leave, back = dt.date(2020, 3, 5), dt.date(2020, 3, 10)
    data = _record(leave, back)["data"]
    assert not routing.is_active(data, {}, leave - dt.timedelta(days=1))
    assert routing.is_active(data, {}, leave)
    assert routing.is_active(data, {}, dt.date(2020, 3, 7))
    assert routing.is_active(data, {}, back)
    assert not routing.is_active(data, {}, back + dt.timedelta(days=1))


def test_active_on_date_honours_status_and_eligibility():
    day = dt.date(2020, 3, 6)
    leave, back = dt.date(2020, 3, 5), dt.date(2020, 3, 10)
    records = {
        "VSC-00001": _record(leave, back),
        "VSC-00002": _record(leave, back, Status="Cancelled"),
        "VSC-00003": _record(leave, back, "Ineligible: ZIP 90210 is outside Torrance"),
        "VSC-00004": _record(leave, back, "Ineligible: less than 48 hours' notice",
                             Status="Active"),
        "VSC-00005": _record(leave, back, Status="Completed"),
        "VSC-00010": _record(leave, back, Status=" cancelled "),
    }
    assert [rid for rid, _ in routing.active_requests(records, day)] == [
        "VSC-00001", "VSC-00004", "VSC-00005"]
    # The master's current Status wins over the one saved at the last sync.
    found = routing.active_requests(records, day, {"VSC-00001": "Cancelled", "VSC-00002": "Active"})
    assert [rid for rid, _ in found] == ["VSC-00002", "VSC-00004", "VSC-00005"]
    purged = {"VSC-00001": {"data": {**records["VSC-00001"]["data"], "purged": {"on": day}},
                            "staff": {}}}
    assert routing.active_requests(purged, day) == []


# -- beats ------------------------------------------------------------------------------------


BEATS = (
    Beat("North", zip_codes=("90501", "90504")),
    Beat("West", zip_codes=("90503",), streets=(("Hawthorne Blvd", 17000, 19999),)),
    Beat("Pacific", streets=(("Pacific Coast Hwy", 0, 10**9),)),
)


@pytest.mark.parametrize(("street", "zip_code", "beat"), [
    ("1200 Maple Ave", "90501", "North"),
    ("9 Elm St", "90503", "West"),
    ("18000 Hawthorne Blvd", "90504", "West"),  # the street range wins over the ZIP
    ("18000 HAWTHORNE BOULEVARD, Apt. 4", "90504", "West"),
    ("18000 S. Hawthorne Blvd", "90504", "West"),
    ("16999 Hawthorne Blvd", "90504", "North"),  # below the range: the ZIP decides
    ("20000 Hawthorne Blvd", "90504", "North"),
    ("17500 Hawthorne Ave", "90504", "North"),  # another street of that name
    ("2300 Pacific Coast Highway", "", "Pacific"),
    ("55 Unknown Rd", "90505", "Unassigned"),
    ("", "", "Unassigned"),
    ("Hawthorne Blvd", "90505", "Unassigned"),  # no house number: no range can claim it
])
def test_beat_assignment(street, zip_code, beat):
    assert routing.assign_beat({"street": street, "zip": zip_code}, BEATS) == beat


# -- order ------------------------------------------------------------------------------------

STATION = (33.8366, -118.3420)


def test_two_opt_is_never_longer_than_nearest_neighbour_on_random_points():
    rng = random.Random(20200305)
    improved = 0
    for trial in range(300):
        n = rng.randint(1, 40)
        points = [(33.80 + rng.random() * 0.08, -118.39 + rng.random() * 0.1) for _ in range(n)]
        start = None if trial % 5 == 0 else STATION
        nn = tour.nearest_neighbour(points, start)
        better = tour.two_opt(nn, points, start)
        assert sorted(better) == list(range(n))
        nn_km = tour.route_length(nn, points, start)
        better_km = tour.route_length(better, points, start)
        assert better_km <= nn_km + 1e-9
        improved += better_km < nn_km - 1e-6
    assert improved > 100  # 2-opt does real work, not only no harm


def test_known_small_case_reaches_the_best_order():
    """Five homes where nearest neighbour wanders (8.9 km) and 2-opt finds the best (7.4 km)."""
    offsets = [(0.0158, 0.022), (0.0256, 0.0036), (0.0065, 0.0278), (0.0164, 0.0113),
               (0.0123, 0.0381)]
    points = [(STATION[0] + a, STATION[1] + b) for a, b in offsets]
    nn = tour.nearest_neighbour(points, STATION)
    assert nn == [3, 0, 2, 4, 1]
    assert tour.plan_route(points, STATION) == [1, 3, 0, 2, 4]
    best = min(itertools.permutations(range(5)),
               key=lambda o: tour.route_length(o, points, STATION))
    assert list(best) == [1, 3, 0, 2, 4]
    assert tour.route_length(nn, points, STATION) == pytest.approx(8.918, abs=0.01)
    assert tour.route_length(best, points, STATION) == pytest.approx(7.416, abs=0.01)


def test_haversine_known_distance():
    # Torrance station to Los Angeles City Hall (34.0537, -118.2428): about 25.7 km.
    assert tour.haversine(STATION, (34.0537, -118.2428)) == pytest.approx(25.7, abs=0.3)


def _stop(rid: str, street: str, point=None) -> routing.Stop:
    return routing.Stop(rid, {"street": street}, "B", routing.split_street(street), point)


def test_without_coordinates_neighbours_are_adjacent_by_street_and_number():
    stops = [_stop("VSC-00001", "30 Oak St"), _stop("VSC-00002", "120 Maple Ave"),
             _stop("VSC-00003", "4 Oak Street"), _stop("VSC-00004", "100 Maple Avenue Apt 2"),
             _stop("VSC-00005", "no number Rd")]
    ordered = [s.record_id for s in routing.order_stops(stops, STATION)]
    assert ordered == ["VSC-00004", "VSC-00002", "VSC-00005", "VSC-00003", "VSC-00001"]


def test_a_home_without_coordinates_rides_with_its_street():
    near, far = (33.84, -118.34), (33.90, -118.30)
    stops = [_stop("VSC-00001", "10 Far Rd", far), _stop("VSC-00002", "100 Near St", near),
             _stop("VSC-00003", "104 Near St"), _stop("VSC-00004", "1 Lost Ln")]
    ordered = routing.order_stops(stops, STATION)
    assert [s.record_id for s in ordered] == ["VSC-00002", "VSC-00003", "VSC-00001", "VSC-00004"]
    assert ordered[1].point is None  # the borrowed point served the ordering only


def test_geocode_csv_matches_normalised_addresses(tmp_path, caplog):
    path = tmp_path / "geo.csv"
    path.write_text(GEOCODES, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        geo = routing.read_geocodes(path)
    assert "geo.csv:5" in caplog.text
    assert "Maple" not in caplog.text
    assert routing.station_point("3300 Civic Center Dr., Torrance CA", geo) == STATION
    assert routing.locate({"street": "1200 MAPLE AVE. Apt 3"}, geo) == (33.87, -118.33)
    assert routing.locate({"street": "9 Elm St", "latitude": "33.85", "longitude": "-118.3"},
                         geo) == (33.85, -118.3)
    assert routing.locate({"street": "9 Elm St", "latitude": "north", "longitude": "1"}, geo) is None
    with pytest.raises(ConfigError, match=r"missing\.csv: programs\.vsc\.rules\.geocodes"):
        routing.read_geocodes(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("place,lat,lon\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing: address, latitude, longitude"):
        routing.read_geocodes(tmp_path / "bad.csv")


# -- the workbooks ----------------------------------------------------------------------------


def test_route_workbook_per_day_and_beat(vsite, caplog):
    cfg = vsite.config()
    sync(cfg)
    with caplog.at_level(logging.INFO):
        summary = write_routes(cfg, start=dt.date(2020, 3, 5), days=2)
    assert [d.day for d in summary.days] == [dt.date(2020, 3, 5), dt.date(2020, 3, 6)]
    first = summary.days[0]
    assert first.beats == {"Beat 1 - North": 2, "Beat 2 - West": 1, "Unassigned": 1}
    assert first.unassigned == ["VSC-00003"]
    assert "VSC-00003" in summary.render()
    assert "match no beat" in summary.render()
    for secret in ("Smith", "Maple", "555"):
        assert secret not in caplog.text

    path = vsite.out / "routes" / "routes-2020-03-05.xlsx"
    assert first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    wb = load_workbook(path)
    assert wb.sheetnames == ["Beat 1 - North", "Beat 2 - West", "Unassigned"]
    ws = wb["Beat 1 - North"]
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    rows = [r for r in ws_rows(ws) if isinstance(r["#"], int)]  # the directions follow
    assert [(r["#"], r["Record ID"]) for r in rows] == [(1, "VSC-00001"), (2, "VSC-00004")]
    ann = {h: plain(v) for h, v in rows[0].items()}
    assert ann["Residence"] == ("1200 Maple Ave\nTorrance 90501\nAnn Smith\n(310) 555-0101\n"
                                "Away: Sun Mar 1\nBack: Tue Mar 10, 2020")
    assert ann["Notes for the officer"] == (
        "Emergency contact: Zed Neighbour, (310) 555-0199\nKey holder: Zed has a key\n"
        "Alarm: ADT 800-555-0100\nVehicles: Blue Civic 7ABC123\nLights on timers: Living room\n"
        "Pets: Cat\nAuthorized: Gardener Tue\nInstructions: =HYPERLINK(\"http://x\")")
    assert ws["D2"].data_type == "s"  # an answer never becomes a formula
    assert all(ann[h] is None for h in ("Date checked", "Time checked", "Checked by", "Result",
                                        "Check notes"))
    # Result is a dropdown; the page prints landscape, one page wide, header repeated.
    validations = ws.data_validations.dataValidation
    assert any(dv.formula1 == '"Secure,Insecure,Suspicious"' and "H2" in str(dv.sqref)
               for dv in validations)
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth or 1) == 1  # absent means 1 (ECMA-376)
    assert ws.print_title_rows == "$1:$1"
    assert ws.oddHeader.left.text == "Beat 1 - North"
    assert "Thursday, March 5, 2020" in ws.oddHeader.center.text
    assert "&P" in ws.oddFooter.center.text
    assert "&N" in ws.oddFooter.center.text



def test_quiet_routes_print_only_the_requests_that_match_no_beat(vsite, capsys, restore_logging):
    """`routes -q` printed nothing at all once -q meant "what needs a look", so a request whose
    home matches no beat went unmentioned; now that is the line it prints, and one stop is
    "1 stop"."""
    config = str(vsite.config_path)
    assert cli.main(["sync", "--config", config, "-q"]) == 0
    assert cli.main(["routes", "--config", config, "--as-of", "2020-03-05", "--days", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["2020-03-05: 1 match no beat (add their street or ZIP to a beat): "
                                "VSC-00003; 2 without coordinates, ordered by street"], out
    assert cli.main(["routes", "--config", config, "--as-of", "2020-03-09", "--days", "1"]) == 0
    assert "1 stop (" in capsys.readouterr().out

def plain(value):
    """A route-sheet cell as it reads: no-break spaces and hyphens as ordinary ones."""
    return value.replace("\u00a0", " ").replace("\u2011", "-") if isinstance(value, str) else value


def test_routes_order_from_the_station(vsite):
    """Di (1210 Maple, no coordinates) rides with Ann (1200 Maple, geocoded)."""
    cfg = vsite.config()
    sync(cfg)
    summary = write_routes(cfg, start=dt.date(2020, 3, 6), days=1)
    assert summary.days[0].without_coordinates == 2  # Di and Cy
    ws = load_workbook(summary.days[0].path)["Beat 1 - North"]
    assert [r["Record ID"] for r in ws_rows(ws) if isinstance(r["#"], int)] == [
        "VSC-00001", "VSC-00004"]


def test_cancelled_in_the_master_leaves_the_route(vsite):
    cfg = vsite.config()
    sync(cfg)
    wb = load_workbook(vsite.master)
    ws = wb["Vacation Checks"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("Record ID")].value == "VSC-00004":
            row[header.index("Status")].value = "Cancelled"
    wb.save(vsite.master)
    summary = write_routes(cfg, start=dt.date(2020, 3, 5), days=1)
    assert summary.days[0].beats["Beat 1 - North"] == 1


def test_a_day_without_requests_still_gets_a_workbook(vsite):
    cfg = vsite.config()
    sync(cfg)
    summary = write_routes(cfg, start=dt.date(2021, 1, 1), days=1)
    assert load_workbook(summary.days[0].path).sheetnames == ["No requests"]
    assert "no active requests" in summary.render()


@pytest.mark.usefixtures("restore_logging")
def test_routes_command(vsite, capsys):
    assert cli.main(["routes", "--config", str(vsite.config_path)]) == 1
    assert "run `tpd-programs sync` first" in capsys.readouterr().err
    sync(vsite.config())
    code = cli.main(["routes", "--config", str(vsite.config_path), "--date", "2020-03-05",
                     "--days", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("routes-2020-03-0") == 3
    assert "2020-03-05: 4 stops" in out
    with pytest.raises(SystemExit) as usage:
        cli.main(["routes", "--config", str(vsite.config_path), "--date", "5 March"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["routes", "--config", str(vsite.config_path), "--days", "0"])


def test_default_days_come_from_the_config(vsite):
    vsite.config_path.write_text(vsite.config_path.read_text() + "\n[routes]\ndays = 2\n")
    cfg = vsite.config()
    sync(cfg)
    assert len(write_routes(cfg).days) == 2


def test_a_stranger_cannot_take_over_a_residents_request(vsite):
    """Guards against a takeover: anyone who knows an address and the dates can fill in the
    form. A later request for Ann's home from someone else must not replace her contact
    details or her dates; it is its own record, shown to staff as a possible duplicate, and
    Ann's home stays on the route for every day she is away."""
    stranger = ("2/22/2020 10:00:00,eve@evil.example,Eve,Mallory,310-555-0666,1200 Maple Ave,"
                "Torrance,90501,3/2/2020,3/4/2020,Eve Friend,310-555-0667,,,,,,,,")
    vsite.write_vsc(VSC_ROWS + [stranger])
    cfg = vsite.config()
    sync(cfg)
    wb = load_workbook(vsite.master, read_only=True)
    checks = {r["Record ID"]: r for r in ws_rows(wb["Vacation Checks"])}
    pairs = ws_rows(wb["Possible Duplicates"])
    wb.close()
    assert len(checks) == 5
    ann = checks["VSC-00001"]
    assert (ann["Email"], ann["Phone"], ann["First name"]) == ("ann@example.com", "+13105550101", "Ann")
    assert (ann["Returning"], ann["Emergency contact"]) == (dt.datetime(2020, 3, 10),
                                                            "Zed Neighbour")
    assert checks["VSC-00005"]["Email"] == "eve@evil.example"
    assert [(p["Record A"], p["Record B"], p["Evidence"]) for p in pairs] == [
        ("VSC-00001", "VSC-00005", "same address, overlapping dates, different person")]
    summary = write_routes(cfg, start=dt.date(2020, 3, 8), days=1)
    on_route = ws_rows(load_workbook(summary.days[0].path)["Beat 1 - North"])
    assert "VSC-00001" in [r["Record ID"] for r in on_route]
