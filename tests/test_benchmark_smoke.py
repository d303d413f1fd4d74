"""scripts/benchmark.py end to end at a tiny size: every step runs and is reported.

Not a timing test: the numbers are whatever this machine gives; what is checked is that each
measured step ran in its own process, was measured, and shows up in the printed table.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "benchmark.py"
SYNC_STEPS = ("full", "nochange", "onepct")
TABLE_LINES = ("1 full sync (", "2 no-change re-sync", "3 re-sync, 1% new (",
               "5 baseline: openpyxl write-only", "6 XlsxWriter constant_memory",
               "7.1 rosters", "7.2 confirmations", "7.3 routes")


def run_benchmark(tmp_path, *options: str) -> tuple[str, dict]:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", "300", "--classes", "2", "--json", str(out),
         "--keep", str(tmp_path / "work"), *options],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_every_step_is_measured_through_the_sheets_fake(tmp_path):
    stdout, result = run_benchmark(tmp_path)
    for line in (*TABLE_LINES, "4 full sync, double (600 responses)"):
        assert line in stdout, f"{line!r} missing from:\n{stdout}"
    assert "all targets met:" in stdout
    assert "ratios with the serving counted: full " in stdout  # the fake's share shown both ways
    steps = result["steps"]
    assert result["responses"] == 300 and result["by_program"] == {"pip": 150, "tap": 60, "vsc": 90}
    for name in (*SYNC_STEPS, "double", "openpyxl", "xlsxwriter", "rosters", "confirmations",
                 "routes"):
        assert steps[name]["seconds"] > 0, name
        assert steps[name]["peak_mb"] > 10, name  # a Python process's resident size, in MB
    # each sync read the three spreadsheets through the fake; the other commands read none
    for name in (*SYNC_STEPS, "double"):
        assert steps[name]["requests"] >= 3, name
    assert all(steps[c]["requests"] == 0 for c in ("rosters", "confirmations", "routes"))
    assert steps["nochange"]["unchanged"] is True
    assert steps["full"]["unchanged"] is False
    counts = steps["full"]["counts"]
    assert sum(c["read"] for c in counts.values()) == 300
    assert sum(c["merged"] for c in counts.values()) > 0  # the repeat submissions
    assert sum(c["review"] for c in counts.values()) > 0  # the bad rows
    added = steps["onepct"]["added"]
    assert added >= 3
    assert sum(c["read"] for c in steps["onepct"]["counts"].values()) == 300 + added
    # the baseline wrote as many cells as the master has
    master_cells = sum(rows * cols for _title, rows, cols in result["master_sheets"])
    assert steps["openpyxl"]["cells"] == master_cells > 300


def test_export_files_source(tmp_path):
    stdout, result = run_benchmark(tmp_path, "--source", "files", "--no-double")
    for line in TABLE_LINES:
        assert line in stdout, f"{line!r} missing from:\n{stdout}"
    steps = result["steps"]
    assert "double" not in steps
    assert sum(c["read"] for c in steps["full"]["counts"].values()) == 300
    assert steps["nochange"]["unchanged"] is True
    assert all("requests" not in steps[name] for name in SYNC_STEPS)
