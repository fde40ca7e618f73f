"""The dask runner (issue 15) against local, batch and the hand-written dask.dataframe peer.

Run by ``nox -s bench`` (or ``python benchmarks/bench_dask.py --out docs/performance.md``;
``--quick`` for 1M rows). A generated Parquet file (1 % bad rows of four kinds, row groups of
500,000 rows) goes through two pipelines: ``rows`` (one ``rows`` step scoring each transaction)
and ``fraud`` (the example: ``AddFeatures`` ``partition_by = "customer_id"``, then ``Score``).
Each cell is a fresh process, so the client's peak RSS (``VmHWM``) is its own; dask cells start
their own ``LocalCluster`` (processes, one thread each) before the clock starts and read every
worker's ``VmHWM`` before closing it. The peer reads the same file with
``dask.dataframe.read_parquet``, applies the same checks as boolean masks, the same score (and a
shuffle on the key plus a groupby transform for ``fraud``), and writes Parquet on the workers.
Every sdk cell writes the same shape, a Parquet folder (``--output scored=.../scored/``): on
dask its parts are written by the workers, on local and batch by the one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _report import cpu_model, versions, write_section  # noqa: E402
from pandera.typing import DataFrame  # noqa: E402

from examples.fraud.pipeline import Transactions  # noqa: E402
from examples.fraud.pipeline import pipeline as fraud  # noqa: E402
from sdk import Pipeline, Step  # noqa: E402

WEIGHT = 0.7
ROW_GROUP = 500_000


class ScoredTx(Transactions):
    """A transaction with its score."""

    score: float


class ScoreTx(Step):
    """The fraud example's score, straight on the transactions (each row independent)."""

    output = "scored"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[ScoredTx]:
        """Add ``score``."""
        z = WEIGHT * np.log1p(transactions["amount"])
        return transactions.assign(score=1 / (1 + np.exp(-z)))


PIPELINES = {"rows": Pipeline([ScoreTx()], name="rows_only"), "fraud": fraud}
CELLS = [("local", 0), ("batch", 0), ("dask", 1), ("dask", 2), ("peer", 1), ("peer", 2)]


def hwm_mb() -> float:
    """This process's peak RSS (``VmHWM``) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    """This process's CPU seconds (user + system)."""
    return sum(os.times()[:2])


def peer(path: str, out: str, which: str) -> None:
    """The hand-written dask.dataframe equivalent: same checks, same score, Parquet out."""
    import dask.dataframe as dd

    df = dd.read_parquet(path, split_row_groups=True)
    good = (
        (df.customer_id >= 0)
        & df.amount.notnull()
        & (df.amount >= 0)
        & (df.amount <= 1_000_000)
        & df.country.notnull()
        & df.country.str.match(r"^[A-Z]{2}$").fillna(False).astype(bool)
    )
    df[~good].to_parquet(out + "/quarantine", write_index=False)
    ok = df[good]
    if which == "fraud":

        def features(part: pd.DataFrame) -> pd.DataFrame:
            g = part.groupby("customer_id")["amount"]
            return part.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))

        ok = ok.shuffle(on="customer_id").map_partitions(features)
    ok = ok.assign(score=1 / (1 + np.exp(-(WEIGHT * np.log1p(ok.amount)))))
    ok.to_parquet(out + "/scored", write_index=False)


def child(runner: str, workers: int, path: str, out: str, which: str) -> None:
    """Run one cell in this (fresh) process and print its measures as JSON."""
    cluster = client = None
    if workers:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    start, cpu0 = time.perf_counter(), cpu_s()
    worker_cpu0 = sum(client.run(cpu_s).values()) if client is not None else 0.0
    if runner == "peer":
        peer(path, out, which)
    else:
        pipeline = PIPELINES[which]
        options: dict[str, object] = {"progress": False}
        if runner == "dask":
            options["address"] = cluster.scheduler_address  # type: ignore[union-attr]
        pipeline.run(
            runner,
            transactions=path,
            outputs={"scored": out + "/scored/"},  # a Parquet folder, as the peer writes
            quarantine=out + "/quarantine.parquet",
            max_invalid=1.0,
            overwrite=True,
            runner_options=options,
        )
    seconds, client_cpu = time.perf_counter() - start, cpu_s() - cpu0
    worker_mb = worker_cpu = 0.0
    if client is not None:
        worker_mb = max(client.run(hwm_mb).values())
        worker_cpu = sum(client.run(cpu_s).values()) - worker_cpu0
        client.close()
        cluster.close()  # type: ignore[union-attr]
    client_mb = hwm_mb()
    scored = pd.read_parquet(out + "/scored")
    bad = pd.read_parquet(out + "/quarantine" + ("" if runner == "peer" else ".parquet"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "client_mb": client_mb,
                "worker_mb": worker_mb,
                "client_cpu_s": client_cpu,
                "worker_cpu_s": worker_cpu,
                "rows": len(scored),
                "bad": len(bad),
                "checksum": float(scored["score"].sum()),
            }
        )
    )


def run_cell(runner: str, workers: int, path: Path, out: Path, which: str) -> dict[str, float]:
    """One cell in a fresh process."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SDK_LOG_LEVEL": "WARNING", "SDK_RUN_DIR": str(out / "runs")}
    cmd = [sys.executable, __file__, "--child", runner, str(workers), str(path), str(out), which]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{which}/{runner}/{workers} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def make_parquet(path: Path, rows: int) -> None:
    """The benchmark transactions (1 % bad rows) as Parquet, row groups of 500,000 rows."""
    import fraud_bench
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = fraud_bench.make_transactions(rows, 0.01)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, ROW_GROUP)


def label(runner: str, workers: int) -> str:
    """A cell's name in the table."""
    if runner == "peer":
        return f"hand-written dask.dataframe, {workers} worker{'s' * (workers > 1)}"
    return f"`{runner}`" + (f", {workers} worker{'s' * (workers > 1)}" if workers else "")


def table(rows: int, results: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    """One pipeline's table."""
    base = results[("local", 0)]
    lines = [
        "| runner | wall s | rows/s | x local | peak RSS client MB | max worker MB "
        "| output equal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for (runner, workers), r in results.items():
        equal = (
            r["rows"] == base["rows"]
            and r["bad"] == base["bad"]
            and abs(r["checksum"] - base["checksum"]) <= 1e-9 * abs(base["checksum"]) + 1e-6
        )
        worker = f"{r['worker_mb']:,.0f}" if workers else "-"
        lines.append(
            f"| {label(runner, workers)} | {r['seconds']:.1f} | {rows / r['seconds']:,.0f} | "
            f"{base['seconds'] / r['seconds']:.2f} | {r['client_mb']:,.0f} | {worker} | "
            f"{'yes' if equal else 'NO'} ({r['rows']:,} + {r['bad']:,} quarantined) |"
        )
    return lines


def targets(all_results: dict[str, dict[tuple[str, int], dict[str, float]]]) -> list[str]:
    """The issue's targets, met or not, with the numbers."""
    out = []
    rows = all_results["rows"]
    speedup = rows[("dask", 1)]["seconds"] / rows[("dask", 2)]["seconds"]
    out.append(
        f"- dask 2 workers ≥ 1.6x faster than 1 on the rows pipeline: **{speedup:.2f}x** — "
        f"{'met' if speedup >= 1.6 else 'not met'}."
    )
    for which, res in all_results.items():
        for n in (1, 2):
            ratio = res[("dask", n)]["seconds"] / res[("peer", n)]["seconds"]
            out.append(
                f"- ≤ 1.3x the hand-written dask code, {which}, {n} worker{'s' * (n > 1)}: "
                f"**{ratio:.2f}x** — {'met' if ratio <= 1.3 else 'not met'}."
            )
    worst = max(
        (max(r["client_mb"], r["worker_mb"]), which, runner, n)
        for which, res in all_results.items()
        for (runner, n), r in res.items()
        if runner in ("dask", "peer")
    )
    out.append(
        f"- no dask worker or client process above 1 GB: largest **{worst[0]:,.0f} MB** "
        f"({worst[1]}, {worst[2]} {worst[3]}) — {'met' if worst[0] <= 1024 else 'not met'}."
    )
    return out


def section(rows: int, quick: bool) -> str:
    """Run every cell and render the section."""
    out_root = HERE / "results" / "dask"
    out_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_root) as tmp:
        folder = Path(tmp)
        path = folder / "transactions.parquet"
        started = time.perf_counter()
        make_parquet(path, rows)
        gen = time.perf_counter() - started
        all_results: dict[str, dict[tuple[str, int], dict[str, float]]] = {}
        for which in PIPELINES:
            res = all_results[which] = {}
            for runner, workers in CELLS:
                cell = folder / f"{which}-{runner}-{workers}"
                res[(runner, workers)] = run_cell(runner, workers, path, cell, which)
                print(which, runner, workers, res[(runner, workers)], file=sys.stderr)
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "sdk", "plugins"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()[1::2]
    if dirty:
        rev += " with uncommitted changes to " + ", ".join(dirty)
    lines = [
        f"{'**Quick mode** (`--quick`), ' if quick else ''}{rows:,} rows "
        f"({rows // ROW_GROUP or 1} row groups, 1 % bad rows; generated in {gen:.0f} s), "
        f"one run per cell. Machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        + ", ".join(versions(["pandas", "pyarrow", "pandera", "dask", "distributed"]))
        + f"; revision {rev}.",
        "",
    ]
    for which, title in (
        ("rows", "Rows pipeline (one `rows` step: validate, score)"),
        ("fraud", "Fraud pipeline (`AddFeatures` `partition_by` customer_id, then `Score`)"),
    ):
        lines += [f"**{title}**", "", *table(rows, all_results[which]), ""]
    lines += ["Targets of issue 15:", "", *targets(all_results)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments; run the cells or one child cell."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        import bench_dask  # the steps by module name, importable on the workers

        runner, workers, path, out, which = sys.argv[2:7]
        bench_dask.child(runner, int(workers), path, out, which)
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="write the section into this Markdown file")
    parser.add_argument("--quick", action="store_true", help="1M rows, for development")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 10M)")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    text = section(rows, args.quick)
    print(text)
    if args.out:
        write_section(args.out, "bench-dask", text)


if __name__ == "__main__":
    main()
