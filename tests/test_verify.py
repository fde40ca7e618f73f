"""Tests of sdk.verify: scope, determinism and no-mutation checks on sample data."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from pandera.typing import DataFrame

from examples.fraud.pipeline import Features, Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk import Pipeline, Step
from sdk.verify import VerifyReport, verify_pipeline


class Centered(Transactions):
    """A transaction with its amount minus a mean."""

    centered: float


class RowsMean(Step):
    """Declared rows but uses a per-customer mean."""

    output = "features"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Add per-customer aggregates (wrongly declared row-wise)."""
        g = transactions.groupby("customer_id")["amount"]
        return transactions.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))


class GlobalCenter(Step):
    """Declared partition_by but subtracts the global mean."""

    partition_by = "customer_id"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Center amounts on the mean of all transactions."""
        amount = transactions["amount"]
        return transactions.assign(centered=amount - amount.mean())


class CustomerCenter(Step):
    """Correctly partitioned: subtracts each customer's mean."""

    partition_by = "customer_id"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Center amounts on the customer's mean."""
        mean = transactions.groupby("customer_id")["amount"].transform("mean")
        return transactions.assign(centered=transactions["amount"] - mean)


class Halve(Step):
    """Correctly row-wise: half the amount."""

    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Add half of each amount."""
        return transactions.assign(centered=transactions["amount"] / 2)


class Noisy(Step):
    """Adds unseeded noise."""

    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Add noise from an unseeded generator."""
        noise = np.random.default_rng().normal(size=len(transactions))
        return transactions.assign(centered=transactions["amount"] + noise)


class Clock(Step):
    """Stamps the wall clock."""

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Add the current time in nanoseconds."""
        return transactions.assign(centered=float(time.time_ns()))


class Overwrite(Step):
    """Assigns into its input and returns it."""

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Overwrite a column of the input in place."""
        transactions["centered"] = 0.0
        return transactions


class DropInPlace(Step):
    """Drops rows of its input in place."""

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Drop zero amounts in place, then add a column."""
        transactions.drop(transactions.index[transactions["amount"] > 100], inplace=True)
        return transactions.assign(centered=transactions["amount"])


class Explodes(Step):
    """Raises on any input."""

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Centered]:
        """Fail."""
        raise ValueError("boom")


@pytest.fixture
def raw(fraud_raw: pd.DataFrame) -> pd.DataFrame:
    """A quick sample of the example's transactions."""
    return fraud_raw.head(600)


def only(report: VerifyReport, prop: str) -> list:
    """The violations of one property."""
    return [v for v in report.violations if v.property == prop]


def test_rows_step_using_group_mean_is_caught(raw: pd.DataFrame) -> None:
    """A rows step using transform('mean') breaks 'rows'; the fix names the key or global."""
    report = Pipeline([RowsMean()]).verify(transactions=raw)
    assert not report.ok
    (violation,) = only(report, "rows")
    assert violation.step == "rows_mean"
    assert "partition_by = 'customer_id'" in violation.suggestion
    assert "global" in violation.suggestion
    assert 2 <= len(violation.example) <= 5
    assert violation.example["customer_id"].nunique() < len(violation.example)
    text = str(report)
    assert "rows_mean" in text and "'rows'" in text and "customer_id" in text


def test_partition_step_using_global_mean_is_caught(raw: pd.DataFrame) -> None:
    """A partition_by step that uses the global mean breaks 'partition_by'; fix: global."""
    report = Pipeline([GlobalCenter()]).verify(transactions=raw)
    (violation,) = only(report, "partition_by")
    assert violation.step == "global_center"
    assert "scope = 'global'" in violation.suggestion
    assert 2 <= len(violation.example) <= 5
    assert violation.example["customer_id"].nunique() >= 2


@pytest.mark.parametrize("step", [Noisy(), Clock()], ids=["rng", "clock"])
def test_nondeterministic_step_is_caught(raw: pd.DataFrame, step: Step) -> None:
    """Unseeded randomness or a clock read breaks 'deterministic', shown on a tiny example."""
    report = Pipeline([step]).verify(transactions=raw)
    (violation,) = report.violations  # the scope check is not run on a random step
    assert violation.property == "deterministic" and violation.step == step.name
    assert "seed" in violation.suggestion
    assert 1 <= len(violation.example) <= 5


@pytest.mark.parametrize("step", [Overwrite(), DropInPlace()], ids=["assign", "drop"])
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_in_place_mutation_is_caught(raw: pd.DataFrame, step: Step) -> None:
    """Assigning into or dropping from the input frame breaks 'no_input_mutation'."""
    report = Pipeline([step]).verify(transactions=raw)
    (violation,) = only(report, "no_input_mutation")
    assert violation.step == step.name
    assert "assign" in violation.suggestion
    assert 1 <= len(violation.example) <= 5


def test_raising_step_is_reported_not_raised(raw: pd.DataFrame) -> None:
    """A step that raises becomes a 'runs' violation; its consumers are listed as skipped."""
    downstream = Halve(inputs={"transactions": "explodes"})
    report = Pipeline([Explodes(), downstream]).verify(transactions=raw)
    (violation,) = only(report, "runs")
    assert violation.step == "explodes" and "ValueError: boom" in violation.message
    assert "halve" in report.skipped and not report.ok


def test_correct_steps_are_not_flagged(raw: pd.DataFrame) -> None:
    """A correct rows step and a correct partition_by step verify clean."""
    for step in (Halve(), CustomerCenter()):
        report = Pipeline([step]).verify(transactions=raw)
        assert report.ok, str(report)
        assert report.violations == []


def test_fraud_example_verifies_clean_from_csv(repo_root, fraud_raw: pd.DataFrame) -> None:
    """The fraud example passes every check, given a frame or the CSV's URI."""
    report = fraud.verify(transactions=fraud_raw)
    assert report.ok, str(report)
    assert report.checked["add_features"][-1] == "partition_by"
    assert report.checked["score"][-1] == "rows"
    uri = str(repo_root / "examples" / "fraud" / "transactions.csv")
    assert verify_pipeline(fraud, {"transactions": uri}, sample_rows=500).ok
    assert "ok" in str(report).splitlines()[0]


def test_report_is_json_and_html(raw: pd.DataFrame) -> None:
    """to_dict() is JSON-able with the example as records; _repr_html_ shows the violation."""
    report = Pipeline([RowsMean()]).verify(transactions=raw)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["violations"][0]["property"] == "rows"
    assert {"customer_id", "amount", "country"} <= set(data["violations"][0]["example"][0])
    assert "rows_mean" in report._repr_html_() and "<table" in report._repr_html_()


def test_missing_input_is_an_error() -> None:
    """Verifying without a pipeline input raises a PipelineError naming it."""
    with pytest.raises(Exception, match="missing transactions"):
        fraud.verify()
