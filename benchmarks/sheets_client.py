"""The Sheets source's client against the loopback Google fake: requests per read, time per read.

    python -m benchmarks.sheets_client [--rows N] [--repeat K]

Two spreadsheets (three tabs) of `--rows` synthetic responses each are read `--repeat`
times with `sync.sources.google.read_spreadsheets`; it prints the Sheets requests per read
(retries included), and the median and best time of a read. The fake answers in the shape
of the recorded traffic (tests/fake_google.py), over real HTTP on 127.0.0.1, so the time is
the client's own work (requests, JSON, building the tables) plus the fake's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from sync.sources.google import read_spreadsheets
from tests.fake_google import FakeGoogle

HEADER = ["Timestamp", "Email Address", "First Name", "Last Name", "Phone", "Street", "City",
          "ZIP", "Leaving", "Returning", "Emergency contact", "Notes"]


def rows(n: int) -> list[list[object]]:
    start = dt.datetime(2020, 1, 1, 9, 0)
    return [HEADER] + [[start + dt.timedelta(minutes=i), f"person{i}@example.com", f"First{i}",
                        f"Last{i}", 3105550000 + i, f"{i} Main St", "Torrance", 90503,
                        dt.date(2020, 6, 1), dt.date(2020, 6, 9), f"Contact {i}",
                        "Lights on a timer; the dog stays with a neighbour."] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with FakeGoogle() as fake, tempfile.TemporaryDirectory() as folder:
        data = rows(args.rows)
        fake.add_spreadsheet("1PipAndTapResponses000", tabs={"PIP": data, "TAP": data})
        fake.add_spreadsheet("1VacationChecks0000000", tabs={"Form Responses 1": data})
        settings = fake.settings(fake.write_key(Path(folder)))
        wanted = [("1PipAndTapResponses000", "PIP"), ("1PipAndTapResponses000", "TAP"),
                  ("1VacationChecks0000000", "Form Responses 1")]
        times, requests = [], []
        for _ in range(args.repeat):
            before = len(fake.sheets_requests)
            began = time.perf_counter()
            tables = read_spreadsheets(wanted, settings)
            times.append(time.perf_counter() - began)
            requests.append(len(fake.sheets_requests) - before)
            assert all(len(t.rows) == args.rows for t in tables.values())
    print(f"{args.rows} rows x 3 tabs in 2 spreadsheets: {statistics.median(requests):g} Sheets "
          f"requests per read; median {statistics.median(times):.3f} s, best {min(times):.3f} s "
          f"over {args.repeat} reads")


if __name__ == "__main__":
    main()
