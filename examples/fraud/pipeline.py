"""The fraud example pipeline: the one shown in DESIGN.md, unchanged.

Raw card transactions are validated against :class:`Transactions`, enriched with per-customer
aggregates by :class:`AddFeatures` and scored by :class:`Score`. Rows that fail validation
(missing, malformed or out-of-range values) are quarantined by the SDK, never dropped.

Run it in a notebook::

    from examples.fraud.pipeline import pipeline
    result = pipeline.run(transactions=raw_df)

or in production with ``sdk run examples/fraud/deploy.toml``.
"""

import numpy as np
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Pipeline, Step


class Transactions(pa.DataFrameModel):
    """One card transaction as it arrives: who paid, how much, and where.

    Values are coerced from raw text; a value that cannot be coerced, is missing or is out of
    range sends its row to the quarantine.
    """

    customer_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0, le=1_000_000)
    country: str = pa.Field(str_matches=r"^[A-Z]{2}$")

    class Config:
        coerce = True


class Features(Transactions):
    """A transaction with its customer's aggregates: mean amount and number of transactions."""

    mean_amount: float
    n_tx: int = pa.Field(ge=1)


class Scored(Features):
    """A featured transaction with its fraud score in [0, 1]."""

    score: float = pa.Field(ge=0, le=1)


class AddFeatures(Step):
    """Per-customer aggregates."""

    output = "features"
    partition_by = "customer_id"  # correct on any partitioning by this key

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Add each customer's mean amount and transaction count to every row.

        Args:
            transactions: Validated transactions.

        Returns:
            The transactions with ``mean_amount`` and ``n_tx`` columns added.
        """
        g = transactions.groupby("customer_id")["amount"]
        return transactions.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))


class Score(Step):
    """Logistic score of the amount."""

    output = "scored"
    scope = "rows"  # each row independent: any chunking is correct

    class Params(Params):
        """Coefficients of the score ``1 / (1 + exp(-(weight * log1p(amount) + bias)))``."""

        weight: float = 0.5
        bias: float = 0.0

    def run(self, features: DataFrame[Features]) -> DataFrame[Scored]:
        """Score every row from its amount.

        Args:
            features: Transactions with per-customer features.

        Returns:
            The features with a ``score`` column in [0, 1].
        """
        z = self.params.weight * np.log1p(features["amount"]) + self.params.bias
        self.log.info("scored", extra={"mean_z": float(z.mean())})
        return features.assign(score=1 / (1 + np.exp(-z)))


pipeline = Pipeline([AddFeatures(), Score(weight=0.7)], name="fraud")
"""The fraud pipeline: input ``transactions``, output ``scored``."""

scoring = Pipeline([Score(weight=0.7)], name="fraud-scoring")
"""The ``Score`` step alone, for one transaction at a time (its ``rows`` scope): input
``features`` (transactions with their customer's aggregates, computed upstream), output
``scored``. Served over HTTP by ``sdk run examples/fraud/serve.toml`` (the sdk-serve plugin)."""
