"""The run profile's cost and the run report's size, on the fraud bench data.

Usage (from the repository root)::

    python benchmarks/bench_report.py                            # 5M rows, 3 rounds
    python benchmarks/bench_report.py --rows 200000 --rounds 1   # a quick look
    python benchmarks/bench_report.py --out docs/performance.md  # also write the table there

The fraud pipeline (benchmarks/fraud_bench.py, 1 % bad rows) with the local runner, profile on
and off (runner option ``profile``), in three settings: **notebook** (the frame in, the outputs
returned, no run directory: as ``bench_local.py`` measures it, the strictest), **memory** (the
same with a run directory: manifest, ``profile.json``, ``quarantine.parquet``) and **parquet**
(a Parquet file in, the scored rows and the quarantine written to Parquet). Each process
builds its data, warms up on 2,000 rows, then times three runs (wall and CPU seconds) and the
time spent in :func:`sdk.profile.profile_frame` itself. The six cells of a round run in a
rotated order (the machine is shared and noisy); the table gives medians over all calls and
the profile's overhead two ways: median on over median off, and per call the profile's time
over the rest of that call.

Then the report of one profile-on memory run: :func:`sdk.report.write_report` timed in a
fresh process (median of 3 calls after a first, untimed one) and the HTML's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _report import cpu_model, versions, write_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Fall back to the working tree's sdk when it is not installed (appended: an install wins).
sys.path.append(str(ROOT))

import fraud_bench  # noqa: E402

RESULT_PREFIX = "BENCH_REPORT "
SETTINGS = ("notebook", "memory", "parquet")
FLAGS = (True, False)
WARMUP_ROWS = 2_000
REPEAT = 3


def measure(setting: str, profile: bool, rows: int, bad: float, work: Path) -> dict[str, Any]:
    """In a fresh process: build the data, warm up, time REPEAT runs of the fraud pipeline."""
    import sdk.runners.unit as unit

    spent = [0.0]
    profile_frame = unit.profile_frame

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return profile_frame(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    unit.profile_frame = timed  # type: ignore[assignment]
    pipeline = fraud_bench.pipeline
    assert pipeline is not None, fraud_bench.SDK_IMPORT_ERROR
    label = f"{setting}-{'on' if profile else 'off'}-{os.getpid()}"
    options: dict[str, Any] = {"profile": profile, "progress": False}
    if setting != "notebook":  # a notebook run keeps no run directory (profile on the result)
        options["run_dir"] = str(work / "runs")
    destinations: dict[str, Any] = {}
    if setting == "parquet":
        data: Any = str(work / f"transactions-{rows}.parquet")
        warm: Any = fraud_bench.make_transactions(WARMUP_ROWS, bad)
        out = work / label
        destinations = {
            "outputs": {"scored": str(out / "scored.parquet")},
            "quarantine": str(out / "quarantine.parquet"),
            "overwrite": True,
        }
    else:
        data = fraud_bench.make_transactions(rows, bad)
        warm = data.iloc[:WARMUP_ROWS].copy()
    pipeline.run(transactions=warm, max_invalid=1.0, runner_options=options)
    seconds, cpu_seconds, profile_seconds = [], [], []
    for _ in range(REPEAT):
        gc.collect()
        spent[0] = 0.0
        start, cpu = time.perf_counter(), time.process_time()
        result = pipeline.run(
            transactions=data, max_invalid=1.0, runner_options=options, **destinations
        )
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu)
        profile_seconds.append(spent[0])
    run_path = work / "runs" / result.run_id
    profile_file = run_path / "profile.json"
    size = len(json.dumps(result.profile)) if result.profile is not None else None
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "profile_seconds": profile_seconds,
        "rows_in": result.rows_in,
        "quarantined": result.quarantined,
        "run_path": str(run_path) if profile_file.exists() else None,
        "profile_bytes": profile_file.stat().st_size if profile_file.exists() else size,
    }


def measure_report(run_path: str) -> dict[str, Any]:
    """In a fresh process: time ``write_report`` of a run (a first call untimed)."""
    try:
        from sdk.report import write_report
    except ImportError as exc:
        return {"error": f"sdk.report.write_report is not available ({exc})"}
    out = Path(run_path) / "report.html"
    write_report(run_path, out)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        write_report(run_path, out)
        seconds.append(time.perf_counter() - start)
    return {"seconds": statistics.median(seconds), "bytes": out.stat().st_size}


def child(args: list[str]) -> dict[str, Any]:
    """Run ``--one ARGS`` in a fresh Python process; a failure is returned as ``error``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line.removeprefix(RESULT_PREFIX)))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail}"}


def run_all(rows: int, bad: float, rounds: int, work: Path) -> dict[str, Any]:
    """Every cell, interleaved over ``rounds``; then the report of a profile-on memory run."""
    fraud_bench.make_transactions(rows, bad).to_parquet(work / f"transactions-{rows}.parquet")
    cells = [(s, f) for s in SETTINGS for f in FLAGS]
    got: dict[tuple[str, bool], list[dict[str, Any]]] = {cell: [] for cell in cells}
    for r in range(rounds):
        for setting, flag in cells[r % len(cells) :] + cells[: r % len(cells)]:
            on = "on" if flag else "off"
            print(f"… {rows:,} rows, {setting}, profile {on}, round {r + 1}", file=sys.stderr)
            one = [setting, on, str(rows), str(bad), str(work)]
            got[(setting, flag)].append(child(one))
    kept = [m for m in got[("memory", True)] if "error" not in m and m["run_path"]]
    report = child(["report", kept[-1]["run_path"]]) if kept else {"error": "no run to report"}
    return {"cells": got, "report": report}


def _all(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [value for run in runs for value in run[key]]


def render(results: dict[str, Any], rows: int, bad: float, rounds: int) -> str:
    """The markdown section."""
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    found = ", ".join(versions(("pandas", "numpy", "pyarrow", "pipeline-sdk")))
    lines = [
        f"Measured {today} on {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, {found}. The fraud "
        f"pipeline over {rows:,} rows ({bad:.0%} bad), local runner, profile on and off. "
        "*notebook*: the frame in, outputs returned, no run directory (as "
        "`benchmarks/bench_local.py`); *memory*: the same with a run directory (manifest, "
        "`profile.json`, `quarantine.parquet`); *parquet*: a Parquet file in, the scored rows and "
        f"the quarantine written to Parquet. Seconds: median of {rounds * REPEAT} calls "
        f"({rounds} rounds of {REPEAT}, the six cells of a round interleaved, each a fresh "
        "process; data built and a 2,000-row warm-up run before the clock), with the range. "
        "*Profile s*: time inside `profile_frame` (inputs as read, every produced dataset as "
        "validated). Overhead, three ways: *on ÷ off* (median wall time on over off, minus 1), "
        "*best on ÷ best off* (the fastest calls: the least disturbed by other work on this "
        "shared machine) and *direct* (per call, profile s over the rest of that call; "
        "median): the first two carry the machine's noise, the third only the profile.",
        "",
        "| setting | profile | seconds | range | CPU s | profile s | overhead on ÷ off "
        "| overhead best on ÷ best off | overhead direct | profile size |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    cells = results["cells"]
    for setting in SETTINGS:
        off = [m for m in cells[setting, False] if "error" not in m]
        for flag in FLAGS:
            done = [m for m in cells[setting, flag] if "error" not in m]
            label = "on" if flag else "off"
            if not done:
                error = next((m["error"] for m in cells[setting, flag]), "no run")
                lines.append(f"| {setting} | {label} | error: {error.replace('|', '/')} |||||||")
                continue
            seconds = _all(done, "seconds")
            spent = _all(done, "profile_seconds")
            median = statistics.median(seconds)
            span = f"{min(seconds):.2f} to {max(seconds):.2f}"
            cpu = statistics.median(_all(done, "cpu_seconds"))
            ratio = best = direct = size = ""
            if flag:
                shares = [p / (s - p) for s, p in zip(seconds, spent, strict=True)]
                direct = f"{statistics.median(shares) * 100:.1f} %"
                size = f"{done[-1]['profile_bytes'] / 1024:.1f} KB"
                if off:
                    base = _all(off, "seconds")
                    ratio = f"{(median / statistics.median(base) - 1) * 100:+.1f} %"
                    best = f"{(min(seconds) / min(base) - 1) * 100:+.1f} %"
            lines.append(
                f"| {setting} | {label} | {median:.3f} | {span} | {cpu:.3f} "
                f"| {statistics.median(spent):.3f} | {ratio} | {best} | {direct} | {size} |"
            )
    report = results["report"]
    lines.append("")
    if "error" in report:
        lines.append(f"Report: not measured: {report['error']}.")
    else:
        lines.append(
            f"Report of a profile-on *memory* run ({rows:,} rows): `write_report` "
            f"{report['seconds']:.3f} s (median of 3 calls after a first, a fresh process), "
            f"HTML {report['bytes'] / 1024 / 1024:.2f} MB ({report['bytes']:,} bytes)."
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--bad", type=float, default=0.01, help="fraction of bad rows")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single process's measurement) and report it."""
    args = parse_args(argv)
    if args.one:
        if args.one[0] == "report":
            got = measure_report(args.one[1])
        else:
            setting, on, rows, bad, work = args.one
            got = measure(setting, on == "on", int(rows), float(bad), Path(work))
        print(RESULT_PREFIX + json.dumps(got), flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        results = run_all(args.rows, args.bad, args.rounds, Path(tmp))
    section = render(results, args.rows, args.bad, args.rounds)
    print(section)
    if args.out:
        write_section(args.out, "bench-report", section)
    failed = any("error" in m for runs in results["cells"].values() for m in runs)
    return 1 if failed or "error" in results["report"] else 0


if __name__ == "__main__":
    sys.exit(main())
