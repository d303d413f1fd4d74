"""Shared test fixtures: a small configuration with real export files in a temporary folder."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests import configs

REPO = Path(__file__).resolve().parents[1]

# Application Default Credentials that find nothing else ask the Compute Engine metadata
# server (a link-local address): no test may. google-auth reads these when it first imports
# its compute_engine module, which no test module imports before this runs.
os.environ["NO_GCE_CHECK"] = "true"
os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"

pytest_plugins = ["tests.fake_google", "tests.windows"]  # fixtures: fake_google, windows_like

PIP_HEADER = ("Timestamp,Email Address,First Name,Last Name,Date of Birth,Phone,"
              "Connection to Torrance,Organization\n")

PIP_CONFIG = configs.toml(configs.PIP)


class Site:
    """A configuration folder in tmp_path with helpers to change its sources."""

    def __init__(self, root: Path, config_text: str = PIP_CONFIG):
        self.root = root
        self.config_path = root / "programs.toml"
        self.config_path.write_text(textwrap.dedent(config_text))
        self.pip_rows: list[str] = []

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def master(self) -> Path:
        return self.out / "master.xlsx"

    def write_pip(self, rows: list[str], header: str = PIP_HEADER) -> None:
        self.pip_rows = list(rows)
        (self.root / "pip.csv").write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")

    def config(self):
        from sync import config

        return config.load(self.config_path)


def temporary_files(output: Path) -> list[Path]:
    """Files a run left that only a run in progress should have: anything in the private
    temporary folder, or named like a temporary file anywhere under the output folder."""
    return sorted(p for p in output.rglob("*") if p.is_file() and (
        ".tmp" in p.relative_to(output).parts or p.name.endswith((".tmp", ".part"))
        or p.name.startswith("tmp")))


@pytest.fixture
def restore_logging():
    """`cli.main` sets up logging on the root logger: undo it after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    s = Site(tmp_path)
    s.write_pip([
        '3/1/2020 10:00:00,ann@example.com,Ann,Smith,1/2/1980,(310) 555-0101,I live in Torrance,',
        '3/1/2020 11:00:00,bob@example.com,Bob,Jones,4/5/1975,310-555-0102,I work in Torrance,Rotary',
        '3/2/2020 09:30:00,cy@example.com,Cy,Lee,7/8/1990,310 555 0103,I live in Torrance,',
    ])
    return s


@pytest.fixture
def example_site(tmp_path: Path) -> Path:
    """A copy of the bundled example configuration and exports; returns the config path."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path / "config" / "example.toml"


def soffice_to_pdf(path: Path, outdir: Path) -> Path:
    """Open `path` in LibreOffice headless and convert it to PDF; fail if it cannot."""
    return soffice_to_pdfs([path], outdir)[0]


def soffice_to_pdfs(paths: list[Path], outdir: Path) -> list[Path]:
    """Convert every workbook in `paths` (distinct file names) to PDF in one LibreOffice start,
    which takes longer than most conversions; fail if one cannot be opened."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("TPD_REQUIRE_LIBREOFFICE"):
            pytest.fail("LibreOffice (soffice) is required here but not installed")
        pytest.skip("LibreOffice is not installed")
    outdir.mkdir(parents=True, exist_ok=True)
    profile = outdir / "lo-profile"
    result = subprocess.run(
        [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(outdir), *map(str, paths)],
        capture_output=True, text=True, timeout=180 * len(paths), check=False,
    )
    assert len({p.stem for p in paths}) == len(paths), "two workbooks would make one PDF"
    pdfs = [outdir / (path.stem + ".pdf") for path in paths]
    for path, pdf in zip(paths, pdfs, strict=True):
        assert result.returncode == 0 and pdf.exists() and pdf.stat().st_size > 0, (
            f"LibreOffice could not open {path.name}: {result.stdout} {result.stderr}")
    return pdfs


def fill_disk(folder: Path) -> Path:
    """Fill the disk `folder` is on (a small tmpfs from `mount`) with one file; returns it."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * free)
        except OSError:  # full: that is the point
            pass
    return filler


@pytest.fixture
def mount(tmp_path):
    """Mount a small tmpfs (a real full disk, a real read-only folder); skipped where this
    process may not mount (not root)."""
    mounted: list[Path] = []

    def do(where: Path, *options: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                              capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield do
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)
