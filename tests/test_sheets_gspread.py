"""The Sheets source reads through gspread at run time, with our own HTTP client under it:
the configured endpoint, two requests per spreadsheet, retries that stop, our messages."""

from __future__ import annotations

from pathlib import Path

import gspread.http_client
import pytest

from sync.errors import SourceError
from sync.sources import google as google_source
from sync.sources.google import read_spreadsheets
from tests.fake_google import FakeGoogle

KEY, TAB = "1GspreadResponses0000", "Form Responses 1"


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The gspread HTTP client methods the source calls, by name."""
    made: list[str] = []
    for name in ("fetch_sheet_metadata", "values_batch_get"):
        original = getattr(gspread.http_client.HTTPClient, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            made.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(gspread.http_client.HTTPClient, name, spy)
    monkeypatch.setattr(google_source, "_sleep", lambda seconds: None)
    return made


def test_each_spreadsheet_is_two_gspread_calls_to_the_configured_endpoint(
        fake_google: FakeGoogle, tmp_path: Path, calls: list[str]):
    fake_google.add_spreadsheet(KEY, tabs={TAB: [["Timestamp", "ZIP"], ["3/1/2020", "02134"]],
                                           "Other": [["x"]]})
    settings = fake_google.settings(fake_google.write_key(tmp_path))
    tables = read_spreadsheets([(KEY, TAB), (KEY, "Other")], settings)
    assert calls == ["fetch_sheet_metadata", "values_batch_get"]
    assert [r.path for r in fake_google.sheets_requests] == [
        f"/v4/spreadsheets/{KEY}", f"/v4/spreadsheets/{KEY}/values:batchGet"]
    assert fake_google.sheets_requests[0].query["fields"] == [google_source.METADATA_FIELDS]
    assert tables[(KEY, TAB)].rows[0].values == ("3/1/2020", "02134")  # text stays text


def test_gspread_errors_become_our_messages_and_retries_stop(
        fake_google: FakeGoogle, tmp_path: Path, calls: list[str]):
    """gspread's own retrying client never stops on a 5xx storm; ours stops at max_attempts,
    and gspread's APIError for a refusal becomes a message naming the spreadsheet."""
    fake_google.add_spreadsheet(KEY, tabs={TAB: [["Timestamp"]]})
    settings = fake_google.settings(fake_google.write_key(tmp_path), max_attempts=3)
    fake_google.fail_next(503, times=3)  # every attempt fails
    with pytest.raises(SourceError, match=f"^{KEY}: Google Sheets answered 503 three times"):
        read_spreadsheets([(KEY, TAB)], settings)
    assert len(fake_google.sheets_requests) == 3
    fake_google.spreadsheets[KEY].shared = False
    with pytest.raises(SourceError, match=f"^{KEY}: Google Sheets refused access to spreadsheet "
                                          f"{KEY} .*shared \\(Viewer is enough\\) with the service"):
        read_spreadsheets([(KEY, TAB)], settings)
