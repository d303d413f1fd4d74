"""sync.sources.forms against the loopback Forms fake: real google-auth token flow, real HTTP,
a real state file as the cache and the real sync."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from sync import config as config_mod
from sync.check import check
from sync.config import Google
from sync.errors import ConfigError, SourceError
from sync.master.syncer import sync
from sync.sources import forms as source
from sync.sources.forms import SAFETY_MARGIN, check_forms, read_forms
from sync.state.store import Store
from tests import configs
from tests.conftest import Site
from tests.fake_forms import (
    QUOTA_MESSAGE,
    FakeForm,
    FakeForms,
    checkbox,
    date,
    grid,
    page_break,
    paragraph,
    radio,
    rfc3339,
    scale,
    text,
    time_question,
)
from tests.fake_google import DEFAULT_EMAIL

FORM = "1PipRegistrationForm_0123456789abcdefghijklmn"
LA = ZoneInfo("America/Los_Angeles")
LIVE, WORK = "I live in Torrance", "I work in Torrance"
CIVIC = "I belong to a civic organization (Kiwanis, Rotary, etc.)"
UTC = dt.UTC


@pytest.fixture
def fake() -> Iterator[FakeForms]:
    with FakeForms() as server:
        yield server


@pytest.fixture
def settings(fake: FakeForms, tmp_path: Path) -> Google:
    return fake.settings(fake.write_key(tmp_path))


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries of the Forms source wait no real time; the list collects the waits."""
    found: list[float] = []
    monkeypatch.setattr(source, "_sleep", found.append)
    return found


def pip_form(fake: FakeForms, **options) -> FakeForm:
    """The PIP registration form, questions titled as tests/conftest.py's configuration maps."""
    return fake.add_form(FORM, [
        text("First Name"), text("Last Name"), date("Date of Birth"), text("Phone"),
        checkbox("Connection to Torrance", [LIVE, WORK, CIVIC], other=True),
        text("Organization"), page_break("A little more"), paragraph("Comments"),
    ], **options)


def answers(first: str, last: str, born: str = "1980-01-02", phone: str = "3105550101",
            why: list[str] | None = None, **more: str) -> dict:
    return {"First Name": first, "Last Name": last, "Date of Birth": born, "Phone": phone,
            "Connection to Torrance": why or [LIVE], **more}


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def responses_queries(fake: FakeForms) -> list[dict[str, list[str]]]:
    return [r.query for r in fake.forms_requests if r.path.endswith("/responses")]


# -- reading -------------------------------------------------------------------------------------


def test_one_forms_get_resolves_titles_to_question_ids(fake: FakeForms, settings: Google) -> None:
    form = pip_form(fake)
    form.submit(answers("Ann", "Smith"), at=at(2020, 3, 1, 18, 0), email="ann@example.com")
    stats: dict[str, int] = {}

    table = read_forms([FORM, FORM], settings, LA, stats=stats)[FORM]

    assert [r.path for r in fake.forms_requests] == [f"/v1/forms/{FORM}", f"/v1/forms/{FORM}/responses"]
    assert responses_queries(fake) == [{"pageSize": ["5000"]}]  # first read: no filter
    assert len(fake.token_requests) == 1
    assert stats == {"requests": 2, "forms": 1, "responses": 1}
    assert table.source == f"form/{FORM}"
    assert table.headers == ("Timestamp", "Email Address", "First Name", "Last Name",
                             "Date of Birth", "Phone", "Connection to Torrance", "Organization",
                             "Comments")
    assert table.answers(table.rows[0])["First Name"] == "Ann"


def test_answers_are_shaped_as_the_linked_sheet_shows_them(fake: FakeForms, settings: Google) -> None:
    form = fake.add_form(FORM, [
        checkbox("Why", [LIVE, WORK, CIVIC], other=True), date("Born"),
        date("Appointment", include_time=True), date("Birthday", include_year=False),
        time_question("Best time to call"), scale("How likely"), radio("Shirt", ["S", "M", "L"]),
        grid("Rate", ["Speed", "Care"], ["Poor", "Good"]), text("Phone"), text("Last"),
    ])
    rid = form.submit({
        "Why": ["My church", CIVIC, LIVE], "Born": "1980-01-02", "Appointment": "2020-03-05 18:30",
        "Birthday": "05-19", "Best time to call": "14:51", "How likely": "4", "Shirt": "M",
        "Rate [Care]": "Good", "Phone": "0612345678",
    }, at=at(2020, 3, 1, 18, 0))

    table = read_forms([FORM], settings, LA)[FORM]

    row = table.answers(table.rows[0])
    assert row["Why"] == f"{LIVE}, {CIVIC}, My church"  # option order, "Other" text last
    assert row["Born"] == dt.date(1980, 1, 2)
    assert row["Appointment"] == dt.datetime(2020, 3, 5, 18, 30)  # as entered: no zone shift
    assert row["Birthday"] == "05-19"
    assert row["Best time to call"] == "14:51"
    assert row["How likely"] == 4
    assert row["Shirt"] == "M"
    assert (row["Rate [Speed]"], row["Rate [Care]"]) == ("", "Good")
    assert row["Phone"] == "0612345678"  # text stays text
    assert row["Last"] is None  # trailing empty answers are missing, as in a Sheet
    assert table.rows[0].key == rid


def test_times_are_shown_in_the_department_time_zone(fake: FakeForms, settings: Google) -> None:
    form = pip_form(fake)
    form.fraction_digits = 9  # Google may send nanoseconds
    form.submit(answers("Ann", "Smith"), at=at(2020, 3, 6, 2, 4, 11, 482917))
    form.submit(answers("Bob", "Jones"), at=at(2020, 7, 1, 6, 59, 59, 999999))

    table = read_forms([FORM], settings, LA)[FORM]

    assert form.responses[table.rows[0].key]["lastSubmittedTime"] == "2020-03-06T02:04:11.482917000Z"
    stamps = [table.answers(r)["Timestamp"] for r in table.rows]
    assert stamps == [dt.datetime(2020, 3, 5, 18, 4, 11), dt.datetime(2020, 6, 30, 23, 59, 59)]
    assert table.timezone == LA


def test_rows_are_numbered_in_first_submission_order(fake: FakeForms, settings: Google) -> None:
    form = pip_form(fake, collect_emails=False)
    ids = [form.submit(answers(name, "X"), at=at(2020, 3, 1, hour, 0))
           for hour, name in ((9, "Ann"), (10, "Bob"), (11, "Cy"))]
    form.edit(ids[0], {"Phone": "3105550199"}, at=at(2020, 3, 2, 8, 0))  # edited last

    table = read_forms([FORM], settings, LA)[FORM]

    assert [r.number for r in table.rows] == [2, 3, 4]
    assert [r.key for r in table.rows] == ids
    assert "Email Address" not in table.headers
    first = table.answers(table.rows[0])
    assert first["Phone"] == "3105550199"
    assert first["Timestamp"] == dt.datetime(2020, 3, 2, 0, 0)  # the last submission shows


def test_responses_are_read_page_by_page(fake: FakeForms, settings: Google) -> None:
    form = pip_form(fake)
    for i in range(5):
        form.submit(answers(f"P{i}", "X"), at=at(2020, 3, 1, 10, i))
    fake.page_limit = 2

    table = read_forms([FORM], settings, LA)[FORM]

    queries = responses_queries(fake)
    assert len(queries) == 3
    assert "pageToken" not in queries[0]
    assert queries[1]["pageToken"] != queries[2]["pageToken"]
    assert sorted(table.answers(r)["First Name"] for r in table.rows) == [f"P{i}" for i in range(5)]


def test_second_read_asks_only_for_newer_responses(
    fake: FakeForms, settings: Google, tmp_path: Path
) -> None:
    form = pip_form(fake)
    form.submit(answers("Ann", "Smith"), at=at(2020, 3, 1, 18, 0, 0, 250000))
    form.submit(answers("Bob", "Jones"), at=at(2020, 3, 1, 19, 30, 5, 500000))
    with Store(tmp_path / "state.sqlite") as store:
        read_forms([FORM], settings, LA, cache=store)
        form.submit(answers("Cy", "Lee"), at=at(2020, 3, 2, 9, 0))
        stats: dict[str, int] = {}
        table = read_forms([FORM], settings, LA, cache=store, stats=stats)[FORM]
        cached = store.get_meta(f"forms:{FORM}")

    second = responses_queries(fake)[1]
    assert second["filter"] == ["timestamp >= 2020-03-01T19:25:05Z"]  # last seen - 5 minutes
    assert SAFETY_MARGIN == dt.timedelta(minutes=5)
    assert stats["responses"] == 2  # Bob again (inside the margin) and Cy
    assert [table.answers(r)["First Name"] for r in table.rows] == ["Ann", "Bob", "Cy"]
    assert len(cached["responses"]) == 3
    assert cached["latest"] == "2020-03-02T09:00:00.000Z"


def test_answers_to_a_removed_question_keep_their_column(
    fake: FakeForms, settings: Google, tmp_path: Path
) -> None:
    """Guards against losing answers when staff delete a question from the form."""
    form = pip_form(fake)
    form.submit(answers("Ann", "Smith", Comments="call after 5"), at=at(2020, 3, 1, 18, 0))
    with Store(tmp_path / "state.sqlite") as store:
        read_forms([FORM], settings, LA, cache=store)
        form.items = [i for i in form.items if i.get("title") != "Comments"]
        table = read_forms([FORM], settings, LA, cache=store)[FORM]

    assert table.headers[-1] == "Comments"
    assert table.answers(table.rows[0])["Comments"] == "call after 5"


# -- errors and retries --------------------------------------------------------------------------


def test_unknown_form_names_it_and_the_service_account(fake: FakeForms, settings: Google) -> None:
    with pytest.raises(SourceError) as raised:
        read_forms(["1NoSuchForm_0000000000"], settings, LA)

    message = str(raised.value)
    assert message.startswith("form/1NoSuchForm_0000000000: Google Forms found no form")
    assert "404 NOT_FOUND" in message
    assert DEFAULT_EMAIL in message
    assert len(fake.forms_requests) == 1  # not retried


def test_unshared_form_says_to_share_it(fake: FakeForms, settings: Google) -> None:
    pip_form(fake, shared=False)

    with pytest.raises(SourceError) as raised:
        read_forms([FORM], settings, LA)

    assert "refused access to form" in str(raised.value)
    assert "Add collaborators" in str(raised.value)


def test_forms_api_disabled_says_to_enable_it(fake: FakeForms, settings: Google) -> None:
    pip_form(fake)
    fake.fail_next(403, message="Google Forms API has not been used in project 123456789012 "
                   "before or it is disabled.")

    with pytest.raises(SourceError, match="the Google Forms API is not enabled"):
        read_forms([FORM], settings, LA)


def test_expensive_read_quota_and_busy_answers_are_retried(
    fake: FakeForms, settings: Google, waits: list[float]
) -> None:
    form = pip_form(fake)
    form.submit(answers("Ann", "Smith"), at=at(2020, 3, 1, 18, 0))
    fake.forms[FORM].submit(answers("Bob", "Jones"), at=at(2020, 3, 1, 19, 0))
    fake.fail_next(429, message=QUOTA_MESSAGE, retry_after=3)
    fake.fail_next(503, html=True)

    table = read_forms([FORM], settings, LA)[FORM]

    assert [r.status for r in fake.forms_requests] == [429, 503, 200, 200]
    assert waits[0] == 3.0 and 0 <= waits[1] <= 2.0
    assert len(table.rows) == 2


def test_retry_limit_gives_a_clear_error(
    fake: FakeForms, settings: Google, waits: list[float]
) -> None:
    pip_form(fake)
    fake.fail_next(503, times=10)

    with pytest.raises(SourceError) as raised:
        read_forms([FORM], settings, LA)  # max_attempts = 5

    assert str(raised.value).startswith(f"form/{FORM}: Google Forms answered 503 five times over ")
    assert len(fake.forms_requests) == 5
    assert len(waits) == 4


def test_expired_token_is_refreshed(fake: FakeForms, settings: Google) -> None:
    pip_form(fake).submit(answers("Ann", "Smith"), at=at(2020, 3, 1, 18, 0))
    fake.expire_tokens_after(1)

    read_forms([FORM], settings, LA)

    assert [r.status for r in fake.forms_requests] == [200, 401, 200]
    assert len(fake.token_requests) == 2


def test_bad_answer_is_not_retried(fake: FakeForms, settings: Google, waits: list[float]) -> None:
    pip_form(fake)
    fake.fail_next(400, message="Invalid filter")

    with pytest.raises(SourceError, match="400 INVALID_ARGUMENT: Invalid filter"):
        read_forms([FORM], settings, LA)
    assert waits == []


def test_logs_carry_counts_not_answers(
    fake: FakeForms, settings: Google, caplog: pytest.LogCaptureFixture
) -> None:
    pip_form(fake).submit(answers("Annabel", "Smithers", phone="3105550177"),
                          at=at(2020, 3, 1, 18, 0), email="annabel@example.com")
    caplog.set_level(logging.DEBUG)

    read_forms([FORM], settings, LA)

    assert "1 response(s) received" in caplog.text
    for private in ("Annabel", "Smithers", "555", "annabel@example.com"):
        assert private not in caplog.text


# -- configuration -------------------------------------------------------------------------------


def form_site(root: Path, fake: FakeForms, key: Path | None = None) -> Site:
    """tests/conftest.py's site, reading PIP from the fake's form."""
    root.mkdir(parents=True, exist_ok=True)
    key = key or fake.write_key(root)
    text_ = configs.pip_from({"form": f"https://docs.google.com/forms/d/{FORM}/edit"}, {
        "credentials": str(key), "api_endpoint": fake.url, "forms_endpoint": fake.url,
        "max_attempts": 1})
    return Site(root, text_)


@pytest.mark.parametrize(("value", "expected"), [
    (FORM, FORM),
    (f"https://docs.google.com/forms/d/{FORM}/edit#responses", FORM),
    (f"https://docs.google.com/forms/u/1/d/{FORM}/viewform", FORM),
])
def test_form_is_given_by_id_or_url(fake: FakeForms, tmp_path: Path, value: str, expected: str) -> None:
    site = form_site(tmp_path, fake)
    site.config_path.write_text(site.config_path.read_text().replace(
        f"https://docs.google.com/forms/d/{FORM}/edit", value))

    source_ = site.config().program("pip").source
    assert (source_.form, source_.label) == (expected, f"form/{expected}")
    assert site.config().google.forms_endpoint == fake.url


@pytest.mark.parametrize(("old", "new", "message"), [
    ("form = ", 'file = "pip.csv"\nform = ', "give exactly one of spreadsheet"),
    (f"https://docs.google.com/forms/d/{FORM}/edit",
     "https://docs.google.com/forms/d/e/1FAIpQLSdXyz/viewform", "programs.pip.source.form: that is the link"),
    (f"https://docs.google.com/forms/d/{FORM}/edit", "not a form", "programs.pip.source.form: not a form ID"),
    ("form = ", 'worksheet = "Form Responses 1"\nform = ', "programs.pip.source.worksheet"),
])
def test_bad_form_sources_name_the_key(
    fake: FakeForms, tmp_path: Path, old: str, new: str, message: str
) -> None:
    site = form_site(tmp_path, fake)
    site.config_path.write_text(site.config_path.read_text().replace(old, new, 1))

    with pytest.raises(ConfigError, match=message):
        site.config()


def test_forms_endpoint_defaults_to_google(tmp_path: Path) -> None:
    site = Site(tmp_path)
    assert site.config().google.forms_endpoint == "https://forms.googleapis.com"


# -- through the sync ----------------------------------------------------------------------------


def program_rows(path: Path, title: str = "Partners in Policing") -> list[dict]:
    wb = load_workbook(path, read_only=True)
    try:
        rows = [list(r) for r in wb[title].iter_rows(values_only=True)]
    finally:
        wb.close()
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


def test_a_respondents_edit_updates_the_same_record(fake: FakeForms, tmp_path: Path) -> None:
    form = pip_form(fake)
    ann = form.submit(answers("Ann", "Smith", phone="3105550101"), at=at(2020, 3, 1, 18, 0),
                      email="ann@example.com")
    form.submit(answers("Bob", "Jones", why=[WORK]), at=at(2020, 3, 1, 19, 0),
                email="bob@example.com")
    site = form_site(tmp_path, fake)
    sync(site.config())
    before = {r["Record ID"]: r for r in program_rows(site.master)}

    form.edit(ann, {"Phone": "(310) 555-0199", "Organization": "Rotary"}, at=at(2020, 3, 2, 17, 0))
    summary = sync(site.config())

    after = {r["Record ID"]: r for r in program_rows(site.master)}
    assert list(after) == list(before) == ["PIP-00001", "PIP-00002"]
    assert after["PIP-00001"]["Phone"] == "+13105550199"
    assert after["PIP-00001"]["Organization"] == "Rotary"
    assert after["PIP-00001"]["Latest submitted"] == dt.datetime(2020, 3, 2, 9, 0)
    # the edit does not move Ann's place in the queue: first submitted is the createTime
    assert after["PIP-00001"]["First submitted"] == dt.datetime(2020, 3, 1, 10, 0)
    assert after["PIP-00001"]["First submitted"] == before["PIP-00001"]["First submitted"]
    counts = summary.counts["pip"]
    assert (counts["new"], counts["updated"], counts["records"], counts["merged"]) == (0, 1, 2, 0)
    assert responses_queries(fake)[1]["filter"] == ["timestamp >= 2020-03-01T18:55:00Z"]

    third = sync(site.config())  # nothing new: the master is left as it was
    assert third.unchanged
    assert len(responses_queries(fake)) == 3


def test_same_form_through_forms_and_through_its_sheet_gives_the_same_records(
    fake: FakeForms, tmp_path: Path
) -> None:
    form = pip_form(fake)
    submitted = [
        (at(2020, 3, 1, 18, 0, 5, 250000), "ann@example.com",
         answers("Ann", "Smith", phone="3105550101", why=[WORK, LIVE])),
        (at(2020, 3, 2, 7, 59, 59, 999000), "bob@example.com",  # 2020-03-01 local
         answers("bob", "JONES", born="1975-04-05", phone="(310) 555-0102", why=[CIVIC, "Church"],
                 Organization="Rotary", Comments="Call after 5")),
        (at(2020, 3, 3, 16, 0), "cy@example.com", answers("Cy", "Lee", born="")),  # needs review
        (at(2020, 3, 3, 17, 0), "ann.smith@example.com",  # the same person again
         answers("Ann", "Smith", phone="3105550101")),
    ]
    ids = [form.submit(a, at=when, email=email) for when, email, a in submitted]
    form.edit(ids[1], {"Phone": "3105550112"}, at=at(2020, 3, 4, 1, 0))

    # The linked Sheet of the same form: one row per response in first-submission order, the
    # last submission's time in the sheet's zone, checked boxes in option order, digits typed.
    sheet_rows = [["Timestamp", "Email Address", "First Name", "Last Name", "Date of Birth",
                   "Phone", "Connection to Torrance", "Organization", "Comments"]]
    for rid in ids:
        r = form.responses[rid]
        by_id = {a["questionId"]: [v["value"] for v in a["textAnswers"]["answers"]]
                 for a in r["answers"].values()}
        cells = [source._instant(r["lastSubmittedTime"], FORM).astimezone(LA)
                 .replace(tzinfo=None, microsecond=0), r["respondentEmail"]]
        for title, qid in form.question_ids().items():
            values = by_id.get(qid, [""])
            if title == "Connection to Torrance":
                order = [LIVE, WORK, CIVIC]
                values = sorted(values, key=lambda v: order.index(v) if v in order else 9)
            cell: object = ", ".join(values)
            if title == "Date of Birth" and cell:
                cell = dt.date.fromisoformat(str(cell))
            elif str(cell).isdigit():
                cell = int(str(cell))
            cells.append(cell)
        sheet_rows.append(cells)
    fake.add_spreadsheet("1PipLinkedSheet_000000", time_zone="America/Los_Angeles",
                         tabs={"Form Responses 1": sheet_rows})

    key = fake.write_key(tmp_path)  # one key: a second for the same account replaces it
    through_form = form_site(tmp_path / "form", fake, key)
    through_sheet = form_site(tmp_path / "sheet", fake, key)
    through_sheet.config_path.write_text(through_sheet.config_path.read_text().replace(
        f'form = "https://docs.google.com/forms/d/{FORM}/edit"',
        'spreadsheet = "1PipLinkedSheet_000000"'))
    a = sync(through_form.config())
    b = sync(through_sheet.config())

    assert a.counts == b.counts
    assert a.counts["pip"]["review"] == 1
    assert a.counts["pip"]["merged"] == 1
    def comparable(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("Source", "Source rows")} for r in rows]
    form_records = comparable(program_rows(through_form.master))
    sheet_records = comparable(program_rows(through_sheet.master))
    # Bob edited his response before the first sync: the form keeps when he first submitted
    # (createTime, 2020-03-01 local), while the Sheet's Timestamp shows only the edit's time.
    assert form_records[1].pop("First submitted") == dt.datetime(2020, 3, 1, 23, 59, 59)
    assert sheet_records[1].pop("First submitted") == dt.datetime(2020, 3, 3, 17, 0)
    assert form_records == sheet_records
    assert [r["Record ID"] for r in form_records] == ["PIP-00001", "PIP-00002"]
    assert form_records[1]["Latest submitted"] == dt.datetime(2020, 3, 3, 17, 0)  # the edit, local
    review = [(r["Program"], r["Source row"], r["Reasons"])
              for r in program_rows(through_form.master, "Needs Review")]
    assert review == [(r["Program"], r["Source row"], r["Reasons"])
                      for r in program_rows(through_sheet.master, "Needs Review")]
    assert program_rows(through_form.master, "Needs Review")[0]["Source"] == f"form/{FORM}"


# -- check ---------------------------------------------------------------------------------------


def test_check_covers_a_form_source(fake: FakeForms, tmp_path: Path) -> None:
    pip_form(fake)
    site = form_site(tmp_path, fake)

    report = check(site.config(), ["pip"])

    found = {what: (ok, detail) for what, ok, detail in report.lines}
    assert found["pip source"] == (True, f"form/{FORM}: reached (9 columns)")
    assert found["pip questions"] == (True, "all 8 mapped questions found")
    assert [r.path for r in fake.forms_requests] == [f"/v1/forms/{FORM}"]  # no responses read


def test_check_names_a_missing_question_and_an_unreachable_form(
    fake: FakeForms, tmp_path: Path
) -> None:
    form = pip_form(fake)
    form.items[1]["title"] = "Family name"
    site = form_site(tmp_path, fake)

    found = {w: (ok, d) for w, ok, d in check(site.config(), ["pip"]).lines}
    assert found["pip questions"][0] is False
    assert "'Last Name' (programs.pip.questions.last_name) is not in the form" in found["pip questions"][1]
    assert "'Family name'" in found["pip questions"][1]

    form.shared = False
    found = {w: (ok, d) for w, ok, d in check(site.config(), ["pip"]).lines}
    assert found["pip source"][0] is False
    assert "refused access to form" in found["pip source"][1]


def test_check_forms_reports_each_form(fake: FakeForms, settings: Google) -> None:
    pip_form(fake)
    found = check_forms([FORM, "1NoSuchForm_0000000000"], dataclasses.replace(settings))

    assert found[FORM][:2] == ("Timestamp", "Email Address")
    assert isinstance(found["1NoSuchForm_0000000000"], SourceError)


def test_rfc3339_of_the_fake_matches_google() -> None:
    assert rfc3339(at(2020, 3, 6, 2, 4, 11, 482917)) == "2020-03-06T02:04:11.482Z"
    assert config_mod.form_id(f"https://docs.google.com/forms/d/{FORM}/edit") == FORM
