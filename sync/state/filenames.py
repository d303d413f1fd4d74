"""File names made from names staff choose in the configuration, and names that must differ.

A class's roster workbook is `<program>-<class id>.xlsx` (`class_file_name`), with each run of
characters a file name should not hold (anything but letters, digits, ".", "_" and "-") made
one "-". So "2020 spring" and "2020-spring" name one file everywhere, and because Windows file
systems ignore case, "2020-Spring" and "2020-spring" name one file there: the second class's
roster would replace the first's, and the attendance ticked in it be read as the other
class's. Excel's sheet titles ignore case too, and each vacation-check beat is a sheet of the
route workbook. `first_clash` finds the first two names that would be one, so that the
configuration refuses them, naming both keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def class_file_name(program_key: str, class_id: str) -> str:
    """The file name of a class's roster workbook: `pip-2020-spring.xlsx`."""
    return f"{program_key}-{_SAFE_NAME.sub('-', class_id).strip('-.') or 'class'}.xlsx"


def first_clash(names: Iterable[str]) -> tuple[int, int] | None:
    """The positions of the first two `names` that are equal when case is ignored (as Windows
    file names and Excel sheet titles are compared), or None."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        folded = name.strip().casefold()
        if folded in seen:
            return seen[folded], position
        seen[folded] = position
    return None
