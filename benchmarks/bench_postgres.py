"""Benchmark the PostgreSQL scheme: the SDK's COPY writer and streamed reader against pandas.

Usage (from the repository root, with the ``postgres`` extra installed)::

    python benchmarks/bench_postgres.py                    # 1,000,000 rows
    python benchmarks/bench_postgres.py --rows 100000      # quicker
    SDK_TEST_POSTGRES_URL=postgresql://u@host/db python benchmarks/bench_postgres.py

The frame has the shape of the fraud example's transactions: ``customer_id`` (int),
``amount`` (float), ``country`` (two-letter text). Each method is timed once with
``time.perf_counter``, on a table of its own that is dropped afterwards:

* write, ``sdk``: ``PostgresScheme().open_writer`` + ``write`` in chunks of 100,000 + ``commit``
  (binary COPY into a staging table, renamed in one transaction);
* write, ``to_sql multi``: ``DataFrame.to_sql(..., method="multi", chunksize=10000)``;
* write, ``to_sql``: ``DataFrame.to_sql`` with its defaults (executemany);
* read, ``sdk``: ``PostgresScheme().read_chunks(uri, 100000)`` (server-side cursor), all chunks;
* read, ``read_sql``: ``pd.read_sql("SELECT * FROM t", engine)``.

The table it prints has, per operation, seconds, rows per second, and how many times slower than
the SDK each method is (``x sdk``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Fall back to the working tree's sdk when it is not installed (appended: an install wins).
sys.path.append(str(Path(__file__).resolve().parent.parent))

from sdk.io.postgres import PostgresScheme

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK_ROWS = 100_000
TIMES = "\N{MULTIPLICATION SIGN}"
COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "JP", "CA", "AU")


def make_transactions(rows: int, seed: int = 0) -> pd.DataFrame:
    """A clean frame shaped like the fraud example's transactions."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, 10_000, rows, dtype=np.int64),
            "amount": np.round(rng.lognormal(3.5, 1.2, rows), 2),
            "country": np.asarray(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), rows)],
        }
    )


def _timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _uri(url: str, table: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}table={table}"


def _sdk_write(frame: pd.DataFrame, uri: str) -> None:
    writer = PostgresScheme().open_writer(uri, None)
    for start in range(0, len(frame), CHUNK_ROWS):
        writer.append(frame.iloc[start : start + CHUNK_ROWS])
    writer.commit()


def _sdk_read(uri: str) -> int:
    return sum(len(c.frame) for c in PostgresScheme().read_chunks(uri, CHUNK_ROWS))


def main(rows: int, url: str | None = None) -> list[dict[str, Any]]:
    """Time the writes and reads of ``rows`` rows; return one record per (operation, method).

    Args:
        rows: number of rows to write and read back.
        url: the server (default: ``SDK_TEST_POSTGRES_URL``, else the local test server).

    Returns:
        Records with ``operation``, ``method``, ``rows``, ``seconds``, ``rows_per_s`` and
        ``x_sdk`` (seconds divided by the SDK's seconds for the same operation).
    """
    import sqlalchemy as sa

    url = url or os.environ.get("SDK_TEST_POSTGRES_URL", DEFAULT_URL)
    engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
    frame = make_transactions(rows)
    prefix = f"bench_{secrets.token_hex(3)}"
    tables = {"sdk": f"{prefix}_sdk", "multi": f"{prefix}_multi", "default": f"{prefix}_default"}
    timings: list[tuple[str, str, float]] = []
    try:
        _sdk_write(frame.iloc[:1000], _uri(url, tables["sdk"]))  # warm-up: imports, connect
        timings.append(
            ("write", "sdk", _timed(lambda: _sdk_write(frame, _uri(url, tables["sdk"]))))
        )
        timings.append(
            (
                "write",
                "to_sql multi",
                _timed(
                    lambda: frame.to_sql(
                        tables["multi"], engine, index=False, method="multi", chunksize=10_000
                    )
                ),
            )
        )
        timings.append(
            (
                "write",
                "to_sql",
                _timed(lambda: frame.to_sql(tables["default"], engine, index=False)),
            )
        )
        read_back: dict[str, int] = {}
        timings.append(
            (
                "read",
                "sdk",
                _timed(lambda: read_back.update(sdk=_sdk_read(_uri(url, tables["sdk"])))),
            )
        )
        query = f"SELECT * FROM {tables['sdk']}"
        timings.append(
            (
                "read",
                "read_sql",
                _timed(lambda: read_back.update(pandas=len(pd.read_sql(query, engine)))),
            )
        )
        if read_back != {"sdk": rows, "pandas": rows}:
            raise RuntimeError(f"read back {read_back}, expected {rows} rows each")
    finally:
        with engine.begin() as conn:
            for table in tables.values():
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        engine.dispose()
    sdk_seconds = {op: s for op, method, s in timings if method == "sdk"}
    return [
        {
            "operation": op,
            "method": method,
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rows / seconds,
            "x_sdk": seconds / sdk_seconds[op],
        }
        for op, method, seconds in timings
    ]


def render(records: list[dict[str, Any]]) -> str:
    """The records as a markdown table."""
    lines = [
        f"| operation | method | rows | seconds | rows/s | {TIMES} sdk |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['operation']} | {r['method']} | {r['rows']:,} | {r['seconds']:.2f} | "
        f"{r['rows_per_s']:,.0f} | {r['x_sdk']:.1f} |"
        for r in records
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to write and read")
    parser.add_argument("--url", default=None, help="PostgreSQL URL (default: the test server)")
    args = parser.parse_args()
    print(render(main(args.rows, args.url)))
