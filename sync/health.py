"""`check`: is everything in place for a run? Each line says what is OK or what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.config import Config
from sync.errors import SyncError
from sync.responses import map_table, read_tables


@dataclass
class CheckReport:
    lines: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, detail)

    def add(self, what: str, ok: bool, detail: str) -> None:
        self.lines.append((what, ok, detail))

    @property
    def ok(self) -> bool:
        return all(ok for _what, ok, _detail in self.lines)

    def render(self) -> str:
        width = max((len(w) for w, _ok, _d in self.lines), default=10)
        rows = [f"{'OK ' if ok else 'FIX'}  {what:<{width}}  {detail}" for what, ok, detail in self.lines]
        verdict = "All checks passed." if self.ok else "Some checks need attention (FIX lines above)."
        return "\n".join([*rows, verdict])


def check(config: Config, keys: list[str]) -> CheckReport:
    report = CheckReport()
    report.add("configuration", True, str(config.path))
    for key in keys:
        program = config.program(key)
        what = f"{key} source"
        try:
            table = read_tables(config, [key])[key]
            responses = map_table(table, program)
        except SyncError as err:
            report.add(what, False, str(err))
            continue
        report.add(what, True, f"{program.source.label}: {len(responses)} responses, "
                   f"all {len(program.questions)} mapped questions found")
    return report
