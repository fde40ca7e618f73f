"""``outputs_sort``: row order at publish, the same for every runner that publishes.

Row order is not part of the runner contract: a ``partition_by`` step's rows come back
partition by partition in ``batch``, whole in ``local``. ``outputs_sort`` sorts a dataset
stably by the columns given when it is published (written or returned).

Runs go through ``Runner.run`` (the keyword ``pipeline.run`` and the deployment file's
``[outputs_sort]`` pass on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

import sdk
from sdk.errors import PipelineError
from sdk.runners.registry import get_runner


class Payments(pa.DataFrameModel):
    """A payment of a customer."""

    customer: int
    amount: float

    class Config:
        coerce = True


class Ranked(Payments):
    """A payment with its rank among the customer's payments."""

    rank: int


class Rank(sdk.Step):
    """Rank each customer's payments, largest first; the result is sorted by amount."""

    output = "ranked"
    partition_by = "customer"

    def run(self, payments: DataFrame[Payments]) -> DataFrame[Ranked]:
        """Rank by amount within each customer, then sort by amount descending."""
        ranked = payments.assign(
            rank=payments.groupby("customer")["amount"].rank(ascending=False).astype(int)
        )
        return ranked.sort_values("amount", ascending=False)


pipeline = sdk.Pipeline([Rank()], name="ranking")


def _payments() -> pd.DataFrame:
    n = 300
    return pd.DataFrame(
        {
            "customer": [i % 37 for i in range(n)],
            "amount": [(i * 7919) % 1000 + i / 1000 for i in range(n)],
        }
    )


def run(runner: str = "local", payments: Any = None, **options: Any) -> sdk.RunResult:
    """Run ``pipeline`` with ``runner`` (batch: chunks of 50 rows) over ``payments``."""
    chunking = {"chunk_rows": 50, "progress": False} if runner == "batch" else {}
    inputs = {"payments": _payments() if payments is None else payments}
    return get_runner(runner, **chunking).run(pipeline, inputs, **options)


def _run(runner: str, out: Path, **options: Any) -> sdk.RunResult:
    return run(runner, outputs={"ranked": str(out)}, **options)


def test_batch_order_differs_from_local_without_outputs_sort(tmp_path: Path) -> None:
    """The issue: the same rows, in another order (partition by partition)."""
    local = pd.read_csv(_run("local", tmp_path / "local.csv").written["ranked"])
    batch = pd.read_csv(_run("batch", tmp_path / "batch.csv").written["ranked"])
    key = ["customer", "amount"]
    pd.testing.assert_frame_equal(
        local.sort_values(key).reset_index(drop=True), batch.sort_values(key).reset_index(drop=True)
    )
    assert not local.equals(batch)


@pytest.mark.parametrize(
    "columns", [["amount"], ["customer", "amount"], ["rank", "customer", "amount"]]
)
def test_outputs_sort_gives_local_and_batch_the_same_file(
    tmp_path: Path, columns: list[str]
) -> None:
    """Sorted at publish: local and batch write the same bytes, in the sorted order."""
    local = _run("local", tmp_path / "local.csv", outputs_sort={"ranked": columns})
    batch = _run("batch", tmp_path / "batch.csv", outputs_sort={"ranked": columns})
    written = (tmp_path / "local.csv").read_bytes()
    assert written == (tmp_path / "batch.csv").read_bytes()
    frame = pd.read_csv(tmp_path / "local.csv")
    pd.testing.assert_frame_equal(
        frame, frame.sort_values(columns, kind="stable").reset_index(drop=True)
    )
    assert local.manifest["options"]["outputs_sort"] == {"ranked": columns}
    assert batch.manifest["options"]["outputs_sort"] == {"ranked": columns}


def test_outputs_sort_applies_to_the_returned_frames(tmp_path: Path) -> None:
    """In memory too: result.outputs holds the sorted rows, in both runners."""
    local = run("local", outputs_sort={"ranked": ["customer", "rank"]})
    batch = run("batch", outputs_sort={"ranked": ["customer", "rank"]})
    left = local.outputs["ranked"].reset_index(drop=True)
    right = batch.outputs["ranked"].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert list(left["customer"]) == sorted(left["customer"])


def test_sort_is_stable_for_equal_keys(tmp_path: Path) -> None:
    """Rows with equal sort keys keep the order the runner produced (local: the step's)."""
    result = run(outputs_sort={"ranked": ["customer"]})
    got = result.outputs["ranked"]
    for _, rows in got.groupby("customer", sort=False):
        assert list(rows["amount"]) == sorted(rows["amount"], reverse=True)


def test_unknown_dataset_and_column_are_refused_at_once() -> None:
    """Every problem named, with the datasets and columns that exist."""
    with pytest.raises(PipelineError) as caught:
        run(outputs_sort={"rankd": ["amount"], "ranked": ["amout", "rank"]})
    problems = caught.value.problems
    assert problems == [
        "outputs_sort: unknown dataset 'rankd'; the pipeline produces ranked: sort one of "
        "those (or remove 'rankd')",
        "outputs_sort: dataset 'ranked' has no column(s) 'amout'; its model Ranked declares "
        "customer, amount, rank: sort by those",
    ]


def test_columns_must_be_a_list_of_names() -> None:
    """A bare string (a forgotten list) is refused, naming the fix."""
    with pytest.raises(
        PipelineError,
        match=r"takes a non-empty list of column names, got "
        r"'amount'; write e.g. ranked = \[\"customer_id\"\]",
    ):
        run(outputs_sort={"ranked": "amount"})


def test_an_appending_runner_refuses_outputs_sort(tmp_path: Path) -> None:
    """The stream runner writes as it goes: it cannot sort, and says so before running."""
    source = tmp_path / "in.jsonl"
    _payments().to_json(source, orient="records", lines=True)
    with pytest.raises(PipelineError, match="writes its outputs as it goes, so it cannot sort"):
        get_runner("stream").run(
            pipeline,
            {"payments": str(source)},
            outputs={"ranked": str(tmp_path / "out.jsonl")},
            outputs_sort={"ranked": ["amount"]},
        )
