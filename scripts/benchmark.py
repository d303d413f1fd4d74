#!/usr/bin/env python3
"""Measure the sync at scale, side by side with a plain openpyxl baseline.

    python scripts/benchmark.py [--size 50000] [--source sheets|files] [--profile]
                                [--json results.json] [--keep FOLDER] [--seed 2020]
                                [--classes 44] [--no-double]

Generates synthetic responses for the three programs (`--size` in all: 50% PIP, 20% TAP,
30% VSC, with ~5% repeat submissions and ~2% bad rows; see benchmarks/synth.py), serves them
through the loopback Sheets fake (tests/fake_google.py) or writes them as CSV/XLSX exports,
and measures, each step in a fresh Python process:

  1. a full sync into an empty output folder;
  2. a re-sync with nothing changed;
  3. a re-sync after 1% new responses were added;
  4. a full sync of twice as many responses (scaling);
  5. the baseline: openpyxl alone, write-only, writing as many rows and columns of plain
     values (sampled from the master step 1 wrote) as the master has;
  6. XlsxWriter (constant_memory) writing the same;
  7. `rosters`, `confirmations` and `routes` on the synced state (through `python -m sync`).

"wall s" is the time of the measured call inside the child (imports excluded) for steps 1-6
and the whole `python -m sync` process for step 7. "peak MB" is the child's maximum
resident set size. "Sheets s" is the time the fake, running in this process, spent
answering (rendering and encoding JSON): the sync waits for it like for Google, so it is
part of "wall s"; the ratio columns use wall time minus it, the sync's own work.
`--profile` also runs one more full sync under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MB = 1024  # ru_maxrss is in KiB on Linux
COMMANDS = ("rosters", "confirmations", "routes")
TARGETS = {"full": 2.0, "nochange": 1.0, "onepct": 1.2, "double": 2.3, "memory_mb": 500,
           "requests_per_sheet": 2, "command_s": 60}


# -- children (each measured step runs in its own process) -------------------------------------


def _child(kind: str, args: list[str]) -> None:
    if kind == "sync":
        from sync import config as config_mod
        from sync.master.syncer import sync

        profile_out = args[1] if len(args) > 1 else None
        started = time.perf_counter()
        if profile_out:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        summary = sync(config_mod.load(Path(args[0])))
        if profile_out:
            profiler.disable()
            profiler.dump_stats(profile_out)
        seconds = time.perf_counter() - started
        print(json.dumps({"seconds": seconds, "counts": summary.counts,
                          "unchanged": summary.unchanged, "writer_peak_mb": summary.writer_peak_mb}))
    elif kind in ("openpyxl", "xlsxwriter"):
        sheets = json.loads(Path(args[0]).read_text(), object_hook=_decode)
        write = _write_openpyxl if kind == "openpyxl" else _write_xlsxwriter
        started = time.perf_counter()
        write(Path(args[1]), sheets)
        print(json.dumps({"seconds": time.perf_counter() - started}))
    else:
        raise SystemExit(f"unknown child {kind!r}")


def _rows(sheet: dict[str, Any]):
    """The sheet's rows: the sampled rows over and over, unique strings kept unique."""
    yield sheet["header"]
    samples, unique = sheet["samples"], sheet["unique"]
    if not samples:
        return
    for i in range(sheet["rows"] - 1):
        sample = samples[i % len(samples)]
        yield [f"{v} {i}" if u and isinstance(v, str) else v
               for v, u in zip(sample, unique, strict=True)]


def _write_openpyxl(path: Path, sheets: list[dict[str, Any]]) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet["title"])
        for row in _rows(sheet):
            ws.append(row)
    wb.save(path)


def _write_xlsxwriter(path: Path, sheets: list[dict[str, Any]]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                         "default_date_format": "yyyy-mm-dd hh:mm:ss"})
    for sheet in sheets:
        ws = wb.add_worksheet(sheet["title"])
        for r, row in enumerate(_rows(sheet)):
            ws.write_row(r, 0, row)
    wb.close()


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if "$dt" in obj:
        return dt.datetime.fromisoformat(obj["$dt"])
    if "$d" in obj:
        return dt.date.fromisoformat(obj["$d"])
    return obj


def master_sheets(path: Path, sample: int = 50) -> list[dict[str, Any]]:
    """Each sheet of the master: title, size, header and up to `sample` data rows."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    out = []
    try:
        for ws in wb.worksheets:
            got = [list(r) for r in ws.iter_rows(min_row=1, max_row=sample + 1, values_only=True)]
            cols = max((len(r) for r in got), default=0)
            got = [r + [None] * (cols - len(r)) for r in got]
            header, samples = (got[0], got[1:]) if got else ([], [])
            unique = [len({s[c] for s in samples}) >= 0.8 * len(samples) if samples else False
                      for c in range(cols)]
            out.append({"title": ws.title, "rows": _last_row(ws._get_source()), "cols": cols,
                        "header": header, "unique": unique,
                        "samples": [[_encode(v) for v in s] for s in samples]})
    finally:
        wb.close()
    return out


def _last_row(source: Any) -> int:
    """The number of the last <row> in a worksheet's XML (write-only files have no dimension)."""
    last, tail = 0, b""
    with source:
        while chunk := source.read(1 << 20):
            text = tail + chunk
            found = re.findall(rb'<row r="(\d+)"', text)
            if found:
                last = int(found[-1])
            tail = text[-32:]
    return last


# -- measuring ---------------------------------------------------------------------------------


class Meter:
    """Runs children, counting Sheets requests and the fake's serving time around each."""

    def __init__(self, fake: Any | None) -> None:
        self.fake = fake

    def run(self, argv: list[str], log: Path) -> dict[str, Any]:
        before = (len(self.fake.sheets_requests), self.fake.serve_seconds) if self.fake else (0, 0.0)
        started = time.perf_counter()
        with log.open("w") as err, tempfile.TemporaryFile("w+") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - started
            out.seek(0)
            stdout = out.read()
        # cpu_s counts both processes of a sync that writes the master in the background
        result: dict[str, Any] = {"process_s": wall, "peak_mb": usage.ru_maxrss / MB,
                                  "cpu_s": usage.ru_utime + usage.ru_stime,
                                  "returncode": proc.returncode, "stdout": stdout,
                                  "load": round(os.getloadavg()[0], 2)}
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[1:4])} failed ({proc.returncode}); see {log}:\n"
                             + log.read_text()[-3000:])
        if self.fake:
            result["requests"] = len(self.fake.sheets_requests) - before[0]
            result["serve_s"] = self.fake.serve_seconds - before[1]
        last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        if last.startswith("{"):
            result.update(json.loads(last))
        if result.get("writer_peak_mb"):
            # the two processes' peaks added up: an upper bound of what they held at once
            result["sync_peak_mb"] = result["peak_mb"]
            result["peak_mb"] += result["writer_peak_mb"]
        return result

    def child(self, kind: str, *args: str, log: Path) -> dict[str, Any]:
        return self.run([sys.executable, str(Path(__file__).resolve()), "--child", kind, *args], log)


def start_fake() -> Any:
    from tests.fake_google import FakeGoogle

    class TimedFake(FakeGoogle):
        serve_seconds = 0.0

        def start(self) -> TimedFake:
            super().start()
            fake, base = self, self._server.RequestHandlerClass

            def _dispatch(handler: Any, method: str) -> None:
                started = time.perf_counter()
                try:
                    base._dispatch(handler, method)
                finally:
                    with fake._lock:
                        fake.serve_seconds += time.perf_counter() - started

            self._server.RequestHandlerClass = type("TimedHandler", (base,), {"_dispatch": _dispatch})
            return self

    return TimedFake().start()


class Site:
    """Generated responses published as Sheets (through the fake) or export files."""

    def __init__(self, folder: Path, size: int, args: argparse.Namespace, fake: Any | None) -> None:
        from benchmarks import synth

        self.folder, self.source, self.fake = folder, args.source, fake
        folder.mkdir(parents=True, exist_ok=True)
        self.gen = synth.Generator(args.seed, past=args.classes)
        rows = self.gen.generate(size)
        self.keys = {k: f"1Bench{k.title()}{size}Responses{folder.name.title()}" for k in rows}
        google = ""
        if self.source == "sheets":
            for key, sheet_key in self.keys.items():
                fake.add_spreadsheet(sheet_key, tabs={"Form Responses 1": [synth.HEADERS[key], *rows[key]]})
            sources = {k: f'spreadsheet = "{v}"\nworksheet = "Form Responses 1"'
                       for k, v in self.keys.items()}
            credentials = fake.write_key(folder)
            google = f'credentials = "{credentials.as_posix()}"\napi_endpoint = "{fake.url}"'
        else:
            paths = synth.write_exports(folder / "data", rows)
            sources = {k: f'file = "{p.as_posix()}"' for k, p in paths.items()}
        self.rows = {k: len(v) for k, v in rows.items()}
        self.config = synth.write_config(folder / "programs.toml", self.gen, sources,
                                         folder / "out", google)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def add(self, fraction: float) -> int:
        from benchmarks import synth

        added = self.gen.extend(fraction)
        if self.source == "sheets":
            for key, new in added.items():
                self.fake.spreadsheets[self.keys[key]].tab("Form Responses 1").rows.extend(
                    [list(r) for r in new])
        else:
            synth.write_exports(self.folder / "data", self.gen.rows)
        return sum(len(v) for v in added.values())


# -- the run -----------------------------------------------------------------------------------


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    fake = start_fake() if args.source == "sheets" else None
    meter = Meter(fake)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    steps: dict[str, dict[str, Any]] = {}

    def note(name: str, text: str, step: dict[str, Any] | None = None) -> None:
        if step is not None:
            text += f", peak {step['peak_mb']:.0f} MB"
            if "requests" in step:
                text += f", {step['requests']} Sheets requests, fake serving {step['serve_s']:.2f} s"
        print(f"  {name}: {text}", file=sys.stderr, flush=True)

    try:
        t = time.perf_counter()
        site = Site(work / "n", args.size, args, fake)
        note("data", f"{site.total} responses {site.rows} in {time.perf_counter() - t:.1f} s")
        steps["full"] = meter.child("sync", str(site.config), log=logs / "full.log")
        note("full sync", f"{steps['full']['seconds']:.1f} s", steps["full"])
        shapes = work / "master-sheets.json"
        sheets = master_sheets(site.folder / "out" / "master.xlsx")
        shapes.write_text(json.dumps(sheets))
        steps["nochange"] = meter.child("sync", str(site.config), log=logs / "nochange.log")
        note("no-change re-sync", f"{steps['nochange']['seconds']:.1f} s", steps["nochange"])
        added = site.add(0.01)
        steps["onepct"] = {**meter.child("sync", str(site.config), log=logs / "onepct.log"),
                           "added": added}
        note("1% new re-sync", f"{steps['onepct']['seconds']:.1f} s", steps["onepct"])
        for kind in ("openpyxl", "xlsxwriter"):
            steps[kind] = meter.child(kind, str(shapes), str(work / f"{kind}.xlsx"),
                                      log=logs / f"{kind}.log")
            steps[kind]["cells"] = sum(s["rows"] * s["cols"] for s in sheets)
            note(f"{kind} baseline", f"{steps[kind]['seconds']:.1f} s", steps[kind])
        from sync.cli import COMMANDS as AVAILABLE

        for cmd in COMMANDS:
            if cmd not in AVAILABLE:
                steps[cmd] = {"skipped": f"no `{cmd}` command yet"}
                continue
            steps[cmd] = meter.run([sys.executable, "-m", "sync", cmd, "--config", str(site.config)],
                                   logs / f"{cmd}.log")
            steps[cmd]["seconds"] = steps[cmd]["process_s"]
            note(cmd, f"{steps[cmd]['seconds']:.1f} s", steps[cmd])
        if not args.no_double:
            big = Site(work / "2n", 2 * args.size, args, fake)
            steps["double"] = meter.child("sync", str(big.config), log=logs / "double.log")
            steps["double"]["responses"] = big.total
            note("full sync at double size", f"{steps['double']['seconds']:.1f} s", steps["double"])
        if args.profile:
            prof = Site(work / "profile", args.size, args, fake)
            out = work / "full-sync.prof"
            meter.child("sync", str(prof.config), str(out), log=logs / "profile.log")
            steps["profile"] = {"file": str(out), "top": top_functions(out, 15)}
        return {"size": args.size, "responses": site.total, "by_program": site.rows,
                "source": args.source, "spreadsheets": len(site.keys), "cpus": os.cpu_count(),
                "python": sys.version.split()[0], "steps": steps,
                "master_sheets": [(s["title"], s["rows"], s["cols"]) for s in sheets]}
    finally:
        if fake is not None:
            fake.stop()


def top_functions(path: Path, count: int) -> str:
    import io
    import pstats

    text = io.StringIO()
    pstats.Stats(str(path), stream=text).sort_stats("cumulative").print_stats(count)
    return text.getvalue()


def own_seconds(step: dict[str, Any]) -> float:
    return step["seconds"] - step.get("serve_s", 0.0)


def table(result: dict[str, Any]) -> tuple[list[list[str]], bool]:
    """The report rows and whether every target was met."""
    steps = result["steps"]
    base = own_seconds(steps["openpyxl"])
    sheets_per_sync = result["spreadsheets"] if result["source"] == "sheets" else 0
    rows: list[list[str]] = []
    ok_all = True

    def add(label: str, step: dict[str, Any] | None, ratio: float | None, target: str,
            checks: list[bool]) -> None:
        nonlocal ok_all
        if step is None or "skipped" in step:
            rows.append([label, "-", "-", "-", "-", "-", target, step["skipped"] if step else "not run"])
            return
        req = step.get("requests")
        if req is not None and sheets_per_sync and label[0] in "1234":
            req_text = f"{req} ({req / sheets_per_sync:.1f}/sheet)"
        else:
            req_text = "-" if req is None else str(req)
        ok = all(checks)
        ok_all = ok_all and ok
        rows.append([label, f"{step['seconds']:.2f}", f"{step['cpu_s']:.1f}",
                     f"{step['peak_mb']:.0f}", req_text,
                     "-" if ratio is None else f"{ratio:.2f}x", target,
                     ("PASS" if ok else "FAIL") if checks else "-"])

    def sync_checks(step: dict[str, Any], ratio: float, limit: float) -> list[bool]:
        checks = [ratio <= limit, step["peak_mb"] <= TARGETS["memory_mb"]]
        if sheets_per_sync:
            checks.append(step["requests"] <= TARGETS["requests_per_sheet"] * sheets_per_sync)
        return checks

    mem = f"<= {TARGETS['memory_mb']} MB"
    req = f", <= {TARGETS['requests_per_sheet']} req/sheet" if sheets_per_sync else ""
    for key, label in (("full", f"1 full sync ({result['responses']} responses)"),
                       ("nochange", "2 no-change re-sync"),
                       ("onepct", f"3 re-sync, 1% new ({steps['onepct']['added']} rows)")):
        ratio = own_seconds(steps[key]) / base
        add(label, steps[key], ratio, f"<= {TARGETS[key]}x baseline, {mem}{req}",
            sync_checks(steps[key], ratio, TARGETS[key]))
    if "double" in steps:
        d = steps["double"]
        ratio = own_seconds(d) / own_seconds(steps["full"])
        add(f"4 full sync, double ({d['responses']} responses)", d, ratio,
            f"<= {TARGETS['double']}x step 1", [ratio <= TARGETS["double"]])
    else:
        add("4 full sync, double size", None, None, f"<= {TARGETS['double']}x step 1", [])
    add("5 baseline: openpyxl write-only", steps["openpyxl"], 1.0,
        f"{steps['openpyxl']['cells']} cells", [])
    add("6 XlsxWriter constant_memory", steps["xlsxwriter"], own_seconds(steps["xlsxwriter"]) / base,
        "(ratio to openpyxl)", [])
    for n, cmd in enumerate(COMMANDS, start=1):
        step = steps.get(cmd)
        checks = [step["seconds"] <= TARGETS["command_s"]] if step and "skipped" not in step else []
        add(f"7.{n} {cmd}", step, None, f"< {TARGETS['command_s']} s (seconds, not minutes)", checks)
    return rows, ok_all


def render(result: dict[str, Any]) -> str:
    rows, ok = table(result)
    steps = result["steps"]
    loads = [s["load"] for s in steps.values() if isinstance(s, dict) and "load" in s] or [0.0]
    head = ["step", "wall s", "cpu s", "peak MB", "Sheets requests", "ratio", "target", "result"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    left = (0, head.index("target"))  # text columns; numbers align right
    fmt = "  ".join(f"{{:{'<' if i in left else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [f"benchmark: {result['responses']} responses {result['by_program']}, source "
             f"{result['source']}, {result['cpus']} CPUs, Python {result['python']}, load "
             f"average (1 min) after each step {min(loads):.1f}-{max(loads):.1f}",
             fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    serve = {k: s["serve_s"] for k, s in steps.items() if isinstance(s, dict) and "serve_s" in s
             and k in ("full", "nochange", "onepct", "double")}
    if serve:
        lines.append("Sheets fake serving (included in wall s, excluded from ratios): "
                     + ", ".join(f"{k} {v:.2f} s" for k, v in serve.items()))
        # A sync reads the next source while its writer works, so part of the serving
        # overlaps work that goes on anyway: the ratios with it counted, for comparison.
        base = steps["openpyxl"]["seconds"]
        lines.append("ratios with the serving counted: " + ", ".join(
            f"{k} {steps[k]['seconds'] / base:.2f}x" for k in serve if k != "double"))
    lines.append("master sheets (title, rows, columns): "
                 + "; ".join(f"{t} {r}x{c}" for t, r, c in result["master_sheets"]))
    lines.append("cpu s: both processes when the master is written by a second one; peak MB: the "
                 "sync's and the writer's peaks added up")
    lines.append(f"all targets met: {'yes' if ok else 'NO'}")
    if "profile" in steps:
        lines += ["", "profile of a full sync (top 15 by cumulative time):", steps["profile"]["top"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000, help="responses in all (default 50000)")
    parser.add_argument("--source", choices=["sheets", "files"], default="sheets")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one full sync (cProfile) and print the top functions")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--classes", type=int, default=44, metavar="N",
                        help="past PIP cohorts and TAP semesters, besides the next one (default 44)")
    parser.add_argument("--json", type=Path, help="also write the measurements here as JSON")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--no-double", action="store_true", help="skip step 4 (double size)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1:])
        return 0
    if args.size < 30:
        parser.error("--size must be at least 30")
    old = os.umask(0o077)  # the generated data looks like personal data: owner-only files
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            result = measure(args, args.keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="tpd-bench-") as tmp:
                result = measure(args, Path(tmp))
    finally:
        os.umask(old)
    print(render(result))
    if args.json:
        for step in result["steps"].values():
            step.pop("stdout", None)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
