"""The code passes the linter configured in pyproject.toml (ruff, explicit rule selection)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(REPO / ".venv" / "bin")) or shutil.which("ruff")
    command = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    result = subprocess.run([*command, "check", "--no-cache", "sync", "tests", "scripts", "benchmarks"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_tracked_file_names_a_folder_outside_the_checkout():
    """Guards that a fresh clone works anywhere: no tracked file may point at a machine's own
    folders (a virtual environment or a checkout elsewhere). Deployment examples name the
    install folder they document (/opt/tpd-programs), which is not a dependency."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    pattern = re.compile(rb"(?:^|[^A-Za-z0-9_.~-])/(?:work|root|home|farm|Users)/")
    found = []
    for name in listed.stdout.decode().split("\0"):
        path = REPO / name
        if not name or not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{name}:{number}")
    assert found == []
