"""Batch vs local on a large CSV, and PostgreSQL throughput against pandas.

Run by ``nox -s bench`` (or ``python benchmarks/bench_batch.py --out docs/performance.md``).
The fraud pipeline reads a generated CSV (not committed) and writes the scored rows and the
quarantine to CSV, once with ``local`` and once with ``batch``; each run is a fresh process
so that its peak RSS is its own. The PostgreSQL section runs ``bench_postgres.main``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import json, sys, time, resource
sys.path[:0] = [{here!r}, {root!r}]
import sdk
from fraud_bench import pipeline
runner, csv, out = sys.argv[1], sys.argv[2], sys.argv[3]
options = {{"progress": False}} if runner == "batch" else {{}}
start = time.perf_counter()
result = pipeline.run(runner, transactions=csv, outputs={{"scored": out + "/scored.csv"}},
                      quarantine=out + "/quarantine.csv", max_invalid=1.0, overwrite=True,
                      runner_options=options)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_rss_mb": rss, "rows_in": result.rows_in}}))
"""


def make_csv(path: Path, rows: int) -> None:
    """Write the benchmark transactions (1 % bad rows) as CSV."""
    sys.path[:0] = [str(HERE), str(ROOT)]
    from fraud_bench import make_transactions

    frame = make_transactions(rows, 0.01)
    frame.to_csv(path, index=False)


def run_one(runner: str, csv: Path, out: Path) -> dict[str, float]:
    """Run the pipeline in a fresh process; return seconds and peak RSS."""
    code = CHILD.format(here=str(HERE), root=str(ROOT))
    env = {**os.environ, "SDK_LOG_LEVEL": "WARNING", "SDK_RUN_DIR": str(out / "runs")}
    done = subprocess.run(
        [sys.executable, "-c", code, runner, str(csv), str(out)],
        capture_output=True, text=True, env=env, check=False,
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
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    batch = batch_section(args.rows)
    print(batch)
    pg = postgres_section(args.pg_rows)
    print(pg)
    if args.out:
        write_section(args.out, "bench-batch", batch)
        write_section(args.out, "bench-postgres", pg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

