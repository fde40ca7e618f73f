"""Small pipelines for the dask runner's tests, one per scope and a mix of all three.

They live in an importable module (not in a test module) so the workers import them by
reference, as they would a user's package installed on the cluster.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from examples.fraud.pipeline import Transactions
from sdk import Pipeline, Step


class Priced(Transactions):
    """A transaction with its amount in whole cents (over 500.00 fails the check)."""

    cents: int = pa.Field(ge=0, le=50_000)


class Totalled(Priced):
    """A priced transaction with its customer's total and count (more than 3 fails)."""

    total_cents: int = pa.Field(ge=0)
    n: int = pa.Field(ge=1, le=3)


class Ranked(Totalled):
    """A totalled transaction with its rank by amount over the whole dataset."""

    rank: int = pa.Field(ge=1)


class Customers(pa.DataFrameModel):
    """A customer and their spending limit."""

    customer_id: int = pa.Field(ge=0)
    limit: float = pa.Field(ge=0, le=1_000_000)

    class Config:
        coerce = True


class Limited(Priced):
    """A priced transaction with its customer's limit (an inner join on the customer)."""

    limit: float = pa.Field(ge=0)


class Price(Step):
    """Add the amount in cents."""

    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Add ``cents``."""
        self.log.info("priced", extra={"rows": len(transactions)})
        return transactions.assign(cents=(transactions["amount"] * 100).round().astype("int64"))


class CustomerTotals(Step):
    """Per-customer total cents and transaction count."""

    output = "totalled"
    partition_by = "customer_id"

    def run(self, priced: DataFrame[Priced]) -> DataFrame[Totalled]:
        """Add ``total_cents`` and ``n`` per customer."""
        g = priced.groupby("customer_id")["cents"]
        return priced.assign(total_cents=g.transform("sum"), n=g.transform("size"))


class Rank(Step):
    """Rank every row by amount (needs the whole dataset)."""

    output = "ranked"

    def run(self, totalled: DataFrame[Totalled]) -> DataFrame[Ranked]:
        """Add ``rank``."""
        return totalled.assign(rank=totalled["cents"].rank(method="min").astype("int64"))


class RankPriced(Step):
    """Rank every priced row by amount (a global step straight after a rows step)."""

    output = "ranked"

    def run(self, priced: DataFrame[Priced]) -> DataFrame[Ranked]:
        """Add ``rank`` (and a total of 0 and a count of 1, to fit the model)."""
        return priced.assign(
            total_cents=0, n=1, rank=priced["cents"].rank(method="min").astype("int64")
        )


class JoinLimits(Step):
    """Each priced transaction with its customer's limit (rows of unknown customers drop)."""

    output = "limited"
    partition_by = "customer_id"

    def run(self, priced: DataFrame[Priced], customers: DataFrame[Customers]) -> DataFrame[Limited]:
        """Inner join on ``customer_id``, keeping the transactions' index labels."""
        joined = priced.reset_index().merge(customers, on="customer_id", how="inner")
        return joined.set_index("index").rename_axis(None)


class Explode(Step):
    """Fail on any input."""

    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Raise."""
        raise RuntimeError("boom")


rows_only = Pipeline([Price()], name="rows_only")
keyed = Pipeline([Price(), CustomerTotals()], name="keyed")
whole = Pipeline([Price(), RankPriced()], name="whole")
three_scopes = Pipeline([Price(), CustomerTotals(), Rank()], name="three_scopes")
join = Pipeline([Price(), JoinLimits()], name="join")
exploding = Pipeline([Explode()], name="exploding")

PIPELINES = {
    "rows_only": rows_only,
    "keyed": keyed,
    "whole": whole,
    "three_scopes": three_scopes,
    "join": join,
}


def transactions() -> pd.DataFrame:
    """24 transactions as text (as a CSV gives them): bad values of every kind, amounts over
    500 (the price step's output check), customer 1 with 5 valid rows (the totals' check)."""
    rows = [
        ("1", "10.00", "US"), ("2", "20.50", "FR"), ("1", "3.25", "US"), ("x", "1.00", "US"),
        ("3", "99.99", "DE"), ("1", "750.00", "US"), ("2", "7.00", "FR"), ("4", "-1", "US"),
        ("5", "12.00", "usa"), ("3", "8.00", "DE"), ("1", "4.50", "US"), ("2", None, "FR"),
        ("0", "0.00", "US"), ("4", "15.00", "US"), ("5", "16.00", "FR"), ("3", "620.00", "DE"),
        ("1", "1.50", "US"), ("0", "2.25", "US"), ("4", "3.75", "US"), ("5", "5.00", "FR"),
        ("2", "6.00", "FR"), ("0", "9.00", "US"), ("3", "11.00", "DE"), ("4", "13.00", "US"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["customer_id", "amount", "country"], dtype=object)


def customers() -> pd.DataFrame:
    """Limits of customers 0-4 (5 is unknown), one negative (quarantined)."""
    return pd.DataFrame(
        {"customer_id": ["0", "1", "2", "3", "4"], "limit": ["100", "-5", "300", "400", "50"]}
    )


class SlowPrice(Step):
    """Add the amount in cents, slowly (a unit lasts long enough to kill its worker)."""

    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Wait, then add ``cents``."""
        import time

        self.log.info("slow_started", extra={"rows": len(transactions)})
        time.sleep(0.4)
        return transactions.assign(cents=(transactions["amount"] * 100).round().astype("int64"))


slow = Pipeline([SlowPrice(), CustomerTotals()], name="slow")


KILL_MARKER = "KL"
"""The country of a row that makes :class:`KillOnMarker` SIGKILL the worker running it."""


class KillOnMarker(Step):
    """Add the amount in cents; SIGKILL this process on a row of country ``KL`` (a unit that
    kills every worker it runs on, for Dask's retry budget). Never run it locally."""

    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Die on the marker, else add ``cents``."""
        import os
        import signal

        if (transactions["country"] == KILL_MARKER).any():
            os.kill(os.getpid(), signal.SIGKILL)
        return transactions.assign(cents=(transactions["amount"] * 100).round().astype("int64"))


killing = Pipeline([KillOnMarker(), CustomerTotals()], name="killing")
