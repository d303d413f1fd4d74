"""After the state was restored from an older backup: the Record IDs the master's rows show
for the records made again (see `sync.master.records`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.config.programs import PROGRAMS
from sync.ingest import dedupe
from sync.ingest.validate import Candidate
from sync.master import layout, sheetinput


def claims(adopted: Mapping[str, sheetinput.AdoptedRow]) -> dict[Any, list[str]]:
    """Source ref or first submission -> the adopted rows' record IDs that show it."""
    claims: dict[Any, list[str]] = {}
    for rid, row in adopted.items():
        first = row.tool.get(layout.FIRST)
        for ref in row.sources + ([first] if first is not None else []):
            claims.setdefault(ref, []).append(rid)
    return claims


def claim(key: str, real: list[Candidate], claims: Mapping[Any, list[str]],
           adopted: Mapping[str, sheetinput.AdoptedRow], claimed: set[str]) -> str | None:
    """The Record ID a master row shows for a new record made of `real` (see the module's
    docstring), or None."""
    for c in real:
        for rid in claims.get(c.response.ref, []) + claims.get(layout.comparable(c.first), []):
            if rid in claimed:
                continue
            cells = adopted[rid].tool  # as text: only the names are compared
            shown = {f.name: str(cells[f.label]) for f in PROGRAMS[key].fields
                     if cells.get(f.label) is not None}
            if dedupe.same_name(dedupe.person(key, shown), dedupe.person(key, c.values)):
                return rid
    return None
