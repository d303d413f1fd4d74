"""A loopback fake of the Google Forms API v1 (read side), beside the fake Sheets API.

`FakeForms` is a `FakeGoogle` (same token endpoint, same faults, same request recording) that
also answers, on the same port:

    GET /v1/forms/{formId}              forms.get: info, settings, items with question IDs
    GET /v1/forms/{formId}/responses    forms.responses.list: pageSize, pageToken /
                                        nextPageToken, filter=timestamp >= / > RFC 3339

Seed a form with items built by `text`, `paragraph`, `radio`, `dropdown`, `checkbox`, `date`,
`time_question`, `scale`, `grid` and `page_break`, then `submit` responses (answers by question
title) and `edit` them as a respondent would (same responseId, new lastSubmittedTime):

    with FakeForms() as fake:
        form = fake.add_form("1FormId...", [text("First Name"), checkbox("Why", ["A", "B"])])
        rid = form.submit({"First Name": "Ann", "Why": ["B", "A"]},
                          at=dt.datetime(2020, 3, 6, 2, 4, 11, 482000, tzinfo=dt.UTC))
        form.edit(rid, {"First Name": "Anne"}, at=...)

Scopes are enforced per method (forms.body.readonly for forms.get, forms.responses.readonly
for the responses); a form with `shared = False` answers 403, an unknown one 404; errors use
Google's JSON envelope. `page_limit` caps the page size as the service may.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Google
from tests.fake_google import FakeGoogle, envelope

BODY_SCOPES = {
    "https://www.googleapis.com/auth/forms.body",
    "https://www.googleapis.com/auth/forms.body.readonly",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.readonly",
}
RESPONSE_SCOPES = {
    "https://www.googleapis.com/auth/forms.responses.readonly",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.readonly",
}
MAX_PAGE = 5000
QUOTA_MESSAGE = (
    "Quota exceeded for quota metric 'Expensive read requests' and limit 'Expensive read "
    "requests per minute per user' of service 'forms.googleapis.com' for consumer "
    "'project_number:123456789012'."
)
_FILTER = re.compile(r"\s*timestamp\s*(>=|>)\s*(\S+)\s*")
_ids = itertools.count(0x1A2B3C4D)


def _new_id() -> str:
    return format(next(_ids), "08x")


# -- items ---------------------------------------------------------------------------------------


def _item(title: str, question: dict[str, Any]) -> dict[str, Any]:
    question = {"questionId": _new_id(), **question}
    return {"itemId": _new_id(), "title": title, "questionItem": {"question": question}}


def text(title: str, *, required: bool = False) -> dict[str, Any]:
    return _item(title, {"required": required, "textQuestion": {}})


def paragraph(title: str) -> dict[str, Any]:
    return _item(title, {"textQuestion": {"paragraph": True}})


def _choice(kind: str, title: str, options: list[str], other: bool) -> dict[str, Any]:
    opts: list[dict[str, Any]] = [{"value": o} for o in options]
    if other:
        opts.append({"isOther": True})
    return _item(title, {"choiceQuestion": {"type": kind, "options": opts}})


def radio(title: str, options: list[str], *, other: bool = False) -> dict[str, Any]:
    return _choice("RADIO", title, options, other)


def dropdown(title: str, options: list[str]) -> dict[str, Any]:
    return _choice("DROP_DOWN", title, options, False)


def checkbox(title: str, options: list[str], *, other: bool = False) -> dict[str, Any]:
    return _choice("CHECKBOX", title, options, other)


def date(title: str, *, include_year: bool = True, include_time: bool = False) -> dict[str, Any]:
    return _item(title, {"dateQuestion": {"includeYear": include_year, "includeTime": include_time}})


def time_question(title: str, *, duration: bool = False) -> dict[str, Any]:
    return _item(title, {"timeQuestion": {"duration": duration}})


def scale(title: str, low: int = 1, high: int = 5) -> dict[str, Any]:
    return _item(title, {"scaleQuestion": {"low": low, "high": high}})


def grid(title: str, rows: list[str], columns: list[str]) -> dict[str, Any]:
    return {
        "itemId": _new_id(),
        "title": title,
        "questionGroupItem": {
            "questions": [{"questionId": _new_id(), "rowQuestion": {"title": r}} for r in rows],
            "grid": {"columns": {"type": "RADIO", "options": [{"value": c} for c in columns]}},
        },
    }


def page_break(title: str) -> dict[str, Any]:
    return {"itemId": _new_id(), "title": title, "pageBreakItem": {}}


def rfc3339(moment: dt.datetime, digits: int = 3) -> str:
    """An aware (or naive UTC) datetime as the Forms API writes times: UTC with a fraction."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    fraction = f"{moment.microsecond:06d}{'0' * 3}"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


def _parse(text: str) -> dt.datetime:
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(text)
    return moment


# -- forms ---------------------------------------------------------------------------------------


@dataclass
class FakeForm:
    form_id: str
    title: str
    items: list[dict[str, Any]]
    collect_emails: bool = True
    shared: bool = True
    fraction_digits: int = 3  # digits of the seconds' fraction in times (Google sends 3 to 9)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def question_ids(self) -> dict[str, str]:
        """{title: questionId}; grid rows as "Title [Row]"."""
        ids = {}
        for item in self.items:
            if "questionItem" in item:
                ids[item["title"]] = item["questionItem"]["question"]["questionId"]
            for q in item.get("questionGroupItem", {}).get("questions", []):
                ids[f"{item['title']} [{q['rowQuestion']['title']}]"] = q["questionId"]
        return ids

    def body(self) -> dict[str, Any]:
        return {
            "formId": self.form_id,
            "info": {"title": self.title, "documentTitle": self.title},
            "settings": {"emailCollectionType": "VERIFIED" if self.collect_emails
                         else "DO_NOT_COLLECT"},
            "revisionId": "00000042",
            "responderUri": f"https://docs.google.com/forms/d/e/1FAIpQLS{self.form_id[:20]}/viewform",
            "items": self.items,
        }

    def _answers(self, answers: dict[str, str | list[str]]) -> dict[str, Any]:
        ids = self.question_ids()
        out = {}
        for title, value in answers.items():
            qid = ids[title]
            values = value if isinstance(value, list) else [value]
            if values and values != [""]:
                out[qid] = {"questionId": qid,
                            "textAnswers": {"answers": [{"value": v} for v in values]}}
        return out

    def submit(self, answers: dict[str, str | list[str]], *, at: dt.datetime,
               email: str | None = None, response_id: str | None = None) -> str:
        """A new response submitted `at` (aware, or naive UTC); returns its responseId."""
        rid = response_id or "ACYDBN" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")
        stamp = rfc3339(at, self.fraction_digits)
        response: dict[str, Any] = {"formId": self.form_id, "responseId": rid,
                                    "createTime": stamp, "lastSubmittedTime": stamp,
                                    "answers": self._answers(answers)}
        if self.collect_emails and email:
            response["respondentEmail"] = email
        self.responses[rid] = response
        return rid

    def edit(self, response_id: str, answers: dict[str, str | list[str]], *,
             at: dt.datetime) -> None:
        """The respondent edits their response: changed answers, a new lastSubmittedTime."""
        response = self.responses[response_id]
        response["answers"] = {**response["answers"], **self._answers(answers)}
        for title, value in answers.items():
            if value in ("", []):
                response["answers"].pop(self.question_ids()[title], None)
        response["lastSubmittedTime"] = rfc3339(at, self.fraction_digits)

    def page(self, query: dict[str, list[str]], limit: int) -> tuple[int, dict[str, Any]]:
        """forms.responses.list: filtered, then paged by an opaque token."""
        chosen = sorted(self.responses.values(), key=lambda r: r["responseId"])
        text = query.get("filter", [""])[0]
        if text:
            m = _FILTER.fullmatch(text)
            try:
                since = _parse(m.group(2)) if m else None
            except ValueError:
                since = None
            if m is None or since is None:
                return envelope(400, f"Invalid filter: {text}")
            strict = m.group(1) == ">"
            chosen = [r for r in chosen if (_parse(r["lastSubmittedTime"]) > since if strict
                                            else _parse(r["lastSubmittedTime"]) >= since)]
        try:
            size = int(query.get("pageSize", ["0"])[0] or 0)
        except ValueError:
            return envelope(400, "Invalid value at 'page_size'")
        size = min(size or MAX_PAGE, MAX_PAGE, limit)
        offset = 0
        if "pageToken" in query:
            try:
                state = json.loads(base64.urlsafe_b64decode(query["pageToken"][0]))
                offset = int(state["offset"])
                if state["filter"] != text:
                    raise ValueError("filter changed")
            except (ValueError, KeyError, TypeError):
                return envelope(400, "Invalid page token.")
        answer: dict[str, Any] = {}
        if chosen[offset : offset + size]:
            answer["responses"] = chosen[offset : offset + size]
        if offset + size < len(chosen):
            token = json.dumps({"offset": offset + size, "filter": text}).encode()
            answer["nextPageToken"] = base64.urlsafe_b64encode(token).decode()
        return 200, answer


class FakeForms(FakeGoogle):
    """FakeGoogle plus the Forms API v1 on the same loopback port."""

    def __init__(self, token_lifetime: int = 3600) -> None:
        super().__init__(token_lifetime)
        self.forms: dict[str, FakeForm] = {}
        self.page_limit = MAX_PAGE

    def add_form(self, form_id: str, items: list[dict[str, Any]], *,
                 title: str = "Partners in Policing Registration", collect_emails: bool = True,
                 shared: bool = True) -> FakeForm:
        form = FakeForm(form_id, title, list(items), collect_emails, shared)
        with self._lock:
            self.forms[form_id] = form
        return form

    def settings(self, credentials: Path | None, **overrides: Any) -> Google:
        """`Google` settings whose Sheets and Forms endpoints are this fake."""
        return super().settings(credentials, **{"forms_endpoint": self.url, **overrides})

    @property
    def forms_requests(self) -> list[Any]:
        return [r for r in self.requests if r.path.startswith("/v1/forms")]

    def serves(self, path: str) -> bool:
        return path.startswith("/v1/forms/") or super().serves(path)

    def answer_api(
        self, path: str, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        if not path.startswith("/v1/forms/"):
            return super().answer_api(path, query, authorization)
        account = self.account_of(authorization)
        if account is None:
            return envelope(401)
        form_id, _, tail = path.removeprefix("/v1/forms/").partition("/")
        if tail not in ("", "responses"):
            return envelope(404)
        needed = BODY_SCOPES if tail == "" else RESPONSE_SCOPES
        if not account[1] & needed:
            return envelope(403, "Request had insufficient authentication scopes.")
        with self._lock:
            form = self.forms.get(form_id)
            if form is None:
                return envelope(404)
            if not form.shared:
                return envelope(403)
            if tail == "":
                return 200, json.loads(json.dumps(form.body()))
            return form.page(query, self.page_limit)
