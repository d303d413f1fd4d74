"""One run at a time: a second run exits 3 with a clear message; a killed run's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sync.state.lock import HOLDER_NAME, LOCK_NAME, run_lock
from sync.state.logfile import log_path
from tests.conftest import REPO, Site

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sync.state.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(120)
""")


def hold(folder: Path) -> subprocess.Popen:
    """Start a process that takes the lock and keeps it; return once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def tpd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sync", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(os.name == "nt", reason="uses POSIX signals")
def test_second_run_exits_3_and_names_the_holder(site: Site):
    holder = hold(site.out)
    try:
        done = tpd("run", "--config", str(site.config_path))
        assert done.returncode == 3, done.stderr
        assert "another run is in progress" in done.stderr
        assert f"pid {holder.pid}" in done.stderr
        assert "this run did nothing" in done.stderr
        assert done.stdout == ""
        assert not site.master.exists()
        assert "run not started: another run holds the lock" in log_path(site.out).read_text()
        # The other writing commands wait their turn the same way.
        assert tpd("sync", "--config", str(site.config_path)).returncode == 3
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(os.name == "nt", reason="uses POSIX signals")
def test_a_killed_runs_lock_is_taken_over(site: Site):
    holder = hold(site.out)
    os.kill(holder.pid, signal.SIGKILL)  # a crash: no cleanup runs, the lock file stays
    holder.wait()
    assert (site.out / LOCK_NAME).exists()
    who = site.out / ".tmp" / HOLDER_NAME  # the holder's details, beside the lock file
    assert f"pid {holder.pid}" in who.read_text()
    done = tpd("run", "--config", str(site.config_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert site.master.exists()
    assert not who.exists()  # cleared with the run's other temporary files


def test_the_lock_is_reentrant_within_one_run(tmp_path: Path):
    """`run` holds the lock and calls the sync, which takes it too: that must not deadlock."""
    with run_lock(tmp_path), run_lock(tmp_path):
        pass
    with run_lock(tmp_path):  # and it was released
        pass
