"""One run at a time: an exclusive lock on a file in the output folder.

The operating system releases the lock when the process ends, however it ends, so a
crashed run never blocks the next one; the file also records who holds it, for the message.
Whoever holds the lock owns the folder's temporary files (`sync.scratch`): they are cleared
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

from sync import scratch
from sync.errors import LockedError

log = logging.getLogger(__name__)

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


LOCK_NAME = ".tpd-programs.lock"
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            holder = path.read_text(errors="replace").strip() or "another run"
            raise LockedError(
                f"{path}: another run is in progress ({holder}); this run did nothing. "
                "If no other run is active, the lock frees itself when that process ends."
            )
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
        _HELD[held] = 1
        try:
            left = scratch.clear(folder)  # a killed or failed run's temporary files
            if left:
                log.info("removed %d temporary file(s) left by an earlier run", left)
            yield
        finally:
            del _HELD[held]
            scratch.clear(folder)  # none outlives the run, whatever ended it
            _unlock(fd)
    finally:
        os.close(fd)
