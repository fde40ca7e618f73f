"""The stream runner killed with SIGKILL and restarted, against a real Redis: nothing is lost.

A consumer subprocess drains a pre-filled stream of 5,000 orders (1 in 100 malformed) in
micro-batches of 100 and is killed (``SDK_FAILPOINTS``) at one of three points: after a read
(mid-batch), after the sink write before the XACK, or after claiming entries a dead consumer
left pending. The same group and consumer are then restarted until the stream is drained, and
every order id is counted: each one ends as an output row or a quarantine record. Redis
streams of another database and JSON lines sinks are at-least-once (the killed micro-batch may
be written twice: counted, never more than that batch); SQLite and PostgreSQL sinks, and Redis
streams of the source's server and database (written and acknowledged by one script), are
exactly-once (no duplicates).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis
from conftest import REDIS, require_service
from test_stream import fill, orders, pipeline, source

from sdk.runs import list_runs
from sdk.testing import capture_logs

PG_URL = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

ROWS, BAD_PER_100, BATCH = 5000, 1, 100
KILL_AT = 7  # the failpoint fires the 7th time it is reached: mid-run, well after the start
OPTIONS = {"max_batch_rows": BATCH, "max_latency_ms": 20, "idle_timeout_s": 0.3}
DEAD_PENDING = 300  # entries read by a consumer that died without acknowledging them

# The child imports the pipeline from tests/orders_stream.py, not test_stream, which imports
# scikit-learn (seconds per process).
CONSUMER = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from orders_stream import pipeline

request = json.loads(sys.argv[1])
pipeline.run("stream", **request)
"""


@attrs.frozen
class Sink:
    """Where a consumer writes, and how to read back the order ids that ended there."""

    outputs: dict[str, str]
    quarantine: str | None
    exactly_once: bool
    collect: Callable[[], tuple[list[int], list[int]]]  # (output ids, quarantined ids)
    consumed: Callable[[], int] | None = None  # ids in sdk_consumed (exactly-once sinks)


@attrs.frozen
class Killed:
    """A consumer process that ended (killed, if its failpoint was reached)."""

    pid: int
    returncode: int
    stderr: str


@pytest.fixture
def stream(client: Any) -> Iterator[str]:
    """A fresh stream name; the stream and its companions are deleted after the test."""
    name = f"sdk-crash-{uuid.uuid4().hex[:10]}"
    yield name
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def _pg_sql(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def postgres(stream: str) -> Iterator[str]:
    """A unique table prefix on the test server (tables and consumed ids removed after), or
    a skip (a failure in CI) when it cannot be reached."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5):
            pass
    except Exception as exc:
        require_service("postgres", f"{PG_URL}: {exc}")
    prefix = f"sdk_crash_{secrets.token_hex(4)}"
    yield prefix
    for (table,) in _pg_sql(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)
    ):
        _pg_sql(f'DROP TABLE IF EXISTS "{table}"')
    if _pg_sql("SELECT 1 FROM pg_tables WHERE tablename = 'sdk_consumed'"):
        _pg_sql("DELETE FROM sdk_consumed WHERE source LIKE %s", (f"%stream={stream}&%",))


def _row_id(record: dict[str, Any]) -> int:
    """The order id of a quarantine record's original row."""
    return int(json.loads(record["row"])["order_id"])


def redis_sink(client: Any, stream: str) -> Sink:
    """Outputs to the stream ``NAME:out``, quarantine to ``NAME:quarantine`` (the default),
    both on the source's Redis: written and acknowledged by one script, exactly once."""

    def collect() -> tuple[list[int], list[int]]:
        out = [int(f["order_id"]) for _, f in client.xrange(f"{stream}:out")]
        quarantined = [_row_id(f) for _, f in client.xrange(f"{stream}:quarantine")]
        return out, quarantined

    return Sink({"price": f"{REDIS}?stream={stream}:out"}, None, True, collect)


def other_database(url: str) -> str:
    """``url`` with the next database number: the same server, another keyspace."""
    base, _, db = url.rstrip("/").rpartition("/")
    number = int(db) + 1 if db.isdigit() else 1
    return f"{base if db.isdigit() else url.rstrip('/')}/{number}"


@pytest.fixture
def elsewhere(stream: str) -> Iterator[Any]:
    """A client of another database of the test server; the stream's keys there deleted."""
    other = redis.Redis.from_url(other_database(REDIS), decode_responses=True)
    yield other
    for key in other.scan_iter(f"{stream}*"):
        other.delete(key)


def redis_elsewhere_sink(other: Any, stream: str) -> Sink:
    """Outputs and quarantine to streams of another database: appended, then acknowledged
    (at least once)."""

    def collect() -> tuple[list[int], list[int]]:
        out = [int(f["order_id"]) for _, f in other.xrange(f"{stream}:out")]
        quarantined = [_row_id(f) for _, f in other.xrange(f"{stream}:quarantine")]
        return out, quarantined

    url = other_database(REDIS)
    outputs = {"price": f"{url}?stream={stream}:out"}
    return Sink(outputs, f"{url}?stream={stream}:quarantine", False, collect)


def jsonl_sink(folder: Path) -> Sink:
    """Outputs and quarantine appended to JSON lines files."""
    out, q = folder / "priced.jsonl", folder / "quarantine.jsonl"

    def collect() -> tuple[list[int], list[int]]:
        def lines(path: Path) -> list[dict[str, Any]]:
            text = path.read_text() if path.exists() else ""
            return [json.loads(line) for line in text.splitlines() if line.strip()]

        return [int(r["order_id"]) for r in lines(out)], [_row_id(r) for r in lines(q)]

    return Sink({"price": str(out)}, str(q), False, collect)


def sqlite_sink(folder: Path) -> Sink:
    """Outputs to a SQLite table; the quarantine defaults to ``sdk_quarantine`` beside it."""
    db = folder / "orders.db"

    def collect() -> tuple[list[int], list[int]]:
        with sqlite3.connect(db) as conn:
            out = [r[0] for r in conn.execute("SELECT order_id FROM priced")]
            rows = conn.execute("SELECT row FROM sdk_quarantine").fetchall()
        return out, [_row_id({"row": r[0]}) for r in rows]

    def consumed() -> int:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM sdk_consumed").fetchone()[0])

    return Sink({"price": f"sqlite:///{db}?table=priced"}, None, True, collect, consumed)


def postgres_sink(prefix: str, stream: str) -> Sink:
    """Outputs and quarantine to tables of their own in the PostgreSQL test database."""
    priced, quarantine = f"{prefix}_priced", f"{prefix}_quarantine"

    def collect() -> tuple[list[int], list[int]]:
        out = [int(r[0]) for r in _pg_sql(f'SELECT order_id FROM "{priced}"')]
        rows = _pg_sql(f'SELECT "row" FROM "{quarantine}"')
        return out, [_row_id({"row": r[0]}) for r in rows]

    def consumed() -> int:
        query = "SELECT COUNT(*) FROM sdk_consumed WHERE source LIKE %s"
        return int(_pg_sql(query, (f"%stream={stream}&%",))[0][0])

    return Sink(
        {"price": f"{PG_URL}?table={priced}"},
        f"{PG_URL}?table={quarantine}",
        True,
        collect,
        consumed,
    )


def consume(stream: str, sink: Sink, options: dict[str, Any], failpoint: str) -> Killed:
    """Run a consumer in its own process with ``failpoint`` armed, until it is killed there."""
    request: dict[str, Any] = {
        "orders": source(stream),
        "outputs": sink.outputs,
        "runner_options": options,
    }
    if sink.quarantine is not None:
        request["quarantine"] = sink.quarantine
    count = 2 if failpoint == CLAIM else KILL_AT  # the second claim: one claimed batch done
    env = {**os.environ, "SDK_FAILPOINTS": f"{failpoint}={count}"}
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CONSUMER), json.dumps(request)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    _, stderr = process.communicate(timeout=120)
    return Killed(process.pid, process.returncode, stderr)


CLAIM = "stream.after_claim"
CASES = [
    pytest.param("redis", "stream.after_read", id="redis-after_read"),
    pytest.param("redis", "stream.after_write", id="redis-after_write"),
    pytest.param("redis", CLAIM, id="redis-after_claim"),
    pytest.param("redis-elsewhere", "stream.after_write", id="redis-elsewhere-after_write"),
    pytest.param("sqlite", "stream.after_read", id="sqlite-after_read"),
    pytest.param("sqlite", "stream.after_write", id="sqlite-after_write"),
    pytest.param("sqlite", CLAIM, id="sqlite-after_claim"),
    pytest.param("jsonl", "stream.after_write", id="jsonl-after_write"),
    pytest.param("postgres", "stream.after_write", id="postgres-after_write"),
]


@pytest.mark.parametrize(("kind", "failpoint"), CASES)
def test_a_consumer_killed_and_restarted_loses_nothing(
    client: Any,
    stream: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
    kind: str,
    failpoint: str,
) -> None:
    """SIGKILL at a failpoint, then restarts until drained: every order ends as an output
    row or a quarantine record; duplicates only at-least-once sinks, from the killed batch."""
    if kind == "redis":
        sink = redis_sink(client, stream)
    elif kind == "redis-elsewhere":
        sink = redis_elsewhere_sink(request.getfixturevalue("elsewhere"), stream)
    elif kind == "jsonl":
        sink = jsonl_sink(tmp_path)
    elif kind == "sqlite":
        sink = sqlite_sink(tmp_path)
    else:
        sink = postgres_sink(request.getfixturevalue("postgres"), stream)
    frame = orders(ROWS, bad=BAD_PER_100)
    fill(client, stream, frame)
    options = dict(OPTIONS)
    if failpoint == CLAIM:  # a consumer died holding entries: ours claims them at once
        client.xgroup_create(stream, "g", id="0")
        client.xreadgroup("g", "dead", {stream: ">"}, count=DEAD_PENDING)
        options["claim_idle_ms"] = 0

    killed = consume(stream, sink, options, failpoint)
    assert killed.returncode == -9, killed.stderr[-2000:]
    pending = client.xpending(stream, "g")["pending"]
    if kind == "redis" and failpoint == "stream.after_write":
        assert pending == 0  # the killed batch was written and acknowledged by one script
    else:
        assert pending > 0  # the killed batch is still pending

    results = []
    for _ in range(3):  # restart (same group and consumer, no failpoint) until drained
        kwargs: dict[str, Any] = {}
        if sink.quarantine is not None:
            kwargs["quarantine"] = sink.quarantine
        with capture_logs() as logs:
            results.append(
                pipeline.run(
                    "stream",
                    orders=source(stream),
                    outputs=sink.outputs,
                    runner_options=options,
                    **kwargs,
                )
            )
        assert logs.events("stream_started")[0]["exactly_once"] is sink.exactly_once
        group = {g["name"]: g for g in client.xinfo_groups(stream)}["g"]
        if group["pending"] == 0 and group["lag"] == 0:
            break
    assert group["pending"] == group["lag"] == 0  # drained, everything acknowledged
    assert all(r.status == "succeeded" for r in results)

    out, quarantined = sink.collect()
    expected = {int(i) for i in frame["order_id"]}
    bad = {
        int(i) for i, p in zip(frame["order_id"], frame["unit_price"], strict=True) if p == "n/a"
    }
    assert set(out) | set(quarantined) == expected  # nothing lost
    assert set(quarantined) == bad and not set(out) & bad
    counts = Counter(out) + Counter(quarantined)
    duplicates = sum(n - 1 for n in counts.values())
    twice = sorted(i for i, n in counts.items() if n > 1)
    record_property("duplicates", duplicates)
    print(
        f"{kind} killed at {failpoint}: {len(out)} outputs, {len(quarantined)} quarantined, "
        f"{duplicates} duplicates"
    )
    if sink.exactly_once or failpoint != "stream.after_write":
        assert duplicates == 0  # nothing was written before the kill, or it was committed once
    else:
        # the written, unacknowledged micro-batch, once more: one run of consecutive orders
        assert 0 < duplicates <= BATCH and max(counts.values()) == 2
        assert twice == list(range(twice[0], twice[0] + len(twice)))
    if sink.consumed is not None:
        assert sink.consumed() == ROWS  # every message id committed once

    runs = {}  # run id -> status, as `sdk runs` lists them
    for line in list_runs(os.environ["SDK_RUN_DIR"]).splitlines()[1:]:
        run_id, _, _, _, _quarantined, status = line.split(maxsplit=5)
        runs[run_id] = status
    records = [
        json.loads(p.read_text()) for p in Path(os.environ["SDK_RUN_DIR"]).glob("*/run.json")
    ]
    (killed_id,) = [r["run_id"] for r in records if r["pid"] == killed.pid]
    assert runs[killed_id] == "interrupted (restart it: unacknowledged messages are consumed again)"
    assert runs[results[-1].run_id] == "succeeded"
