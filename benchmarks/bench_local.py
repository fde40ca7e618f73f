"""The local runner's validation cost against the hand-written floor and pandera, side by side.

Usage (from the repository root)::

    python benchmarks/bench_local.py                            # 100k and 1M rows, 3 rounds
    python benchmarks/bench_local.py --quick                    # 100k rows, one round
    python benchmarks/bench_local.py --out docs/performance.md  # also write the table there

Two pipelines: ``fraud`` (benchmarks/fraud_bench.py, the design's example: a partition_by step
and a rows step over three checked columns) and ``orders`` (benchmarks/orders_bench.py: a
partition_by step with a groupby transform and a rows step over six checked columns, one of
them coerced, one nullable). Each at 100,000 rows (notebook scale: fixed costs show) and
1,000,000 rows, clean and with 1 % bad rows, in four variants: plain pandas, the hand-written
floor, pandera ``check_types`` and the sdk's local runner.

The machine this runs on is shared and noisy, so the variants of a cell are interleaved: each
round runs every variant once, in a fresh process (``--one``), in a rotated order; a process
times ``--repeat`` calls after a warm-up call on a small slice; the table gives the median of
all calls of all rounds and each process's peak RSS (``VmHWM``: ``ru_maxrss`` would include a
parent's peak), the median over rounds.
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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import pandas as pd
from _report import cpu_model, write_section
from _report import versions as versions_of

HERE = Path(__file__).resolve().parent
# Fall back to the working tree's sdk when it is not installed (appended: an install wins).
sys.path.append(str(HERE.parent))

import fraud_bench  # noqa: E402
import orders_bench  # noqa: E402

PIPELINES: dict[str, tuple[ModuleType, Callable[[int, float], pd.DataFrame], str]] = {
    "fraud": (fraud_bench, fraud_bench.make_transactions, "score"),
    "orders": (orders_bench, orders_bench.make_orders, orders_bench.SUM_COLUMN),
}
"""Per pipeline: its module (``VARIANTS``), its data generator, the output column summed."""
VARIANTS = ("plain", "floor", "pandera", "sdk")
RESULT_PREFIX = "BENCH_LOCAL "
WARMUP_ROWS = 2_000
TIMES = "\N{MULTIPLICATION SIGN}"


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(pipeline: str, variant: str, rows: int, bad: float, repeat: int) -> dict:
    """In a fresh process: generate the data, warm up, time ``repeat`` calls of ``variant``."""
    module, make, column = PIPELINES[pipeline]
    func = module.VARIANTS[variant]
    data = make(rows, bad)
    gc.collect()
    data_rss = _status_mb("VmRSS")
    func(data.iloc[:WARMUP_ROWS].copy())
    seconds, cpu_seconds = [], []
    for _ in range(repeat):
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        out = func(data)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        rows_out, total = len(out), float(out[column].sum())
        quarantined = out.attrs.get("quarantined")
        del out
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": _status_mb("VmHWM"),
        "data_rss_mb": data_rss,
        "rows_out": rows_out,
        "sum": total,
        "quarantined": quarantined,
    }


def run_one(pipeline: str, variant: str, rows: int, bad: float, repeat: int) -> dict:
    """Measure in a fresh Python process; a failure is returned as ``{"error": ...}``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", pipeline, variant]
    cmd += ["--n", str(rows), "--bad-one", str(bad), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail}"}


def run_cell(pipeline: str, rows: int, bad: float, rounds: int, repeat: int) -> dict[str, dict]:
    """All variants of one cell, interleaved over ``rounds``; per variant the merged result."""
    merged: dict[str, dict] = {v: {"seconds": [], "cpu_seconds": [], "peak": []} for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
        for variant in order:
            label = "clean" if not bad else f"{bad:.0%} bad"
            print(f"… {pipeline} {rows:>9,} {label:7} round {r + 1} {variant}", file=sys.stderr)
            got = run_one(pipeline, variant, rows, bad, repeat)
            cell = merged[variant]
            if "error" in got:
                cell["error"] = got["error"]
                continue
            cell["seconds"] += got["seconds"]
            cell["cpu_seconds"] += got["cpu_seconds"]
            cell["peak"].append(got["peak_rss_mb"])
            for key in ("data_rss_mb", "rows_out", "sum", "quarantined"):
                cell[key] = got[key]
    return merged


def _warnings(pipeline: str, rows: int, bad: float, cell: dict[str, dict]) -> list[str]:
    """Where validating variants disagree on the rows they keep (and, clean, with plain)."""
    names = [v for v in VARIANTS if "error" not in cell[v] and (v != "plain" or not bad)]
    got = {v: (cell[v]["rows_out"], round(cell[v]["sum"], 3)) for v in names}
    if len(set(got.values())) <= 1:
        return []
    detail = ", ".join(f"{v}={n} rows (Σ {s:.6g})" for v, (n, s) in got.items())
    return [f"{pipeline} {rows:,} rows, {'clean' if not bad else 'bad'}: outputs differ: {detail}"]


def render(results: list[tuple[str, int, float, dict[str, dict]]], rounds: int, repeat: int) -> str:
    """The markdown section: one line per (pipeline, rows, data, variant)."""
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = versions_of(("pandas", "pandera", "numpy", "pipeline-sdk"))
    lines = [
        f"Measured {today} on {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, {', '.join(versions)}. "
        f"Seconds: median of {rounds * repeat} calls ({rounds} rounds of {repeat}, the variants "
        "of a cell interleaved, each round a fresh process per variant; data generated and one "
        "warm-up call before the clock). *CPU s*: the process's CPU time over the same calls, "
        "steadier than wall time on a shared machine. Peak RSS: the process's `VmHWM`, median "
        "over rounds; *data RSS*: the process once the input is in memory.",
        "",
        f"| pipeline | rows | data | variant | seconds | {TIMES} floor | {TIMES} pandera "
        f"| CPU s | CPU {TIMES} floor | rows out | peak RSS MB | data RSS MB |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    warnings = []
    for pipeline, rows, bad, cell in results:
        label = "clean" if not bad else f"{bad * 100:g}% bad"
        median = {v: statistics.median(c["seconds"]) for v, c in cell.items() if c["seconds"]}
        cpu = {v: statistics.median(c["cpu_seconds"]) for v, c in cell.items() if c["seconds"]}
        for variant in VARIANTS:
            c = cell[variant]
            if variant not in median:
                error = c.get("error", "no result").replace("|", "\\|")
                lines.append(f"| {pipeline} | {rows:,} | {label} | {variant} | error: {error} "
                             "| | | | | | | |")  # fmt: skip
                continue
            s = median[variant]
            floor = f"{s / median['floor']:.2f}" if "floor" in median else "n/a"
            vs_pandera = f"{s / median['pandera']:.2f}" if "pandera" in median else "n/a"
            cpu_floor = f"{cpu[variant] / cpu['floor']:.2f}" if "floor" in cpu else "n/a"
            lines.append(
                f"| {pipeline} | {rows:,} | {label} | {variant} | {s:.3f} | {floor} "
                f"| {vs_pandera} | {cpu[variant]:.3f} | {cpu_floor} | {c['rows_out']:,} "
                f"| {statistics.median(c['peak']):.0f} | {c['data_rss_mb']:.0f} |"
            )
        warnings += _warnings(pipeline, rows, bad, cell)
    lines += [f"| | | | **WARNING** | {w} | | | | | | | |" for w in warnings]
    return "\n".join(lines) + "\n"


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=_int_list, default=[100_000, 1_000_000])
    parser.add_argument("--pipelines", default="fraud,orders", help="comma-separated")
    parser.add_argument("--bad", type=float, default=0.01, help="fraction of bad rows")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per process")
    parser.add_argument("--quick", action="store_true", help="100000 rows, one round of one")
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bad-one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.repeat = [100_000], 1, 1
    args.pipelines = [p for p in args.pipelines.split(",") if p]
    unknown = set(args.pipelines) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s) {sorted(unknown)}; choose from {','.join(PIPELINES)}")
    if args.rounds < 1 or args.repeat < 1:
        parser.error("--rounds and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single process's measurement) and report it."""
    args = parse_args(argv)
    if args.one:
        pipeline, variant = args.one
        got = measure(pipeline, variant, args.n, args.bad_one, args.repeat)
        print(RESULT_PREFIX + json.dumps(got), flush=True)
        return 0
    results = []
    for rows in args.sizes:
        for pipeline in args.pipelines:
            for bad in (0.0, args.bad):
                cell = run_cell(pipeline, rows, bad, args.rounds, args.repeat)
                results.append((pipeline, rows, bad, cell))
    section = render(results, args.rounds, args.repeat)
    print(section)
    if args.out:
        write_section(args.out, "bench-local", section)
    failed = any("error" in c for *_, cell in results for c in cell.values())
    return 1 if failed or "WARNING" in section else 0


if __name__ == "__main__":
    sys.exit(main())
