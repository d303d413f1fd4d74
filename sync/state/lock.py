"""One run at a time: an exclusive lock on a file in the output folder.

The operating system releases the lock when the process ends, however it ends, so a
crashed run never blocks the next one. Who holds it (process, computer, since when) is
written to a second file, in the run's private temporary folder, for the message a second
run gives: on Windows the lock is enforced, so the locked file itself cannot even be read
by another process, and a holder whose details cannot be read is just "another run".
`filelock` would lock the same way (msvcrt, flock) but records no holder, so it would
save nothing here.

Whoever holds the lock owns the folder's temporary files (`sync.state.scratch`): they are cleared
when the lock is taken and when it is let go.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sync.errors import LockedError
from sync.state import files, scratch

log = logging.getLogger(__name__)

try:
    import msvcrt
except ImportError:  # not Windows
    msvcrt = None  # type: ignore[assignment]
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def _windows_try_lock(fd: int) -> bool:
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # byte 0: the file is opened at its start
        return True
    except OSError:
        return False


def _windows_unlock(fd: int) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _posix_try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _posix_unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


if os.name == "nt":  # pragma: no cover - Windows; tests/windows.py simulates it
    _try_lock, _unlock = _windows_try_lock, _windows_unlock
else:
    _try_lock, _unlock = _posix_try_lock, _posix_unlock


LOCK_NAME = ".tpd-programs.lock"
HOLDER_NAME = "lock-holder.txt"  # in the private temporary folder
_HELD: dict[str, int] = {}  # folders this process holds, so `run` can call the sync inside


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the output folder's lock for the duration; LockedError if another run has it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    held = str(path.resolve())
    if held in _HELD:  # already ours: a step of `run` that locks on its own
        _HELD[held] += 1
        try:
            yield
        finally:
            _HELD[held] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | files.O_BINARY, 0o600)
    try:
        if not _try_lock(fd):
            raise LockedError(
                f"{path}: another run is in progress ({_holder(folder)}); this run did "
                "nothing. If no other run is active, the lock frees itself when that process "
                "ends."
            )
        _HELD[held] = 1
        try:
            left = scratch.clear(folder)  # a killed or failed run's temporary files
            if left:
                log.info("removed %d temporary file(s) left by an earlier run", left)
            _write_holder(folder)
            yield
        finally:
            del _HELD[held]
            scratch.clear(folder)  # none outlives the run, whatever ended it
            _unlock(fd)
    finally:
        os.close(fd)


def _write_holder(folder: Path) -> None:
    """Record who holds the lock, for a second run's message (best effort)."""
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    text = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n"
    try:
        fd = os.open(scratch.folder(folder) / HOLDER_NAME,
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC | files.O_BINARY, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as err:
        log.warning("%s: cannot record who holds the lock (%s)", HOLDER_NAME, err.strerror or err)


def _holder(folder: Path) -> str:
    """Who holds the lock, as its holder recorded it; "another run" if that cannot be read
    (not written yet, or held open on Windows)."""
    try:
        with open(Path(folder) / scratch.NAME / HOLDER_NAME, "rb") as fh:
            text = fh.read(200).decode("utf-8", "replace")
    except OSError:
        return "another run"
    return "".join(c for c in text.strip() if c.isprintable()) or "another run"
