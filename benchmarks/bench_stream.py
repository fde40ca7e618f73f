"""The stream runner against a real Redis, beside the redis-py loop a user would write instead.

Usage (from the repository root, with Redis at ``SDK_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/0``, and PostgreSQL at ``SDK_TEST_POSTGRES_URL``)::

    python benchmarks/bench_stream.py                            # 100k entries, median of 3
    python benchmarks/bench_stream.py --quick                    # 20k entries, one run
    python benchmarks/bench_stream.py --out docs/performance.md  # also write the table there
    python benchmarks/bench_stream.py --profile                  # cProfile of sdk, batch 1,000

A stream of order entries (``order_id``, ``quantity``, ``unit_price`` as text; 0.25 % with a
malformed price) is filled once; every throughput cell drains all of it through a consumer group
of its own, in a fresh subprocess (``--one``) so that its peak RSS (``VmHWM``) is its own:

- **sdk, batch N** — ``pipeline.run("stream", ...)`` of a one-step ``rows`` pipeline (``Price``:
  the order's total, as in tests/test_stream.py) into an output stream, the quarantine into
  ``NAME:quarantine``, ``max_batch_rows=N``; logs at INFO (the production level, one
  ``unit_committed`` per micro-batch);
- **sdk, PostgreSQL** — the same into a PostgreSQL table with the quarantine in a table beside
  it: exactly-once (rows, quarantine and consumed ids in one transaction, then XACK);
- **hand-written** — XREADGROUP count=1000 → DataFrame → ``pd.to_numeric(errors="coerce")`` and
  range checks as vectorised expressions → one pipelined XADD per output row (and per bad row,
  to a quarantine stream) → XACK: the loop a user writes instead.

The clock starts when the consumer is called (imports and pipeline construction are before it:
for the sdk also the modules a stream run imports on first use, as the hand-written loop imports
redis-py before its clock)
and stops when the last micro-batch is acknowledged: for the sdk, at the ``ts`` of its last
``unit_committed`` event (the idle wait that ends the run is excluded); for the hand-written loop,
after its last XACK. Latency: a producer thread XADDs at a steady rate (1,000 entries/s for
10 s) while the consumer runs (``max_latency_ms=5``); an entry's latency is its output entry's id
time minus its input entry's id time (both Redis server clocks, 1 ms resolution). ``--profile``
runs the sdk cell at batch 1,000 under cProfile and prints the functions that take the time.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _report import cpu_model, write_section
from _report import versions as versions_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

REDIS = os.environ.get("SDK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
RESULT_PREFIX = "BENCH_RESULT "
BAD_EVERY = 400  # one malformed price in 400 entries: 0.25 %
IDLE_S = 0.5  # the sdk run ends after this long with nothing to read


@dataclass
class Cell:
    """One measured run (or the median of several)."""

    variant: str
    batch: int
    rows: int = 0
    seconds: float = float("nan")
    peak_rss_mb: float = float("nan")
    written: int = 0
    quarantined: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    rate: float = float("nan")
    error: str = ""
    runs: int = 1

    @property
    def rows_per_s(self) -> float:
        """Rows consumed per second."""
        return self.rows / self.seconds if self.seconds else float("nan")


@dataclass
class Job:
    """What a ``--one`` subprocess runs."""

    variant: str  # sdk, hand
    stream: str
    group: str
    batch: int
    out: str  # a Redis stream, or a PostgreSQL table prefix for variant sdk with postgres
    postgres: bool = False
    latency_ms: int = 100
    idle_s: float = IDLE_S
    profile: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The data and the pipeline
# --------------------------------------------------------------------------------------------


def make_orders(n: int, seed: int = 0) -> Any:
    """``n`` order entries as text, one in ``BAD_EVERY`` with the price ``n/a``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    prices = np.round(rng.uniform(1, 100, n), 2).astype(str).astype(object)
    prices[::BAD_EVERY] = "n/a"
    return pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1).astype(str),
            "quantity": rng.integers(1, 50, n).astype(str),
            "unit_price": prices,
        }
    )


def fill(client: Any, stream: str, frame: Any) -> None:
    """XADD every row of ``frame``, pipelined in rounds of 10,000."""
    records = frame.to_dict(orient="records")
    for start in range(0, len(records), 10_000):
        pipe = client.pipeline(transaction=False)
        for row in records[start : start + 10_000]:
            pipe.xadd(stream, row)
        pipe.execute()


def price_pipeline() -> Any:
    """The ``Price`` pipeline of tests/test_stream.py: one ``rows`` step, an order's total."""
    import pandera.pandas as pa
    from pandera.typing import DataFrame

    from sdk import Pipeline, Step

    class Order(pa.DataFrameModel):
        """An order line."""

        order_id: int = pa.Field(ge=1)
        quantity: int = pa.Field(ge=1, le=1000)
        unit_price: float = pa.Field(ge=0)

        class Config:
            coerce = True

    class Priced(Order):
        """With its total."""

        total: float = pa.Field(ge=0)

    class Price(Step):
        """Total of each order line."""

        scope = "rows"

        def run(self, orders: DataFrame[Order]) -> DataFrame[Priced]:
            return orders.assign(total=orders["quantity"] * orders["unit_price"])  # type: ignore[return-value]

    return Pipeline([Price()], name="orders")


# --------------------------------------------------------------------------------------------
# Inside the subprocess: one consumer
# --------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's own peak RSS in MB (``VmHWM``: ``ru_maxrss`` survives fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**10
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def _sdk(job: Job) -> dict[str, Any]:
    """Run the stream runner; the parent reads the end time from its last log event."""
    pipeline = price_pipeline()
    source = f"{REDIS}?stream={job.stream}&group={job.group}&consumer=c1"
    if job.postgres:
        outputs = {"price": f"{POSTGRES}?table={job.out}"}
        quarantine = f"{POSTGRES}?table={job.out}_q"
    else:
        outputs = {"price": f"{REDIS}?stream={job.out}"}
        quarantine = f"{REDIS}?stream={job.out}:quarantine"
    options = {
        "max_batch_rows": job.batch,
        "max_latency_ms": job.latency_ms,
        "idle_timeout_s": job.idle_s,
        "progress": False,
    }
    run = {
        "orders": source,
        "outputs": outputs,
        "quarantine": quarantine,
        "max_invalid": 1.0,
        "runner_options": options,
    }
    # imports are before the clock, as the hand-written loop's (pandas, redis): the modules a
    # stream run imports on first use (the runner, Redis I/O and redis-py, the policy checker);
    # the run's own work (plugins, the policy check, connections, the group) is timed
    import importlib

    for module in ("redis", "sdk.runners.stream", "sdk.io.redis", "sdk.policy"):
        importlib.import_module(module)
    start = time.time()
    if job.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(pipeline.run, "stream", **run)
        profiler.dump_stats(job.profile)
    else:
        result = pipeline.run("stream", **run)
    return {"start": start, "end": None, "rows": result.rows_in, "status": result.status}


def _hand(job: Job) -> dict[str, Any]:
    """The loop a user writes: XREADGROUP, vectorised checks in pandas, XADD per row, XACK."""
    import pandas as pd
    import redis

    client: Any = redis.Redis.from_url(REDIS, decode_responses=True)
    with contextlib.suppress(redis.ResponseError):  # the group exists
        client.xgroup_create(job.stream, job.group, id="0", mkstream=True)
    start = end = time.time()
    rows = 0
    idle_since = time.monotonic()
    while True:
        reply = client.xreadgroup(
            job.group, "c1", {job.stream: ">"}, count=job.batch, block=job.latency_ms
        )
        if not reply or not reply[0][1]:
            if time.monotonic() - idle_since > job.idle_s:
                break
            continue
        entries = reply[0][1]
        ids = [entry for entry, _ in entries]
        frame = pd.DataFrame([fields for _, fields in entries])
        order_id = pd.to_numeric(frame["order_id"], errors="coerce")
        quantity = pd.to_numeric(frame["quantity"], errors="coerce")
        unit_price = pd.to_numeric(frame["unit_price"], errors="coerce")
        ok = (
            (order_id >= 1)
            & (order_id % 1 == 0)
            & quantity.between(1, 1000)
            & (quantity % 1 == 0)
            & (unit_price >= 0)
        )
        priced = pd.DataFrame(
            {
                "order_id": order_id[ok].astype("int64"),
                "quantity": quantity[ok].astype("int64"),
                "unit_price": unit_price[ok],
                "total": quantity[ok] * unit_price[ok],
            }
        )
        pipe = client.pipeline(transaction=False)
        for row in priced.astype(str).to_dict(orient="records"):
            pipe.xadd(job.out, row)
        for row in frame[~ok].to_dict(orient="records"):
            pipe.xadd(f"{job.out}:quarantine", {**row, "check": "order checks"})
        pipe.execute()
        client.xack(job.stream, job.group, *ids)
        rows += len(ids)
        end = time.time()
        idle_since = time.monotonic()
    return {"start": start, "end": end, "rows": rows, "status": "succeeded"}


def run_job(job: Job) -> None:
    """Run one job in this process and print its result line."""
    outcome = _sdk(job) if job.variant == "sdk" else _hand(job)
    outcome["peak_rss_mb"] = _peak_rss_mb()
    print(RESULT_PREFIX + json.dumps(outcome), flush=True)


# --------------------------------------------------------------------------------------------
# The parent: data, subprocesses, checks, table
# --------------------------------------------------------------------------------------------


def _connect() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS, decode_responses=True)
    client.ping()
    return client


def _last_commit(stderr: str) -> float | None:
    """The time of the last ``unit_committed`` event in a run's JSON log lines (epoch s)."""
    last = None
    for line in stderr.splitlines():
        if '"unit_committed"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "unit_committed":
            last = record["ts"]
    return dt.datetime.fromisoformat(last).timestamp() if last else None


def spawn(job: Job, log: Path) -> subprocess.Popen[str]:
    """Start a ``--one`` subprocess for ``job``, its JSON logs to the file ``log`` (not a
    pipe: a consumer logging into a pipe nobody reads yet would stall once it is full)."""
    env = {**os.environ, "SDK_LOG_FORMAT": "json", "SDK_LOG_LEVEL": "INFO"}
    env["SDK_RUN_DIR"] = str(log.parent / "runs")
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, __file__, "--one", json.dumps(asdict(job))],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )


def finish(
    process: subprocess.Popen[str], job: Job, log: Path, timeout: float = 600
) -> dict[str, Any]:
    """Wait for ``process``; its result, the end time taken from its log for the sdk."""
    stdout, _ = process.communicate(timeout=timeout)
    stderr = log.read_text()
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{job.variant} failed ({process.returncode}):\n{stderr[-3000:]}")
    if job.profile:
        print("\n".join(line for line in stdout.splitlines() if not line.startswith(RESULT_PREFIX)))
    outcome: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    if outcome["end"] is None:
        outcome["end"] = _last_commit(stderr)
    return outcome


def _pg_sql(statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall() if cursor.description else []


def throughput(
    client: Any, folder: Path, stream: str, variant: str, batch: int, postgres: bool
) -> Cell:
    """Drain ``stream`` once in a fresh process through a fresh group; count what was written."""
    tag = secrets.token_hex(3)
    out = f"bench_stream_{tag}" if postgres else f"{stream}:out:{tag}"
    job = Job(variant, stream, f"g-{tag}", batch, out, postgres=postgres)
    label = "sdk, PostgreSQL" if postgres else ("hand-written" if variant == "hand" else "sdk")
    cell = Cell(label, batch)
    try:
        log = folder / f"{tag}.log"
        outcome = finish(spawn(job, log), job, log)
        cell.rows = int(outcome["rows"])
        cell.seconds = outcome["end"] - outcome["start"]
        cell.peak_rss_mb = outcome["peak_rss_mb"]
        if postgres:
            cell.written = _pg_sql(f'SELECT COUNT(*) FROM "{out}"')[0][0]
            cell.quarantined = _pg_sql(f'SELECT COUNT(*) FROM "{out}_q"')[0][0]
        else:
            cell.written, cell.quarantined = client.xlen(out), client.xlen(f"{out}:quarantine")
    except Exception as exc:  # the table says why a cell has no number
        cell.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        client.delete(out, f"{out}:quarantine")
        if postgres:
            _drop_postgres(out, stream)
    return cell


def _drop_postgres(table: str, stream: str) -> None:
    with contextlib.suppress(Exception):  # nothing to clean when the server is unreachable
        _pg_sql(f'DROP TABLE IF EXISTS "{table}"')
        _pg_sql(f'DROP TABLE IF EXISTS "{table}_q"')
        _pg_sql(f"DELETE FROM sdk_consumed WHERE source LIKE '%stream={stream}&%'")


def latency(client: Any, folder: Path, variant: str, rate: int, seconds: float, frame: Any) -> Cell:
    """p50/p99 of output id time minus input id time, a producer XADDing at ``rate``."""
    stream = f"bench-stream-lat-{secrets.token_hex(4)}"
    out = f"{stream}:out"
    n = int(rate * seconds)
    job = Job(variant, stream, "g", 1000, out, latency_ms=5, idle_s=2.0)
    cell = Cell(f"{'hand-written' if variant == 'hand' else 'sdk'}, {rate:,}/s", 1000)
    log = folder / f"{stream}.log"
    process = spawn(job, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(Exception):  # the stream and group do not exist yet
                if any(g["name"] == "g" for g in client.xinfo_groups(stream)):
                    break
            time.sleep(0.05)
        time.sleep(1.0)  # the group is created just before the consumer's loop starts
        records = frame.iloc[:n].to_dict(orient="records")
        start = time.perf_counter()
        for i, row in enumerate(records):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            client.xadd(stream, row)
        cell.rate = n / (time.perf_counter() - start)
        outcome = finish(process, job, log)
        sent = {f["order_id"]: int(i.split("-")[0]) for i, f in client.xrange(stream)}
        got = [int(i.split("-")[0]) - sent[f["order_id"]] for i, f in client.xrange(out)]
        cell.rows, cell.written = int(outcome["rows"]), len(got)
        cell.quarantined = client.xlen(f"{out}:quarantine")
        cell.peak_rss_mb = outcome["peak_rss_mb"]
        cuts = statistics.quantiles(got, n=100, method="inclusive")
        cell.p50_ms, cell.p99_ms = statistics.median(got), cuts[98]
    except Exception as exc:
        process.kill()
        cell.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        client.delete(stream, out, f"{out}:quarantine")
    return cell


def median_cell(cells: Sequence[Cell]) -> Cell:
    """The run of median throughput (its RSS and counts with it)."""
    good = [c for c in cells if not c.error]
    if not good:
        return cells[0]
    good.sort(key=lambda c: c.rows_per_s)
    chosen = good[len(good) // 2]
    chosen.runs = len(good)
    return chosen


def revision() -> str:
    """The measured tree: its commit, and whether ``sdk/`` has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "sdk"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {commit}" + (" with uncommitted changes to sdk/" if dirty else "")


def machine_info(rows: int, repeat: int, tree: str) -> str:
    """The machine, the versions, the date and how it was measured."""
    cpu = cpu_model()
    versions = versions_of(("pandas", "pandera", "redis", "hiredis", "psycopg", "pipeline-sdk"))
    server = _connect().info("server").get("redis_version", "?")
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Measured {today} on {os.cpu_count()} CPUs ({cpu}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, Redis {server} on the same "
        f"machine, {', '.join(versions)}; the sdk at {tree}. A stream pre-filled with "
        f"{rows:,} order entries (0.25 % with a malformed price), drained by each consumer "
        f"through a consumer group of its own, in a fresh process; throughput is the median of "
        f"{repeat} runs (runs interleaved), from the call to the consumer to its last XACK "
        "(imports and idle wait excluded). Latency: a producer XADDs one entry per millisecond "
        "for 10 s while the consumer runs (`max_latency_ms=5`; the hand-written loop blocks "
        "5 ms); latency = output "
        "entry id time minus input entry id time. Peak RSS: the consumer process's `VmHWM`."
    )


def render(cells: Sequence[Cell], lat: Sequence[Cell], info: str) -> str:
    """The markdown section (without the markers)."""
    hand = next((c for c in cells if c.variant == "hand-written" and not c.error), None)
    lines = [
        info,
        "",
        "| consumer | batch | rows | rows/s | x hand-written | written | quarantined "
        "| peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        if c.error:
            lines.append(
                f"| {c.variant} | {c.batch:,} | error: {c.error.replace('|', '/')} | | | | | |"
            )
            continue
        ratio = f"{c.rows_per_s / hand.rows_per_s:.2f}" if hand else ""
        lines.append(
            f"| {c.variant} | {c.batch:,} | {c.rows:,} | {c.rows_per_s:,.0f} | {ratio} "
            f"| {c.written:,} | {c.quarantined:,} | {c.peak_rss_mb:.0f} |"
        )
    lines += [
        "",
        "| consumer, rate | entries | achieved rate /s | p50 ms | p99 ms | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in lat:
        if c.error:
            lines.append(f"| {c.variant} | error: {c.error.replace('|', '/')} | | | | |")
            continue
        lines.append(
            f"| {c.variant} | {c.written:,} | {c.rate:,.0f} | {c.p50_ms:.0f} | {c.p99_ms:.0f} "
            f"| {c.peak_rss_mb:.0f} |"
        )
    return "\n".join(lines) + "\n"


def profile(client: Any, folder: Path, stream: str, top: int) -> None:
    """cProfile the sdk at batch 1,000 and print the top functions."""
    import pstats

    path = str(folder / "stream.prof")
    job = Job("sdk", stream, f"g-prof-{secrets.token_hex(3)}", 1000, f"{stream}:out:prof")
    job.profile = path
    try:
        outcome = finish(spawn(job, folder / "prof.log"), job, folder / "prof.log")
    finally:
        client.delete(job.out, f"{job.out}:quarantine")
    seconds = outcome["end"] - outcome["start"]
    print(f"profiled: {outcome['rows']:,} rows in {seconds:.2f} s (under cProfile)")
    stats = pstats.Stats(path)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="0: latency only")
    parser.add_argument("--batches", default="100,1000,10000")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="20k entries, one run")
    parser.add_argument("--profile", action="store_true", help="cProfile the sdk at batch 1,000")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--revision", help="what was measured (default: from git)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Fill the stream, run every cell, print the table and write it into ``--out``."""
    args = parse_args(argv)
    if args.one:
        run_job(Job(**json.loads(args.one)))
        return 0
    sys.path[:0] = [str(ROOT)]
    if args.quick:
        args.rows, args.repeat, args.seconds = 20_000, 1, 5.0
    client = _connect()
    stream = f"bench-stream-{secrets.token_hex(4)}"
    frame = make_orders(max(args.rows, int(args.rate * args.seconds)))
    fill(client, stream, frame.iloc[: args.rows])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            if args.profile:
                profile(client, folder, stream, args.top)
                return 0
            plan = [("sdk", int(b), False) for b in args.batches.split(",")]
            plan += [("hand", 1000, False), ("sdk", 1000, True)]
            runs: dict[tuple[str, int, bool], list[Cell]] = {key: [] for key in plan}
            for _ in range(args.repeat):
                for key in plan:
                    cell = throughput(client, folder, stream, *key)
                    print(
                        f"{cell.variant} batch {cell.batch}: {cell.rows_per_s:,.0f} rows/s "
                        f"{cell.error}",
                        flush=True,
                    )
                    runs[key].append(cell)
            cells = [median_cell(runs[key]) for key in plan if runs[key]]
            lat = [
                latency(client, folder, v, args.rate, args.seconds, frame) for v in ("sdk", "hand")
            ]
        finally:
            client.delete(stream)
    section = render(cells, lat, machine_info(args.rows, args.repeat, args.revision or revision()))
    print(section)
    if args.out:
        write_section(args.out, "bench-stream", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
