"""Notebook scale: ``pipeline.run`` of one row and of 100 rows, against pandera's ``validate``.

Run by ``nox -s bench`` (or ``python benchmarks/bench_notebook.py --out docs/performance.md``).
At this size fixed costs dominate: this is the path a server takes per request. The fraud
pipeline (two steps, three validated models) runs in-process on an in-memory frame with the
local runner; pandera validates the same rows against the input model only
(``Transactions.validate(frame, lazy=True)``), which is less work than the pipeline; "plain"
is the pipeline's computation in pandas with no check at all (its floor). Calls
alternate between the two so that both see the same machine load; p50 and p99 are over
``--calls`` calls each after a warm-up (the first run of a process pays imports, plugin
loading and the policy check once). The run root is a temporary folder: the number of run
directories the runs left behind is reported too (expected: none).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from _report import cpu_model, versions, write_section  # noqa: E402

SECTION = "bench-notebook"
TARGET_MS = 2.0
"""The issue's target for the one-row p50."""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(rows: int, calls: int) -> dict[str, float]:
    """p50/p99 (ms) of ``pipeline.run`` and of pandera's ``validate`` on ``rows`` rows."""
    from fraud_bench import Transactions, make_transactions, pipeline, run_plain

    frame = make_transactions(rows)  # typed columns, as built in a notebook
    work: dict[str, Callable[[], object]] = {
        "sdk": lambda: pipeline.run(transactions=frame, max_invalid=1.0),
        "pandera": lambda: Transactions.validate(frame, lazy=True),
        "plain": lambda: run_plain(frame),
    }
    timings: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(20):  # warm-up: imports, plugin manager, policy check, caches
        for call in work.values():
            call()
    for _ in range(calls):
        for name, call in work.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    results: dict[str, float] = {}
    for name, ms in timings.items():
        results[f"{name}_p50"] = statistics.median(ms)
        results[f"{name}_p99"] = _percentile(ms, 0.99)
    return results


def section(results: dict[int, dict[str, float]], calls: int, left: int) -> str:
    """The markdown table."""
    lines = [
        f"`pipeline.run` of the fraud pipeline (local runner, in-memory frame, two steps, three "
        f"validated models) against pandera's `Transactions.validate(lazy=True)` of the same "
        f"rows (input model only), and the pipeline's computation in plain pandas without any "
        f"check (the floor no validating runner can beat), alternating, {calls} calls each "
        f"after a warm-up. Target: one-row p50 ≤ {TARGET_MS:g} ms. Run directories left "
        f"behind: {left}.",
        "",
        "| rows | sdk p50 / p99 ms | pandera p50 / p99 ms | plain p50 / p99 ms | sdk / pandera |",
        "|---:|---:|---:|---:|---:|",
    ]
    for rows, r in results.items():
        lines.append(
            f"| {rows} | {r['sdk_p50']:.2f} / {r['sdk_p99']:.2f} | {r['pandera_p50']:.2f} / "
            f"{r['pandera_p99']:.2f} | {r['plain_p50']:.2f} / {r['plain_p99']:.2f} | "
            f"{r['sdk_p50'] / r['pandera_p50']:.2f} |"
        )
    lines += [
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        + ", ".join(versions(["pandas", "pandera", "numpy"]))
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure one-row and 100-row runs; print the table and write it into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="calls per size (at least 200)")
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    args = parser.parse_args(argv)
    calls = max(args.calls, 200)
    with tempfile.TemporaryDirectory() as runs:
        os.environ["SDK_RUN_DIR"] = runs
        os.environ.setdefault("SDK_LOG_LEVEL", "WARNING")
        results = {rows: measure(rows, calls) for rows in (1, 100)}
        left = len(list(Path(runs).iterdir()))
    table = section(results, calls, left)
    print(table)
    if args.out:
        write_section(args.out, SECTION, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
