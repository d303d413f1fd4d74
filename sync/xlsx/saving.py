"""Saving a workbook safely: a temporary file, then an atomic replace, with the previous
version kept as a backup and the file readable by its owner only.

`saving` hands out a `Book` (`sync.xlsx.writer`), or for a big workbook a `BackgroundBook`
whose cells a second process writes (`sync.xlsx.background`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sync.errors import WorkbookHeldError
from sync.state import files
from sync.xlsx.background import BackgroundBook
from sync.xlsx.sheet import Sheet
from sync.xlsx.writer import Book, cannot_write

log = logging.getLogger(__name__)


def write_workbook(path: Path, sheets: Iterable[Sheet], backups: int = 0,
                   before_replace: Callable[[Path], None] | None = None,
                   scratch: Path | None = None, if_changed: bool = False) -> bool:
    """Write `sheets` to `path` atomically (owner-only), keeping `backups` older versions.

    `before_replace(tmp)` runs once the new file is complete and before it replaces the old
    one (the sync records the new file's digest there); if it raises, nothing is replaced.
    Temporary files go in `scratch` (the output folder's private one, `sync.state.scratch`).
    With `if_changed`, a workbook whose content is the file's already (`same_content`) is
    neither written nor backed up. Returns whether `path` was written.
    """
    with saving(path, backups, before_replace, scratch=scratch, if_changed=if_changed) as book:
        for sheet in sheets:
            book.add(sheet)
    return not book.unchanged


# Parts of a workbook that change with every save whatever it holds: the creation time.
_VOLATILE_PARTS = frozenset({"docProps/core.xml"})


def same_content(new: Path, old: Path) -> bool:
    """Whether the workbooks `new` and `old` hold the same sheets, styles and settings: every
    part of the .xlsx file but its creation time, compared uncompressed (the zip's own bytes
    carry timestamps). False when `old` is missing or not a workbook this could read."""
    try:
        with zipfile.ZipFile(old) as a, zipfile.ZipFile(new) as b:
            names = set(a.namelist())
            if names != set(b.namelist()):
                return False
            return all(a.read(n) == b.read(n) for n in sorted(names - _VOLATILE_PARTS))
    except (OSError, zipfile.BadZipFile):
        return False


@contextmanager
def saving(path: Path, backups: int = 0, before_replace: Callable[[Path], None] | None = None,
           background: bool = False, scratch: Path | None = None,
           if_changed: bool = False) -> Iterator[Book]:
    """A `Book` whose sheets, once the block ends without error, replace `path` atomically
    (owner-only, `backups` older versions kept); `before_replace(tmp)` runs just before.
    With `background`, a second process writes the cells (see sync.xlsx.background). The temporary
    files go in `scratch` (default: beside `path`), on the same disk as `path`. With
    `if_changed`, a book that holds what `path` holds already leaves it (and its backups) as
    they are, and its `unchanged` is True."""
    path = Path(path)
    if not if_changed:  # else only once it is known to change: an open file is fine as it is
        files.refuse_if_open(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    where = scratch if scratch is not None else path.parent
    tmp = _temporary(path, where)
    book: Book | None = None
    try:
        book = _new_book(tmp, path, background)
        yield book
        try:
            book.close()
            unchanged = if_changed and same_content(tmp, path)
        except OSError as err:
            raise cannot_write(path, err) from None
        if unchanged:
            book.unchanged = True
            log.info("%s: unchanged, left as it was", path.name)
            return
        _put_in_place(tmp, path, where, backups, before_replace, if_changed)
    finally:
        if book is not None:
            book.abort()
        files.discard(tmp)


def _temporary(path: Path, where: Path) -> Path:
    """A new, empty, owner-only file in `where` to write `path`'s next version into."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.tmp", dir=where)
        os.close(fd)
        os.chmod(tmp_name, 0o600)
    except OSError as err:
        raise cannot_write(path, err) from None
    return Path(tmp_name)


def _new_book(tmp: Path, path: Path, background: bool) -> Book:
    if background:
        try:
            return BackgroundBook(tmp, path)
        except OSError as err:  # no second process to be had: write it here, more slowly
            log.warning("%s: writing without a helper process (%s)", path.name, err)
    return Book(tmp, path)


def _put_in_place(tmp: Path, path: Path, where: Path, backups: int,
                  before_replace: Callable[[Path], None] | None, if_changed: bool) -> None:
    """Replace `path` by the written `tmp`, the old version kept in backups/ first."""
    kept = None
    try:
        if if_changed:
            files.refuse_if_open(path)
        with open(tmp, "r+b") as fh:  # Windows flushes only a file open for writing
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace(tmp)
        if backups and path.exists():
            kept = _backup(path, where)
        try:
            files.replace(tmp, path)
        except PermissionError:
            raise WorkbookHeldError(
                f"{path}: cannot replace the workbook: it is open in another program or "
                "read-only; close it and run again (the previous version is unchanged)",
                [path]) from None
    except OSError as err:
        raise cannot_write(path, err) from None
    if kept is not None:
        _rotate(kept.parent, path, backups)


def _backup(path: Path, scratch: Path) -> Path:
    """Copy `path` into backups/ (whole, or not at all); returns the copy."""
    folder = path.parent / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{path.stem}-{stamp}{path.suffix}"
    partial = scratch / f".{target.name}.part"  # a full disk never leaves half a backup
    shutil.copy2(path, partial)
    os.chmod(partial, 0o600)
    files.replace(partial, target)
    return target


def _rotate(folder: Path, path: Path, keep: int) -> None:
    """Remove all but the newest `keep` backups of `path` (best effort: `files.remove_old`)."""
    files.remove_old(sorted(folder.glob(f"{path.stem}-*{path.suffix}"))[:-keep])
