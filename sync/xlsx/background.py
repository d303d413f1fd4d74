"""Writing a big workbook in a second process while this one goes on computing.

Turning a 50,000-row master's cells into XML takes XlsxWriter one core for most of the
sync's writing time. `BackgroundBook` has the same interface as `writer.Book` and hands
each sheet to a worker process running a `Book` (`python -m sync.xlsx.background`: a plain
subprocess fed through a pipe, no fork, never re-running the caller's script). `add`
returns as soon as the rows are queued, so the sync builds the next program's records while
the worker writes the last one's rows. If either side stops, the temporary file is removed
and the master is untouched.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sync.errors import WorkbookError
from sync.xlsx.sheet import Sheet
from sync.xlsx.writer import Book

CHUNK = 1000  # rows per message
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_LENGTH = struct.Struct("<Q")  # each message: its length, then the pickled message


class BackgroundBook:
    """A `Book` whose cells are written by a worker process."""

    unchanged = False  # as `Book.unchanged`

    def __init__(self, tmp: Path, path: Path):
        self.path = path
        self.helper_peak_kb = 0
        package_parent = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)}
        self._stderr = tempfile.TemporaryFile(dir=tmp.parent)  # the run's private folder
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "sync.xlsx.background", str(tmp), str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        # Messages wait here, already pickled (compact), for the feeder thread: a slow
        # worker never holds up the sync, which is the point.
        self._queue: collections.deque[bytes | None] = collections.deque()
        self._ready = threading.Condition()
        self._broken = False
        self._feeder = threading.Thread(target=self._feed, name="workbook feeder", daemon=True)
        self._feeder.start()

    # -- the Book interface -----------------------------------------------------------------

    def reserve(self, title: str) -> None:
        self._put(("reserve", title))

    def add(self, sheet: Sheet) -> None:
        fill = sheet.row_fill
        self._put(("sheet", dataclasses.replace(sheet, rows=(), row_fill=None), fill is not None))
        chunk: list[Any] = []
        for values in sheet.rows:
            chunk.append((fill(values), values) if fill is not None else values)
            if len(chunk) >= CHUNK:
                self._put(("rows", chunk))
                chunk = []
        self._put(("rows", chunk))
        self._put(("end",))

    def close(self) -> None:
        self._put(("close",))
        self._put(None)  # the feeder sends everything before this, then closes the pipe
        self._feeder.join()
        self.helper_peak_kb = self._receive()[1]

    def abort(self) -> None:
        with self._ready:
            self._queue.clear()
            self._queue.append(None)
            self._ready.notify()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=30)
        self._feeder.join(timeout=30)
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe to a stopped worker is broken
                    stream.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _put(self, message: tuple[Any, ...] | None) -> None:
        if self._broken or self._proc.poll() is not None:
            self._receive()  # raises the worker's error
        data = None if message is None else pickle.dumps(message, _PROTOCOL)
        with self._ready:
            self._queue.append(data)
            self._ready.notify()

    def _feed(self) -> None:
        pipe = self._proc.stdin
        assert pipe is not None
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                data = self._queue.popleft()
            try:
                if data is None:
                    pipe.close()
                    return
                pipe.write(_LENGTH.pack(len(data)) + data)
                pipe.flush()  # a small last message must not wait for the next one
            except (OSError, ValueError):  # the worker is gone; its answer says why
                self._broken = True
                return

    def _receive(self) -> tuple[Any, ...]:
        """The worker's answer: ("closed", peak kB), or its error raised here."""
        assert self._proc.stdout is not None
        reply = _read(self._proc.stdout)
        if reply is None:
            self._proc.wait(timeout=30)
            self._stderr.seek(0)
            last = self._stderr.read().decode(errors="replace").strip().splitlines()[-1:]
            raise WorkbookError(f"{self.path}: the workbook writer stopped unexpectedly (exit "
                                f"code {self._proc.returncode}{': ' + last[0] if last else ''}); "
                                "the previous version is unchanged")
        if reply[0] == "error":
            raise WorkbookError(reply[1])
        return reply


def _read(stream: IO[bytes]) -> Any:
    """The next message on `stream`, or None at its end."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    return pickle.loads(data) if len(data) == size else None


def _write(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, _PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


# -- the worker process ---------------------------------------------------------------------


def serve(incoming: IO[bytes], reply: IO[bytes], tmp: str, path: str) -> None:
    """The worker: build the workbook from `incoming` messages, answer on `reply`."""
    try:
        book = Book(Path(tmp), Path(path))
        while (message := _read(incoming)) is not None:
            if message[0] == "reserve":
                book.reserve(message[1])
            elif message[0] == "sheet":
                book.add(_incoming_sheet(incoming, message[1], filled=message[2]))
            elif message[0] == "close":
                book.close()
                _write(reply, ("closed", _peak_kb()))
                return
        # the sync stopped before closing: there is nothing to finish
    except EOFError:
        return  # the sync stopped half-way through a sheet
    except WorkbookError as err:
        _write(reply, ("error", str(err)))
    except Exception as err:  # the sync reports it; this process just ends
        _write(reply, ("error", f"{path}: the workbook writer failed ({type(err).__name__}: "
                                f"{err}); the previous version is unchanged"))


def _incoming_sheet(incoming: Any, sheet: Sheet, filled: bool) -> Sheet:
    """`sheet` with the rows that follow it on `incoming` (and their fills)."""
    if not filled:
        return dataclasses.replace(sheet, rows=_rows(incoming, None))
    fills: dict[int, str | None] = {}
    return dataclasses.replace(sheet, rows=_rows(incoming, fills),
                               row_fill=lambda values: fills.pop(id(values), None))


def _rows(incoming: Any, fills: dict[int, str | None] | None) -> Iterator[Any]:
    """A sheet's rows as they arrive; each row's fill (if the sheet has them) is kept in
    `fills` under the row's id until the writer asks for it."""
    while True:
        message = _read(incoming)
        if message is None:
            raise EOFError("the sync stopped sending rows")
        if message[0] == "end":
            return
        for item in message[1]:
            if fills is None:
                yield item
            else:
                fills[id(item[1])] = item[0]
                yield item[1]


def _peak_kb() -> int:
    """This process's peak memory in kB: VmHWM where Linux has it (the resource module's
    figure would include the memory of the process that started this one)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer, sys.argv[1], sys.argv[2])
