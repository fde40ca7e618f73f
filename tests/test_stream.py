"""The stream runner against a real Redis: outputs and quarantine equal local's, poison
messages, raising steps, the sliding error budget, idle timeout, exactly-once SQL sinks,
JSON lines sources, artifacts broadcast to every micro-batch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REDIS, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders_stream import Order, Priced, pipeline
from pandera.typing import DataFrame
from sklearn.linear_model import LinearRegression

import sdk
from sdk import Artifact, Pipeline, Step
from sdk.testing import capture_logs


@pytest.fixture
def stream(client) -> Iterator[str]:
    """A fresh stream name; the stream and its companions are deleted after the test."""
    name = f"sdk-test-{uuid.uuid4().hex[:10]}"
    yield name
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def fill(client, name: str, frame: pd.DataFrame) -> None:
    """XADD every row of ``frame`` (values as text; missing values left out)."""
    pipe = client.pipeline(transaction=False)
    for row in frame.to_dict(orient="records"):
        pipe.xadd(name, {k: str(v) for k, v in row.items() if v is not None and v == v})
    pipe.execute()


def source(name: str, consumer: str = "c1") -> str:
    """The URI of a consumer of stream ``name`` in group ``g``."""
    return f"{REDIS}?stream={name}&group=g&consumer={consumer}"


class Fragile(Step):
    """Prices, but raises on quantity 13 (a bug to be quarantined, not to stop the stream)."""

    scope = "rows"
    output = "price"

    def run(self, orders: DataFrame[Order]) -> DataFrame[Priced]:
        if (orders["quantity"] == 13).any():
            raise ValueError("unlucky quantity")
        return orders.assign(total=orders["quantity"] * orders["unit_price"])


def orders(n: int, seed: int = 0, bad: int = 0) -> pd.DataFrame:
    """``n`` order lines as text, the first ``bad`` of every 100 rows malformed."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1).astype(str),
            "quantity": rng.integers(1, 50, n).astype(str),
            "unit_price": np.round(rng.uniform(1, 100, n), 2).astype(str),
        }
    ).astype(object)
    for i in range(n):
        if i % 100 < bad:
            frame.loc[i, "unit_price"] = "n/a"
    return frame


FAST = {"idle_timeout_s": 0.3, "max_latency_ms": 20}


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by order id, with plain dtypes, to compare runners."""
    frame = frame.copy()
    for column in frame.columns:
        frame[column] = pd.to_numeric(frame[column])
    return frame.sort_values("order_id").reset_index(drop=True)


def test_stream_equals_local_into_a_redis_sink(client, stream: str) -> None:
    """Every message ends as an output entry or a quarantine entry; the values are local's."""
    frame = orders(1000, bad=2)
    fill(client, stream, frame)
    result = pipeline.run(
        "stream",
        orders=source(stream),
        outputs={"price": f"{REDIS}?stream={stream}:out"},
        runner_options={**FAST, "max_batch_rows": 128},
    )
    local = pipeline.run(orders=frame, max_invalid=1.0)
    assert client.xlen(f"{stream}:out") == len(local.outputs["price"]) == 980
    assert client.xlen(f"{stream}:quarantine") == len(local.quarantine) == 20
    assert result.quarantined == 20 and result.rows_in == 1000
    assert client.xpending(stream, "g")["pending"] == 0
    written = pd.DataFrame([fields for _, fields in client.xrange(f"{stream}:out")])
    pd.testing.assert_frame_equal(comparable(written), comparable(local.outputs["price"]))
    q = pd.DataFrame([fields for _, fields in client.xrange(f"{stream}:quarantine")])
    assert set(q["check"]) == {"coerce_dtype('float64')"}
    assert q["source"].str.fullmatch(rf"redis://.*\?stream={stream}#\d+-\d+").all()


def test_a_redis_sink_on_the_source_redis_is_exactly_once_and_reports_the_lag(
    client, stream: str
) -> None:
    """Outputs and quarantine on the source's Redis: written and acknowledged together (the
    run says exactly once), each ``unit_committed`` with the group's lag after it."""
    fill(client, stream, orders(300, bad=1))
    with capture_logs() as logs:
        result = pipeline.run(
            "stream",
            orders=source(stream),
            outputs={"price": f"{REDIS}?stream={stream}:out"},
            runner_options={**FAST, "max_batch_rows": 100},
        )
    assert logs.events("stream_started")[0]["exactly_once"] is True
    committed = logs.events("unit_committed")
    assert [e["lag"] for e in committed] == [200, 100, 0]
    assert all(e["latency_ms"] >= 0 for e in committed)
    assert result.rows_in == 300 and client.xpending(stream, "g")["pending"] == 0
    assert client.xlen(f"{stream}:out") == 297 and client.xlen(f"{stream}:quarantine") == 3


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 300),
    bad=st.integers(0, 30),
    batch=st.integers(1, 200),
    seed=st.integers(0, 1000),
)
def test_stream_equals_local_whatever_the_batching(client, n, bad, batch, seed) -> None:
    """Property: for any data and micro-batch size, stream gives local's outputs and
    quarantine (order aside), and rows in = rows out + rows quarantined."""
    name = f"sdk-test-{uuid.uuid4().hex[:10]}"
    frame = orders(n, seed=seed, bad=bad)
    try:
        fill(client, name, frame)
        result = pipeline.run(
            "stream",
            orders=source(name),
            max_invalid=1.0,
            runner_options={**FAST, "max_batch_rows": batch},
        )
        local = pipeline.run(orders=frame, max_invalid=1.0)
        assert result.rows_in == n
        assert len(result.outputs.get("price", [])) + result.quarantined == n
        if len(local.outputs["price"]):
            pd.testing.assert_frame_equal(
                comparable(result.outputs["price"]), comparable(local.outputs["price"])
            )
        assert client.xlen(f"{name}:quarantine") == len(local.quarantine)
    finally:
        for key in client.scan_iter(f"{name}*"):
            client.delete(key)


def test_a_step_raising_on_one_row_quarantines_that_row_only(client, stream: str) -> None:
    """on_step_error defaults to quarantine here: the batch goes on without the bad row."""
    frame = orders(300)
    frame.loc[frame["quantity"] == "13", "quantity"] = "14"
    frame.loc[[17, 230], "quantity"] = "13"
    fill(client, stream, frame)
    result = Pipeline([Fragile()]).run(
        "stream", orders=source(stream), runner_options={**FAST, "max_batch_rows": 100}
    )
    assert len(result.outputs["price"]) == 298
    q = pd.DataFrame([fields for _, fields in client.xrange(f"{stream}:quarantine")])
    assert list(q["check"]) == ["step_error", "step_error"]
    assert all("ValueError: unlucky quantity" in v for v in q["value"])


def test_a_message_delivered_too_often_is_quarantined(client, stream: str) -> None:
    """Past max_deliveries a message is quarantined (check max_deliveries), not retried."""
    fill(client, stream, orders(5))
    client.xgroup_create(stream, "g", id="0")
    for _ in range(3):  # three deliveries to a consumer that died each time
        client.xreadgroup("g", "dead", {stream: ">" if _ == 0 else "0"}, count=5)
    client.xclaim(stream, "g", "dead", 0, [e for e, _ in client.xrange(stream)])
    result = pipeline.run(
        "stream",
        orders=source(stream),
        max_invalid=1.0,
        runner_options={**FAST, "max_deliveries": 2, "claim_idle_ms": 0},
    )
    q = pd.DataFrame([fields for _, fields in client.xrange(f"{stream}:quarantine")])
    assert len(q) == 5 and set(q["check"]) == {"max_deliveries"}
    assert q["value"].str.fullmatch(r"delivered \d+ times").all()
    assert result.quarantined == 5
    assert client.xpending(stream, "g")["pending"] == 0


def test_the_error_budget_over_a_window_stops_the_stream_after_acknowledging(
    client, stream: str
) -> None:
    """Too many bad rows in the window: DataQualityError, with what was written acked."""
    good, bad = orders(200), orders(200, bad=100)
    fill(client, stream, pd.concat([good, bad], ignore_index=True))
    with pytest.raises(sdk.DataQualityError, match="over a window of 100 rows"):
        pipeline.run(
            "stream",
            orders=source(stream),
            max_invalid=0.5,
            runner_options={**FAST, "max_batch_rows": 50, "invalid_window": 100},
        )
    pending = client.xpending(stream, "g")["pending"]
    assert pending == 0
    assert client.xlen(f"{stream}:quarantine") >= 50


def test_a_pipeline_with_a_global_step_is_refused_naming_it(client, stream: str) -> None:
    """A stream never has all rows: a global or partitioned step is refused at start."""
    from examples.fraud.pipeline import pipeline as fraud

    with pytest.raises(sdk.PipelineError, match="step 'add_features' has scope partition_by"):
        fraud.run("stream", transactions=source(stream), runner_options=FAST)


def test_exactly_once_into_sqlite_skips_what_was_committed(
    client, stream: str, tmp_path: Path
) -> None:
    """Outputs, quarantine and consumed ids in one transaction: a message committed before
    is acknowledged and skipped, never written twice."""
    frame = orders(500, bad=1)
    fill(client, stream, frame)
    db = tmp_path / "orders.db"
    uri = f"sqlite:///{db}?table=priced"
    with capture_logs() as logs:
        pipeline.run("stream", orders=source(stream), outputs={"price": uri}, runner_options=FAST)
    (started,) = logs.events("stream_started")
    assert started["exactly_once"] is True
    # a crash after the commit, before XACK: the same messages come again
    client.xgroup_setid(stream, "g", id="0")
    pipeline.run("stream", orders=source(stream), outputs={"price": uri}, runner_options=FAST)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM priced").fetchone()[0] == 495
        assert conn.execute("SELECT COUNT(*) FROM sdk_quarantine").fetchone()[0] == 5
        assert conn.execute("SELECT COUNT(*) FROM sdk_consumed").fetchone()[0] == 500


def test_json_lines_source_and_sink(tmp_path: Path) -> None:
    """A .jsonl file is a stream too; outputs append to JSON lines."""
    frame = orders(250, bad=1)
    path = tmp_path / "orders.jsonl"
    frame.to_json(path, orient="records", lines=True)
    out, q = tmp_path / "priced.jsonl", tmp_path / "quarantine.jsonl"
    result = pipeline.run(
        "stream",
        orders=str(path),
        outputs={"price": str(out)},
        quarantine=str(q),
        runner_options={**FAST, "max_batch_rows": 40},
    )
    assert result.rows_in == 250
    assert len(pd.read_json(out, lines=True)) == 247
    records = pd.read_json(q, lines=True)
    assert len(records) == 3
    assert records["source"].str.fullmatch(rf"{path}:\d+").all()


class Scored(Order):
    """With a model's prediction."""

    predicted: float


def test_an_artifact_is_loaded_once_and_scores_every_micro_batch(
    client, stream: str, tmp_path: Path
) -> None:
    """The fitted model is given at start and broadcast to every micro-batch."""

    class Predict(Step):
        """Predict from quantity."""

        scope = "rows"

        def run(
            self, orders: DataFrame[Order], model: Artifact[LinearRegression]
        ) -> DataFrame[Scored]:
            return orders.assign(predicted=model.predict(orders[["quantity"]]))

    model = LinearRegression().fit(pd.DataFrame({"quantity": [1.0, 2.0]}), [2.0, 4.0])
    path = tmp_path / "model.skops"
    from sdk.io.artifacts import save_artifact

    save_artifact(model, str(path), {})
    fill(client, stream, orders(300))
    with capture_logs() as logs:
        result = Pipeline([Predict()]).run(
            "stream",
            orders=source(stream),
            model=str(path),
            runner_options={**FAST, "max_batch_rows": 50},
        )
    assert len(logs.events("artifact_loaded")) == 1
    assert len(logs.events("unit_committed")) == 6
    scored = result.outputs["predict"]
    np.testing.assert_allclose(scored["predicted"], 2 * pd.to_numeric(scored["quantity"]))


def test_idle_timeout_ends_the_run_succeeded(client, stream: str) -> None:
    """Nothing to read for idle_timeout_s: the run ends, status succeeded."""
    started = time.monotonic()
    result = pipeline.run("stream", orders=source(stream), runner_options={"idle_timeout_s": 0.5})
    assert result.status == "succeeded" and result.rows_in == 0
    assert 0.5 <= time.monotonic() - started < 10


CONSUMER = """
import sys
sys.path.insert(0, {tests!r})
from orders_stream import pipeline
pipeline.run(
    "stream",
    orders={source!r},
    outputs={{"price": {out!r}}},
    runner_options={{"max_batch_rows": 100, "max_latency_ms": 20}},
)
"""


def test_sigterm_drains_the_current_batch_and_exits_0(client, stream: str, tmp_path: Path) -> None:
    """SIGTERM during a burst: the batch in hand is written and acked, run_finished, exit 0."""
    out = f"{REDIS}?stream={stream}:out"
    script = tmp_path / "consumer.py"
    script.write_text(
        textwrap.dedent(CONSUMER.format(tests=str(ROOT / "tests"), source=source(stream), out=out))
    )
    env = {**os.environ, "SDK_RUN_DIR": str(tmp_path / "runs")}
    process = subprocess.Popen(
        [sys.executable, str(script)], stderr=subprocess.PIPE, text=True, env=env
    )
    fill(client, stream, orders(3000))
    deadline = time.monotonic() + 30
    while client.xlen(f"{stream}:out") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert '"event": "stream_stopping"' in stderr
    assert '"status": "succeeded"' in stderr
    assert client.xpending(stream, "g")["pending"] == 0
    written = client.xlen(f"{stream}:out")
    info = {g["name"]: g for g in client.xinfo_groups(stream)}["g"]
    assert written == 3000 - int(info.get("lag") or 0)  # consumed = written, nothing pending


def test_sdk_run_with_the_stream_runner_and_runner_options(
    client, stream: str, tmp_path: Path
) -> None:
    """From the command line: --runner stream, options with --runner-option, exit 0."""
    from conftest import cli

    tests = str(ROOT / "tests")
    (tmp_path / "pricing.py").write_text(
        f"import sys\nsys.path.insert(0, {tests!r})\nfrom orders_stream import pipeline\n"
    )
    fill(client, stream, orders(400, bad=1))
    out = cli(
        "run", f"{tmp_path / 'pricing.py'}:pipeline",
        "--runner", "stream",
        "--input", f"orders={source(stream)}",
        "--output", f"price={tmp_path / 'priced.jsonl'}",
        "--runner-option", "max_batch_rows=150",
        "--runner-option", "idle_timeout_s=0.3",
        "--run-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(pd.read_json(tmp_path / "priced.jsonl", lines=True)) == 396
    assert client.xlen(f"{stream}:quarantine") == 4
    bad = cli(
        "run", f"{tmp_path / 'pricing.py'}:pipeline", "--runner", "stream",
        "--input", f"orders={source(stream)}", "--runner-option", "max_batch=5",
    )  # fmt: skip
    assert bad.returncode == 2
    assert "unknown option 'max_batch'" in bad.stderr and "max_batch_rows" in bad.stderr


def test_run_stream_simulates_production_in_process(client) -> None:
    """synthesize -> inject faults -> replay at a rate into the stream runner: the quarantine
    is exactly the injected faults."""
    from sdk.simulate import inject_faults, synthesize

    clean = synthesize(Order, 600, seed=3)
    faulty, truth = inject_faults(clean, Order, missing=0.02, malformed=0.02, seed=4)
    result = pipeline.run_stream(
        faulty, rate=3000, max_invalid=1.0, runner_options={"max_batch_rows": 100}
    )
    assert result.rows_in == 600
    assert len(result.outputs["price"]) + result.quarantined == 600
    assert result.quarantined == truth["row"].nunique()
    found = set(
        zip(result.quarantine["source"].astype(int), result.quarantine["column"], strict=True)
    )
    assert found == set(zip(truth["row"], truth["column"], strict=True))  # precision, recall 1


def test_a_message_without_the_model_columns_is_quarantined_not_fatal(client, stream: str) -> None:
    """An entry with unrelated fields alone in its micro-batch: quarantined row by row."""
    client.xadd(stream, {"sku": "A-1"})
    result = pipeline.run("stream", orders=source(stream), max_invalid=1.0, runner_options=FAST)
    assert result.quarantined == 1
    q = pd.DataFrame([fields for _, fields in client.xrange(f"{stream}:quarantine")])
    assert set(q["column"]) == {"order_id", "quantity", "unit_price"}
    assert set(q["check"]) == {"not_nullable"}


def test_two_groups_each_consume_every_message_exactly_once(
    client, stream: str, tmp_path: Path
) -> None:
    """The consumed ids are kept per stream and group, whatever the order of the URI's
    parameters: a second group is not mistaken for the first."""
    fill(client, stream, orders(50))
    db = tmp_path / "out" / "two.db"
    for group, table in (("first", "a"), ("second", "b")):
        uri = f"{REDIS}?consumer=c1&stream={stream}&group={group}"
        pipeline.run(
            "stream",
            orders=uri,
            outputs={"price": f"sqlite:///{db}?table={table}"},
            runner_options=FAST,
        )
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 50
        assert conn.execute("SELECT COUNT(*) FROM b").fetchone()[0] == 50


def test_the_refusal_names_each_step_and_why(client, stream: str) -> None:
    """A partitioned step and a rows step with a unique check are refused, each with its
    reason; the rows steps after them are not named."""
    from examples.fraud.pipeline import pipeline as fraud

    with pytest.raises(sdk.PipelineError) as err:
        fraud.run("stream", transactions=source(stream), runner_options=FAST)
    assert err.value.problems == [
        "step 'add_features' has scope partition_by=customer_id: it needs rows from more than "
        "one micro-batch"
    ]


def test_a_followed_json_lines_file_is_tailed_as_it_grows(tmp_path: Path) -> None:
    """`?follow=true`: lines appended while the run reads them are consumed, a half-written
    line only once it is complete; the run ends after idle_timeout_s."""
    import threading

    path = tmp_path / "orders.jsonl"
    path.write_text("")
    frame = orders(120)
    lines = frame.to_json(orient="records", lines=True).splitlines()

    def write() -> None:
        with path.open("a") as handle:
            for index, line in enumerate(lines):
                if index == 60:  # a line written in two parts
                    handle.write(line[:10])
                    handle.flush()
                    time.sleep(0.05)
                    handle.write(line[10:] + "\n")
                else:
                    handle.write(line + "\n")
                handle.flush()
                time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    result = pipeline.run(
        "stream",
        orders=f"{path}?follow=true",
        runner_options={"idle_timeout_s": 0.5, "max_latency_ms": 20},
    )
    writer.join()
    assert result.rows_in == 120 and result.quarantined == 0
    assert sorted(result.outputs["price"]["order_id"].astype(int)) == list(range(1, 121))


def test_standard_input_is_a_stream_source(tmp_path: Path) -> None:
    """`--input orders=-`: JSON lines piped into `sdk run --runner stream`."""

    tests = str(ROOT / "tests")
    (tmp_path / "pricing.py").write_text(
        f"import sys\nsys.path.insert(0, {tests!r})\nfrom orders_stream import pipeline\n"
    )
    text = orders(30, bad=1).to_json(orient="records", lines=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDK_LOG_")}
    done = subprocess.run(
        [
            sys.executable, "-m", "sdk", "run", f"{tmp_path / 'pricing.py'}:pipeline",
            "--runner", "stream", "--input", "orders=-",
            "--output", f"price={tmp_path / 'priced.csv'}",
            "--quarantine", str(tmp_path / "quarantine.jsonl"),
            "--run-dir", str(tmp_path / "runs"),
        ],
        input=text, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "priced.csv")) == 29
    records = pd.read_json(tmp_path / "quarantine.jsonl", lines=True)
    assert list(records["source"]) == ["stdin:1"]


def test_a_dataframe_is_a_finite_stream_equal_to_local() -> None:
    """A frame given to the stream runner is read in micro-batches; rows keep their labels as
    sources, as in local; a quarantine replays on the stream runner too."""
    frame = orders(230, bad=3)
    stream_run = pipeline.run(
        "stream", orders=frame, max_invalid=1.0, runner_options={"max_batch_rows": 50}
    )
    local = pipeline.run(orders=frame, max_invalid=1.0)
    pd.testing.assert_frame_equal(
        comparable(stream_run.outputs["price"]), comparable(local.outputs["price"])
    )
    assert sorted(stream_run.quarantine["source"]) == sorted(local.quarantine["source"])
    report = pipeline.replay_quarantine(local.quarantine, "stream")
    assert report.replayed == len(local.quarantine) and report.same_check == report.replayed


def test_a_restarted_consumer_reads_its_pending_entries_once(client, stream: str) -> None:
    """After a crash, a consumer's few pending entries are delivered once more, not once per
    read of its micro-batch window (which quarantined good rows as max_deliveries)."""
    fill(client, stream, orders(10))
    client.xgroup_create(stream, "g", id="0")
    client.xreadgroup("g", "c1", {stream: ">"}, count=10)  # delivered, never acknowledged
    result = pipeline.run(
        "stream", orders=source(stream), runner_options={**FAST, "max_latency_ms": 200}
    )
    assert result.quarantined == 0 and len(result.outputs["price"]) == 10
    assert client.xpending(stream, "g")["pending"] == 0


def test_a_sql_output_with_the_quarantine_elsewhere_is_appended_at_least_once(
    client, stream: str, tmp_path: Path
) -> None:
    """Destinations of different kinds: each appended per micro-batch (no transaction)."""
    fill(client, stream, orders(300, bad=1))
    db = tmp_path / "out.db"
    with capture_logs() as logs:
        pipeline.run(
            "stream",
            orders=source(stream),
            outputs={"price": f"sqlite:///{db}?table=priced"},
            quarantine=str(tmp_path / "q.csv"),
            runner_options=FAST,
        )
    assert logs.events("stream_started")[0]["exactly_once"] is False
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM priced").fetchone()[0] == 297
    assert len(pd.read_csv(tmp_path / "q.csv")) == 3


def test_the_quarantine_defaults_beside_a_file_output(tmp_path: Path) -> None:
    """A JSON lines source with a file output: quarantined rows are written, not dropped."""
    path = tmp_path / "orders.jsonl"
    orders(100, bad=2).to_json(path, orient="records", lines=True)
    result = pipeline.run(
        "stream",
        orders=str(path),
        outputs={"price": str(tmp_path / "priced.csv")},
        runner_options=FAST,
    )
    assert result.written["quarantine"] == str(tmp_path / "priced.quarantine.jsonl")
    assert len(pd.read_json(tmp_path / "priced.quarantine.jsonl", lines=True)) == 2


def test_a_password_in_a_query_parameter_is_not_logged() -> None:
    """`&password=` is hidden like `user:secret@` in every URI the SDK logs or records."""
    from sdk.io import redact

    uri = "redis://127.0.0.1:6379/0?stream=s&password=hunter2&group=g"
    assert "hunter2" not in redact(uri)
    assert redact(uri) == "redis://127.0.0.1:6379/0?stream=s&password=***&group=g"


def test_a_line_that_is_not_a_json_object_is_one_malformed_record(tmp_path: Path) -> None:
    """Quarantined whole (check field_count, the text as the value), and no extra column
    reaches the outputs."""
    path = tmp_path / "orders.jsonl"
    text = orders(20).to_json(orient="records", lines=True)
    lines = text.splitlines()
    lines.insert(5, "[1, 2, 3]")
    path.write_text("\n".join(lines) + "\n")
    result = pipeline.run(
        "stream", orders=str(path), max_invalid=1.0, runner_options={**FAST, "max_batch_rows": 8}
    )
    assert list(result.outputs["price"].columns) == ["order_id", "quantity", "unit_price", "total"]
    assert len(result.outputs["price"]) == 20
    (record,) = result.quarantine.to_dict(orient="records")
    assert record["check"] == "field_count" and record["source"] == f"{path}:6"
    assert "[1, 2, 3]" in record["row"]


def test_a_redis_stream_round_trips_any_text_and_missing_values(client, stream: str) -> None:
    """What the sink appends (one JSON payload per script call) reads back as the same text:
    non-ASCII, quotes, backslashes, NUL and newlines; a missing value is an absent field."""
    from sdk.io.redis import RedisScheme

    texts = ["é😀", 'say "hi"\\', "a\x00b", "two\nlines", "", None]
    frame = pd.DataFrame({"text": texts, "n": [1, 2, 3, 4, 5, None]}, dtype=object)
    scheme = RedisScheme()
    uri = f"{REDIS}?stream={stream}"
    scheme.write(frame, uri)
    scheme.write(pd.DataFrame(index=range(2)), uri)  # rows without columns still make entries
    back = scheme.read(uri).frame
    assert back["text"].tolist() == [*texts, None, None]
    assert back["n"].tolist() == ["1", "2", "3", "4", "5", None, None, None]
    entries = client.xrange(stream)
    assert entries[4][1] == {"text": "", "n": "5"}
    assert [fields for _, fields in entries[-3:]] == [{"json": "{}"}] * 3


def test_entries_of_different_fields_read_back_each_as_written(client, stream: str) -> None:
    """Entries whose fields differ (in number, order or name) are read field by field, even
    when their fields add up to as many as the first entry's times the entries."""
    from sdk.io.redis import RedisScheme

    written = [
        {"a": "1", "b": "2", "c": "3"},
        {"a": "4", "b": "5"},
        {"c": "6", "a": "7", "b": "8", "d": "9"},
        {"b": "a", "a": "b", "c": "c"},
    ]
    for fields in written:
        client.xadd(stream, fields)
    back = RedisScheme().read(f"{REDIS}?stream={stream}").frame
    rows = [{k: v for k, v in row.items() if v is not None} for row in back.to_dict("records")]
    assert rows == written


@pytest.mark.parametrize(
    ("given", "output", "says"),
    [
        (f"{REDIS}?stream=s", None, "a stream source needs &group=NAME&consumer=NAME"),
        (f"{REDIS}?strem=s&group=g&consumer=c", None, "unknown parameter(s) strem"),
        ("orders.parquet", None, "cannot be read as a stream (scheme 'parquet')"),
        ("orders.jsonl", "out.parquet", "cannot append to 'out.parquet' batch by batch"),
        ("orders.jsonl", "sqlite:///{tmp}/x.db", "a stream writes tables; add ?table=NAME"),
        ("orders.jsonl", "redis://127.0.0.1:6379/0?maxlen=x", "?stream=NAME"),
    ],
)
def test_a_bad_stream_uri_is_refused_before_the_run_starts(
    tmp_path: Path, given: str, output: str | None, says: str
) -> None:
    """A source or destination the stream cannot use is refused with one clear error before
    anything is logged or recorded: no run_started, no failed run in the run directory."""
    outputs = {"price": output.format(tmp=tmp_path)} if output else None
    with capture_logs() as logs, pytest.raises(sdk.IOSchemeError) as err:
        pipeline.run(
            "stream",
            orders=given if "://" in given else str(tmp_path / given),
            outputs=outputs,
            runner_options={**FAST, "run_dir": str(tmp_path / "runs")},
        )
    assert says.format(tmp=tmp_path) in str(err.value)
    assert "\n" not in str(err.value)
    assert logs.events("run_started") == []
    assert not (tmp_path / "runs").exists()


def test_a_misspelt_runner_option_suggests_the_right_one() -> None:
    with pytest.raises(
        sdk.PluginError,
        match=r"unknown option 'max_batch_row' \(did you mean "
        r"'max_batch_rows'\?\)",
    ):
        pipeline.run("stream", orders=orders(3), runner_options={"max_batch_row": 3})


def test_output_and_quarantine_streams_of_one_server_are_appended_in_one_call(
    client, stream: str
) -> None:
    """Two streams of one Redis get their rows from one script call; more rows than one call
    carries are refused (nothing written) and appended one by one."""
    from sdk.io._redis_sink import RedisAppender

    out, bad = (
        RedisAppender(f"{REDIS}?stream={stream}"),
        RedisAppender(f"{REDIS}?stream={stream}:q"),
    )
    rows = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    records = pd.DataFrame({"check": ["c"], "row": ['{"a": 4}']})
    assert RedisAppender.append_together([(out, rows), (bad, records)])
    assert [f for _, f in client.xrange(stream)] == [
        {"a": "1", "b": "x"},
        {"a": "2"},
        {"a": "3", "b": "z"},
    ]
    assert [f for _, f in client.xrange(f"{stream}:q")] == [{"check": "c", "row": '{"a": 4}'}]
    big = pd.DataFrame({"a": range(2_001)})
    assert not RedisAppender.append_together([(out, big), (bad, records)])
    assert client.xlen(stream) == 3 and client.xlen(f"{stream}:q") == 1
