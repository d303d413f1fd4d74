"""The one private folder for a run's temporary files: `<output>/.tmp`, owner-only.

Workbooks are written to a temporary file and then moved into place; XlsxWriter keeps each
worksheet's rows in temporary files while it streams them; a state backup is copied before
it is named. All of that goes here, and nowhere else. A run killed half-way, or a disk that
fills up, can leave files behind holding every vacation-check row, so the folder is emptied
when a run takes the output folder's lock and again when it lets go (`sync.state.lock`), and
`purge --apply` leaves nothing in it. A file another program still holds (an antivirus scan
on Windows) is tried again for a moment (`sync.state.files`), then left for the next run, which
empties the folder again.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from sync.state import files

log = logging.getLogger(__name__)

NAME = ".tmp"
# what earlier versions left beside the workbooks: XlsxWriter's row files and half-written
# workbooks; the output folder and its own folders (rosters/, routes/) are swept of them
_LEGACY = re.compile(r"tmp[a-z0-9_]{8}|\..+\.xlsx\.tmp")


def folder(output: Path) -> Path:
    """The output folder's private temporary folder, made owner-only if it is new."""
    path = Path(output) / NAME
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "nt":
        os.chmod(path, 0o700)
    return path


def clear(output: Path) -> int:
    """Remove everything in the temporary folder; returns how many entries were removed.
    Best effort: what cannot be removed now is logged (by name) and left for the next run."""
    output = Path(output)
    path = output / NAME
    entries = list(path.iterdir()) if path.is_dir() else []
    for folder in [output] + [p for p in output.iterdir() if p.is_dir() and p.name != NAME]:
        entries += [p for p in folder.iterdir() if _LEGACY.fullmatch(p.name) and p.is_file()]
    removed = 0
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif not files.delete(entry):
                continue
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("%s: cannot remove a temporary file (%s); the next run tries again",
                        entry.name, err.strerror or err)
    return removed
