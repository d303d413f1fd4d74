"""Make the README's pictures from the example data: docs/images/summary.png and route-sheet.png.

    python scripts/make_readme_images.py

Syncs the example configuration (config/example.toml) into a temporary folder, writes the
Summary sheet as of 2020-12-24 and that day's route sheets, prints both with LibreOffice
(soffice) to PDF, and turns the Summary's first page and the route sheets' last page (a
whole beat with its directions) into PNGs with pdftoppm (poppler-utils).
Nothing is written outside the temporary folder except the two pictures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2020, 12, 24)  # the example data has vacation checks and a full autumn then


def to_pdf(path: Path, outdir: Path) -> Path:
    """Print `path` to PDF with LibreOffice headless."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        sys.exit("LibreOffice (soffice) is needed: install it and run again")
    subprocess.run([exe, f"-env:UserInstallation=file://{outdir / 'lo-profile'}", "--headless",
                    "--norestore", "--convert-to", "pdf", "--outdir", str(outdir), str(path)],
                   check=True, capture_output=True, timeout=300)
    return outdir / f"{path.stem}.pdf"


def to_png(pdf: Path, target: Path, page: int = 1, dpi: int = 110,
           top_inches: float | None = None) -> None:
    """Page `page` of `pdf` as the PNG `target`; only its top `top_inches` when given."""
    if shutil.which("pdftoppm") is None:
        sys.exit("pdftoppm (poppler-utils) is needed: install it and run again")
    target.parent.mkdir(parents=True, exist_ok=True)
    crop = ["-x", "0", "-y", "0", "-W", str(11 * dpi), "-H", str(int(top_inches * dpi))] \
        if top_inches else []
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), *crop,
                    "-singlefile", str(pdf), str(target.with_suffix(""))], check=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images",
                        help="folder for the PNG files (default: docs/images)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from sync import config as config_mod
    from sync import summary
    from sync.master.syncer import STATE, sync
    from sync.state.store import Store
    from sync.vacation.routes import write_routes
    from sync.xlsx.saving import write_workbook

    with tempfile.TemporaryDirectory(prefix="tpd-readme-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "config", root / "config")
        config = config_mod.load(root / "config" / "example.toml")
        sync(config)
        routes = write_routes(config, start=DAY, days=1)
        with Store(config.output / STATE) as store:
            sheet = summary.build(store, config, DAY)
        book = root / "summary.xlsx"
        write_workbook(book, [sheet])
        to_png(to_pdf(book, root), args.out / "summary.png")
        # The last beat's page: its stops, then its Google Maps directions and QR codes
        pdf = to_pdf(routes.days[0].path, root)
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        last = int(next(line.split()[-1] for line in info.stdout.splitlines()
                        if line.startswith("Pages:")))
        to_png(pdf, args.out / "route-sheet.png", page=last, dpi=100)
    for name in ("summary.png", "route-sheet.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
