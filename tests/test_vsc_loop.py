"""The vacation-check loop closed: addresses to coordinates with the Census geocoder (a
loopback fake, tests/fake_census.py), a welcome-home letter after the return date, and a
notice to staff for an insecure or suspicious check, through the real SMTP server."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import check, cli, confirmations
from sync import config as config_mod
from sync.confirmations import render
from sync.errors import ConfigError
from sync.master.syncer import sync
from sync.state.store import STATE, Store
from sync.vacation import census, geocoding, purge, routing, tour
from sync.vacation.routes import write_routes
from sync.xlsx.reading import read_sheets
from tests import configs
from tests.conftest import REPO
from tests.fake_census import FakeCensus
from tests.helpers import (
    VscSite,
    ledger,
    parse,
    rows_by_id,
    send,
    set_cells,
    smtp_section,
    type_checks,
    vsc_site,
    ws_rows,
)
from tests.loopback_smtp import LoopbackSmtp

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
    stops = [r["Record ID"] for r in ws_rows(ws) if isinstance(r["#"], int)]
    assert stops == ["VSC-00003", "VSC-00001", "VSC-00002"]


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


def test_coordinates_typed_that_cannot_be_read_are_kept_and_said_so(tmp_path, fake):
    """A typo in the Coordinates cell ("33.88 north") is staff's text: it is kept as typed,
    and the Geocoder column says it cannot be read and how to type it."""
    site = _site(tmp_path, fake.url)
    sync(site.config())
    set_cells(site, {("VSC-00004", "Coordinates"): "33.88 north"})
    sync(site.config())
    row = rows_by_id(site.master, "Vacation Checks")["VSC-00004"]
    assert row["Coordinates"] == "33.88 north"
    assert row["Geocoder"].startswith("The coordinates typed cannot be read: ")
    assert "(like 33.8366, -118.3420)" in row["Geocoder"]


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


# -- welcome home and the staff notice --------------------------------------------------------

WATCH = "watch@tpd.example"
HOME = [_row("Ann", "1200 Maple Ave", "90501", -6, -1),  # back yesterday, checked twice
        _row("Bob", "18000 Hawthorne Boulevard", "90504", -6, -1),  # back yesterday, no check
        _row("Cy", "1300 Maple Ave", "90501", -6, -1),  # back yesterday, but Cancelled
        _row("Di", "1210 Maple Ave", "90501", -6, 5)]  # still away: an insecure check


def _mail_config(port: int, notify: tuple[str, ...] = (WATCH,), **rules) -> str:
    data = configs.edited(configs.VSC, {"programs": {"vsc": {"rules": rules}}})
    addresses = ", ".join(f'"{a}"' for a in notify)
    return configs.toml(data) + smtp_section(port, extra=f"notify = [{addresses}]")


def _mail_site(root: Path, port: int, **rules) -> VscSite:
    site = vsc_site(root, HOME, _mail_config(port, **rules))
    sync(site.config())
    set_cells(site, {("VSC-00003", "Status"): "Cancelled"})
    write_routes(site.config(), start=TODAY - dt.timedelta(days=4), days=2)
    day = TODAY - dt.timedelta(days=4)
    type_checks(site.out / "routes" / f"routes-{day.isoformat()}.xlsx", {
        "VSC-00001": {"Time checked": "21:15", "Checked by": "Ofc. Diaz", "Result": "Secure"},
        "VSC-00004": {"Time checked": "22:40", "Checked by": "Ofc. Diaz", "Result": "Insecure",
                      "Check notes": "Side gate open; secured it"}})
    type_checks(site.out / "routes" / f"routes-{(day + dt.timedelta(days=1)).isoformat()}.xlsx",
                {"VSC-00001": {"Time checked": "9:05 am", "Checked by": "Vol. Kim",
                               "Result": "Secure"}})
    sync(site.config())
    return site


def _by_recipient(server: LoopbackSmtp) -> dict[str, list]:
    out: dict[str, list] = {}
    for _, rcpts, message in server.messages:
        for rcpt in rcpts:
            out.setdefault(rcpt, []).append(message)
    return out


def _body(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_welcome_home_lists_every_check_and_goes_once(tmp_path):
    with LoopbackSmtp() as server:
        site = _mail_site(tmp_path, server.port)
        assert send(site) == 0
        got = _by_recipient(server)
        ann = [m for m in got["ann@example.com"] if "Welcome home" in str(m["Subject"])]
        assert len(ann) == 1
        text = _body(ann[0])
        first, second = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=3)
        assert "checked the residence 2 times" in text
        assert f"{render.longdate(first)}, 9:15 p.m.: Secure" in text
        assert f"{render.longdate(second)}, 9:05 a.m.: Secure" in text
        assert "Thank you" in text and "Request number: VSC-00001" in text
        bob = [m for m in got["bob@example.com"] if "Welcome home" in str(m["Subject"])]
        assert len(bob) == 1 and "did not allow a logged check" in _body(bob[0])
        assert "cy@example.com" not in got  # Cancelled: nothing
        assert not any("Welcome home" in str(m["Subject"]) for m in got.get("di@example.com", []))
        count = len(server.messages)
        assert send(site) == 0 and send(site) == 0  # reruns send nothing
        assert len(server.messages) == count
        states = {k: v for k, v in ledger(site).items() if k[1] == "vsc-welcome-home"}
        assert sorted(k[0] for k in states) == ["VSC-00001", "VSC-00002"]
        assert set(states.values()) == {"sent"}


def test_welcome_home_without_a_check_is_a_setting(tmp_path):
    with LoopbackSmtp() as server:
        site = _mail_site(tmp_path, server.port, welcome_home_without_checks=False)
        assert send(site) == 0
        subjects = {r: [str(m["Subject"]) for m in ms] for r, ms in _by_recipient(server).items()}
        assert any("Welcome home" in s for s in subjects["ann@example.com"])
        assert not any("Welcome home" in s for s in subjects.get("bob@example.com", []))
    summary = confirmations.confirm(site.config(), today=TODAY + dt.timedelta(days=30))
    assert "vsc-welcome-home" not in summary.by_template  # a week after: no longer due


def test_an_insecure_check_tells_staff_once_and_never_the_resident(tmp_path):
    with LoopbackSmtp() as server:
        site = _mail_site(tmp_path, server.port)
        assert send(site) == 0
        alerts = _by_recipient(server)[WATCH]
        assert len(alerts) == 1
        day = TODAY - dt.timedelta(days=4)
        assert str(alerts[0]["Subject"]) == (
            f"Vacation check Insecure: VSC-00004, {render.shortdate(day)}")
        text = _body(alerts[0])
        assert "Request: VSC-00004" in text and "Result: Insecure" in text
        assert f"Date: {render.longdate(day)}" in text and "Time: 10:40 p.m." in text
        assert "Notes: Side gate open; secured it" in text
        assert not any("Vacation check" in str(m["Subject"])
                       for m in _by_recipient(server).get("di@example.com", []))
        assert all(WATCH not in rcpts or rcpts == [WATCH] for _, rcpts, _ in server.messages)
        # notes corrected: no second notice; a new suspicious check: one more
        path = site.out / "routes" / f"routes-{day.isoformat()}.xlsx"
        type_checks(path, {"VSC-00004": {"Check notes": "Side gate open; owner told"}})
        later = TODAY - dt.timedelta(days=3)
        type_checks(site.out / "routes" / f"routes-{later.isoformat()}.xlsx", {
            "VSC-00004": {"Time checked": "23:00", "Checked by": "Ofc. Diaz",
                          "Result": "Suspicious", "Check notes": "Car idling outside"}})
        sync(site.config())
        assert send(site) == 0 and send(site) == 0
        alerts = _by_recipient(server)[WATCH]
        assert len(alerts) == 2 and "Car idling outside" in _body(alerts[1])
        # an address added to notify later does not get the notices already sent
        site.config_path.write_text(_mail_config(server.port, (WATCH, "chief@tpd.example")))
        assert send(site) == 0
        assert "chief@tpd.example" not in _by_recipient(server)


def test_the_daily_run_tells_staff_of_an_insecure_home_even_with_sending_off(tmp_path, capsys,
                                                                              restore_logging):
    """With `smtp.send = false` the residents' letters wait in the outbox for staff to read,
    but the notice of an Insecure check goes to staff at the daily run, once, like the notice
    of a failed run; nothing goes to a resident."""
    with LoopbackSmtp() as server:
        site = _mail_site(tmp_path, server.port)
        site.config_path.write_text(configs.toml(configs.VSC) + smtp_section(
            server.port, extra=f'notify = ["{WATCH}"]', send=False))
        assert cli.main(["run", "--config", str(site.config_path)]) == 0
        assert [rcpts for _, rcpts, _ in server.messages] == [[WATCH]]
        assert str(server.messages[0][2]["Subject"]).startswith("Vacation check Insecure: VSC-00004")
        outbox = {p.name for p in (site.out / "outbox").glob("*.eml")}
        assert "VSC-00001-vsc-welcome-home.eml" in outbox  # the resident's letter waits
        assert "1 staff notice" in capsys.readouterr().out
        assert cli.main(["run", "--config", str(site.config_path)]) == 0
        assert len(server.messages) == 1  # once
        assert cli.main(["confirmations", "--config", str(site.config_path)]) == 0
        assert len(server.messages) == 1  # writing the outbox by hand sends nothing


def test_a_crash_between_send_and_ledger_never_sends_the_letter_twice(tmp_path):
    """Guards "sent once" for the welcome-home letter when the process dies after the server
    took it and before the ledger says so: it is listed as possibly sent, never resent."""
    with LoopbackSmtp() as server:
        site = _mail_site(tmp_path, server.port)
        script = (
            "import os, sys\n"
            "from sync import cli\n"
            "from sync.confirmations import sending\n"
            "real = sending.record\n"
            "def dying(store, m, state, now, why=None):\n"
            "    if state == 'sent' and m.due.template == 'vsc-welcome-home':\n"
            "        os._exit(9)\n"
            "    return real(store, m, state, now, why)\n"
            "sending.record = dying\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
        proc = subprocess.run([sys.executable, "-c", script, "confirmations", "--config",
                               str(site.config_path), "--send"], cwd=REPO, capture_output=True,
                              timeout=120)
        assert proc.returncode == 9
        welcomed = [m for _, _, m in server.messages if "Welcome home" in str(m["Subject"])]
        assert len(welcomed) == 1  # the server took it
        assert ledger(site)[("VSC-00001", "vsc-welcome-home", "ann@example.com")] == "sending"
        summary = confirmations.confirm(site.config(), send=True)
        assert ("VSC-00001", "vsc-welcome-home") == summary.unconfirmed[0][:2]
        confirmations.confirm(site.config(), send=True)
        welcomed = [m for _, rcpts, m in server.messages if "Welcome home" in str(m["Subject"])]
        assert [str(m["To"]) for m in welcomed].count("Ann Annson <ann@example.com>") == 1
        assert len(welcomed) == 2  # Bob's went in the rerun, Ann's never again


def test_the_example_welcomes_a_resident_home_with_the_check_logged(example_site):
    """The example's first request (Linda, away November 25-29, 2020), replayed as of
    November 30 with a check typed into the November 27 route sheet: her welcome-home letter
    is in the outbox and lists it; Ana (back November 29, never checked) gets the kind one, and
    so does Gerald (back November 24, still within the week the letter is due)."""
    cfg = config_mod.load(example_site)
    sync(cfg)
    write_routes(cfg, start=dt.date(2020, 11, 27), days=1)
    type_checks(cfg.output / "routes" / "routes-2020-11-27.xlsx", {
        "VSC-00001": {"Time checked": "19:30", "Checked by": "Ofc. Diaz", "Result": "Secure"}})
    sync(cfg)
    summary = confirmations.confirm(cfg, today=dt.date(2020, 11, 30))
    assert summary.by_template["vsc-welcome-home"] == 3
    linda = parse(cfg.output / "outbox" / "VSC-00001-vsc-welcome-home.eml")
    assert "Friday, November 27, 2020, 7:30 p.m.: Secure" in _body(linda)
    ana = parse(cfg.output / "outbox" / "VSC-00003-vsc-welcome-home.eml")
    assert "did not allow a logged check" in _body(ana)


def _spread(street: str) -> tuple[float, float]:
    """A made-up but steady point in Torrance for an address: (longitude, latitude)."""
    digest = hashlib.sha256(street.casefold().encode()).digest()
    return (-118.37 + digest[0] / 255 * 0.07, 33.79 + digest[1] / 255 * 0.09)


def _length(points: list[tuple[float, float]], start: tuple[float, float]) -> float:
    path = [start, *points]
    return sum(tour.haversine(a, b) for a, b in itertools.pairwise(path))


def test_the_examples_routes_run_from_the_station_in_driving_order(tmp_path):
    """The bundled example with the geocoder turned on (the loopback fake answering for every
    address): each beat on Christmas Eve starts at the station and is as short as the best
    order of its stops, within 2%, and never longer than going to the nearest stop each time."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    rows = read_sheets(REPO / "config" / "examples" / "vacation-check-responses.xlsx")
    sheet = next(iter(rows.values()))
    street = sheet[0].index(next(h for h in sheet[0] if h and "Street" in str(h)))
    places = {str(r[street]).strip(): _spread(str(r[street]).strip()) for r in sheet[1:] if r[street]}
    places["3300 Civic Center Drive"] = PLACES["3300 Civic Center Drive"]
    with FakeCensus(places) as census_fake:
        toml = tmp_path / "config" / "example.toml"
        with open(toml, "a", encoding="utf-8") as fh:
            fh.write(f'\n[geocoder]\nenabled = true\nurl = "{census_fake.url}"\n')
        cfg = config_mod.load(toml, as_of=dt.date(2020, 12, 24))
        sync(cfg)
        summary = write_routes(cfg, start=dt.date(2020, 12, 24), days=1)
    day = summary.days[0]
    assert day.stops == 15 and day.without_coordinates == 0
    with Store(cfg.output / STATE) as store:
        point = {rid: r["data"]["values"] for rid, r in store.records("vsc").items()}
    station = tuple(reversed(PLACES["3300 Civic Center Drive"]))
    shorter_than_by_street = 0
    for ws in load_workbook(day.path).worksheets:
        title = ws.title
        stops = [r["Record ID"] for r in ws_rows(ws) if isinstance(r["#"], int)]
        assert 1 <= len(stops) <= 8, title  # small enough to try every order
        where = [tuple(reversed(places[str(point[rid]["street"]).strip()])) for rid in stops]
        printed = _length(where, station)
        best = min(_length(list(p), station) for p in itertools.permutations(where))
        nearest, left, here = [], list(where), station
        while left:
            here = min(left, key=lambda p, h=here: tour.haversine(h, p))
            left.remove(here)
            nearest.append(here)
        assert printed <= best * 1.02 + 1e-9, (title, printed, best)
        assert printed <= _length(nearest, station) + 1e-9, title
        streets = {rid: routing.split_street(point[rid]["street"]) for rid in stops}
        by_street = [where[stops.index(rid)] for rid in sorted(
            stops, key=lambda rid: (streets[rid].street, streets[rid].number or 0))]
        shorter_than_by_street += _length(by_street, station) - printed > 0.1
    assert shorter_than_by_street >= 2  # the order is by distance, not by street


def test_check_says_whether_addresses_go_to_the_geocoder_and_if_it_answers(tmp_path, fake):
    """`tpd-programs check` names the geocoder: on and reachable, on but unreachable (a WARN:
    the run goes on, routes by street), or off; it sends no address to find out."""
    for name in ("on", "down", "off"):
        (tmp_path / name).mkdir()
    site = _site(tmp_path / "on", fake.url)
    report = check.check(site.config(), ["vsc"])
    line = next(line for line in report.render().splitlines() if "geocoder" in line)
    assert line.startswith("OK ") and "sent to 127.0.0.1" in line, line
    assert fake.requests == 0  # a connection only
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/geocoder/locations/addressbatch"
    report = check.check(_site(tmp_path / "down", closed).config(), ["vsc"])
    line = next(line for line in report.render().splitlines() if "geocoder" in line)
    assert line.startswith("WARN") and "cannot reach 127.0.0.1" in line, line
    assert report.ok
    off = vsc_site(tmp_path / "off").config()
    line = next(line for line in check.check(off, ["vsc"]).render().splitlines() if "geocoder" in line)
    assert line.startswith("OK ") and "off" in line and "no address is sent" in line, line
