"""Benchmark the fraud pipeline: plain pandas vs hand-written checks vs pandera vs the sdk.

Usage (from the repository root)::

    python benchmarks/run.py                                  # 1M and 5M rows, best of 3
    python benchmarks/run.py --quick                          # 100k rows, one run
    python benchmarks/run.py --out docs/performance.md        # also write the table there
    python benchmarks/run.py --variants plain,floor,pandera   # without the sdk

Every (variant, rows, data) cell runs in a fresh subprocess (``--one VARIANT --n N --bad F``), so
its peak RSS is its own. Inside it the data is generated first, a warm-up call on a small slice
pays for imports and schema building, then the computation alone is timed with
``time.perf_counter``, best of ``--repeat``. The parent collects the cells, checks that the
validating variants agree on the output, and renders a markdown table, which it prints and, with
``--out``, writes between the markers ``<!-- bench:start -->`` and ``<!-- bench:end -->``.
"""

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from _report import cpu_model, write_section
from _report import versions as versions_of

HERE = Path(__file__).resolve().parent
# Fall back to the working tree's sdk when it is not installed (appended: an install wins).
sys.path.append(str(HERE.parent))

import fraud_bench  # noqa: E402  (needs the path set above)

RESULT_PREFIX = "BENCH_RESULT "
WARMUP_ROWS = 2_000
VALIDATING = ("floor", "pandera", "sdk")
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Cell:
    """One measured (variant, rows, data) combination."""

    variant: str
    rows: int
    bad: float
    seconds: float = math.nan
    peak_rss_mb: float = math.nan
    base_rss_mb: float = math.nan
    rows_out: int = -1
    score_sum: float = math.nan
    error: str = ""


# --------------------------------------------------------------------------------------------
# Inside the subprocess: one cell
# --------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def _current_rss_mb() -> float:
    """Return this process's current resident set size in MB (peak where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return _peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(variant: str, rows: int, bad: float, repeat: int) -> Cell:
    """Generate the data, then time ``variant`` on it, best of ``repeat``.

    Args:
        variant: A key of :data:`fraud_bench.VARIANTS`.
        rows: Number of input rows.
        bad: Fraction of bad rows in the input.
        repeat: Number of timed runs.

    Returns:
        The measured cell; ``base_rss_mb`` is the RSS once the data is in memory.
    """
    func = fraud_bench.VARIANTS[variant]
    data = fraud_bench.make_transactions(rows, bad)
    gc.collect()
    cell = Cell(variant, rows, bad, base_rss_mb=_current_rss_mb())

    func(data.iloc[:WARMUP_ROWS].copy())
    best = math.inf
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        out = func(data)
        best = min(best, time.perf_counter() - start)
        cell.rows_out = len(out)
        cell.score_sum = float(out["score"].sum())
        del out
    cell.seconds = best
    cell.peak_rss_mb = _peak_rss_mb()
    return cell


# --------------------------------------------------------------------------------------------
# In the parent: all cells, checks, table
# --------------------------------------------------------------------------------------------


def run_cell(variant: str, rows: int, bad: float, repeat: int) -> Cell:
    """Measure one cell in a fresh Python process; a failure becomes the cell's ``error``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", variant]
    cmd += ["--n", str(rows), "--bad", str(bad), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return Cell(**json.loads(line.removeprefix(RESULT_PREFIX)))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return Cell(variant, rows, bad, error=f"exit {proc.returncode}: {tail}")


def consistency_warnings(cells: Sequence[Cell]) -> list[str]:
    """Say where variants that should agree on the output do not.

    On clean data every variant must return every row with the same scores; on bad data the
    validating variants (floor, pandera, sdk) must keep the same rows, hence the same scores.
    """
    warnings = []
    for rows, bad in dict.fromkeys((c.rows, c.bad) for c in cells):
        group = [c for c in cells if (c.rows, c.bad) == (rows, bad) and not c.error]
        if bad:
            group = [c for c in group if c.variant in VALIDATING]
        if len(group) < 2:
            continue
        first = group[0]
        if any(
            c.rows_out != first.rows_out or not math.isclose(c.score_sum, first.score_sum)
            for c in group
        ):
            detail = ", ".join(
                f"{c.variant}={c.rows_out} (Σscore {c.score_sum:.6g})" for c in group
            )
            warnings.append(f"{rows:,} rows, {_data_label(bad)}: outputs differ: {detail}")
    return warnings


def _data_label(bad: float) -> str:
    return f"{bad * 100:g}% bad" if bad else "clean"


def _ratio(cell: Cell, base: Cell | None) -> str:
    if base is None or cell.error or base.error or not base.seconds:
        return "n/a"
    return f"{cell.seconds / base.seconds:.2f}"


def machine_info(repeat: int) -> str:
    """Describe the machine, the library versions, the date and the method in one line."""
    cpu = cpu_model()
    versions = versions_of(("pandas", "pandera", "numpy", "pipeline-sdk"))
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Measured {today} on {os.cpu_count()} CPUs ({cpu}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, {', '.join(versions)}. "
        f"Seconds: best of {repeat}, computation only (data generated before the clock). "
        "Each cell runs in its own process; peak RSS includes the input data, "
        "whose RSS is given on its own as *data RSS*."
    )


def render(cells: Sequence[Cell], warnings: Sequence[str], repeat: int) -> str:
    """Render the cells as the markdown section (without the markers)."""
    lines = [
        machine_info(repeat),
        "",
        f"| rows | data | variant | seconds | {TIMES} plain | {TIMES} floor "
        "| peak RSS MB | data RSS MB |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    index = {(c.rows, c.bad, c.variant): c for c in cells}
    for c in cells:
        label = _data_label(c.bad)
        if c.error:
            error = c.error.replace("|", "\\|")
            lines.append(f"| {c.rows:,} | {label} | {c.variant} | error: {error} | | | | |")
            continue
        plain = index.get((c.rows, c.bad, "plain"))
        floor = index.get((c.rows, c.bad, "floor"))
        lines.append(
            f"| {c.rows:,} | {label} | {c.variant} | {c.seconds:.3f} | {_ratio(c, plain)} "
            f"| {_ratio(c, floor)} | {c.peak_rss_mb:.0f} | {c.base_rss_mb:.0f} |"
        )
    lines += [f"| | | **WARNING** | {w} | | | | |" for w in warnings]
    return "\n".join(lines) + "\n"



# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def _variant_list(text: str) -> list[str]:
    names = [part for part in text.split(",") if part]
    unknown = sorted(set(names) - set(fraud_bench.VARIANTS))
    if unknown:
        known = ",".join(fraud_bench.VARIANTS)
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown}; choose from {known}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=[1_000_000, 5_000_000],
        help="comma-separated row counts (default: 1000000,5000000)",
    )
    parser.add_argument(
        "--variants",
        type=_variant_list,
        default=list(fraud_bench.VARIANTS),
        help="comma-separated subset of " + ",".join(fraud_bench.VARIANTS),
    )
    parser.add_argument(
        "--bad",
        type=float,
        default=0.01,
        help="fraction of bad rows of the 'bad' data (default: 0.01)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--quick", action="store_true", help="100000 rows, one run")
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    parser.add_argument("--one", choices=list(fraud_bench.VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat = [100_000], 1
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single cell) and report it."""
    args = parse_args(argv)
    if args.one:
        cell = measure(args.one, args.n, args.bad, args.repeat)
        print(RESULT_PREFIX + json.dumps(asdict(cell)), flush=True)
        return 0

    cells = []
    for rows in args.sizes:
        for bad in (0.0, args.bad):
            for variant in args.variants:
                print(f"… {variant:8} {rows:>11,} rows, {_data_label(bad)}", file=sys.stderr)
                cells.append(run_cell(variant, rows, bad, args.repeat))
    warnings = consistency_warnings(cells)
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    section = render(cells, warnings, args.repeat)
    print(section)
    if args.out:
        write_section(args.out, "bench", section)
    return 1 if warnings or any(c.error for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
