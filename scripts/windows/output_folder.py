"""Print the output folder a configuration names: where run-daily.cmd writes its log.

Usage: python output_folder.py CONFIG [--logs]

With --logs it prints `<output folder>\\logs` instead, after making that folder and making
sure `run-daily.log` can be appended to there. When the configuration cannot be read, or
the folder cannot be made or written, it prints nothing and exits 1: the wrapper then writes
its log beside itself.

Only `[output] folder` is read, with the standard library alone, resolved as the toolkit
resolves it (`~` expanded, relative to the configuration's folder, default "out"): a
configuration with a mistake elsewhere, which the toolkit refuses, still gets its log in the
output folder, where staff look; so does a broken installation of the toolkit.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

LOG_NAME = "run-daily.log"


def output_folder(config: Path) -> Path:
    with config.open("rb") as fh:
        data = tomllib.load(fh)
    output = data.get("output", {})
    folder = output.get("folder", "out") if isinstance(output, dict) else None
    if not isinstance(folder, str) or not folder.strip():
        raise ValueError("[output] folder is not a path")
    path = Path(folder).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else config.parent / path))


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--logs"]
    if len(args) != 1:
        print("usage: output_folder.py CONFIG [--logs]", file=sys.stderr)
        return 2
    try:
        folder = output_folder(Path(args[0]))
        if "--logs" in argv:
            folder = folder / "logs"
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with (folder / LOG_NAME).open("a", encoding="utf-8"):
                pass
    except (OSError, ValueError) as err:  # TOMLDecodeError is a ValueError
        reason = getattr(err, "strerror", None) or str(err)
        print(f"output_folder.py: {args[0]}: {reason}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
