"""A program's `source` table: a Google Sheet tab, a Google Form or a local export.

A spreadsheet or form may be given by its key or by any of its URLs; the key is what is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sync.config.tomltable import TableReader
from sync.errors import ConfigError

_SHEET_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_SHEET_KEY = re.compile(r"^[A-Za-z0-9_-]{10,}$")
_FORM_URL = re.compile(r"/forms/(?:u/\d+/)?d/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Source:
    """Where one program's responses come from: a Google Sheet tab, a Google Form (read
    through the Forms API) or a local export."""

    spreadsheet: str | None = None  # the spreadsheet key (a URL is reduced to its key)
    worksheet: str = "Form Responses 1"
    file: Path | None = None
    form: str | None = None  # the form ID (an edit URL is reduced to its ID)

    @property
    def label(self) -> str:
        if self.file is not None:
            return self.file.name
        if self.form is not None:
            return f"form/{self.form}"
        return f"{self.spreadsheet}/{self.worksheet}"


def spreadsheet_key(value: str) -> str | None:
    """The key of a spreadsheet given its key or any of its URLs."""
    found = _SHEET_URL.search(value)
    if found:
        return found.group(1)
    value = value.strip()
    return value if _SHEET_KEY.match(value) else None


def form_id(value: str) -> str | None:
    """The ID of a form given its ID or its edit (or /viewform) URL."""
    found = _FORM_URL.search(value)
    if found and found.group(1) != "e":
        return found.group(1)
    value = value.strip()
    return value if _SHEET_KEY.match(value) else None


def read_source(r: TableReader) -> Source:
    r.only({"spreadsheet", "worksheet", "file", "form"})
    given = [k for k in ("spreadsheet", "file", "form") if k in r.table]
    if len(given) != 1:
        also = f" (found {' and '.join(given)})" if given else ""
        raise ConfigError(
            f"{r.path}: {r.where}: give exactly one of spreadsheet (a Google Sheet), "
            f"form (a Google Form, read through the Forms API) or file (a downloaded "
            f".csv/.xlsx export){also}"
        )
    if "form" in r.table:
        if "worksheet" in r.table:
            raise r.fail("worksheet", "only for a spreadsheet source; a form has no tabs")
        raw = r.text("form")
        if "/forms/d/e/" in raw or "forms.gle" in raw:
            raise r.fail("form", "that is the link respondents use, which does not name the "
                         "form; paste the address of the form's edit page instead "
                         "(https://docs.google.com/forms/d/<form ID>/edit)")
        found = form_id(raw)
        if found is None:
            raise r.fail("form", f"not a form ID or edit URL: {raw!r}")
        return Source(form=found)
    if "file" in r.table:
        path = r.path_value("file")
        if path.suffix.lower() not in (".csv", ".xlsx"):
            raise r.fail("file", f"must be a .csv or .xlsx export, got {path.name!r}")
        return Source(file=path)
    raw = r.text("spreadsheet")
    key = spreadsheet_key(raw)
    if key is None:
        raise r.fail("spreadsheet", f"not a spreadsheet key or URL: {raw!r}")
    return Source(spreadsheet=key, worksheet=r.text("worksheet", "Form Responses 1"))
