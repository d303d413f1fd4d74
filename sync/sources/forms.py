"""Google Forms source: a form's responses read straight from the Forms API v1.

Per form and sync: one `forms.get` (the questions: their IDs, titles and kinds, so titles in
the configuration resolve to question IDs) and `forms.responses.list`, paged with
`nextPageToken`. After the first sync only responses submitted since the last one seen are
asked for (`filter=timestamp >= ...`, less a safety margin) and merged by `responseId` with
the responses cached in the state file, so a respondent's edit replaces their earlier answers.

The answers are shaped exactly as a linked response Sheet shows them, so nothing after this
module can tell the sources apart: "Timestamp" is the last submission time as a naive
datetime in the department's time zone, "Email Address" follows when the form collects
emails, then one column per question titled as in the form (grid rows as "Title [Row]");
checkbox choices are joined with ", " in the form's option order, dates ("YYYY-MM-DD") become
dates, date-and-time answers datetimes, times stay "HH:MM", scale answers are numbers; rows
are numbered 2, 3, ... in the order the responses were first submitted. Each row carries its
`responseId` as `Row.key`, the response's identity.

Requests, retries and error messages are `sync.sources.googlehttp`'s (the Forms API's
"expensive read" quota answers 429 like the Sheets quota). Logs carry counts and form IDs only.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sync.config import Google
from sync.errors import SigninError, SourceError
from sync.sources import Row, Table, Value, googlehttp, unique_headers

log = logging.getLogger(__name__)

SCOPES = [
    "https://www.googleapis.com/auth/forms.body.readonly",
    "https://www.googleapis.com/auth/forms.responses.readonly",
]
PAGE_SIZE = 5000  # the most forms.responses.list returns per page
SAFETY_MARGIN = dt.timedelta(minutes=5)  # re-ask for this much before the last seen response
COLLECTS_EMAILS = {"VERIFIED", "RESPONDER_INPUT"}

# Replaceable in tests so retries wait no real time.
_sleep: Callable[[float], None] = time.sleep
_random: Callable[[], float] = random.random

_FRACTION = re.compile(r"(\.\d{6})\d+")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}))?")


class Cache(Protocol):
    """Where responses read earlier are kept between syncs (the state file's meta table)."""

    def get_meta(self, key: str, default: Any = None) -> Any: ...

    def set_meta(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    kind: str  # checkbox | choice | text | date | time | scale | file | other
    options: tuple[str, ...] = ()


def cache_key(form_id: str) -> str:
    return f"forms:{form_id}"


def read_forms(
    form_ids: Iterable[str],
    google: Google,
    timezone: ZoneInfo,
    *,
    cache: Cache | None = None,
    stats: dict[str, int] | None = None,
    failed: dict[str, SourceError] | None = None,
) -> dict[str, Table]:
    """Every form's responses as a `Table`, times shown in `timezone` (the department's).

    With `failed`, a form that cannot be read gets its error there instead of stopping the
    others (a failed sign-in still raises: no form can be read then).

    With a `cache`, responses read by earlier syncs are kept there (key "forms:<form ID>")
    and only newer ones are asked for. `stats`, when given, counts the requests sent
    ("requests", retries included), the forms read ("forms") and the responses received
    ("responses").
    """
    tables: dict[str, Table] = {}
    with _FormsApi(google, stats) as api:
        for form_id in dict.fromkeys(form_ids):
            try:
                tables[form_id] = _read_form(api, form_id, timezone, cache)
            except SourceError as err:
                if failed is None or isinstance(err, SigninError):
                    raise
                log.debug("form %s: not read", form_id)
                failed[form_id] = err
    log.debug("read %d form(s) with %d Forms request(s)", len(tables), api.requests)
    return tables


def _read_form(api: _FormsApi, form_id: str, timezone: ZoneInfo, cache: Cache | None) -> Table:
    """One form's responses: the new ones since the cache's latest, and the cached ones."""
    form = api.form(form_id)
    saved = (cache.get_meta(cache_key(form_id)) if cache is not None else None) or {}
    known: dict[str, dict[str, Any]] = dict(saved.get("responses", {}))
    since = None
    if known and saved.get("latest"):
        since = _instant(saved["latest"], form_id) - SAFETY_MARGIN
    fresh = api.responses(form_id, since)
    purged = set(saved.get("purged", ()))  # personal data removed by `purge`: never kept
    for response in fresh:
        if response.get("responseId") and response["responseId"] not in purged:
            known[response["responseId"]] = response
    titles = {**saved.get("titles", {}), **{q.id: q.title for q in _questions(form)}}
    if cache is not None:
        cache.set_meta(cache_key(form_id), {
            "responses": known, "titles": titles,
            "latest": _latest(known.values(), form_id) or saved.get("latest"),
            **({"purged": sorted(purged)} if purged else {}),
        })
    log.debug("form %s: %d response(s) received, %d in all", form_id, len(fresh), len(known))
    return _table(form_id, form, list(known.values()), titles, timezone)


def check_forms(
    form_ids: Iterable[str], google: Google, *, stats: dict[str, int] | None = None
) -> dict[str, tuple[str, ...] | SourceError]:
    """The column titles each form's responses would have, or the error that stops it.

    Credentials that cannot be loaded raise at once; one `forms.get` per form, no responses.
    """
    found: dict[str, tuple[str, ...] | SourceError] = {}
    with _FormsApi(google, stats) as api:
        for form_id in dict.fromkeys(form_ids):
            try:
                form = api.form(form_id)
            except SourceError as err:
                found[form_id] = err
                continue
            found[form_id] = _headers(form, _questions(form), [])
    return found


# -- questions and answers -----------------------------------------------------------------------


def _questions(form: dict[str, Any]) -> list[Question]:
    """The form's questions in form order; a grid gives one question per row."""
    out = []
    for item in form.get("items", []):
        title = str(item.get("title", ""))
        if "questionItem" in item:
            question = item["questionItem"].get("question", {})
            if question.get("questionId"):
                out.append(_question(question, title))
        elif "questionGroupItem" in item:
            group = item["questionGroupItem"]
            columns = group.get("grid", {}).get("columns", {})
            for question in group.get("questions", []):
                row = question.get("rowQuestion", {}).get("title", "")
                kind = "checkbox" if columns.get("type") == "CHECKBOX" else "choice"
                options = tuple(str(o.get("value", "")) for o in columns.get("options", []))
                if question.get("questionId"):
                    out.append(Question(question["questionId"], f"{title} [{row}]", kind, options))
    return out


def _question(question: dict[str, Any], title: str) -> Question:
    qid = question["questionId"]
    if "choiceQuestion" in question:
        choice = question["choiceQuestion"]
        options = tuple(str(o["value"]) for o in choice.get("options", []) if "value" in o)
        kind = "checkbox" if choice.get("type") == "CHECKBOX" else "choice"
        return Question(qid, title, kind, options)
    for name, kind in (("textQuestion", "text"), ("dateQuestion", "date"),
                       ("timeQuestion", "time"), ("scaleQuestion", "scale"),
                       ("ratingQuestion", "scale"), ("fileUploadQuestion", "file")):
        if name in question:
            return Question(qid, title, kind)
    return Question(qid, title, "other")


def _collects_emails(form: dict[str, Any], responses: list[dict[str, Any]]) -> bool:
    setting = form.get("settings", {}).get("emailCollectionType")
    return setting in COLLECTS_EMAILS or any(r.get("respondentEmail") for r in responses)


def _headers(form: dict[str, Any], questions: list[Question],
             responses: list[dict[str, Any]]) -> tuple[str, ...]:
    titles = ["Timestamp"] + (["Email Address"] if _collects_emails(form, responses) else [])
    return unique_headers(titles + [q.title for q in questions])


def _table(form_id: str, form: dict[str, Any], responses: list[dict[str, Any]],
           titles: dict[str, str], zone: ZoneInfo) -> Table:
    questions = _questions(form)
    asked = {q.id for q in questions}
    # Answers to questions since removed from the form keep a column, as in a linked Sheet.
    removed = sorted({qid for r in responses for qid in r.get("answers", {}) if qid not in asked})
    questions += [Question(qid, titles.get(qid) or f"Question {qid}", "other") for qid in removed]
    email = _collects_emails(form, responses)
    def first_submitted(response: dict[str, Any]) -> tuple[dt.datetime, str]:
        when = response.get("createTime") or response.get("lastSubmittedTime") or ""
        return _instant(when, form_id), str(response.get("responseId", ""))

    rows = []
    for number, response in enumerate(sorted(responses, key=first_submitted), start=2):
        submitted = response.get("lastSubmittedTime")
        values: list[Value] = [_local(submitted, zone, form_id) if submitted else None]
        if email:
            values.append(response.get("respondentEmail", ""))
        answers = response.get("answers", {})
        values.extend(_answer(q, answers.get(q.id)) for q in questions)
        while values and values[-1] in ("", None):
            values.pop()
        created = response.get("createTime")
        rows.append(Row(number, tuple(values), key=response.get("responseId"),
                        created=_local(created, zone, form_id) if created else None))
    titles_row = ["Timestamp"] + (["Email Address"] if email else []) + [q.title for q in questions]
    return Table(f"form/{form_id}", unique_headers(titles_row), tuple(rows), zone)


def _answer(question: Question, answer: dict[str, Any] | None) -> Value:
    """One answer as the linked Sheet's cell shows it."""
    if not answer:
        return ""
    if "fileUploadAnswers" in answer:
        files = answer["fileUploadAnswers"].get("answers", [])
        return ", ".join(f"https://drive.google.com/open?id={f['fileId']}"
                         for f in files if f.get("fileId"))
    texts = [str(a.get("value", "")) for a in answer.get("textAnswers", {}).get("answers", [])]
    if question.kind == "checkbox":
        rank = {option: i for i, option in enumerate(question.options)}
        texts = sorted(texts, key=lambda t: rank.get(t, len(rank)))  # "Other" text last
        return ", ".join(texts)
    text = ", ".join(texts)
    if question.kind == "date" and (m := _DATE.fullmatch(text)):
        year, month, day, hour, minute = m.groups()
        try:
            if hour is None:
                return dt.date(int(year), int(month), int(day))
            return dt.datetime(int(year), int(month), int(day), int(hour), int(minute))
        except ValueError:
            return text
    if question.kind == "scale" and text.isdigit():
        return int(text)
    return text


def _instant(text: str, form_id: str) -> dt.datetime:
    """An RFC 3339 time ("2020-03-06T02:04:11.123456789Z") as an aware datetime."""
    try:
        moment = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", str(text).strip()))
    except ValueError:
        raise SourceError(f"form/{form_id}: Google Forms sent a time that cannot be read: "
                          f"{str(text)[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _local(text: str, zone: ZoneInfo, form_id: str) -> dt.datetime:
    """A submission time as the department's wall clock, to the second (as Sheets shows it)."""
    return _instant(text, form_id).astimezone(zone).replace(tzinfo=None, microsecond=0)


def _latest(responses: Iterable[dict[str, Any]], form_id: str) -> str | None:
    times = [r["lastSubmittedTime"] for r in responses if r.get("lastSubmittedTime")]
    return max(times, key=lambda t: _instant(t, form_id)) if times else None


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the API -------------------------------------------------------------------------------------


class _FormsApi(googlehttp.GoogleApi):
    """The Forms API v1: `forms.get` and `forms.responses.list`."""

    service = "Google Forms"

    def __init__(self, google: Google, stats: dict[str, int] | None) -> None:
        super().__init__(google, SCOPES, stats)
        self.root = google.forms_endpoint.rstrip("/") + "/v1/forms/"
        self.stats.setdefault("forms", 0)
        self.stats.setdefault("responses", 0)

    def __enter__(self) -> _FormsApi:
        return self

    def pause(self, seconds: float) -> None:
        _sleep(seconds)

    def jitter(self) -> float:
        return _random()

    def no_access(self, where: str, status: int, why: str) -> SourceError:
        what = "refused access to" if status == 403 else "found no"
        form_id = where.removeprefix("form/")
        return SourceError(
            f"{where}: Google Forms {what} form {form_id} ({why}); the form must exist "
            f"and be shared with {self.who} (in the form editor: More > Add collaborators)"
        )

    def form(self, form_id: str) -> dict[str, Any]:
        """The form: its settings and items (forms.get)."""
        self.stats["forms"] += 1
        return self.get(f"form/{form_id}", self.root + quote(form_id, safe=""), [])

    def responses(self, form_id: str, since: dt.datetime | None) -> list[dict[str, Any]]:
        """Every response (forms.responses.list), or those submitted at or after `since`."""
        url = self.root + quote(form_id, safe="") + "/responses"
        params = [("pageSize", str(PAGE_SIZE))]
        if since is not None:
            params.append(("filter", f"timestamp >= {_rfc3339(since)}"))
        out: list[dict[str, Any]] = []
        token = None
        seen_tokens: set[str] = set()
        while True:
            page = self.get(f"form/{form_id}", url, params + ([("pageToken", token)] if token else []))
            out.extend(r for r in page.get("responses", []) if isinstance(r, dict))
            token = page.get("nextPageToken")
            if not token:
                break
            if token in seen_tokens:
                raise SourceError(f"form/{form_id}: Google Forms sent the same page token twice")
            seen_tokens.add(token)
        self.stats["responses"] += len(out)
        return out
