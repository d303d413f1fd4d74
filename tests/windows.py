"""What Windows does differently with files, simulated on Linux for the tests.

Nothing here runs Windows, so the calls that behave differently there are patched
(`WindowsLike`, or the `windows_like` fixture):

- `os.fsync` refuses a descriptor not opened for writing ("Bad file descriptor"), as
  Windows' FlushFileBuffers needs write access;
- a file another program holds open (`hold`: Excel, a viewer, an antivirus scan for a few
  tries) cannot be replaced, renamed, deleted or opened for writing: PermissionError, as
  Windows' sharing violation (WinError 32);
- `msvcrt.locking` byte-range locks are enforced: while one handle holds a lock, opening
  the file elsewhere to read it fails with PermissionError (Windows fails the read; the
  simulation fails the open, a little earlier). The fake `msvcrt` (`FakeMsvcrt`) takes
  Linux's open-file-description locks, which, as Windows' locks, belong to one open of the
  file and are seen by every other open, in this process and in others; `sync.state.lock` is
  switched to its Windows functions with it. A subprocess can install the same simulation
  (`WindowsLike(pytest.MonkeyPatch())`), so that two runs lock as two Windows processes do;
- `os.open` without O_BINARY opens in text mode: each "\\n" that `os.write` writes becomes
  "\\r\\n" (the C runtime's translation), so `O_BINARY` is given a value here.

Pauses between the toolkit's retries (`sync.state.files`) are recorded in `pauses`, not slept.
"""

from __future__ import annotations

import errno
import io
import os
import struct
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows itself: these tests do not run there
    fcntl = None  # type: ignore[assignment]

SHARING_VIOLATION = "The process cannot access the file because it is being used by another process"
LOCK_VIOLATION = ("The process cannot access the file because another process has locked a "
                  "portion of the file")
O_BINARY = 0x8000  # its value on Windows
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND
_FLOCK = "hhqqi4x"  # struct flock: type, whence, start, length, pid (Linux, 64-bit)


def _ofd_lock(fd: int, kind: int, start: int, length: int, test: bool = False) -> int:
    """Set (or with `test`, look for a lock that conflicts with) an open-file-description
    lock; returns the conflicting lock's type when testing (F_UNLCK: none)."""
    cmd = fcntl.F_OFD_GETLK if test else fcntl.F_OFD_SETLK
    answer = fcntl.fcntl(fd, cmd, struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0))
    return struct.unpack(_FLOCK, answer)[0]


class FakeMsvcrt:
    """`msvcrt.locking` with Windows' semantics, on Linux: a lock from the current position
    that every other open of the file sees, released by LK_UNLCK or by closing."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        start = os.lseek(fd, 0, os.SEEK_CUR)
        kind = fcntl.F_UNLCK if mode == self.LK_UNLCK else fcntl.F_WRLCK
        try:
            _ofd_lock(fd, kind, start, nbytes)
        except OSError:
            raise OSError(errno.EACCES, "Permission denied") from None


class WindowsLike:
    """Install the simulation with `monkeypatch` (undone when it is)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        from sync.state import files, lock

        self.held: dict[str, int | None] = {}  # path -> refusals left (None: until released)
        self.refused: list[str] = []  # every path refused because it was held, in order
        self.unreadable: set[str] = set()
        self.pauses: list[float] = []
        self._text_fds: set[int] = set()
        real = {name: getattr(os, name) for name in
                ("fsync", "replace", "rename", "unlink", "remove", "open", "write", "close")}
        self._real, self._real_open = real, io.open
        patch = monkeypatch.setattr
        patch(os, "fsync", self._fsync)
        for name in ("replace", "rename"):
            patch(os, name, self._moving(real[name]))
        for name in ("unlink", "remove"):
            patch(os, name, self._deleting(real[name]))
        patch(os, "open", self._os_open)
        patch(os, "write", self._os_write)
        patch(os, "close", self._os_close)
        patch(os, "O_BINARY", O_BINARY, raising=False)
        patch(files, "O_BINARY", O_BINARY)
        patch(files, "sleep", self.pauses.append)
        patch(io, "open", self._open)
        patch("builtins.open", self._open)
        patch(lock, "msvcrt", FakeMsvcrt())
        patch(lock, "_try_lock", lock._windows_try_lock)
        patch(lock, "_unlock", lock._windows_unlock)

    # -- what the tests do ----------------------------------------------------------------

    def hold(self, path: Path, times: int | None = None) -> None:
        """Another program opens `path` (for the next `times` tries only: a scan)."""
        self.held[_key(path)] = times

    def release(self, path: Path) -> None:
        self.held.pop(_key(path), None)

    def refusals(self, path: Path) -> int:
        return self.refused.count(_key(path))

    # -- the patched calls ----------------------------------------------------------------

    def _refuse_if_held(self, *paths: object) -> None:
        for path in paths:
            if isinstance(path, int) or path is None:
                continue
            key = _key(path)
            if key not in self.held:
                continue
            left = self.held[key]
            if left is not None:
                if left <= 1:
                    del self.held[key]
                else:
                    self.held[key] = left - 1
            self.refused.append(key)
            names = [os.fspath(p) for p in paths if p is not None and not isinstance(p, int)]
            raise PermissionError(errno.EACCES, SHARING_VIOLATION, names[0], None,
                                  names[1] if len(names) > 1 else None)

    def _fsync(self, fd: int) -> None:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        self._real["fsync"](fd)

    def _moving(self, real):
        def move(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
            if src_dir_fd is None and dst_dir_fd is None:
                self._refuse_if_held(src, dst)
            return real(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        return move

    def _deleting(self, real):
        def delete(path, *, dir_fd=None):
            if dir_fd is None:
                self._refuse_if_held(path)
            return real(path, dir_fd=dir_fd)
        return delete

    def _os_open(self, path, flags, mode=0o777, *, dir_fd=None):
        if dir_fd is None and flags & _WRITE_FLAGS:
            self._refuse_if_held(path)
        fd = self._real["open"](path, flags & ~O_BINARY, mode, dir_fd=dir_fd)
        if not flags & O_BINARY:
            self._text_fds.add(fd)
        else:
            self._text_fds.discard(fd)
        return fd

    def _os_write(self, fd: int, data) -> int:
        if fd in self._text_fds:  # the C runtime's text mode
            self._real["write"](fd, bytes(data).replace(b"\n", b"\r\n"))
            return len(data)
        return self._real["write"](fd, data)

    def _os_close(self, fd: int) -> None:
        self._text_fds.discard(fd)
        self._real["close"](fd)

    def _open(self, file, mode="r", *args, **kwargs):
        if isinstance(file, int):
            return self._real_open(file, mode, *args, **kwargs)
        if any(c in mode for c in "wax+"):
            self._refuse_if_held(file)
        if _key(file) in self.unreadable:
            raise PermissionError(errno.EACCES, LOCK_VIOLATION, os.fspath(file))
        opened = self._real_open(file, mode, *args, **kwargs)
        if "r" in mode or "+" in mode:
            try:
                locked = _ofd_lock(opened.fileno(), fcntl.F_RDLCK, 0, 0, test=True)
            except OSError:
                locked = fcntl.F_UNLCK
            if locked != fcntl.F_UNLCK:  # another handle holds a byte-range lock on it
                opened.close()
                raise PermissionError(errno.EACCES, LOCK_VIOLATION, os.fspath(file))
        return opened


def _key(path: object) -> str:
    return os.path.abspath(os.fspath(path))  # type: ignore[arg-type]


# for the tests that use the simulation: it needs Linux (fcntl), and Windows itself none
simulated = pytest.mark.skipif(os.name == "nt", reason="simulates Windows' file locking on "
                               "Linux (fcntl, patched file calls)")


@pytest.fixture
def windows_like(monkeypatch: pytest.MonkeyPatch) -> WindowsLike:
    """File calls behaving as on Windows (see the module docstring) for one test."""
    if fcntl is None:  # pragma: no cover - tests marked `simulated` are skipped there
        pytest.skip("the Windows simulation needs Linux")
    return WindowsLike(monkeypatch)


def excel_owner_file(user: str) -> bytes:
    """An Excel owner file (`~$name.xlsx`) as Excel writes it: 165 bytes; the user name's
    length in byte 0, the name in the 8-bit code page, spaces up to byte 55, the length
    again as two bytes, then the name in UTF-16-LE, then spaces and zeros."""
    name = user[:52]
    data = bytes([len(name)]) + name.encode("cp1252", "replace")
    data = data.ljust(55, b" ") + len(name).to_bytes(2, "little") + name.encode("utf-16-le")
    return data.ljust(165, b" ")


def libreoffice_lock_file(full_name: str, user: str = "staff", host: str = "FRONT-DESK-PC") -> bytes:
    """A LibreOffice lock file (`.~lock.name.xlsx#`): full name, system user, host, time,
    profile, comma-separated and ended by ";" (as LibreOffice 7 writes it)."""
    return f"{full_name},{user},{host},01.12.2026 08:21,file:///C:/profile;".encode()
