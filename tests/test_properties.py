"""Property-based tests of the sync invariants over generated form rows."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from sync.master import syncer
from tests.conftest import Site

FIRST = ["Ann", "ann", "ANN", "Anne", "Bob", "Robert", "Bill", "William", "José", "Li", ""]
LAST = ["Smith", "smith", "Smyth", "Jones", "O'Brien", "Nguyen", "", "=cmd|'/C calc'!A0"]
DOB = ["1/2/1980", "01/02/1980", "1980-01-02", "2/30/1985", "6/15/2010", "", "13/45/1990"]
EMAIL = ["a@example.com", "A@EXAMPLE.COM", "b@example.com", "not-an-email", "", "c@example.org"]
PHONE = ["(310) 555-0101", "3105550101", "310.555.0102", "12", "", "+1 310 555 0199"]
AFFIL = ["I live in Torrance", "I work in Torrance", "", "Other thing",
         "I live in Torrance, I belong to a civic organization (Kiwanis, Rotary, etc.)"]
ORG = ["", "Rotary", "=1+1", "@SUM(A1)", "\u202eevil", "line\nbreak", "x" * 50]

row = st.fixed_dictionaries({
    "day": st.integers(1, 28), "minute": st.integers(0, 59),
    "email": st.sampled_from(EMAIL), "first": st.sampled_from(FIRST), "last": st.sampled_from(LAST),
    "dob": st.sampled_from(DOB), "phone": st.sampled_from(PHONE), "aff": st.sampled_from(AFFIL),
    "org": st.sampled_from(ORG),
})


def render(rows: list[dict]) -> list[str]:
    lines = []
    for i, r in enumerate(rows):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([
            f"2/{r['day']}/2020 10:{r['minute']:02d}:{i % 60:02d}", r["email"], r["first"], r["last"],
            r["dob"], r["phone"], r["aff"], r["org"]])
        lines.append(buf.getvalue()[:-1])
    return lines


def sheet(path: Path, title: str) -> list[tuple]:
    wb = load_workbook(path, read_only=True)
    try:
        rows = [tuple(r) for r in wb[title].iter_rows(values_only=True)]
        width = len(rows[0]) if rows else 0
        return [r + (None,) * (width - len(r)) for r in rows]  # read-only rows may be short
    finally:
        wb.close()


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(row, min_size=0, max_size=30))
def test_every_row_is_accounted_for_exactly_once(rows):
    with tempfile.TemporaryDirectory() as tmp:
        site = Site(Path(tmp))
        site.write_pip(render(rows))
        summary = syncer.sync(site.config())
        c = summary.counts["pip"]
        assert c["read"] == len(rows)
        assert c["read"] == c["new"] + c["updated"] + c["unchanged"] + c["merged"] + c["review"]
        records = sheet(site.master, "Partners in Policing")[1:]
        review = sheet(site.master, "Needs Review")[1:]
        refs = [s for r in records for s in r[1].split(", ")] + [f"pip:{r[2]}" for r in review]
        assert sorted(refs) == sorted(f"pip:{n}" for n in range(2, len(rows) + 2))
        assert len(records) == c["records"]


@SETTINGS
@given(st.lists(row, min_size=1, max_size=20))
def test_sync_is_idempotent(rows):
    with tempfile.TemporaryDirectory() as tmp:
        site = Site(Path(tmp))
        site.write_pip(render(rows))
        syncer.sync(site.config())
        first = {t: sheet(site.master, t) for t in ("Partners in Policing", "Needs Review",
                                                      "Possible Duplicates")}
        site.master.unlink()  # force a full rewrite from the same inputs
        syncer.sync(site.config())
        assert {t: sheet(site.master, t) for t in first} == first


@SETTINGS
@given(st.lists(st.lists(row, min_size=1, max_size=8), min_size=2, max_size=4),
       st.sampled_from(["Accepted", "Declined", "Waitlisted"]))
def test_staff_edits_survive_interleaved_responses_and_syncs(batches, status):
    with tempfile.TemporaryDirectory() as tmp:
        site = Site(Path(tmp))
        rows: list[dict] = []
        edited: dict[str, tuple[str, str]] = {}
        for n, batch in enumerate(batches):
            rows += batch
            site.write_pip(render(rows))
            syncer.sync(site.config())
            wb = load_workbook(site.master)
            ws = wb["Partners in Policing"]
            header = [c.value for c in ws[1]]
            for cells in ws.iter_rows(min_row=2):
                rid = cells[0].value
                if rid not in edited:
                    note = f"note {n} for {rid}"
                    cells[header.index("Status")].value = status
                    cells[header.index("Notes")].value = note
                    edited[rid] = (status, note)
                    break
            wb.save(site.master)
        syncer.sync(site.config())
        data = sheet(site.master, "Partners in Policing")
        header = data[0]
        shown = {r[0]: (r[header.index("Status")], r[header.index("Notes")]) for r in data[1:]}
        for rid, want in edited.items():
            assert shown[rid] == want
