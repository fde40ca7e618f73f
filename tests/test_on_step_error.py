"""Runner option ``on_step_error``: a step that raises fails the run, or its rows are quarantined.

Under ``"quarantine"`` the unit is bisected to the rows (key groups for ``partition_by`` steps)
that make ``run`` raise; they are quarantined at the step's input boundary with check
``step_error`` and the exception as value. A step that cannot be split (global) gets all its
input rows quarantined. ``"fail"`` (the default of local and batch) raises ``StepError``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import cli
from pandera.typing import DataFrame

import sdk
import sdk.plugins
from examples.fraud.pipeline import Transactions
from sdk.testing import assert_equivalent, canonical, capture_logs

QUARANTINE = {"on_step_error": "quarantine"}
CHUNKS = (1, 3, 1000)


class Priced(Transactions):
    """A transaction with its amount in whole cents."""

    cents: int = pa.Field(ge=0)


class Labelled(Priced):
    """A priced transaction with a label."""

    label: str


class Convert(sdk.Step):
    """Amount in cents; no exchange rate for French transactions (raises on any)."""

    output = "converted"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Add ``cents``; raise if a row is French."""
        if (transactions["country"] == "FR").any():
            raise ValueError("no exchange rate for FR")
        return transactions.assign(cents=(transactions["amount"] * 100).round().astype("int64"))


class Label(sdk.Step):
    """Label each row; customer 4 has no label (raises)."""

    output = "labelled"
    scope = "rows"

    def run(self, converted: DataFrame[Priced]) -> DataFrame[Labelled]:
        """Add ``label``; raise if customer 4 is there."""
        if (converted["customer_id"] == 4).any():
            raise KeyError("customer 4")
        return converted.assign(label="c" + converted["customer_id"].astype(str))


class Totalled(Transactions):
    """A transaction with its customer's total amount."""

    total: float


class Totals(sdk.Step):
    """Per-customer total amount; customer 3 has no history (raises)."""

    output = "totalled"
    partition_by = "customer_id"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Totalled]:
        """Add ``total`` per customer; raise if customer 3 is there."""
        if (transactions["customer_id"] == 3).any():
            raise LookupError("no history for customer 3")
        return transactions.assign(total=transactions.groupby("customer_id")["amount"]
                                   .transform("sum"))


class Customers(pa.DataFrameModel):
    """A customer and their spending limit."""

    customer_id: int = pa.Field(ge=0)
    limit: float = pa.Field(ge=0)

    class Config:
        coerce = True


class Census(sdk.Step):
    """Count customers (global); the census service is down (always raises)."""

    output = "census"

    def run(self, customers: DataFrame[Customers]) -> DataFrame[Customers]:
        """Raise."""
        raise RuntimeError("census service unavailable")


rows_pipeline = sdk.Pipeline([Convert(), Label()], name="rows_errors")
"""Two fused rows steps: convert raises on French rows, label on customer 4."""
partition_pipeline = sdk.Pipeline([Totals()], name="partition_errors")
"""A partition_by step raising for customer 3."""
branches = sdk.Pipeline([Convert(), Census()], name="branches")
"""Two independent branches: transactions -> convert (rows), customers -> census (global)."""


def transactions() -> pd.DataFrame:
    """12 typed transactions labelled r0..r11: 2 invalid (bad country, negative amount),
    3 French, 2 of customer 4 (one French), 3 of customer 3."""
    rows = [
        (1, 10.0, "US"), (2, 20.5, "FR"), (3, 3.25, "US"), (4, 1.0, "DE"),
        (3, 99.0, "DE"), (1, 7.0, "usa"), (2, 8.0, "US"), (4, 15.0, "FR"),
        (5, -1.0, "US"), (3, 12.0, "US"), (0, 2.0, "FR"), (5, 6.0, "US"),
    ]
    return pd.DataFrame(
        rows, columns=["customer_id", "amount", "country"], index=[f"r{i}" for i in range(12)]
    )


INVALID = {"r5", "r8"}
FRENCH = {"r1", "r7", "r10"}


def customers() -> pd.DataFrame:
    """4 customers labelled c0..c3, one invalid (negative limit)."""
    return pd.DataFrame(
        {"customer_id": [1, 2, 3, 4], "limit": [100.0, -5.0, 300.0, 50.0]},
        index=[f"c{i}" for i in range(4)],
    )


def step_errors(result_or_error: Any) -> pd.DataFrame:
    """The step_error records of a result (or a DataQualityError)."""
    quarantine = result_or_error.quarantine
    return quarantine[quarantine["check"] == sdk.STEP_ERROR]


def quarantined_run(
    pipeline: sdk.Pipeline, runner: str = "local", max_invalid: float = 1.0,
    options: dict[str, Any] | None = None, **inputs: Any,
) -> tuple[sdk.RunResult, list[dict[str, Any]]]:
    """Run under on_step_error="quarantine"; return the result and the log records."""
    with capture_logs() as logs:
        result = pipeline.run(
            runner, max_invalid=max_invalid,
            runner_options={**QUARANTINE, "progress": False, **(options or {})}, **inputs,
        )
    return result, list(logs)


def report(result: sdk.RunResult) -> list[tuple[Any, ...]]:
    """Per-boundary counts, order-insensitive."""
    return sorted(
        (r["step"], r["boundary"], r["dataset"], r["rows"], r["passed"], r["quarantined"],
         json.dumps(r["failures"], sort_keys=True))
        for r in result.report.to_dict("records")
    )


class Observer:
    """Records the step-error, quarantine and run-error hooks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @sdk.hookimpl
    def sdk_on_step_error(self, run: sdk.RunInfo, step: sdk.Step, error: Exception) -> None:
        self.calls.append(("on_step_error", {"step": step.name, "error": error}))

    @sdk.hookimpl
    def sdk_on_run_error(self, run: sdk.RunInfo, error: Exception) -> None:
        self.calls.append(("on_run_error", {"error": error}))

    @sdk.hookimpl
    def sdk_on_quarantine(
        self, run: sdk.RunInfo, step: sdk.Step, boundary: str, dataset: str,
        records: pd.DataFrame,
    ) -> None:
        self.calls.append(("on_quarantine", {"step": step.name, "boundary": boundary,
                                             "dataset": dataset, "records": records}))

    def named(self, hook: str) -> list[dict[str, Any]]:
        """The arguments of each call of ``hook``."""
        return [kwargs for name, kwargs in self.calls if name == hook]


@pytest.fixture
def observer() -> Iterator[Observer]:
    """An Observer registered in-process for the test."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = Observer()
    pm.register(plugin, name="test-step-error-observer")
    yield plugin
    pm.unregister(plugin)


# -- rows steps: exactly the rows that raise --------------------------------------------------


def test_rows_that_make_a_rows_step_raise_are_quarantined(observer: Observer) -> None:
    """Exactly the rows that make convert (and then label) raise are quarantined with check
    step_error at the step's input boundary, the exception as value and the whole row; every
    other valid row reaches the output."""
    frame = transactions()
    result, logs = quarantined_run(rows_pipeline, transactions=frame)
    errors = step_errors(result)
    convert = errors[errors["step"] == "convert"]
    assert set(convert["source"]) == FRENCH
    assert len(convert) == len(FRENCH)
    assert set(convert["boundary"]) == {"input"}
    assert set(convert["dataset"]) == {"transactions"}
    assert convert["column"].isna().all()
    assert all(v.startswith("ValueError: ") and "no exchange rate for FR" in v
               for v in convert["value"])
    for source, row in zip(convert["source"], convert["row"], strict=True):
        assert json.loads(row) == frame.loc[source].to_dict()
    label = errors[errors["step"] == "label"]
    assert set(label["source"]) == {"r3"}  # customer 4's other row is French: convert took it
    assert set(label["boundary"]) == {"input"} and set(label["dataset"]) == {"converted"}
    assert label["value"].str.startswith("KeyError: ").all()
    assert json.loads(label["row"].iloc[0]) == {**frame.loc["r3"].to_dict(), "cents": 100}
    by_check = result.quarantine.groupby("source")["check"].apply(set).to_dict()
    assert set(by_check) == INVALID | FRENCH | {"r3"}
    assert all(checks != {sdk.STEP_ERROR} for s, checks in by_check.items() if s in INVALID)
    output = result.outputs["labelled"]
    kept = frame.drop(index=sorted(INVALID | FRENCH | {"r3"}))
    assert sorted(output.index) == sorted(kept.index)
    clean = rows_pipeline.run(transactions=kept)
    pd.testing.assert_frame_equal(canonical(output), canonical(clean.outputs["labelled"]))
    validated = [r for r in logs if r["event"] == "validated"]
    assert validated
    for event in validated:
        assert event["rows"] == event["passed"] + event["quarantined"], event
    (convert_input,) = [e for e in validated if (e["step"], e["boundary"]) == ("convert", "input")]
    assert (convert_input["rows"], convert_input["quarantined"]) == (12, 5)
    step_error_counts = sum(c.get(sdk.STEP_ERROR, 0) for c in convert_input["failures"].values())
    assert step_error_counts == len(FRENCH)
    reported = {
        (c["step"], c["boundary"], c["dataset"]): c["records"]
        for c in observer.named("on_quarantine")
    }
    assert set(reported[("convert", "input", "transactions")]["source"]) == INVALID | FRENCH
    assert observer.named("on_step_error") == []
    assert [r["event"] for r in logs if r["event"] == "run_finished"] == ["run_finished"]
    (started,) = [r for r in logs if r["event"] == "run_started"]
    assert started["on_step_error"] == "quarantine"


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_rows_step_errors_under_batch_match_local(chunk_rows: int) -> None:
    """Batch quarantines the same rows with the same records and counts as local, at any
    chunk size, and logs the same counts."""
    local, local_logs = quarantined_run(rows_pipeline, transactions=transactions())
    batch, logs = quarantined_run(
        rows_pipeline, "batch", options={"chunk_rows": chunk_rows}, transactions=transactions()
    )
    assert_equivalent(local, batch)
    assert report(batch) == report(local)

    def counts(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (r["step"], r["boundary"], r["rows"], r["passed"], r["quarantined"])
            for r in records if r["event"] == "validated"
        )

    assert counts(logs) == counts(local_logs)
    for event in (r for r in logs if r["event"] == "validated"):
        assert event["rows"] == event["passed"] + event["quarantined"], event


def test_step_error_record_shows_the_row_as_read(tmp_path: Path) -> None:
    """Read from a CSV, a step_error record's row is the row as in the file (raw text, before
    coercion), like the records of validation failures at the same boundary."""
    path = tmp_path / "transactions.csv"
    path.write_text(
        "customer_id,amount,country\n1,10,US\n2,20.50,FR\n3,x,US\n", encoding="utf-8"
    )
    for runner, options in (("local", {}), ("batch", {"chunk_rows": 1})):
        result, _ = quarantined_run(rows_pipeline, runner, options=options,
                                    transactions=str(path))
        records = result.quarantine.set_index("source")
        invalid = json.loads(records.loc[f"{path}:4", "row"])
        assert invalid == {"customer_id": "3", "amount": "x", "country": "US"}
        assert records.loc[f"{path}:3", "check"] == sdk.STEP_ERROR
        assert json.loads(records.loc[f"{path}:3", "row"]) == {
            "customer_id": "2", "amount": "20.50", "country": "FR"
        }, runner


# -- partition_by steps: the key groups that raise --------------------------------------------


@pytest.mark.parametrize(
    ("runner", "options"),
    [("local", {}), *(("batch", {"chunk_rows": c}) for c in CHUNKS)],
    ids=lambda v: str(v),
)
def test_key_that_makes_a_partition_step_raise_is_quarantined(
    runner: str, options: dict[str, Any]
) -> None:
    """All rows of customer 3 are quarantined with step_error; the other customers' outputs
    are those of a run without customer 3."""
    frame = transactions()
    result, logs = quarantined_run(partition_pipeline, runner, options=options,
                                   transactions=frame)
    errors = step_errors(result)
    valid = frame.drop(index=sorted(INVALID))
    assert set(errors["source"]) == set(valid.index[valid["customer_id"] == 3])
    assert len(errors) == 3
    assert set(errors["step"]) == {"totals"}
    assert set(errors["boundary"]) == {"input"} and set(errors["dataset"]) == {"transactions"}
    assert errors["value"].str.startswith("LookupError: ").all()
    assert errors["value"].str.contains("no history for customer 3").all()
    without = frame[frame["customer_id"] != 3]
    expected = partition_pipeline.run(transactions=without, max_invalid=1.0)
    pd.testing.assert_frame_equal(
        canonical(result.outputs["totalled"]), canonical(expected.outputs["totalled"])
    )
    for event in (r for r in logs if r["event"] == "validated"):
        assert event["rows"] == event["passed"] + event["quarantined"], event
    if runner != "local":
        local, _ = quarantined_run(partition_pipeline, transactions=frame)
        assert_equivalent(local, result)
        assert report(result) == report(local)


def test_multi_input_partition_step_errors_match_local() -> None:
    """A partition_by step with two inputs raising for one key: batch quarantines what local
    does, at any chunk size."""

    class Join(sdk.Step):
        """Attach each transaction's limit; customer 3 cannot be joined (raises)."""

        output = "joined"
        partition_by = "customer_id"

        def run(
            self, transactions: DataFrame[Transactions], customers: DataFrame[Customers]
        ) -> DataFrame[Totalled]:
            """Add ``total`` = the customer's limit; raise if customer 3 is there."""
            if (transactions["customer_id"] == 3).any():
                raise LookupError("customer 3")
            limit = customers.groupby("customer_id")["limit"].max()
            return transactions.assign(total=transactions["customer_id"].map(limit)
                                       .astype("float64"))

    joins = sdk.Pipeline([Join()], name="joins")
    many = pd.DataFrame(
        {"customer_id": list(range(8)) * 2, "amount": [1.0] * 16, "country": ["US"] * 16}
    )
    limits = pd.DataFrame({"customer_id": list(range(8)), "limit": [100.0] * 8})
    local, _ = quarantined_run(joins, transactions=many, customers=limits)
    for chunk_rows in CHUNKS:
        batch, _ = quarantined_run(joins, "batch", options={"chunk_rows": chunk_rows},
                                   transactions=many, customers=limits)
        try:
            assert_equivalent(local, batch)
        except AssertionError as exc:
            exc.add_note(f"batch with chunk_rows={chunk_rows}")
            raise


# -- global steps: every input row ------------------------------------------------------------


@pytest.mark.parametrize(
    ("runner", "options"), [("local", {}), ("batch", {"chunk_rows": 1}), ("batch", {})],
    ids=lambda v: str(v),
)
def test_global_step_that_raises_quarantines_all_its_input_rows(
    runner: str, options: dict[str, Any]
) -> None:
    """Every valid input row of a raising global step is quarantined with step_error; the run
    succeeds within max_invalid (9 of 16 rows quarantined, 0.6 allowed), the other branch's
    output intact, and fails with DataQualityError over it (0.5 allowed)."""
    result, logs = quarantined_run(
        branches, runner, max_invalid=0.6, options=options,
        transactions=transactions(), customers=customers(),
    )
    errors = step_errors(result)
    census = errors[errors["step"] == "census"]
    assert set(census["source"]) == {"c0", "c2", "c3"}
    assert set(census["boundary"]) == {"input"} and set(census["dataset"]) == {"customers"}
    assert census["value"].str.startswith("RuntimeError: census service unavailable").all()
    assert set(result.quarantine[result.quarantine["dataset"] == "customers"]["source"]) == {
        "c0", "c1", "c2", "c3"
    }
    assert len(result.outputs["census"]) == 0
    assert sorted(result.outputs["converted"].index) == sorted(
        set(transactions().index) - INVALID - FRENCH
    )
    assert result.quarantined == 4 + len(INVALID | FRENCH)
    for event in (r for r in logs if r["event"] == "validated"):
        assert event["rows"] == event["passed"] + event["quarantined"], event
    with pytest.raises(sdk.DataQualityError) as info:
        quarantined_run(branches, runner, max_invalid=0.5, options=options,
                        transactions=transactions(), customers=customers())
    error = info.value
    assert (error.invalid, error.total) == (9, 16)
    assert set(step_errors(error)["source"]) == {"c0", "c2", "c3"} | FRENCH


# -- the default: fail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runner", "options"),
    [("local", {}), ("batch", {"chunk_rows": 3}), ("local", {"on_step_error": "fail"}),
     ("batch", {"on_step_error": "fail"})],
    ids=lambda v: str(v),
)
def test_default_is_fail_with_step_error(
    observer: Observer, runner: str, options: dict[str, Any]
) -> None:
    """Local and batch fail on a raising step by default: StepError naming the step and the
    exception, sdk_on_step_error called once with it."""
    with capture_logs() as logs, pytest.raises(sdk.StepError) as info:
        rows_pipeline.run(runner, runner_options=options, max_invalid=1.0,
                          transactions=transactions())
    error = info.value
    assert error.step == "convert"
    assert "'convert'" in str(error) and "ValueError: no exchange rate for FR" in str(error)
    assert isinstance(error.__cause__, ValueError)
    (called,) = observer.named("on_step_error")
    assert called["step"] == "convert" and called["error"] is error
    (failed,) = observer.named("on_run_error")
    assert failed["error"] is error
    (started,) = logs.events("run_started")
    assert started["on_step_error"] == "fail"
    (finished,) = logs.events("run_finished")
    assert finished["status"] == "failed" and finished["error"] == "StepError"


@pytest.mark.parametrize("runner", ["local", "batch"])
def test_unknown_on_step_error_value_is_refused(runner: str) -> None:
    """on_step_error="ignore": PluginError naming the option and its accepted values."""
    with pytest.raises(sdk.PluginError) as info:
        rows_pipeline.run(runner, runner_options={"on_step_error": "ignore"},
                          transactions=transactions())
    message = str(info.value)
    assert "'on_step_error'" in message and "'ignore'" in message
    assert "'fail'" in message and "'quarantine'" in message


def test_cli_on_step_error_option(tmp_path: Path) -> None:
    """From the command line: without the option a raising step exits 1; with
    `--runner-option on_step_error=quarantine` the run succeeds and the quarantine file has
    the step_error rows; `on_step_error=ignore` exits 2."""
    module = tmp_path / "raising.py"
    module.write_text(textwrap.dedent('''
        """A pipeline whose step raises on French transactions."""
        from pandera.typing import DataFrame

        import sdk
        from examples.fraud.pipeline import Transactions


        class Strict(sdk.Step):
            """Refuse French transactions."""

            output = "checked"
            scope = "rows"

            def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
                """Raise on any French row."""
                if (transactions["country"] == "FR").any():
                    raise ValueError("no FR")
                return transactions


        pipeline = sdk.Pipeline([Strict()], name="raising")
    '''), encoding="utf-8")
    data = tmp_path / "transactions.csv"
    data.write_text("customer_id,amount,country\n1,10,US\n2,20,FR\n3,30,DE\n4,40,US\n",
                    encoding="utf-8")
    quarantine = tmp_path / "quarantine.csv"
    base = ("run", f"{module}:pipeline", "--input", f"transactions={data}", "--max-invalid", "0.5",
            "--quarantine", str(quarantine), "--overwrite")
    failed = cli(*base)
    assert failed.returncode == 1, failed.stderr
    assert "StepError" in failed.stderr
    done = cli(*base, "--runner", "batch", "--runner-option", "on_step_error=quarantine",
               "--runner-option", "chunk_rows=2")
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(quarantine, dtype=str)
    assert list(written["check"]) == [sdk.STEP_ERROR]
    assert list(written["source"]) == [f"{data}:3"]
    assert written["value"].iloc[0] == "ValueError: no FR"
    refused = cli(*base, "--runner-option", "on_step_error=ignore")
    assert refused.returncode == 2
    assert "on_step_error" in refused.stderr and "Traceback" not in refused.stderr
