"""sync.sources.google against the loopback fake: real google-auth token flow, real HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from sync.config import Google
from sync.errors import SourceError
from sync.sources import google as source
from sync.sources.google import check_spreadsheets, read_spreadsheets

if TYPE_CHECKING:
    from tests.fake_google import FakeGoogle


PIP = "1PipRegistration_Responses_abc"
VSC = "1VacationChecks_Responses_xyz"
EMAIL = "tpd-sync@tpd-programs.iam.gserviceaccount.com"
FORM = "Form Responses 1"
HEADER = ["Timestamp", "Email Address", "ZIP", "Phone", "Phone", "Age"]
SUBMITTED = dt.datetime(2020, 3, 5, 18, 4, 11)


def seed_pip(fake: FakeGoogle) -> None:
    fake.add_spreadsheet(
        PIP,
        time_zone="America/Los_Angeles",
        tabs={
            FORM: [
                HEADER,
                [SUBMITTED, "ann@example.org", "02134", "(310) 555-0101", "", 34],
                [],
                [dt.date(2020, 3, 6), "bob@example.org", "90503", "", "310-555-0102"],
                ["", "", ""],
                [None, "cy@example.org", "", "", "", 41.5],
            ],
            "Form Responses 2": [["Timestamp", "Name"], [SUBMITTED, "Dee"]],
            "Bob's Notes": [["Note"], ["call back"]],
            "Summary": [["Total", 3]],
        },
    )


def seed_vsc(fake: FakeGoogle) -> None:
    fake.add_spreadsheet(
        VSC,
        time_zone="America/New_York",
        tabs={FORM: [["Timestamp", "Leave Date"], [SUBMITTED, dt.date(2020, 7, 1)]]},
    )


def paths(fake: FakeGoogle) -> list[str]:
    return [r.path for r in fake.sheets_requests]


# -- reading -------------------------------------------------------------------------------------


def test_one_spreadsheet_with_three_tabs_costs_two_requests(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)
    wanted = [(PIP, FORM), (PIP, "Form Responses 2"), (PIP, "Bob's Notes")]
    stats: dict[str, int] = {}

    tables = read_spreadsheets(wanted, google_settings, stats=stats)

    assert list(tables) == wanted
    assert paths(fake_google) == [
        f"/v4/spreadsheets/{PIP}",
        f"/v4/spreadsheets/{PIP}/values:batchGet",
    ]
    batch = fake_google.sheets_requests[1].query
    assert batch["ranges"] == ["'Form Responses 1'", "'Form Responses 2'", "'Bob''s Notes'"]
    assert batch["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert batch["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    assert len(fake_google.token_requests) == 1
    assert stats == {"requests": 2, "spreadsheets": 1}
    assert tables[(PIP, "Bob's Notes")].source == f"{PIP}/Bob's Notes"
    assert tables[(PIP, "Bob's Notes")].rows[0].values == ("call back",)


def test_two_spreadsheets_cost_four_requests(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)
    seed_vsc(fake_google)

    tables = read_spreadsheets([(PIP, FORM), (VSC, FORM), (PIP, "Summary")], google_settings)

    assert len(fake_google.sheets_requests) == 4
    assert [p.rsplit("/", 1)[-1] for p in paths(fake_google)] == [
        PIP, "values:batchGet", VSC, "values:batchGet",
    ]
    assert tables[(PIP, FORM)].timezone == ZoneInfo("America/Los_Angeles")
    assert tables[(VSC, FORM)].timezone == ZoneInfo("America/New_York")
    assert tables[(VSC, FORM)].rows[0].values == (pytest.approx(43895.7529051), 44013)


def test_values_come_back_typed(fake_google: FakeGoogle, google_settings: Google) -> None:
    seed_pip(fake_google)

    table = read_spreadsheets([(PIP, FORM)], google_settings)[(PIP, FORM)]

    first = table.answers(table.rows[0])
    assert first["Timestamp"] == pytest.approx(43895 + (18 * 3600 + 4 * 60 + 11) / 86400)
    assert isinstance(first["Timestamp"], float)
    assert first["ZIP"] == "02134"  # leading zero kept: text stays text
    assert first["Age"] == 34
    assert isinstance(first["Age"], int)
    assert first["Phone (2)"] == ""
    second = table.answers(table.rows[1])
    assert second["Timestamp"] == 43896
    assert isinstance(second["Timestamp"], int)
    assert second["Age"] is None  # trailing empty cells are missing
    assert table.answers(table.rows[2])["Age"] == 41.5


def test_duplicate_headers_are_made_unique(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)

    table = read_spreadsheets([(PIP, FORM)], google_settings)[(PIP, FORM)]

    assert table.headers == ("Timestamp", "Email Address", "ZIP", "Phone", "Phone (2)", "Age")


def test_blank_rows_are_skipped_but_keep_their_numbers(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)

    table = read_spreadsheets([(PIP, FORM)], google_settings)[(PIP, FORM)]

    assert [r.number for r in table.rows] == [2, 4, 6]
    assert [table.answers(r)["Email Address"] for r in table.rows] == [
        "ann@example.org", "bob@example.org", "cy@example.org",
    ]
    assert table.rows[1].values == (43896, "bob@example.org", "90503", "", "310-555-0102")


def test_empty_tab_has_no_headers_and_no_rows(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    fake_google.add_spreadsheet(PIP, tabs={FORM: []})

    table = read_spreadsheets([(PIP, FORM)], google_settings)[(PIP, FORM)]

    assert (table.headers, table.rows) == ((), ())


def test_answers_beyond_the_header_get_a_column_name(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    """Guards against dropping an answer typed in a column that has no title."""
    fake_google.add_spreadsheet(PIP, tabs={FORM: [["Timestamp", "Email"], [1, "a@b.org", "extra"]]})

    table = read_spreadsheets([(PIP, FORM)], google_settings)[(PIP, FORM)]

    assert table.headers == ("Timestamp", "Email", "Column 3")
    assert table.answers(table.rows[0])["Column 3"] == "extra"


def test_missing_tab_lists_the_tabs_that_exist(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, "Form Responses 3")], google_settings)

    message = str(raised.value)
    assert PIP in message
    assert "'Form Responses 3'" in message
    assert "'Form Responses 1', 'Form Responses 2', \"Bob's Notes\", 'Summary'" in message
    assert len(fake_google.sheets_requests) == 1  # no values were read


# -- access errors -------------------------------------------------------------------------------


def test_unshared_spreadsheet_names_key_and_service_account(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    fake_google.add_spreadsheet(PIP, shared=False, tabs={FORM: [["x"]]})

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)

    message = str(raised.value)
    assert message.startswith(f"{PIP}: ")
    assert "403" in message
    assert "shared" in message
    assert "Viewer" in message
    assert EMAIL in message
    assert len(fake_google.sheets_requests) == 1  # not retried


def test_unknown_spreadsheet_names_key_and_service_account(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    with pytest.raises(SourceError) as raised:
        read_spreadsheets([("1NoSuchSpreadsheet_000", FORM)], google_settings)

    message = str(raised.value)
    assert message.startswith("1NoSuchSpreadsheet_000: ")
    assert "404" in message
    assert "must exist" in message
    assert EMAIL in message


def test_sheets_api_disabled_says_to_enable_it(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(
        403,
        message="Google Sheets API has not been used in project 123456789012 before or it is "
        "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
        "sheets.googleapis.com/overview?project=123456789012 then retry.",
    )

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)

    assert "the Google Sheets API is not enabled" in str(raised.value)
    assert EMAIL in str(raised.value)


def test_missing_credentials_file_is_named(fake_google: FakeGoogle, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "key.json"

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], fake_google.settings(missing))

    assert str(raised.value).startswith(f"{missing}: ")
    assert "not found" in str(raised.value)
    assert fake_google.requests == []


def test_invalid_credentials_file_is_named(fake_google: FakeGoogle, tmp_path: Path) -> None:
    bad = tmp_path / "key.json"
    bad.write_text('{"type": "authorized_user", "client_id": "x"}')

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], fake_google.settings(bad))

    assert str(raised.value).startswith(f"{bad}: not a valid service-account JSON key")


def test_no_credentials_configured_says_how_to_set_them(fake_google: FakeGoogle) -> None:
    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], fake_google.settings(None))

    assert "google.credentials" in str(raised.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(raised.value)


def test_revoked_key_is_a_clear_error(
    fake_google: FakeGoogle, google_settings: Google, service_account_key: Path
) -> None:
    seed_pip(fake_google)
    fake_google.revoke_key(EMAIL)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)

    message = str(raised.value)
    assert message.startswith(f"{service_account_key}: Google refused the service-account key")
    assert "Invalid JWT Signature" in message
    assert "new JSON key" in message
    assert fake_google.sheets_requests == []


def test_expired_token_is_refreshed_mid_run(
    fake_google: FakeGoogle, google_settings: Google
) -> None:
    seed_pip(fake_google)
    seed_vsc(fake_google)
    fake_google.expire_tokens_after(2)  # the token dies after the first spreadsheet

    tables = read_spreadsheets([(PIP, FORM), (VSC, FORM)], google_settings)

    assert [r.status for r in fake_google.sheets_requests] == [200, 200, 401, 200, 200]
    assert len(fake_google.token_requests) == 2
    assert tables[(VSC, FORM)].rows[0].number == 2


def test_401_after_refresh_is_a_clear_error(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(401, times=3)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)

    message = str(raised.value)
    assert message.startswith(f"{PIP}: ")
    assert "even after a refresh" in message
    assert str(google_settings.credentials) in message
    assert EMAIL in message
    assert len(fake_google.token_requests) == 3  # first token, then two refreshes
    assert no_sleep == []


# -- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "html"), [(429, False), (503, False), (500, True), (502, True), (504, False)]
)
def test_busy_answers_are_retried_then_succeed(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float], status: int, html: bool
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(status, times=2, html=html)

    tables = read_spreadsheets([(PIP, FORM)], google_settings)

    assert [r.status for r in fake_google.sheets_requests] == [status, status, 200, 200]
    assert len(no_sleep) == 2
    assert 0 <= no_sleep[0] <= 1.0
    assert 0 <= no_sleep[1] <= 2.0
    assert len(tables[(PIP, FORM)].rows) == 3


def test_retry_after_is_honoured(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(429, retry_after=7)

    read_spreadsheets([(PIP, FORM)], google_settings)

    assert no_sleep == [7.0]


def test_retry_after_beyond_the_budget_gives_up_at_once(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(429, retry_after=300)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)  # retry_seconds = 60

    assert "asking to wait 300 s" in str(raised.value)
    assert no_sleep == []
    assert len(fake_google.sheets_requests) == 1


def test_retry_limit_gives_a_clear_error(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(503, times=10)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)  # max_attempts = 5

    message = str(raised.value)
    assert message.startswith(f"{PIP}: Google Sheets answered 503 five times over ")
    assert message.endswith(" s; try again later")
    assert len(fake_google.sheets_requests) == 5
    assert len(no_sleep) == 4
    assert all(0 <= wait <= 2**i for i, wait in enumerate(no_sleep))


def test_backoff_is_capped_at_32_seconds(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_pip(fake_google)
    monkeypatch.setattr(source, "_random", lambda: 1.0)  # the top of every jitter window
    fake_google.fail_next(500, times=7)
    settings = dataclasses.replace(google_settings, max_attempts=8, retry_seconds=1000)

    read_spreadsheets([(PIP, FORM)], settings)

    assert no_sleep == [1, 2, 4, 8, 16, 32, 32]


def test_retry_budget_in_seconds_stops_early(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_pip(fake_google)
    monkeypatch.setattr(source, "_random", lambda: 1.0)
    fake_google.fail_next(503, times=10)
    settings = dataclasses.replace(google_settings, max_attempts=10, retry_seconds=10)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], settings)

    assert no_sleep == [1, 2, 4]  # 7 s waited; 8 more would pass the 10 s budget
    assert "answered 503 four times over 7 s" in str(raised.value)


def test_timeout_is_retried(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.delay_next(1.5)
    settings = dataclasses.replace(google_settings, timeout_seconds=0.3)

    tables = read_spreadsheets([(PIP, FORM)], settings)

    assert len(no_sleep) == 1
    assert len(fake_google.sheets_requests) == 3
    assert tables[(PIP, FORM)].headers[0] == "Timestamp"


def test_timeouts_every_time_say_so(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.delay_next(1.0, times=2)
    settings = dataclasses.replace(google_settings, timeout_seconds=0.2, max_attempts=2)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], settings)

    assert "did not answer within 0.2 s twice" in str(raised.value)


def test_unreachable_endpoint_is_retried_then_reported(
    fake_google: FakeGoogle, service_account_key: Path, no_sleep: list[float]
) -> None:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = fake_google.settings(service_account_key, api_endpoint=closed, max_attempts=3)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], settings)

    assert str(raised.value).startswith(f"{PIP}: Google Sheets could not be reached three times")
    assert len(no_sleep) == 2


def test_mixed_failures_are_summarised(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(429)
    fake_google.fail_next(503, times=4)

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)

    assert "failed five times (answered 429; answered 503)" in str(raised.value)


def test_bad_range_is_not_retried(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float]
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(400, message="Unable to parse range: 'Form Responses 1'")

    with pytest.raises(SourceError) as raised:
        read_spreadsheets([(PIP, FORM)], google_settings)

    assert "400 INVALID_ARGUMENT: Unable to parse range" in str(raised.value)
    assert no_sleep == []


# -- check and logging ---------------------------------------------------------------------------


def test_check_reads_only_the_header_rows(fake_google: FakeGoogle, google_settings: Google) -> None:
    seed_pip(fake_google)
    wanted = [(PIP, FORM), (PIP, "Nope"), ("1NoSuchSpreadsheet_000", FORM), (PIP, "Summary")]

    found = check_spreadsheets(wanted, google_settings)

    assert list(found) == wanted
    assert found[(PIP, FORM)] == ("Timestamp", "Email Address", "ZIP", "Phone", "Phone (2)", "Age")
    assert found[(PIP, "Summary")] == ("Total", "3")
    assert isinstance(found[(PIP, "Nope")], SourceError)
    assert "'Summary'" in str(found[(PIP, "Nope")])
    assert isinstance(found[("1NoSuchSpreadsheet_000", FORM)], SourceError)
    batch = fake_google.sheets_requests[1].query
    assert batch["ranges"] == ["'Form Responses 1'!1:1", "'Summary'!1:1"]
    assert len(fake_google.sheets_requests) == 3


def test_check_without_credentials_raises(fake_google: FakeGoogle, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="key file not found"):
        check_spreadsheets([(PIP, FORM)], fake_google.settings(tmp_path / "gone.json"))


def test_logs_count_requests_but_carry_no_answers(
    fake_google: FakeGoogle, google_settings: Google, no_sleep: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_pip(fake_google)
    fake_google.fail_next(503)
    caplog.set_level(logging.DEBUG)

    read_spreadsheets([(PIP, FORM)], google_settings)

    text = caplog.text
    assert "with 3 Sheets request(s)" in text
    assert "retrying" in text
    for private in ("ann@example.org", "02134", "555-0101", "bob@example.org"):
        assert private not in text
