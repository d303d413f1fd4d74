"""Make the README's pictures from the README's first command: docs/images/summary.png and
route-sheet.png.

    python scripts/make_readme_images.py

Copies config/ into a temporary folder and runs there the very `tpd-programs` command the
README's first code block runs on the example (`run --config config/example.toml --as-of
...`, read from README.md, so the two cannot drift apart). Then prints with LibreOffice
(soffice) to PDF the master workbook, whose first page is the Summary sheet, and the route
workbook of the busiest day that run wrote, and turns the first page of each into a PNG with
pdftoppm (poppler-utils). Nothing is written outside the temporary folder except the two
pictures.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROGRAM = "tpd-programs"


def readme_command(readme: Path = REPO / "README.md") -> list[str]:
    """The arguments the README's first command gives `tpd-programs` (after its name)."""
    text = readme.read_text(encoding="utf-8")
    block = re.search(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    if block is None:
        raise SystemExit(f"{readme}: no ```sh block")
    first = block.group(1).splitlines()[0]
    for step in first.split("&&"):
        words = shlex.split(step)
        if words and Path(words[0]).name == PROGRAM:
            return words[1:]
    raise SystemExit(f"{readme}: the first command does not run {PROGRAM}")


def run_readme_command(root: Path) -> Path:
    """Copy config/ to `root` and run the README's first command there; the output folder."""
    shutil.copytree(REPO / "config", root / "config")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "sync", *readme_command()], cwd=root, env=env,
                   check=True, timeout=600)
    return root / "out"


def to_pdf(path: Path, outdir: Path) -> Path:
    """Print `path` to PDF with LibreOffice headless."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        sys.exit("LibreOffice (soffice) is needed: install it and run again")
    subprocess.run([exe, f"-env:UserInstallation={(outdir / 'lo-profile').as_uri()}",
                    "--headless", "--norestore", "--convert-to", "pdf", "--outdir", str(outdir),
                    str(path)], check=True, capture_output=True, timeout=300)
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


def ink_bottom(pdf: Path, page: int = 1, dpi: int = 30) -> float:
    """How far down page `page` of `pdf` its lowest mark (text, a line, a picture such as a QR
    code) reaches above the footer, in inches: rendered as a plain PPM image by pdftoppm."""
    done = subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page),
                           str(pdf)], check=True, capture_output=True, timeout=120)
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+\d+\s", done.stdout)
    if header is None:
        raise SystemExit(f"{pdf}: pdftoppm gave no image")
    width, height = int(header.group(1)), int(header.group(2))
    pixels = done.stdout[header.end():]
    body = int(height * 0.9)  # not the "Page 1 of 2" footer
    inked = [y for y in range(body) if min(pixels[y * width:(y + 1) * width]) < 200]
    return (max(inked) + 1 if inked else body) / dpi


def busiest_route_file(out: Path) -> Path:
    """The route workbook with the most stops among those the run wrote."""
    sys.path.insert(0, str(REPO))
    from sync.vacation.checklog import read_route_file, route_files

    files = route_files(out)
    if not files:
        raise SystemExit(f"{out}: the README's command wrote no route sheets")
    return max(files, key=lambda p: (len(read_route_file(p)[1]), -files.index(p)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images",
                        help="folder for the PNG files (default: docs/images)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tpd-readme-") as tmp:
        root = Path(tmp)
        out = run_readme_command(root)
        to_png(to_pdf(out / "master.xlsx", root), args.out / "summary.png")
        # the first beat of the busiest day, down to the last thing printed for it, larger
        route = to_pdf(busiest_route_file(out), root)
        to_png(route, args.out / "route-sheet.png", dpi=150,
               top_inches=min(ink_bottom(route) + 0.4, 8.5))
    for name in ("summary.png", "route-sheet.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
