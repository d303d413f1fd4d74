"""The feature interface: how a part of the toolkit plugs into the master workbook.

The sync (`sync.master.syncer`) and the master's assembly (`sync.master.assemble`) walk the list in
`sync.features` and call these hooks on each feature, in the list's order; they never name a
feature. Every hook has a do-nothing default, so a feature overrides only what it needs:

- `recover`: finish what an interrupted run of the feature left (a purge stopped halfway),
  before anything else; `rewrite` writes the master from the state alone.
- `collect`: copy what staff typed into the feature's own workbooks (attendance ticks, check
  results) into the state, before the sync decides whether anything changed.
- `tables` and `meta`: the state tables and meta keys the feature feeds into the master; a
  change there rewrites the master even when no source changed.
- `amend`: change a program's freshly built records before they are written (keep purged
  requests purged, take evidence of confirmations sent).
- `columns`: computed columns on a program's sheet.
- `sheets`: sheets after the program sheets (the Check Log).
- `first_titles` and `first_sheets`: sheets placed before the program sheets but written last,
  when every program's figures are known (the Summary).

A new feature is a class with these hooks in its own module, and one line in
`sync.features.FEATURES`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from sync.config import Config
    from sync.master.layout import ToolColumn
    from sync.master.records import ProgramResult
    from sync.master.restore import Settling
    from sync.state.store import Store
    from sync.xlsx.sheet import Sheet

# writes the master from the state alone: (store, config, path of the master)
Rewrite = Callable[["Store", "Config", Path], None]


class Feature(Protocol):
    """A feature of the master workbook; subclass it and override the hooks you need."""

    tables: ClassVar[tuple[str, ...]] = ()
    meta: ClassVar[tuple[str, ...]] = ()

    def recover(self, store: Store, config: Config, rewrite: Rewrite) -> None:
        return None

    def collect(self, store: Store, config: Config) -> None:
        return None

    def amend(self, store: Store, config: Config, key: str, result: ProgramResult,
              started: dt.datetime, settling: Settling | None) -> None:
        return None

    def columns(self, store: Store, config: Config, key: str,
                records: dict[str, dict[str, Any]]) -> list[ToolColumn]:
        return []

    def sheets(self, store: Store, config: Config) -> list[Sheet]:
        return []

    def first_titles(self, config: Config) -> list[str]:
        return []

    def first_sheets(self, store: Store, config: Config, today: dt.date,
                     results: dict[str, ProgramResult]) -> list[Sheet]:
        return []
