"""Batch vs local on a large CSV, batch memory by input size, and PostgreSQL throughput.

Run by ``nox -s bench`` (or ``python benchmarks/bench_batch.py --out docs/performance.md``).
The fraud pipeline reads a generated CSV (not committed) and writes the scored rows and the
quarantine to CSV, once with ``local`` and once with ``batch``; each run is a fresh process
so that its peak RSS is its own. The memory section runs a rows-only pipeline (one ``rows``
step) at 1M, 3M and 5M rows with the default chunk size, to show that batch memory stays flat
in the input size, and a ``partition_by`` step on a low-cardinality key (20 countries), whose
partitions must each fit in memory. The PostgreSQL section runs ``bench_postgres.main``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import fraud_bench  # noqa: E402
import numpy as np  # noqa: E402
from _report import write_section  # noqa: E402
from fraud_bench import Transactions  # noqa: E402
from pandera.typing import DataFrame  # noqa: E402

from sdk import Pipeline, Step  # noqa: E402

CHILD = """
import json, sys, time, resource
sys.path[:0] = [{here!r}, {root!r}]
import sdk
import bench_batch
runner, csv, out, which, chunk_rows = sys.argv[1:6]
pipeline = bench_batch.PIPELINES[which]()
output = pipeline.order[-1].output_name
options = {{"progress": False}} if runner == "batch" else {{}}
if chunk_rows != "default":
    options["chunk_rows"] = int(chunk_rows)
start = time.perf_counter()
result = pipeline.run(runner, transactions=csv, outputs={{output: out + "/" + output + ".csv"}},
                      quarantine=out + "/quarantine.csv", max_invalid=1.0, overwrite=True,
                      runner_options=options)
seconds = time.perf_counter() - start
# VmHWM: this process's own peak (ru_maxrss carries the parent's over fork and exec)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
if hwm:
    rss = int(hwm[0].split()[1]) / 1024
else:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_rss_mb": rss, "rows_in": result.rows_in,
                  "chunk_rows": result.manifest["options"].get("chunk_rows")}}))
"""


class Flagged(Transactions):
    """A transaction with a large-amount flag and its log amount."""

    large: bool
    log_amount: float


class Flag(Step):
    """Flag large amounts (each row independent)."""

    output = "flagged"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Flagged]:
        """Add ``large`` and ``log_amount``."""
        amount = transactions["amount"]
        return transactions.assign(large=amount > 500, log_amount=np.log1p(amount))


class CountryStats(Transactions):
    """A transaction with its country's mean amount."""

    country_mean: float


class AddCountryMean(Step):
    """Each transaction's country mean amount (rows of a country must be together)."""

    output = "by_country"
    partition_by = "country"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[CountryStats]:
        """Add ``country_mean``."""
        mean = transactions.groupby("country")["amount"].transform("mean")
        return transactions.assign(country_mean=mean)


PIPELINES: dict[str, Callable[[], Pipeline]] = {
    "fraud": lambda: fraud_bench.pipeline,
    "rows": lambda: Pipeline([Flag()], name="rows_only"),
    "country": lambda: Pipeline([AddCountryMean()], name="by_country"),
}
"""The benchmarked pipelines: the fraud pipeline of DESIGN.md, one ``rows`` step, and one
``partition_by`` step on a low-cardinality key (20 countries)."""


def make_csv(path: Path, rows: int) -> None:
    """Write the benchmark transactions (1 % bad rows) as CSV."""
    frame = fraud_bench.make_transactions(rows, 0.01)
    frame.to_csv(path, index=False)


def run_one(
    runner: str, csv: Path, out: Path, which: str = "fraud", chunk_rows: int | None = None
) -> dict[str, float]:
    """Run pipeline ``which`` in a fresh process; return seconds and peak RSS."""
    code = CHILD.format(here=str(HERE), root=str(ROOT))
    env = {**os.environ, "SDK_LOG_LEVEL": "WARNING", "SDK_RUN_DIR": str(out / "runs")}
    chunks = str(chunk_rows) if chunk_rows else "default"
    done = subprocess.run(
        [sys.executable, "-c", code, runner, str(csv), str(out), which, chunks],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{runner} run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def batch_section(rows: int) -> str:
    """The batch vs local table."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "transactions.csv"
        started = time.perf_counter()
        make_csv(csv, rows)
        size_mb = csv.stat().st_size / 2**20
        elapsed = time.perf_counter() - started
        print(f"generated {rows:,} rows ({size_mb:.0f} MB) in {elapsed:.0f} s")
        results = {}
        for runner in ("local", "batch"):
            out = folder / runner
            out.mkdir()
            results[runner] = run_one(runner, csv, out)
            print(runner, results[runner])
    local, batch = results["local"], results["batch"]
    lines = [
        f"Fraud pipeline over a {rows:,}-row CSV ({size_mb:.0f} MB, 1 % bad rows) to CSV outputs, "
        f"each runner in a fresh process (wall time includes reading, validation, steps, "
        f"quarantine and atomic writes; batch default chunk size).",
        "",
        "| runner | seconds | x local | peak RSS MB |",
        "|---|---:|---:|---:|",
        f"| local | {local['seconds']:.1f} | 1.00 | {local['peak_rss_mb']:.0f} |",
        f"| batch | {batch['seconds']:.1f} | {batch['seconds'] / local['seconds']:.2f} | "
        f"{batch['peak_rss_mb']:.0f} |",
    ]
    return "\n".join(lines) + "\n"


def memory_section(sizes: list[int], partition_rows: int) -> str:
    """Peak RSS of batch (default chunk size) against local, by input size."""
    lines = [
        "Batch memory: a rows-only pipeline (one `rows` step, 1 % bad rows, CSV in and out) "
        "with the default chunk size, each run in a fresh process; then a `partition_by` step "
        "on a low-cardinality key (20 countries), where a partition must fit in memory.",
        "",
        "| pipeline | rows | chunk rows | local s | batch s | batch / local time | "
        "local RSS MB | batch RSS MB | batch / local RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = [("rows", n) for n in sizes] + [("country", partition_rows)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made: dict[int, Path] = {}
        for which, rows in runs:
            if rows not in made:
                made[rows] = folder / f"transactions-{rows}.csv"
                make_csv(made[rows], rows)
            results = {}
            for runner in ("local", "batch"):
                out = folder / f"{which}-{rows}-{runner}"
                out.mkdir()
                results[runner] = run_one(runner, made[rows], out, which)
                print(which, rows, runner, results[runner])
            local, batch = results["local"], results["batch"]
            lines.append(
                f"| {which} | {rows:,} | {batch['chunk_rows']:,} | {local['seconds']:.1f} | "
                f"{batch['seconds']:.1f} | {batch['seconds'] / local['seconds']:.2f} | "
                f"{local['peak_rss_mb']:.0f} | {batch['peak_rss_mb']:.0f} | "
                f"{batch['peak_rss_mb'] / local['peak_rss_mb']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def postgres_section(rows: int) -> str:
    """The PostgreSQL throughput table (skipped when the server is unreachable)."""
    sys.path[:0] = [str(HERE)]
    try:
        from bench_postgres import main as pg_main

        records = pg_main(rows)
    except Exception as exc:  # the benchmark reports why it has no numbers
        return f"PostgreSQL benchmark not run: {exc}\n"
    lines = [
        f"PostgreSQL ({rows:,} rows of the transactions shape, local server): the SDK's scheme "
        f"(COPY into a staging table, one transaction; server-side cursor for reads) against "
        f"pandas.",
        "",
        "| operation | method | seconds | rows/s | x SDK time |",
        "|---|---|---:|---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r['operation']} | {r['method']} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} "
            f"| {r['x_sdk']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run both sections; print them and write them into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--pg-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--memory-rows",
        default="1000000,3000000,5000000",
        help="input sizes of the memory section, comma-separated",
    )
    parser.add_argument("--partition-rows", type=int, default=3_000_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    batch = batch_section(args.rows)
    print(batch)
    sizes = [int(n) for n in args.memory_rows.split(",") if n]
    memory = memory_section(sizes, args.partition_rows)
    print(memory)
    pg = postgres_section(args.pg_rows)
    print(pg)
    if args.out:
        write_section(args.out, "bench-batch", batch)
        write_section(args.out, "bench-batch-memory", memory)
        write_section(args.out, "bench-postgres", pg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
