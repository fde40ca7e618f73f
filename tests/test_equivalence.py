"""Runner equivalence: `batch` gives the outputs and quarantine of `local`, whatever the chunks.

Frames are generated with bad rows (missing, malformed and out-of-range values, as text and as
typed values) and run through pipelines mixing ``rows``, ``partition_by`` and ``global`` steps,
with one and two inputs, given as DataFrames and as CSV files.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame

from examples.fraud.pipeline import Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk import Pipeline, RunResult, SdkError, Step
from sdk.testing import assert_equivalent, canonical

CHUNKS = (1, 7, 1000)
"""Chunk sizes: one row per chunk, a few rows per chunk, the whole input in one chunk."""

SETTINGS = settings(
    max_examples=6,
    deadline=None,
    # every example runs four pipelines; shrinking a failure would take minutes, and the
    # frames are small enough (at most 12 rows) to read unshrunk
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- pipeline (b): rows -> rows -> partition_by -> global ------------------------------------


class Cleaned(Transactions):
    """A transaction with its amount in whole cents."""

    cents: int = pa.Field(ge=0)


class Ratioed(Cleaned):
    """A cleaned transaction with its amount per customer id (fails above 1000)."""

    per_id: float = pa.Field(le=1000)


class PerCustomerModel(Ratioed):
    """A transaction with its customer's total cents and count (at most 2 per customer)."""

    total_cents: int = pa.Field(ge=0)
    n: int = pa.Field(ge=1, le=2)


class Ranked(PerCustomerModel):
    """A transaction with its rank by amount and the mean of all amounts in cents."""

    rank: int = pa.Field(ge=1)
    mean_cents: float = pa.Field(ge=0)


class Clean(Step):
    """Add the amount in cents."""

    output = "cleaned"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Cleaned]:
        """Add ``cents``."""
        return transactions.assign(cents=(transactions["amount"] * 100).round().astype("int64"))


class Ratio(Step):
    """Amount per customer id: over 1000 fails the output check of some rows."""

    output = "ratioed"
    scope = "rows"

    def run(self, cleaned: DataFrame[Cleaned]) -> DataFrame[Ratioed]:
        """Add ``per_id``."""
        return cleaned.assign(per_id=cleaned["amount"] / (cleaned["customer_id"] + 1))


class PerCustomer(Step):
    """Per-customer totals; customers with more than 2 rows fail the output check."""

    output = "per_customer"
    partition_by = "customer_id"

    def run(self, ratioed: DataFrame[Ratioed]) -> DataFrame[PerCustomerModel]:
        """Add ``total_cents`` and ``n`` per customer."""
        g = ratioed.groupby("customer_id")["cents"]
        return ratioed.assign(total_cents=g.transform("sum"), n=g.transform("size"))


class Rank(Step):
    """Rank every row by amount and add the global mean (needs the whole dataset)."""

    output = "ranked"

    def run(self, per_customer: DataFrame[PerCustomerModel]) -> DataFrame[Ranked]:
        """Add ``rank`` and ``mean_cents``."""
        cents = per_customer["cents"]
        return per_customer.assign(
            rank=cents.rank(method="min").astype("int64"), mean_cents=cents.mean()
        )


chain = Pipeline([Clean(), Ratio(), PerCustomer(), Rank()], name="chain")


# -- pipeline (c): a co-partitioned join and a two-input global step -------------------------


class Customers(pa.DataFrameModel):
    """A customer and their spending limit."""

    customer_id: int = pa.Field(ge=0)
    limit: float = pa.Field(ge=0, le=1_000_000)

    class Config:
        coerce = True


class Joined(Transactions):
    """A transaction with its customer's limit (missing when the customer is unknown)."""

    limit: float


class WithHeadroom(Joined):
    """A joined transaction with its headroom (at least -1000) and the number of customers."""

    headroom: float = pa.Field(ge=-1000)
    customers: int = pa.Field(ge=0)
    rank: int = pa.Field(ge=1)


class Limits(Step):
    """Customers' limits rounded to cents."""

    output = "limits"
    scope = "rows"

    def run(self, customers: DataFrame[Customers]) -> DataFrame[Customers]:
        """Round ``limit``."""
        return customers.assign(limit=customers["limit"].round(2))


class Join(Step):
    """Attach each transaction's customer limit; both inputs partitioned by customer."""

    output = "joined"
    partition_by = "customer_id"

    def run(
        self, transactions: DataFrame[Transactions], limits: DataFrame[Customers]
    ) -> DataFrame[Joined]:
        """Map the largest limit of each customer onto their transactions."""
        largest = limits.groupby("customer_id")["limit"].max()
        return transactions.assign(limit=transactions["customer_id"].map(largest).astype("float64"))


class Headroom(Step):
    """Headroom under the limit and the number of customers: two inputs, run as global."""

    output = "headroom"

    def run(
        self, joined: DataFrame[Joined], limits: DataFrame[Customers]
    ) -> DataFrame[WithHeadroom]:
        """Add ``headroom``, ``customers`` and ``rank``."""
        return joined.assign(
            headroom=joined["limit"] - joined["amount"],
            customers=limits["customer_id"].nunique(),
            rank=joined["amount"].rank(method="min").astype("int64"),
        )


join = Pipeline([Limits(), Join(), Headroom()], name="join")
"""Customers' limits (rows), joined to transactions (partition_by), then global."""

shared_input = Pipeline(
    [Join(inputs={"limits": "customers"}), Headroom(inputs={"limits": "customers"})],
    name="shared_input",
)
"""The raw ``customers`` input read by two steps (each validates it)."""


# -- generated inputs ------------------------------------------------------------------------

MODES = ("text", "str", "typed", "nullable")
"""``text``: object columns of strings; ``str``: pandas' string dtype (as ``read_csv`` gives);
``typed``: numpy numbers; ``nullable``: pandas' nullable arrays."""

BAD_TEXT = {
    "customer_id": (None, "abc", "12.5", "C1", "-3"),
    "amount": (None, "$4", "1,5", "-1.50", "2000000"),
    "country": (None, "us", "USA", "1"),
    "limit": (None, "x", "-5", "3e7"),
}
BAD_TYPED = {
    "customer_id": (None, 12.5, -3.0),
    "amount": (None, -1.5, 2e6),
    "country": (None, "us", "USA"),
    "limit": (None, -5.0, 3e7),
}
BAD_NULLABLE = {
    "customer_id": (None, -3),
    "amount": (None, -1.5, 2e6),
    "country": (None, "us", "USA"),
    "limit": (None, -5.0, 3e7),
}


@st.composite
def good(draw: st.DrawFn, column: str, mode: str) -> Any:
    """A valid value of ``column``; few keys, so customers have several rows, and some large
    amounts, so output checks fail for some rows."""
    if column == "customer_id":
        value: Any = draw(st.integers(0, 3))
        if mode in ("text", "str"):
            return str(value)
        return float(value) if mode == "typed" else value
    if column == "country":
        return draw(st.sampled_from(["US", "FR", "DE"]))
    large = draw(st.sampled_from([False, False, True]))
    cents = draw(st.integers(100_000, 600_000) if large else st.integers(0, 5_000))
    return f"{cents / 100:.2f}" if mode in ("text", "str") else cents / 100


@st.composite
def frames(draw: st.DrawFn, columns: tuple[str, ...], max_rows: int = 14) -> pd.DataFrame:
    """A raw frame of ``columns`` in one of :data:`MODES`, about a third of its rows bad."""
    mode = draw(st.sampled_from(MODES))
    bad = {"text": BAD_TEXT, "str": BAD_TEXT, "typed": BAD_TYPED, "nullable": BAD_NULLABLE}[mode]
    n = draw(st.sampled_from([0, *range(2, max_rows + 1)]))
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for _ in range(n):
        broken = draw(st.sampled_from([*[None] * 6, *columns]))
        for column in columns:
            if column == broken:
                data[column].append(draw(st.sampled_from(bad[column])))
            else:
                data[column].append(draw(good(column, mode)))
    index = draw(
        st.sampled_from(
            [
                pd.RangeIndex(n),
                pd.Index([i % 3 for i in range(n)]),  # duplicated labels
                pd.Index([f"r{i}" for i in range(n)], dtype=object),
            ]
        )
    )
    if mode in ("text", "str"):
        return pd.DataFrame(data, index=index, dtype=object if mode == "text" else "str")
    if mode == "typed":
        return pd.DataFrame(
            {
                c: (
                    pd.Series(data[c], dtype=object)
                    if c == "country"
                    else np.array([np.nan if v is None else v for v in data[c]], dtype="float64")
                )
                for c in columns
            },
            index=index,
        )
    dtypes = {"customer_id": "Int64", "amount": "Float64", "limit": "Float64", "country": "string"}
    return pd.DataFrame({c: pd.array(data[c], dtype=dtypes[c]) for c in columns}, index=index)


TX = ("customer_id", "amount", "country")
CUSTOMERS = ("customer_id", "limit")

PIPELINES: dict[str, tuple[Pipeline, Callable[[], st.SearchStrategy[dict[str, pd.DataFrame]]]]] = {
    "fraud": (fraud, lambda: st.fixed_dictionaries({"transactions": frames(TX)})),
    "chain": (chain, lambda: st.fixed_dictionaries({"transactions": frames(TX)})),
    "join": (
        join,
        lambda: st.fixed_dictionaries(
            {"transactions": frames(TX), "customers": frames(CUSTOMERS, max_rows=8)}
        ),
    ),
}


# -- comparing -------------------------------------------------------------------------------


def report_rows(result: RunResult) -> list[tuple[Any, ...]]:
    """The run's per-boundary counts, order-insensitive."""
    return sorted(
        (
            r["step"],
            r["boundary"],
            r["dataset"],
            int(r["rows"]),
            int(r["passed"]),
            int(r["quarantined"]),
            json.dumps(r["failures"], sort_keys=True),
        )
        for r in result.report.to_dict("records")
    )


def run_everywhere(pipeline: Pipeline, inputs: dict[str, Any]) -> RunResult:
    """Run ``inputs`` on ``local`` once and on ``batch`` per chunk size; compare each.

    Returns:
        The local run's result.
    """
    local = pipeline.run("local", max_invalid=1.0, **inputs)
    for chunk_rows in CHUNKS:
        try:
            batch = pipeline.run(
                "batch",
                max_invalid=1.0,
                runner_options={"chunk_rows": chunk_rows, "progress": False},
                **inputs,
            )
            assert_equivalent(local, batch)
            assert report_rows(batch) == report_rows(local)
        except (AssertionError, SdkError) as exc:
            exc.add_note(f"batch runner with chunk_rows={chunk_rows}")
            raise
    return local


def as_csv(inputs: dict[str, pd.DataFrame], folder: Path) -> dict[str, str]:
    """Write each frame to ``folder/<name>.csv`` (no index; missing values as empty fields)."""
    uris = {}
    for name, frame in inputs.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        uris[name] = str(path)
    return uris


@pytest.mark.parametrize("name", list(PIPELINES))
@SETTINGS
@given(data=st.data())
def test_batch_matches_local_on_frames(name: str, data: st.DataObject):
    """For any frame with bad rows and any chunk size, batch outputs and quarantines as local."""
    pipeline, strategy = PIPELINES[name]
    run_everywhere(pipeline, data.draw(strategy()))


@pytest.mark.parametrize("name", list(PIPELINES))
@SETTINGS
@given(data=st.data())
def test_batch_matches_local_on_csv_files(name: str, data: st.DataObject):
    """Read from CSV, batch gives local's outputs and quarantine, sources as ``path:line``."""
    pipeline, strategy = PIPELINES[name]
    inputs = data.draw(strategy())
    with tempfile.TemporaryDirectory() as folder:
        uris = as_csv(inputs, Path(folder))
        local = run_everywhere(pipeline, uris)
    line = re.compile(rf"^{re.escape(folder)}/(transactions|customers)\.csv:\d+$")
    assert all(line.match(source) for source in local.quarantine["source"])


def test_all_rows_quarantined_before_a_partition_step():
    """When no row passes into a partition_by step, batch outputs nothing, like local."""
    frame = pd.DataFrame(
        {"customer_id": ["x", "1"], "amount": ["1.0", "-2"], "country": ["US", "FR"]}, dtype="str"
    )
    run_everywhere(fraud, {"transactions": frame})


def test_partition_without_rows_of_one_chunking():
    """Keys spread so that some hash partitions get no rows: batch still matches local."""
    frame = pd.DataFrame(
        {
            "customer_id": ["2932", "8727", "7152", "2932", "11", "11", "5", "5", "5", "42"],
            "amount": ["1.5", "2.5", "3.5", "4.5", "5.5", "x", "7.5", "8.5", "9.5", "1.0"],
            "country": ["US", "JP", "FR", "US", "DE", "DE", "FR", "FR", "FR", "US"],
        },
        dtype="str",
    )
    run_everywhere(fraud, {"transactions": frame})
    run_everywhere(chain, {"transactions": frame})


def test_two_inputs_when_one_is_absent_from_a_partition():
    """Customers without transactions and transactions without customers join as in local."""
    transactions = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4], "amount": [10.0, 20.0, 2000.0, 5.0], "country": ["US"] * 4}
    )
    customers = pd.DataFrame({"customer_id": [1, 3, 7, 9], "limit": [100.0, 500.0, 1.0, 2.0]})
    run_everywhere(join, {"transactions": transactions, "customers": customers})


def test_input_read_by_two_steps_counts_each_bad_row_once():
    """An input read by two steps is quarantined by each, but its bad rows count once."""
    transactions = pd.DataFrame(
        {"customer_id": [1, 2], "amount": [10.0, 20.0], "country": ["US", "FR"]}
    )
    customers = pd.DataFrame({"customer_id": [1, 2, 3], "limit": [-1.0, -5.0, -7.0]})
    # every row is bad, so max_invalid=1.0 must hold; counting a row per step gives 8 of 5
    result = shared_input.run(transactions=transactions, customers=customers, max_invalid=1.0)
    assert set(result.quarantine["step"]) == {"headroom", "join"}
    run_everywhere(shared_input, {"transactions": transactions, "customers": customers})


def test_canonical_keeps_rows_with_duplicate_index_labels():
    """``canonical`` sorts a frame with repeated index labels without repeating rows."""
    frame = pd.DataFrame({"a": [3, 1, 2]}, index=[0, 0, 1])
    assert canonical(frame)["a"].tolist() == [1, 2, 3]
