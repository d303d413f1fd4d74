"""The vacation-check loop closed: addresses to coordinates with the Census geocoder (a
loopback fake, tests/fake_census.py), a welcome-home letter after the return date, and a
notice to staff for an insecure or suspicious check, through the real SMTP server."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import config as config_mod
from sync.errors import ConfigError
from sync.master.syncer import sync
from sync.state.store import Store
from sync.vacation import census, geocoding, purge
from sync.vacation.routes import write_routes
from tests import configs
from tests.fake_census import FakeCensus
from tests.helpers import VscSite, rows_by_id, vsc_site, ws_rows

TODAY = dt.date.today()
PLACES = {"1200 Maple Ave": (-118.3300, 33.8700), "18000 Hawthorne Boulevard": (-118.3530, 33.8650),
          "1210 Maple Ave": (-118.3302, 33.8702), "3300 Civic Center Drive": (-118.3420, 33.8366),
          "100 Carson St": (-118.3400, 33.8400)}
TIES = {"55 Unknown Rd"}


def _day(offset: int) -> str:
    d = TODAY + dt.timedelta(days=offset)
    return f"{d.month}/{d.day}/{d.year}"


def _row(first: str, street: str, zip_code: str, leave: int, back: int, email: str = "") -> str:
    email = email or f"{first.lower()}@example.com"
    phone = f"310-555-{1000 + sum(map(ord, first)) % 9000:04d}"
    return (f"{_day(-10)} 10:00:00,{email},{first},{first}son,{phone},{street},Torrance,"
            f"{zip_code},{_day(leave)},{_day(back)},,,,,,,,,,")


ROWS = [_row("Ann", "1200 Maple Ave", "90501", 2, 6),
        _row("Bob", "18000 Hawthorne Boulevard", "90504", 2, 4),
        _row("Cy", "55 Unknown Rd", "90501", 2, 3),
        _row("Di", "9 Nowhere Ln", "90501", 2, 5)]


def _site(root: Path, census_url: str, rows: list[str] | None = None, **geocoder) -> VscSite:
    data = configs.edited(configs.VSC, {
        "programs": {"vsc": {"rules": {"geocodes": None}}},
        "geocoder": {"enabled": True, "url": census_url, **geocoder}})
    return vsc_site(root, ROWS if rows is None else rows, configs.toml(data))


@pytest.fixture
def fake():
    with FakeCensus(PLACES, TIES) as server:
        yield server


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(census, "_sleep", lambda seconds: None)


def _geocodes(site: VscSite) -> dict[str, tuple]:
    with Store(site.out / "state.sqlite") as store:
        return {rid: (k.status, k.point) for rid, k in geocoding.known(store).items()}


# -- the batch format -------------------------------------------------------------------------


def test_answer_parsing_follows_the_documented_csv():
    """Every field quoted, "lon,lat" in one field, rows in any order, No_Match and Tie rows
    three fields long; a row it cannot read is left for next time."""
    text = ('"2","55 Unknown Rd, Torrance, CA, 90501","Tie"\n'
            '"1","1200 Maple Ave, Torrance, CA, 90501","Match","Non_Exact",'
            '"1200 MAPLE AVE, TORRANCE, CA, 90501","-118.33,33.87","647235312","L"\n'
            '"3","9 Nowhere Ln, Torrance, CA, 90501","No_Match"\n'
            '"4","broken","Match","Exact","X","not a point","1","R"\n'
            'garbage\n')
    answers = census.parse_answer(text)
    assert answers["1"] == census.Answer("1", "Match", "Non_Exact",
                                         "1200 MAPLE AVE, TORRANCE, CA, 90501", (33.87, -118.33))
    assert answers["2"].status == "Tie" and answers["2"].point is None
    assert answers["3"].status == "No_Match"
    assert set(answers) == {"1", "2", "3"}


def test_a_comma_in_an_answer_cannot_shift_the_columns():
    row = census.row_bytes(census.Address("7", 'Apt 4, 1200 "Maple" Ave', "Torrance", "CA", "90501"))
    assert row == b"7,Apt 4 1200 Maple Ave,Torrance,CA,90501\n"


def test_batches_stay_under_ten_thousand_rows_and_five_megabytes():
    addresses = [census.Address(str(i), f"{i} Maple Ave", "Torrance", "CA", "90501")
                 for i in range(10_001)]
    files = census.batches(addresses)
    assert [f.count(b"\n") for f in files] == [10_000, 1]
    big = [census.Address(str(i), "x" * 1000, "Torrance", "CA", "90501") for i in range(6000)]
    assert all(len(f) < census.MAX_BYTES for f in census.batches(big))
    assert len(census.batches(big)) == 2


def test_a_batch_over_ten_thousand_goes_in_two_requests(fake):
    addresses = [census.Address(str(i), "1200 Maple Ave" if i % 2 else f"{i} Elm St",
                                "Torrance", "CA", "90501") for i in range(1, 10_002)]
    geocoder = config_mod.Geocoder(url=fake.url)
    answers = census.geocode(geocoder, addresses)
    assert fake.batches == [10_000, 1] and fake.benchmarks == ["Public_AR_Current"] * 2
    assert len(answers) == 10_001
    assert answers["1"].point == (33.87, -118.33) and answers["2"].status == "No_Match"


# -- sync, cache, master, routes --------------------------------------------------------------


def test_each_address_is_sent_once_and_a_resync_sends_nothing(tmp_path, fake):
    site = _site(tmp_path, fake.url)
    sync(site.config())
    assert fake.requests == 1
    assert sorted(r[1] for r in fake.rows) == sorted(
        ["1200 Maple Ave", "18000 Hawthorne Boulevard", "55 Unknown Rd", "9 Nowhere Ln",
         "3300 Civic Center Drive"])
    assert _geocodes(site)["VSC-00001"] == ("Match", (33.87, -118.33))
    rows = rows_by_id(site.master, "Vacation Checks")
    assert rows["VSC-00001"]["Coordinates"] == "33.870000, -118.330000"
    assert rows["VSC-00001"]["Geocoder"] == "Found"
    assert rows["VSC-00003"]["Geocoder"].startswith("Several places match: type the latitude")
    assert rows["VSC-00004"]["Geocoder"].startswith("Not found: type the latitude")
    assert rows["VSC-00004"]["Coordinates"] is None

    before = fake.requests
    site.write_vsc(ROWS + [_row("Eve", "1210 Maple Ave", "90501", 3, 5)])
    sync(site.config())  # one new address: one row sent
    assert fake.requests == before + 1 and fake.rows[-1][1] == "1210 Maple Ave"
    assert len(fake.rows) == 6
    before = fake.requests
    site.write_vsc(ROWS + [_row("Eve", "1210 Maple Ave", "90501", 3, 5),
                           _row("Flo", "1200 Maple Ave", "90501", 3, 4, "flo@example.com")])
    sync(site.config())  # a known address, in a new request
    sync(site.config())  # nothing new
    write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=2)
    assert fake.requests == before  # re-sync and routes: 0 requests for known addresses
    assert _geocodes(site)["VSC-00006"] == ("Match", (33.87, -118.33))


def test_routes_start_at_the_geocoded_station_in_driving_order(tmp_path, fake):
    rows = [_row("Ann", "1200 Maple Ave", "90501", 2, 6),
            _row("Di", "1210 Maple Ave", "90501", 2, 6),
            _row("Bob", "100 Carson St", "90501", 2, 6)]
    site = _site(tmp_path, fake.url, rows)
    sync(site.config())
    summary = write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=1)
    day = summary.days[0]
    assert day.without_coordinates == 0
    ws = load_workbook(day.path)["Beat 1 - North"]
    # from the station (33.8366, -118.3420): Carson St is nearest, then the two on Maple
    assert [r["Record ID"] for r in ws_rows(ws)] == ["VSC-00003", "VSC-00001", "VSC-00002"]


def test_coordinates_typed_in_the_master_win_and_are_kept(tmp_path, fake):
    site = _site(tmp_path, fake.url)
    sync(site.config())
    wb = load_workbook(site.master)
    ws = wb["Vacation Checks"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[0].value == "VSC-00004":
            row[header.index("Coordinates")].value = "33.8800, -118.3100"
    wb.save(site.master)
    sync(site.config())
    rows = rows_by_id(site.master, "Vacation Checks")
    assert rows["VSC-00004"]["Coordinates"] == "33.8800, -118.3100"
    assert rows["VSC-00004"]["Geocoder"] == "Typed by staff"
    sync(site.config())
    assert rows_by_id(site.master, "Vacation Checks")["VSC-00004"]["Coordinates"] == (
        "33.8800, -118.3100")
    with Store(site.out / "state.sqlite") as store:
        records = store.records("vsc")
        points, station = geocoding.route_points(store, site.config(), records, {})
    assert points["9 nowhere ln"] == (33.88, -118.31)
    assert station == (33.8366, -118.342)
    summary = write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=1)
    assert summary.days[0].without_coordinates == 1  # only Cy (a Tie) has none


def test_an_unreachable_geocoder_leaves_routes_in_street_order(tmp_path, fake, caplog):
    site = _site(tmp_path, fake.url, max_attempts=3)
    fake.fail = [503, 502, 503]
    with caplog.at_level(logging.WARNING):
        summary = sync(site.config())
    assert not summary.unchanged and fake.requests == 3  # capped: three attempts
    assert "answered 503" in caplog.text and "Maple" not in caplog.text
    assert _geocodes(site) == {}
    fake.drop = 3
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        routes = write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=1)
    assert "could not be reached" in caplog.text
    assert routes.days[0].without_coordinates == 4
    assert "ordered by street" in routes.render()
    write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=1)  # reachable again
    assert _geocodes(site)["VSC-00001"][0] == "Match"


def test_nothing_is_sent_unless_the_department_opts_in(tmp_path, fake):
    data = configs.edited(configs.VSC, {"programs": {"vsc": {"rules": {"geocodes": None}}},
                                        "geocoder": {"url": fake.url}})
    site = vsc_site(tmp_path, ROWS, configs.toml(data))
    assert site.config().geocoder is None
    sync(site.config())
    write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=1)
    assert fake.requests == 0
    assert "Geocoder" not in rows_by_id(site.master, "Vacation Checks")["VSC-00001"]


def test_geocoder_configuration_errors_name_the_key(tmp_path):
    data = configs.edited(configs.VSC, {"geocoder": {"enabled": True, "batch_rows": 20_000}})
    (tmp_path / "programs.toml").write_text(configs.toml(data))
    with pytest.raises(ConfigError, match=r"geocoder\.batch_rows: the Census geocoder takes at"):
        config_mod.load(tmp_path / "programs.toml")


def test_purge_removes_the_cached_coordinates(tmp_path, fake):
    site = _site(tmp_path, fake.url)
    sync(site.config())
    assert "VSC-00001" in _geocodes(site)
    report = purge.purge(site.config(), apply=True, today=TODAY + dt.timedelta(days=60))
    assert "VSC-00001" in report.records
    left = _geocodes(site)
    assert set(left) == {"station"}
    raw = (site.out / "state.sqlite").read_bytes()
    assert b"1200 maple ave" not in raw.lower()


def test_an_older_state_file_gains_the_geocodes_table_and_keeps_its_data(tmp_path, fake):
    site = _site(tmp_path, fake.url)
    sync(site.config())
    with Store(site.out / "state.sqlite") as store:
        store.db.execute("DROP TABLE geocodes")  # as a file from before the geocoder was
        ids = set(store.records("vsc"))
    with Store(site.out / "state.sqlite") as store:
        assert set(store.records("vsc")) == ids
        assert geocoding.known(store) == {}
    sync(site.config())  # a sync without source changes does not look them up again...
    write_routes(site.config(), start=TODAY + dt.timedelta(days=3), days=1)  # ...routes do
    assert _geocodes(site)["VSC-00001"][0] == "Match"
