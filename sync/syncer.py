"""The sync: read every source, validate, deduplicate and write the master workbook."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sync.config import Config
from sync.programs import PROGRAMS
from sync.responses import read_responses

log = logging.getLogger(__name__)


@dataclass
class ProgramCounts:
    read: int = 0


@dataclass
class SyncSummary:
    counts: dict[str, ProgramCounts] = field(default_factory=dict)

    def render(self) -> str:
        lines = []
        for key, c in self.counts.items():
            lines.append(f"{PROGRAMS[key].name}: {c.read} responses read")
        return "\n".join(lines)


def sync(config: Config, keys: list[str]) -> SyncSummary:
    summary = SyncSummary()
    for key, responses in read_responses(config, keys).items():
        summary.counts[key] = ProgramCounts(read=len(responses))
        log.info("%s: %d responses read", key, len(responses))
    return summary
