"""The `batch` runner: its plan, its events, its limits and what it leaves on disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import cli as run_cli
from pandera.typing import DataFrame

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk import Pipeline, Step, plan
from sdk.runners.registry import get_runner
from sdk.testing import assert_equivalent, capture_logs

ROOT = Path(__file__).resolve().parents[1]
FAST = {"chunk_rows": 7, "progress": False}


# -- steps -------------------------------------------------------------------------------------


class Tx(pa.DataFrameModel):
    """A transaction: customer and amount."""

    customer_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)

    class Config:
        coerce = True


class UniqueIds(Tx):
    """Transactions with one row per customer (a field check across rows)."""

    customer_id: int = pa.Field(ge=0, unique=True)


class UniquePairs(Tx):
    """Transactions unique by (customer, amount) (a frame-level uniqueness)."""

    class Config:
        coerce = True
        unique = ["customer_id", "amount"]


class Total(Tx):
    """Transactions whose amounts sum to at most a million (a dataframe check)."""

    @pa.dataframe_check
    def small_total(cls, df: pd.DataFrame) -> bool:
        """The amounts sum to at most a million."""
        return bool(df["amount"].sum() <= 1_000_000)


class A(Step):
    """Copy (rows)."""

    output = "a"
    scope = "rows"

    def run(self, transactions: DataFrame[Tx]) -> DataFrame[Tx]:
        """Return the rows unchanged."""
        return transactions


class B(Step):
    """Double the amount (rows)."""

    output = "b"
    scope = "rows"

    def run(self, a: DataFrame[Tx]) -> DataFrame[Tx]:
        """Double ``amount``."""
        return a.assign(amount=a["amount"] * 2)


class P(Step):
    """Per-customer mean amount (partition_by)."""

    output = "p"
    partition_by = "customer_id"

    def run(self, b: DataFrame[Tx]) -> DataFrame[Tx]:
        """Replace ``amount`` by the customer's mean."""
        return b.assign(amount=b.groupby("customer_id")["amount"].transform("mean"))


class C(Step):
    """Halve the amount (rows)."""

    output = "c"
    scope = "rows"

    def run(self, p: DataFrame[Tx]) -> DataFrame[Tx]:
        """Halve ``amount``."""
        return p.assign(amount=p["amount"] / 2)


class G(Step):
    """Subtract the global minimum (global)."""

    output = "g"

    def run(self, c: DataFrame[Tx]) -> DataFrame[Tx]:
        """Shift ``amount`` so that its minimum is 0."""
        return c.assign(amount=c["amount"] - c["amount"].min())


class Two(Step):
    """Rows of ``g`` whose customer also has a transaction: two inputs, declared rows."""

    output = "two"
    scope = "rows"

    def run(self, g: DataFrame[Tx], transactions: DataFrame[Tx]) -> DataFrame[Tx]:
        """Keep the rows of ``g`` whose customer is in ``transactions``."""
        return g[g["customer_id"].isin(transactions["customer_id"])]


class D(Step):
    """Copy (rows)."""

    output = "d"
    scope = "rows"

    def run(self, two: DataFrame[Tx]) -> DataFrame[Tx]:
        """Return the rows unchanged."""
        return two


class E(Step):
    """A second consumer of ``a`` (rows)."""

    output = "e"
    scope = "rows"

    def run(self, a: DataFrame[Tx]) -> DataFrame[Tx]:
        """Return the rows unchanged."""
        return a


class RowsUniqueField(Step):
    """A rows step whose output has a unique column."""

    output = "out"
    scope = "rows"

    def run(self, transactions: DataFrame[Tx]) -> DataFrame[UniqueIds]:
        """Return the rows unchanged."""
        return transactions


class RowsUniqueConfig(Step):
    """A rows step whose input is unique by two columns."""

    output = "out"
    scope = "rows"

    def run(self, transactions: DataFrame[UniquePairs]) -> DataFrame[Tx]:
        """Return the rows unchanged."""
        return transactions


class RowsFrameCheck(Step):
    """A rows step whose input has a dataframe check."""

    output = "out"
    scope = "rows"

    def run(self, transactions: DataFrame[Total]) -> DataFrame[Tx]:
        """Return the rows unchanged."""
        return transactions


class PartitionUnique(Step):
    """A partition_by step whose output has a unique column."""

    output = "out"
    partition_by = "customer_id"

    def run(self, transactions: DataFrame[Tx]) -> DataFrame[UniqueIds]:
        """Return the rows unchanged."""
        return transactions


class Boom(Step):
    """Fails on an amount of exactly 666 (rows)."""

    output = "boom"
    scope = "rows"

    def run(self, transactions: DataFrame[Tx]) -> DataFrame[Tx]:
        """Return the rows, or raise on the sentinel amount."""
        if (transactions["amount"] == 666).any():
            raise ValueError("the devil's amount")
        return transactions


every_kind = Pipeline([A(), B(), P(), C(), G()], name="every_kind")
"""rows -> rows -> partition_by -> rows -> global."""


def stages(pipeline: Pipeline) -> list[tuple[str, list[str]]]:
    """The plan as (kind, step names)."""
    return [(stage.kind, [step.name for step in stage.steps]) for stage in plan(pipeline)]


def tx(n: int, bad: tuple[int, ...] = ()) -> pd.DataFrame:
    """``n`` raw transactions of 5 customers; rows in ``bad`` have a malformed amount."""
    return pd.DataFrame(
        {
            "customer_id": [str(i % 5) for i in range(n)],
            "amount": ["x" if i in bad else f"{i}.5" for i in range(n)],
        },
        dtype=object,
    )


def batch(pipeline: Pipeline, options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Run ``pipeline`` on the batch runner (chunks of 7 rows, no progress bar)."""
    kwargs.setdefault("max_invalid", 1.0)
    return pipeline.run("batch", runner_options={**FAST, **(options or {})}, **kwargs)


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sdk ARGS`` as a user would (batch runs get a longer timeout)."""
    return run_cli(*args, cwd=cwd, timeout=300)


# -- the plan ----------------------------------------------------------------------------------


def test_plan_fuses_rows_steps_and_isolates_the_others():
    """Consecutive rows steps share a stage (also after a partition step, running on its
    partitions); partition_by steps get an inputs stage (validated, then partitioned) and a
    partition stage; global and multi-input steps start their own."""
    pipeline = Pipeline([A(), B(), P(), C(), G(), Two(), D()], name="plan")
    assert stages(pipeline) == [
        ("rows", ["a", "b"]),
        ("inputs", ["p"]),
        ("partition", ["p", "c"]),
        ("global", ["g"]),
        ("global", ["two"]),
        ("rows", ["d"]),
    ]


def test_plan_does_not_fuse_a_rows_step_reading_an_earlier_dataset():
    """A rows step that does not consume the previous step's output starts its own stage."""
    found = stages(Pipeline([A(), B(), E()], name="branch"))
    assert sorted(names for _, names in found) in ([["a", "b"], ["e"]], [["a", "e"], ["b"]])
    assert all(kind == "rows" for kind, _ in found)


@pytest.mark.parametrize(
    "step", [RowsUniqueField, RowsUniqueConfig, RowsFrameCheck, PartitionUnique]
)
def test_cross_row_checks_make_a_step_global(step: type[Step]):
    """A model with unique=True, a unique column set or a dataframe check needs a global stage."""
    instance = step()
    assert stages(Pipeline([instance], name="cross")) == [("global", [instance.name])]


@pytest.mark.parametrize("step", [RowsUniqueField, RowsUniqueConfig, PartitionUnique])
def test_uniqueness_is_checked_across_chunks(step: type[Step]):
    """Duplicates in different chunks are found by batch as by local."""
    frame = pd.DataFrame({"customer_id": ["1", "2", "3", "1", "4", "2"], "amount": ["1.0"] * 6})
    pipeline = Pipeline([step()], name="unique")
    local = pipeline.run(transactions=frame, max_invalid=1.0)
    assert len(local.quarantine) > 0
    assert_equivalent(local, batch(pipeline, {"chunk_rows": 2}, transactions=frame))


def test_dataframe_check_sees_the_whole_input():
    """A dataframe check on a global step's input judges the whole dataset, not each chunk."""
    frame = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "amount": ["400000"] * 4})
    pipeline = Pipeline([RowsFrameCheck()], name="total")
    with pytest.raises(sdk.SchemaViolation, match="small_total"):
        pipeline.run(transactions=frame, max_invalid=1.0)
    with pytest.raises(sdk.SchemaViolation, match="small_total"):
        batch(pipeline, {"chunk_rows": 2}, transactions=frame)


# -- global steps and memory ----------------------------------------------------------------


def test_global_step_logs_materialized_with_estimated_bytes():
    """Before loading its input whole, a global step logs `materialized` with the estimate."""
    with capture_logs() as logs:
        batch(every_kind, transactions=tx(30))
    events = logs.events("materialized")
    assert len(events) == 1
    (event,) = events
    assert event["step"] == "g"
    assert isinstance(event["estimated_bytes"], int) and event["estimated_bytes"] > 0
    assert event["memory_limit"] > event["estimated_bytes"]


def test_memory_limit_fails_a_global_step_naming_it_and_the_fix(tmp_path: Path):
    """A global step over the memory limit fails with ResourceLimitError; nothing is written."""
    out = tmp_path / "g.parquet"
    with pytest.raises(sdk.ResourceLimitError) as caught:
        batch(
            every_kind,
            {"memory_limit": "1KB"},
            transactions=tx(200),
            outputs={"g": str(out)},
        )
    message = str(caught.value)
    assert "'g'" in message
    assert "global" in message
    assert "--memory-limit" in message
    assert "partition_by" in message
    assert not out.exists()


def test_memory_limit_does_not_bound_chunked_steps():
    """Pipelines without global steps run within any memory limit: they work chunk by chunk."""
    result = batch(fraud, {"memory_limit": "1KB"}, transactions=tx(50).assign(country="US"))
    assert len(result.outputs["scored"]) == 50


def test_memory_limit_that_is_not_a_size_is_refused():
    """`memory_limit="lots"` is refused, with an example of a size."""
    with pytest.raises(sdk.ResourceLimitError, match="2GB"):
        batch(fraud, {"memory_limit": "lots"}, transactions=tx(3).assign(country="US"))


def test_chunk_rows_must_be_positive():
    """`chunk_rows=0` is refused, saying it must be a positive number of rows."""
    with pytest.raises(sdk.ResourceLimitError, match="positive"):
        batch(fraud, {"chunk_rows": 0}, transactions=tx(3).assign(country="US"))


# -- events ------------------------------------------------------------------------------------


def test_progress_events_when_no_bar_is_shown():
    """Without a progress bar, a few `progress` events report rows done and rows per second."""
    with capture_logs() as logs:
        batch(every_kind, transactions=tx(60))
    events = logs.events("progress")
    assert 1 <= len(events) <= 5
    for event in events:
        assert event["rows_done"] > 0
        assert event["rows_per_s"] >= 0
        assert event["run_id"]


def test_one_validated_event_per_boundary_whatever_the_chunks():
    """Chunked, each boundary logs one aggregated `validated` and each step one start/finish."""
    frame = tx(60, bad=(3, 20, 44))
    with capture_logs() as local_logs:
        every_kind.run(transactions=frame, max_invalid=1.0)
    with capture_logs() as batch_logs:
        batch(every_kind, transactions=frame)

    def validated(logs: Any) -> Counter[tuple[Any, ...]]:
        return Counter(
            (e["step"], e["boundary"], e["dataset"], e["rows"], e["passed"], e["quarantined"])
            for e in logs.events("validated")
        )

    by_boundary = Counter((e["step"], e["boundary"]) for e in batch_logs.events("validated"))
    assert set(by_boundary.values()) == {1}
    assert validated(batch_logs) == validated(local_logs)
    assert validated(batch_logs)[("a", "input", "transactions", 60, 57, 3)] == 1
    names = [s.name for s in every_kind.order]
    for event in ("step_started", "step_finished"):
        assert sorted(e["step"] for e in batch_logs.events(event)) == sorted(names)
    rows_out = {e["step"]: e["rows_out"] for e in batch_logs.events("step_finished")}
    assert rows_out == {e["step"]: e["rows_out"] for e in local_logs.events("step_finished")}


# -- outputs -----------------------------------------------------------------------------------


def test_existing_output_is_refused_then_replaced_with_overwrite(tmp_path: Path):
    """An existing output is refused naming it and --overwrite; overwrite=True replaces it."""
    out = str(tmp_path / "scored.parquet")
    batch(fraud, transactions=tx(10).assign(country="US"), outputs={"scored": out})
    with pytest.raises(sdk.PipelineError) as caught:
        batch(fraud, transactions=tx(20).assign(country="US"), outputs={"scored": out})
    assert out in str(caught.value)
    assert "--overwrite" in str(caught.value)
    assert len(pd.read_parquet(out)) == 10
    batch(fraud, transactions=tx(20).assign(country="US"), outputs={"scored": out}, overwrite=True)
    assert len(pd.read_parquet(out)) == 20


def test_failing_step_leaves_no_output_but_writes_the_quarantine(tmp_path: Path):
    """A step failing in a later chunk publishes no output; rows quarantined before are kept."""
    frame = tx(30, bad=(2, 9))
    frame.loc[20, "amount"] = "666"
    out, quarantine = tmp_path / "boom.parquet", tmp_path / "quarantine.csv"
    pipeline = Pipeline([Boom()], name="boom")
    with pytest.raises(sdk.StepError, match="devil"):
        batch(
            pipeline,
            transactions=frame,
            outputs={"boom": str(out)},
            quarantine=str(quarantine),
        )
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    written = pd.read_csv(quarantine, dtype=str)
    assert sorted(written["source"]) == ["2", "9"]


def test_error_budget_is_enforced_after_writing_the_quarantine(tmp_path: Path):
    """Over max_invalid, batch fails with DataQualityError; the quarantine is written first."""
    quarantine = tmp_path / "quarantine.csv"
    with pytest.raises(sdk.DataQualityError, match="max_invalid"):
        batch(
            every_kind,
            transactions=tx(40, bad=(1, 30)),
            max_invalid=0.01,
            quarantine=str(quarantine),
        )
    assert sorted(pd.read_csv(quarantine, dtype=str)["source"]) == ["1", "30"]


def test_rows_in_counts_each_input_row_once():
    """The result counts the rows read from the inputs, as local does."""
    frame = tx(40, bad=(5,))
    result = batch(every_kind, transactions=frame)
    assert result.rows_in == 40
    assert result.summary()["quarantined"] == 1


# -- manifest and run directories --------------------------------------------------------------


def test_manifest_in_run_dir_and_beside_outputs(tmp_path: Path, fraud_raw: pd.DataFrame):
    """manifest.json records the run: identity, steps, versions, inputs, outputs, quarantine."""
    source = tmp_path / "tx.csv"
    fraud_raw.head(300).to_csv(source, index=False)
    out = tmp_path / "out"
    result = batch(
        fraud,
        {"chunk_rows": 100},
        transactions=str(source),
        outputs={"scored": str(out / "scored.parquet")},
        quarantine=str(out / "quarantine.parquet"),
    )
    run_dir = Path(os.environ["SDK_RUN_DIR"]) / result.run_id
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert json.loads((out / "scored.parquet.manifest.json").read_text()) == manifest

    assert manifest["run_id"] == result.run_id
    assert manifest["pipeline"] == "fraud"
    assert manifest["runner"] == "batch"
    assert manifest["fingerprint"] == fraud.fingerprint()
    assert manifest["status"] == "succeeded"
    assert manifest["host"]
    assert manifest["started"] <= manifest["finished"]
    assert manifest["versions"]["python"] and manifest["versions"]["pandas"] == pd.__version__
    steps = {s["name"]: s for s in manifest["steps"]}
    assert list(steps) == ["add_features", "score"]
    assert all(s["source_hash"].startswith("sha256:") for s in steps.values())
    assert steps["score"]["params"] == {"weight": 0.7, "bias": 0.0}

    bad = len(result.quarantine["source"].unique())
    assert bad > 0
    (given,) = manifest["inputs"]
    assert given["name"] == "transactions"
    assert given["uri"] == str(source)
    assert given["rows"] == 300
    assert given["content_hash"].startswith("sha256:")
    outputs = {o["name"]: o for o in manifest["outputs"]}
    assert outputs["scored"]["uri"] == str(out / "scored.parquet")
    assert outputs["scored"]["rows"] == 300 - bad == len(pd.read_parquet(out / "scored.parquet"))
    assert {(v["step"], v["boundary"]) for v in manifest["validation"]} == {
        ("add_features", "input"),
        ("add_features", "output"),
        ("score", "input"),
        ("score", "output"),
    }
    assert manifest["quarantine"]["uri"] == str(out / "quarantine.parquet")
    assert sum(manifest["quarantine"]["by_check"].values()) == len(result.quarantine)
    assert manifest["quarantine"]["rows"] == bad


def test_sdk_runs_lists_and_shows_a_batch_run(tmp_path: Path):
    """`sdk runs` lists the batch run with its status; `sdk runs show` prints its manifest."""
    runs = tmp_path / "runs"
    result = batch(fraud, {"run_dir": str(runs)}, transactions=tx(12).assign(country="US"))
    listed = cli("runs", "--run-dir", str(runs))
    assert listed.returncode == 0, listed.stderr
    (line,) = [row for row in listed.stdout.splitlines() if result.run_id in row]
    assert "fraud" in line and "batch" in line and "succeeded" in line
    shown = cli("runs", "show", result.run_id, "--run-dir", str(runs))
    assert shown.returncode == 0, shown.stderr
    manifest = json.loads(shown.stdout)
    assert manifest["run_id"] == result.run_id
    assert manifest["status"] == "succeeded"
    assert manifest["runner"] == "batch"


def test_readme_example_runs_with_the_batch_runner_into_sqlite(tmp_path: Path):
    """`sdk run examples/fraud/deploy.toml --runner batch` into SQLite: 1970 rows + 30 sources."""
    db = tmp_path / "out.db"
    done = cli(
        "run",
        "examples/fraud/deploy.toml",
        "--runner",
        "batch",
        "--output",
        f"scored=sqlite:///{db}?table=scored",
        "--quarantine",
        f"sqlite:///{db}?table=quarantine",
        "--chunk-rows",
        "300",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(db) as conn:
        scored = conn.execute("SELECT COUNT(*) FROM scored").fetchone()[0]
        sources = conn.execute("SELECT COUNT(DISTINCT source) FROM quarantine").fetchone()[0]
    assert (scored, sources) == (1970, 30)


# -- options -----------------------------------------------------------------------------------


def test_local_runner_refuses_resume():
    """`resume=` on the local runner fails with PipelineError pointing to the batch runner."""
    with pytest.raises(sdk.PipelineError, match="--runner batch"):
        fraud.run(transactions=tx(3).assign(country="US"), resume="20260101T000000Z-abcdef12")


def test_chunk_rows_is_sized_automatically(fraud_raw: pd.DataFrame, tmp_path: Path):
    """Without chunk_rows the runner picks a positive number of rows for the run (recorded
    in run.json, not written on the runner, which stays reusable) and runs."""
    runner = get_runner("batch", progress=False, run_dir=str(tmp_path))
    result = runner.run(fraud, {"transactions": fraud_raw}, max_invalid=1.0)
    record = json.loads((tmp_path / result.run_id / "run.json").read_text(encoding="utf-8"))
    chunk_rows = record["options"]["chunk_rows"]
    assert isinstance(chunk_rows, int) and chunk_rows > 0
    assert runner.config["chunk_rows"] is None
    assert len(result.outputs["scored"]) == 1970
