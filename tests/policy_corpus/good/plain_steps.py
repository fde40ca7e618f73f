"""Plain, well-behaved steps."""

from __future__ import annotations

import numpy as np
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Transactions(pa.DataFrameModel):
    """One card transaction."""

    customer_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)

    class Config:
        coerce = True


class Scored(Transactions):
    """A transaction with its score."""

    score: float = pa.Field(ge=0, le=1)


class Identity(Step):
    """Returns its input unchanged."""

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Identity."""
        return transactions


class DocOnly(Step):
    """Only a docstring and a pass-through run (with an ellipsis body helper)."""

    output = "same"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Pass through."""
        return transactions

    def _todo(self) -> None:
        """Not implemented yet."""
        ...


class Score(Step):
    """Logistic score of the amount."""

    scope = "rows"

    class Params(Params):
        """Coefficients."""

        weight: float = 0.5
        bias: float = 0.0

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Scored]:
        """Score every transaction."""
        z = self.params.weight * np.log1p(transactions["amount"]) + self.params.bias
        self.log.info("scored", extra={"rows": len(transactions)})
        self.log.debug("detail")
        self.log.warning("careful", extra={"z_max": float(z.max()) if len(z) else 0.0})
        return transactions.assign(score=1 / (1 + np.exp(-z)))


class PerCustomer(Step):
    """Keyed step with a groupby and a pure helper method."""

    partition_by = "customer_id"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Keep the largest transaction per customer."""
        return self._largest(transactions)

    @staticmethod
    def _largest(tx):
        """Pure staticmethod."""
        return tx.sort_values("amount").groupby("customer_id").tail(1)


def _mode(values):
    """Pure module helper (recursive)."""
    return values[0] if len(values) == 1 else _mode(values[1:])


class UsesMode(Step):
    """Calls a pure recursive helper."""

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Compute."""
        try:
            m = _mode(list(transactions["amount"])) if len(transactions) else 0.0
        except RecursionError:
            m = 0.0
        except Exception:
            raise
        return transactions.assign(amount=transactions["amount"] - m * 0)
