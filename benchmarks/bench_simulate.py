"""Synthesizing rows, injecting faults and replaying them: how long ``sdk.simulate`` takes.

Usage (from the repository root)::

    python benchmarks/bench_simulate.py                            # 1M rows, median of 3
    python benchmarks/bench_simulate.py --quick                    # 100k rows, one run
    python benchmarks/bench_simulate.py --out docs/performance.md  # also write the table there

Two models: the fraud example's ``Transactions`` (3 columns: an int range, a float range, a
two-letter pattern) and ``Orders`` below (15 columns: unique ints and unique patterned codes,
an e-mail pattern, a nullable float range, an ``isin`` set, bools, bounded datetimes,
categories, a length-checked nullable text, an excluded value, a start/end pattern, uint8 and
nullable Int64). For each, after a warm-up on 1,000 rows (imports, model compilation), the
clock covers :func:`sdk.simulate.synthesize` of ``--rows`` rows, then
:func:`sdk.simulate.inject_faults` at 1 % missing, malformed and out-of-range on those rows;
the median of ``--repeat`` runs is reported. Every synthesized frame is checked with the
model's own ``validate`` (not timed). :func:`sdk.simulate.replay` of 100,000 rows is timed as
fast as possible into a JSON lines file and, when a server answers at ``--redis`` (default
``SDK_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379/0``), into a Redis stream (deleted after).

The table is printed and, with ``--out``, written between the markers
``<!-- bench-simulate:start -->`` and ``<!-- bench-simulate:end -->``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from _report import write_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.append(str(ROOT))  # the working tree's sdk and examples when not installed

from examples.fraud.pipeline import Transactions  # noqa: E402
from sdk.simulate import inject_faults, replay, synthesize  # noqa: E402

REPLAY_ROWS = 100_000


class Orders(pa.DataFrameModel):
    """A richer model: every kind of column and check synthesize understands."""

    order_id: int = pa.Field(ge=1, unique=True)
    code: str = pa.Field(str_matches=r"^[A-Z]{2}-\d{4}$", unique=True)
    email: str = pa.Field(str_matches=r"^[a-z]+@[a-z]+\.com$")
    amount: float = pa.Field(gt=0, lt=500, nullable=True)
    qty: int = pa.Field(in_range={"min_value": 1, "max_value": 99})
    status: str = pa.Field(isin=["new", "paid", "void"])
    paid: bool
    at: pd.Timestamp = pa.Field(ge=pd.Timestamp("2024-01-01"), lt=pd.Timestamp("2025-01-01"))
    level: pd.CategoricalDtype = pa.Field(dtype_kwargs={"categories": ["lo", "mid", "hi"]})
    tag: pd.CategoricalDtype
    note: str = pa.Field(str_length={"min_value": 2, "max_value": 5}, nullable=True)
    small: int = pa.Field(ne=3, ge=0, le=5)
    byte: np.uint8 = pa.Field(ge=200)
    maybe: pd.Int64Dtype = pa.Field(nullable=True, ge=-5)
    ref: str = pa.Field(str_startswith="R-", str_endswith="!")


def _median_seconds(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _bench_model(model: type[pa.DataFrameModel], rows: int, repeat: int) -> dict[str, Any]:
    synthesize(model, 1_000, seed=0)  # warm-up: imports, compiled model, pandera backends
    seconds, frame = _median_seconds(lambda: synthesize(model, rows, seed=1), repeat)
    model.validate(frame, lazy=True)
    fault_s, (_, truth) = _median_seconds(lambda: inject_faults(frame, model, seed=2), repeat)
    return {
        "model": model.__name__,
        "columns": frame.shape[1],
        "rows": rows,
        "synthesize_s": seconds,
        "faults_s": fault_s,
        "faults": len(truth),
    }


def _redis_reachable(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def _bench_replay(redis_url: str, repeat: int) -> list[dict[str, Any]]:
    frame = synthesize(Transactions, REPLAY_ROWS, seed=3)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        target = str(Path(tmp) / "rows.jsonl")
        seconds, _ = _median_seconds(lambda: replay(frame, target), repeat)
        out.append({"target": "JSON lines file", "rows": REPLAY_ROWS, "seconds": seconds})
    if _redis_reachable(redis_url):
        import redis

        stream = f"sdk-bench-simulate-{uuid.uuid4().hex[:8]}"
        try:
            seconds, _ = _median_seconds(
                lambda: replay(frame, f"{redis_url}?stream={stream}"), repeat
            )
        finally:
            redis.Redis.from_url(redis_url).delete(stream)
        out.append({"target": "Redis stream (XADD)", "rows": REPLAY_ROWS, "seconds": seconds})
    return out


def _table(models: list[dict[str, Any]], replays: list[dict[str, Any]], repeat: int) -> str:
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("pandas", "numpy", "pandera"))
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()} "
        f"({os.cpu_count()} CPUs), Python {platform.python_version()}, {versions}; "
        f"median of {repeat}.",
        "",
        "| model | columns | rows | synthesize (s) | rows/s | inject_faults 1 % each (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        lines.append(
            f"| {m['model']} | {m['columns']} | {m['rows']:,} | {m['synthesize_s']:.2f} | "
            f"{m['rows'] / m['synthesize_s']:,.0f} | {m['faults_s']:.2f} |"
        )
    lines += ["", "| replay into | rows | seconds | rows/s |", "|---|---:|---:|---:|"]
    for r in replays:
        lines.append(
            f"| {r['target']} | {r['rows']:,} | {r['seconds']:.2f} | "
            f"{r['rows'] / r['seconds']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table (and write it with ``--out``); return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to synthesize")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--quick", action="store_true", help="100k rows, one run")
    parser.add_argument(
        "--redis",
        default=os.environ.get("SDK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis server for the replay row (skipped when it does not answer)",
    )
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    args = parser.parse_args(argv)
    rows, repeat = (100_000, 1) if args.quick else (args.rows, args.repeat)
    models = [_bench_model(model, rows, repeat) for model in (Transactions, Orders)]
    table = _table(models, _bench_replay(args.redis, repeat), repeat)
    print(table)
    if args.out:
        write_section(args.out, "bench-simulate", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
