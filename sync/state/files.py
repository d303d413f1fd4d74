"""Files another program may hold open: replacing, deleting, and telling who has one open.

On Windows a file another program has open usually cannot be replaced, deleted or opened
for writing (Linux and macOS let all of these through): Excel locks the workbooks it has
open, a viewer holds an .eml or an old backup, and an antivirus scan holds a new file for a
moment after it is written. So every replace and delete of the toolkit goes through
`replace` and `delete`, which try again after short pauses (`PAUSES`: three seconds in all,
which outlasts a scan) while the file is held (PermissionError: Windows' sharing violation),
then let the error through for the caller to name the file. Commands that write or delete
many files (rosters, route sheets, the outbox, purge) go on with the others and end with one
`HeldError` naming every file still held (`held_error`).

Whether a workbook is open: Excel leaves a hidden owner file beside it (`~$master.xlsx`),
LibreOffice a lock file (`.~lock.master.xlsx#`), and both name the user. A program that
crashed leaves its owner file behind, so the file is only a hint: a workbook that is really
open is locked, and cannot be opened for writing (`held_open`). Where nothing locks files
(Linux, macOS) an owner file therefore never stops a run.

`O_BINARY` goes into every `os.open`: without it Windows opens the file in text mode and
writes each LF as CR LF, so an .eml's CRLF line ends would become CR CR LF.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sync.errors import HeldError, WorkbookHeldError

log = logging.getLogger(__name__)

O_BINARY: int = getattr(os, "O_BINARY", 0)  # 0 where there is no text mode
PAUSES: tuple[float, ...] = (0.02, 0.05, 0.1, 0.25, 0.5, 0.5, 0.5, 0.5, 0.58)  # 3 s in all
sleep: Callable[[float], None] = time.sleep  # the tests count the pauses instead
OWNER_FILES = ("~${name}", ".~lock.{name}#")  # Excel's, LibreOffice's
_NAME_MAX = 100

T = TypeVar("T")


def _patiently(action: Callable[[], T]) -> T:
    for pause in PAUSES:
        try:
            return action()
        except PermissionError:  # held for now, perhaps: a scan
            sleep(pause)
    return action()


def replace(src: Path, dst: Path) -> None:
    """`os.replace`, tried again for a few seconds while either file is held."""
    _patiently(lambda: os.replace(src, dst))


def delete(path: Path) -> bool:
    """Delete `path`, tried again for a few seconds while it is held; False if it was not
    there."""

    def unlink() -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    return _patiently(unlink)


def discard(path: Path, what: str = "a temporary file") -> None:
    """Delete `path` if it can be; one still held is logged by name and left for the next
    run (the run lock empties the private temporary folder)."""
    try:
        delete(path)
    except OSError as err:
        log.warning("%s: cannot remove %s (%s); the next run tries again", path.name, what,
                    err.strerror or err)


def remove_old(paths: Sequence[Path], what: str = "an old backup") -> None:
    """Delete `paths`, best effort: one another program holds open stays, logged by name,
    and a later run removes it. Nothing fails for an old copy someone is looking at."""
    for path in paths:
        try:
            delete(path)
        except OSError as err:
            log.warning("%s: cannot remove %s (%s); a later run tries again", path.name, what,
                        err.strerror or err)


def held_error(paths: Sequence[Path], outcome: str, command: str) -> HeldError:
    """One error naming every file still held; `outcome` says what became of the others."""
    them = "it" if len(paths) == 1 else "them"
    return HeldError(f"{', '.join(_described(p) for p in paths)}: open in another program (Excel, a "
                     f"viewer?) or read-only; close {them} and run `{command}` again "
                     f"({outcome})", paths)


# -- whether a workbook is open, and by whom --------------------------------------------------


def held_open(path: Path) -> bool:
    """Whether a program holds `path` open and locked, as Excel locks the workbooks it has
    open on Windows: it cannot be opened for writing. False for a missing file."""
    try:
        with open(path, "r+b"):
            return False
    except PermissionError:
        return True
    except OSError:
        return False


def refuse_if_open(path: Path) -> None:
    """WorkbookHeldError if a spreadsheet program has workbook `path` open, naming the user
    its owner file records. An owner file beside a workbook that is not locked was left by a
    program that stopped: it is logged, and ignored."""
    for owner in owner_files(path):
        user = who_has_open(owner)
        by = f" by {user}" if user else ""
        if held_open(path):
            raise WorkbookHeldError(
                f"{path}: the workbook is open in another program{by} ({owner.name} exists); "
                "close it and run again (the previous version is unchanged)", [path])
        log.warning("%s: says %s is open%s, but it is not locked: left behind by a program "
                    "that stopped, so it is ignored (delete it if no one has the workbook "
                    "open)", owner.name, path.name, by)


def _described(path: Path) -> str:
    """`path`, with the user its owner file names, if any."""
    for owner in owner_files(path):
        user = who_has_open(owner)
        if user:
            return f"{path} (open by {user})"
    return str(path)


def owner_files(path: Path) -> list[Path]:
    """The owner files beside workbook `path` that exist (Excel's, LibreOffice's)."""
    found = [path.parent / pattern.format(name=path.name) for pattern in OWNER_FILES]
    return [owner for owner in found if owner.is_file()]


def who_has_open(owner: Path) -> str | None:
    """The user an owner file names, or None if it names none that can be read."""
    try:
        with open(owner, "rb") as fh:
            data = fh.read(1024)
    except OSError:
        return None
    return owner_name(owner.name, data)


def owner_name(file_name: str, data: bytes) -> str | None:
    """The user named in owner file `file_name` holding `data`; None for any other bytes.

    Excel (165 bytes): byte 0 is the name's length (at most 52), then the name in the PC's
    8-bit code page, spaces up to byte 55 (Word: zeros up to 54), the length again as two
    bytes, then the name in UTF-16-LE (whole in any script). LibreOffice: text fields
    "full name,user,host,time,profile;" with "\\" escaping "," and ";".
    """
    if file_name.startswith("~$"):
        return _excel_owner(data)
    return _libreoffice_owner(data)


def _excel_owner(data: bytes) -> str | None:
    n = data[0] if data else 0
    if not 0 < n <= 52:
        return None
    for at in (55, 54):  # Excel and PowerPoint, Word
        end = at + 2 + 2 * n
        if len(data) >= end and int.from_bytes(data[at:at + 2], "little") == n:
            name = _clean(data[at + 2:end].decode("utf-16-le", "replace"))
            if name:
                return name
    return _clean(data[1:1 + n].decode("cp1252", "replace"))


def _libreoffice_owner(data: bytes) -> str | None:
    fields, field, escaped = [], [], False
    for ch in data[:1024].decode("utf-8", "replace"):
        if escaped:
            field.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",;":
            fields.append("".join(field))
            field = []
            if ch == ";" or len(fields) == 2:
                break
        else:
            field.append(ch)
    for candidate in fields[:2]:  # the full name, else the account's
        name = _clean(candidate)
        if name:
            return name
    return None


def _clean(text: str) -> str | None:
    """Printable text only, at most _NAME_MAX characters; None if nothing is left."""
    text = "".join(c for c in text if c.isprintable())[:_NAME_MAX].strip()
    return text or None
