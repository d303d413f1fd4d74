"""The loopback fake answers like the real Sheets API, checked against recorded traffic.

The cassettes in shared/fixtures/sheets-api hold real exchanges with Google. Each one is
replayed in order: the writes it made (new tabs, resized grids, cleared and written cells,
changed time zone or locale) are applied to the fake's cells directly, and every read it
made (spreadsheets.get, values.get, values:batchGet, errors included) is sent to the fake
through google-auth's AuthorizedSession. The fake's answer must equal Google's recorded
answer: same status, same JSON, except the large optional metadata sections the fake leaves
out (`properties.defaultFormat`, `properties.spreadsheetTheme`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import gspread
import gspread.http_client
import pytest
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

if TYPE_CHECKING:
    from tests.fake_google import FakeGoogle, FakeSpreadsheet

# The fixtures (fake_google, service_account_key, ...) live in tests/fake_google.py; its
# classes are imported inside functions so that pytest loads the module first, as a plugin.

CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "sheets-api"
SHEETS = "https://sheets.googleapis.com"
OPTIONAL_PROPERTIES = {"defaultFormat", "spreadsheetTheme"}
REQUIRED_METADATA = {
    ("spreadsheetId",): str,
    ("properties", "title"): str,
    ("properties", "locale"): str,
    ("properties", "timeZone"): str,
    ("spreadsheetUrl",): str,
}
REQUIRED_TAB = {
    "sheetId": int, "title": str, "index": int, "sheetType": str, "gridProperties": dict,
}


def cassette_files() -> list[Path]:
    return sorted(CASSETTES.glob("*.json")) if CASSETTES.is_dir() else []


needs_cassettes = pytest.mark.skipif(
    not cassette_files(),
    reason=f"recorded Sheets API traffic not found in {CASSETTES}",
)


def interactions(path: Path) -> Iterator[tuple[str, str, Any, int, Any]]:
    """(method, uri, request body, status, response body) for each Sheets exchange."""
    for item in json.loads(path.read_text(encoding="utf-8"))["interactions"]:
        request, response = item["request"], item["response"]
        if not request["uri"].startswith(SHEETS):
            continue  # Drive calls that created and deleted the test spreadsheets
        text = response["body"]["string"]
        body = json.loads(text) if text.strip() else None
        request_body = json.loads(request["body"]) if request.get("body") else None
        yield request["method"], request["uri"], request_body, response["status"]["code"], body


def key_paths(data: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path in a JSON document, list items merged ("[]" marks a list)."""
    paths: set[tuple[str, ...]] = set()
    if isinstance(data, dict):
        for name, value in data.items():
            paths.add(prefix + (name,))
            paths |= key_paths(value, prefix + (name,))
    elif isinstance(data, list):
        for item in data:
            paths |= key_paths(item, prefix + ("[]",))
    return paths


def without_optional(metadata: dict[str, Any]) -> dict[str, Any]:
    trimmed = json.loads(json.dumps(metadata))
    for name in OPTIONAL_PROPERTIES:
        trimmed.get("properties", {}).pop(name, None)
    return trimmed


def user_entered(value: Any) -> Any:
    """What Sheets stores for a USER_ENTERED value, for the values these cassettes type."""
    from tests.fake_google import Cell

    if not isinstance(value, str):
        return value
    if value == "":
        return None
    formula = re.fullmatch(r"=(\d+)/(\d+)", value)
    if formula:
        result = int(formula[1]) / int(formula[2])
        return Cell(int(result) if result.is_integer() else result, formula=value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return Cell(dt.date.fromisoformat(value), formatted=value)
    return value


def seed_from_metadata(fake: FakeGoogle, metadata: dict[str, Any]) -> None:
    props = metadata["properties"]
    sheet = fake.add_spreadsheet(
        metadata["spreadsheetId"],
        title=props["title"],
        time_zone=props["timeZone"],
        locale=props["locale"],
    )
    for tab in metadata["sheets"]:
        tp = tab["properties"]
        grid = tp["gridProperties"]
        sheet.add_tab(
            tp["title"],
            row_count=grid["rowCount"],
            column_count=grid["columnCount"],
            sheet_id=tp["sheetId"],
        )


def apply_batch_update(sheet: FakeSpreadsheet, body: dict[str, Any], reply: dict[str, Any]) -> None:
    for request, answer in zip(body["requests"], reply.get("replies", []), strict=False):
        if "addSheet" in request:
            tp = answer["addSheet"]["properties"]
            grid = tp["gridProperties"]
            sheet.add_tab(
                tp["title"],
                row_count=grid["rowCount"],
                column_count=grid["columnCount"],
                sheet_id=tp["sheetId"],
            )
        elif "deleteSheet" in request:
            gone = request["deleteSheet"]["sheetId"]
            sheet.tabs = [t for t in sheet.tabs if t.sheet_id != gone]
        elif "updateSheetProperties" in request:
            tp = request["updateSheetProperties"]["properties"]
            tab = next(t for t in sheet.tabs if t.sheet_id == tp["sheetId"])
            tab.rows_set = tp["gridProperties"]["rowCount"]
            tab.columns_set = tp["gridProperties"]["columnCount"]
            del tab.rows[tab.rows_set :]
        elif "updateSpreadsheetProperties" in request:
            props = request["updateSpreadsheetProperties"]["properties"]
            sheet.time_zone = props.get("timeZone", sheet.time_zone)
            sheet.locale = props.get("locale", sheet.locale)
        else:  # pragma: no cover - a new cassette needs a new case here
            raise AssertionError(f"unhandled batchUpdate request {sorted(request)}")


def replay(fake: FakeGoogle, session: AuthorizedSession, cassette: Path) -> int:
    """Replay one cassette against the fake; return how many reads were compared."""
    compared = 0
    for method, uri, request_body, status, body in interactions(cassette):
        parts = urlsplit(uri)
        rest = unquote(parts.path).removeprefix("/v4/spreadsheets/")
        key, _, tail = rest.partition("/")
        key, _, action = key.partition(":")
        sheet = fake.spreadsheets.get(key)
        if method == "GET":
            if not tail and key not in fake.spreadsheets:
                if status == 200:
                    seed_from_metadata(fake, body)
                elif status == 403:
                    fake.add_spreadsheet(key, shared=False)
            answer = session.get(fake.url + uri.removeprefix(SHEETS), timeout=5)
            assert answer.status_code == status, (cassette.name, uri)
            expected = without_optional(body) if not tail and status == 200 else body
            assert answer.json() == expected, (cassette.name, uri)
            assert answer.headers["Content-Type"] == "application/json; charset=UTF-8"
            compared += 1
        elif action == "batchUpdate":
            assert sheet is not None
            apply_batch_update(sheet, request_body, body)
        elif tail.endswith(":clear"):
            assert sheet is not None
            tab, *_ = sheet.resolve(tail.removeprefix("values/").removesuffix(":clear"))
            tab.rows.clear()
        elif method == "PUT" and tail.startswith("values/"):
            assert sheet is not None
            tab, top, left, *_ = sheet.resolve(tail.removeprefix("values/"))
            raw = "valueInputOption=RAW" in parts.query
            rows = [
                [(v if v != "" else None) if raw else user_entered(v) for v in row]
                for row in request_body["values"]
            ]
            tab.put(top, left, rows)
        else:  # pragma: no cover
            raise AssertionError(f"unhandled {method} {uri}")
    return compared


@pytest.fixture
def session(fake_google: FakeGoogle, service_account_key: Path) -> Iterator[AuthorizedSession]:
    credentials = service_account.Credentials.from_service_account_file(
        str(service_account_key),
        scopes=["https://www.googleapis.com/auth/spreadsheets.readonly"],
    )
    with AuthorizedSession(credentials) as authorized:
        yield authorized


@needs_cassettes
@pytest.mark.parametrize("cassette", cassette_files(), ids=lambda p: p.stem)
def test_fake_answers_recorded_reads_alike(
    cassette: Path, fake_google: FakeGoogle, session: AuthorizedSession
) -> None:
    compared = replay(fake_google, session, cassette)
    assert compared >= 1
    assert len(fake_google.token_requests) == 1  # one token served every read


@needs_cassettes
def test_metadata_keys_match_recorded_shape(
    fake_google: FakeGoogle, session: AuthorizedSession
) -> None:
    """Same keys as Google's metadata, with the required ones present and typed alike."""
    recorded = next(
        body
        for method, uri, _, status, body in interactions(
            CASSETTES / "SpreadsheetTest.test_values_batch_get.json"
        )
        if method == "GET" and status == 200 and "/values" not in uri
    )
    fake_google.add_spreadsheet("1Fake-Key_0123456789", tabs={"Form Responses 1": [["x"]]})
    mine = session.get(f"{fake_google.url}/v4/spreadsheets/1Fake-Key_0123456789", timeout=5).json()
    missing = key_paths(recorded) - key_paths(mine)
    assert {p[:2] for p in missing} <= {("properties", name) for name in OPTIONAL_PROPERTIES}
    assert key_paths(mine) <= key_paths(recorded)
    for path, kind in REQUIRED_METADATA.items():
        mine_value, real_value = mine, recorded
        for name in path:
            mine_value, real_value = mine_value[name], real_value[name]
        assert isinstance(real_value, kind), path
        assert isinstance(mine_value, kind), path
    for tab in mine["sheets"]:
        for name, kind in REQUIRED_TAB.items():
            assert isinstance(tab["properties"][name], kind), name
    assert {k: type(v) for k, v in mine["sheets"][0]["properties"].items()} == {
        k: type(v) for k, v in recorded["sheets"][0]["properties"].items()
    }


@needs_cassettes
@pytest.mark.parametrize(
    ("code", "cassette"),
    [
        (404, "ClientTest.test_access_non_existing_spreadsheet.json"),
        (403, "ClientTest.test_access_private_spreadsheet.json"),
    ],
)
def test_error_bodies_match_recorded(
    code: int, cassette: str, fake_google: FakeGoogle, session: AuthorizedSession
) -> None:
    recorded = next(
        body for _, _, _, status, body in interactions(CASSETTES / cassette) if status == code
    )
    if code == 403:
        fake_google.add_spreadsheet("1Private_Sheet_Key", shared=False)
    answer = session.get(f"{fake_google.url}/v4/spreadsheets/1Private_Sheet_Key", timeout=5)
    assert answer.status_code == code
    assert answer.json() == recorded
    assert list(answer.json()["error"]) == ["code", "message", "status"]


# -- through gspread ----------------------------------------------------------------------------


@pytest.fixture
def gspread_client(
    fake_google: FakeGoogle, service_account_key: Path, monkeypatch: pytest.MonkeyPatch
) -> gspread.Client:
    """gspread's own client, its URL constants pointed at the fake."""
    base = f"{fake_google.url}/v4/spreadsheets"
    for name, url in [
        ("SPREADSHEET_URL", "/%s"),
        ("SPREADSHEET_VALUES_URL", "/%s/values/%s"),
        ("SPREADSHEET_VALUES_BATCH_URL", "/%s/values:batchGet"),
    ]:
        monkeypatch.setattr(gspread.http_client, name, base + url)
    return gspread.service_account(filename=service_account_key)


def test_gspread_reads_the_fake(fake_google: FakeGoogle, gspread_client: gspread.Client) -> None:
    fake_google.add_spreadsheet(
        "1Gspread_Key_abcdef",
        title="PIP Registration (Responses)",
        time_zone="America/Los_Angeles",
        tabs={
            "Form Responses 1": [
                ["Timestamp", "ZIP", "Age"],
                [dt.datetime(2020, 3, 5, 18, 4, 11), "02134", 34],
                [],
                [dt.date(2020, 3, 6), "90503"],
            ],
            "Summary": [["Total", 2]],
        },
    )
    book = gspread_client.open_by_key("1Gspread_Key_abcdef")
    assert book.title == "PIP Registration (Responses)"
    assert book.timezone == "America/Los_Angeles"
    assert [ws.title for ws in book.worksheets()] == ["Form Responses 1", "Summary"]
    sheet = book.worksheet("Form Responses 1")
    assert sheet.get_all_values() == [
        ["Timestamp", "ZIP", "Age"],
        ["3/5/2020 18:04:11", "02134", "34"],
        ["", "", ""],
        ["3/6/2020", "90503", ""],
    ]
    unformatted = gspread_client.http_client.values_batch_get(
        "1Gspread_Key_abcdef",
        ["'Form Responses 1'", "Summary!A1:B1"],
        {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"},
    )
    first, second = unformatted["valueRanges"]
    assert first["range"] == "'Form Responses 1'!A1:Z1000"
    submitted = 43895 + (18 * 3600 + 4 * 60 + 11) / 86400
    assert first["values"][1] == [pytest.approx(submitted), "02134", 34]
    assert first["values"][2] == []
    assert first["values"][3] == [43896, "90503"]
    assert second == {"range": "Summary!A1:B1", "majorDimension": "ROWS", "values": [["Total", 2]]}


def test_gspread_maps_the_fakes_errors(
    fake_google: FakeGoogle, gspread_client: gspread.Client
) -> None:
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gspread_client.open_by_key("1No_Such_Spreadsheet")
    fake_google.add_spreadsheet("1Not_Shared_Key_abc", shared=False)
    with pytest.raises(PermissionError):
        gspread_client.open_by_key("1Not_Shared_Key_abc")
    fake_google.add_spreadsheet("1Flaky_Key_abcdefg", tabs={"Sheet1": [["a"]]})
    fake_google.fail_next(500, html=True)
    with pytest.raises(gspread.exceptions.APIError) as raised:
        gspread_client.open_by_key("1Flaky_Key_abcdefg")
    assert raised.value.response.status_code == 500
    assert raised.value.response.headers["Content-Type"].startswith("text/html")
    fake_google.fail_next(429)
    with pytest.raises(gspread.exceptions.APIError) as raised:
        gspread_client.open_by_key("1Flaky_Key_abcdefg")
    assert raised.value.code == 429
    assert raised.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert gspread_client.open_by_key("1Flaky_Key_abcdefg").sheet1.acell("A1").value == "a"
    with pytest.raises(gspread.exceptions.APIError) as raised:
        gspread_client.http_client.values_get("1Flaky_Key_abcdefg", "'Nope'!A1")
    assert raised.value.code == 400
    assert raised.value.error["message"] == "Unable to parse range: 'Nope'!A1"
    with pytest.raises(gspread.exceptions.APIError) as raised:
        gspread_client.http_client.values_get("1Flaky_Key_abcdefg", "Sheet1!A1:A2000")
    assert raised.value.error["message"] == (
        "Range ('Sheet1'!A1:A2000) exceeds grid limits. Max rows: 1000, max columns: 26"
    )
