"""The master written by a second process: the same workbook, and failures that leave the
previous master intact."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import config as config_mod
from sync.errors import WorkbookError
from sync.master import syncer
from sync.xlsx.saving import saving
from sync.xlsx.sheet import Chart, Column, Formula, Sheet
from tests.helpers import cells


def _sheet(n: int) -> Sheet:
    """`n` rows of every kind of value, generated lazily, every seventh row red."""
    def rows():
        for i in range(n):
            yield [f"R-{i:05d}", dt.datetime(2020, 3, 1, 10, 0) + dt.timedelta(hours=i),
                   dt.date(2020, 1, 1) + dt.timedelta(days=i % 300), i * 1.5, i % 3 == 0,
                   "=HYPERLINK(\"x\")" if i == 5 else f"note\nline {i}", None,
                   Formula(f"=A{i + 2}", f"R-{i:05d}")]
    columns = [Column("ID"), Column("When", "datetime"), Column("Day", "date"), Column("N", "number"),
               Column("Flag"), Column("Note", wrap=True), Column("Empty"), Column("Formula")]
    return Sheet("Data", columns, rows(), row_fill=lambda r: "red" if int(r[0][2:]) % 7 == 0 else None)


def _read(path: Path) -> tuple[dict, dict, dict]:
    wb = load_workbook(path)
    try:
        ws = wb["Data"]
        values = {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
        fills = [c.fill.fgColor.rgb for c in ws["A"]]
        widths = {k: round(d.width, 1) for k, d in ws.column_dimensions.items()}
        return values, {"fills": fills, "sheets": wb.sheetnames}, widths
    finally:
        wb.close()


def test_the_worker_writes_what_this_process_would(tmp_path):
    for name, background in (("here.xlsx", False), ("worker.xlsx", True)):
        with saving(tmp_path / name, background=background) as book:
            book.reserve("Summary")  # first in order, filled last
            book.add(_sheet(2_500))  # more rows than one message, and than the width sample
            book.add(Sheet("Summary", [Column("Total", "int")], [[2_500]]))
    here, worker = _read(tmp_path / "here.xlsx"), _read(tmp_path / "worker.xlsx")
    assert worker == here
    values, meta, _ = worker
    assert meta["sheets"] == ["Summary", "Data"] and values["Summary"] == [("Total",), (2_500,)]
    assert len(values["Data"]) == 2_501 and values["Data"][6][5] == "=HYPERLINK(\"x\")"
    assert meta["fills"][1].endswith("FFC7CE") and not meta["fills"][2].endswith("FFC7CE")
    assert os.stat(tmp_path / "worker.xlsx").st_mode & 0o777 == 0o600


def _previous(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "master.xlsx"
    with saving(path) as book:
        book.add(Sheet("Data", [Column("ID")], [["before"]]))
    return path, path.read_bytes()


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_an_error_in_the_worker_is_reported_and_nothing_replaced(tmp_path):
    path, before = _previous(tmp_path)
    bad = Sheet("Data", [Column("ID")], [["x"]], charts=[Chart("pie", "Pie", "", (1,))])
    with pytest.raises(WorkbookError, match="unknown kind 'pie'"), \
            saving(path, background=True) as book:
        book.add(bad)
    assert path.read_bytes() == before and not _leftovers(tmp_path)


def _kill_the_worker_half_way(path: Path) -> None:
    with saving(path, background=True) as book:
        book.add(_sheet(500))
        os.kill(book._proc.pid, signal.SIGKILL)
        book._proc.wait(10)
        book.add(_sheet(500))


def test_a_killed_worker_is_reported_and_nothing_replaced(tmp_path):
    path, before = _previous(tmp_path)
    with pytest.raises(WorkbookError, match="writer stopped unexpectedly.*previous version is unchanged"):
        _kill_the_worker_half_way(path)
    assert path.read_bytes() == before and not _leftovers(tmp_path)


def _fail_half_way(path: Path, workers: list) -> None:
    with saving(path, background=True) as book:
        book.add(_sheet(100))
        workers.append(book._proc)
        raise ZeroDivisionError  # the sync failing half-way


def test_a_failing_sync_stops_the_worker_and_leaves_the_master(tmp_path):
    path, before = _previous(tmp_path)
    workers: list = []
    with pytest.raises(ZeroDivisionError):
        _fail_half_way(path, workers)
    assert workers[0].poll() is not None  # stopped, not left running
    assert path.read_bytes() == before and not _leftovers(tmp_path)


def test_a_sync_through_the_worker_matches_one_without(example_site, monkeypatch):
    folders = {}
    for background in (False, True):
        folder = example_site.parent.parent / f"site-{background}" / "config"
        shutil.copytree(example_site.parent, folder)  # its output folder is beside it
        monkeypatch.setattr(syncer, "BACKGROUND_ROWS", 0 if background else 10**9)
        summary = syncer.sync(config_mod.load(folder / example_site.name))
        assert (summary.writer_peak_mb > 0) == background
        folders[background] = cells(summary.master)
    here, worker = folders[False], folders[True]
    assert list(worker) == list(here)
    for title in here:
        if title != "Sync Log":  # its times differ
            assert worker[title] == here[title], title
    assert len(worker["Sync Log"]) == len(here["Sync Log"])


def test_without_a_helper_process_the_workbook_is_written_here(tmp_path, monkeypatch, caplog):
    def no_processes(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("sync.xlsx.background.subprocess.Popen", no_processes)
    with saving(tmp_path / "master.xlsx", background=True) as book:
        book.add(_sheet(10))
    assert len(_read(tmp_path / "master.xlsx")[0]["Data"]) == 11
    assert "without a helper process" in caplog.text
