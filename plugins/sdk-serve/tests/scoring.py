"""Pipelines the serve tests run: the fraud example's rows-scope ``Score`` on its own, a step
that raises on one row, and one with a ``partition_by`` step (refused by the server)."""

from typing import Any

import numpy as np
import pandera.pandas as pa
from pandera.typing import DataFrame

from examples.fraud.pipeline import AddFeatures, Features, Score, Scored
from sdk import Params, Pipeline, Step

scoring = Pipeline([Score(weight=0.7)], name="scoring")
"""Input ``features`` (the fraud example's ``Features``), output ``scored``."""

fraud_whole = Pipeline([AddFeatures(), Score()], name="fraud")
"""The whole fraud example: its first step is ``partition_by``, which a server refuses."""


class Flagged(Scored):
    """A scored transaction with a review flag."""

    review: bool


class Flag(Step):
    """Flag high scores for review; raises on the amount 13.13 (a poison record)."""

    output = "flagged"
    scope = "rows"

    class Params(Params):
        """The score above which a transaction is reviewed."""

        threshold: float = 0.9

    def run(self, scored: DataFrame[Scored]) -> DataFrame[Flagged]:
        """Flag rows whose score is over the threshold."""
        if (scored["amount"] == 13.13).any():
            raise ValueError("amount 13.13 is cursed")
        return scored.assign(review=scored["score"] > self.params.threshold)


flagging = Pipeline([Score(weight=0.7), Flag()], name="flagging")
"""``features`` → ``scored`` → ``flagged``; ``Flag`` raises on one amount."""


class Celsius(pa.DataFrameModel):
    """A temperature reading."""

    sensor: str = pa.Field(isin=["a", "b", "c"])
    celsius: float = pa.Field(ge=-273.15, nullable=True)

    class Config:
        coerce = True


class Kelvin(Celsius):
    """A reading in kelvin too."""

    kelvin: float = pa.Field(ge=0, nullable=True)


class ToKelvin(Step):
    """Add the temperature in kelvin."""

    output = "kelvin"
    scope = "rows"

    def run(self, readings: DataFrame[Celsius]) -> DataFrame[Kelvin]:
        """Kelvin from Celsius."""
        return readings.assign(kelvin=readings["celsius"] + 273.15)


class Label(Step):
    """Label sites (a second input, served alongside the readings)."""

    output = "labelled"
    scope = "rows"

    def run(self, sites: DataFrame[Celsius]) -> DataFrame[Celsius]:
        """Unchanged: a second, independent input."""
        return sites


two_inputs = Pipeline([ToKelvin(), Label()], name="two")
"""Two inputs (``readings``, ``sites``), two outputs."""

__all__ = ["Features", "flagging", "fraud_whole", "np", "record", "scoring", "slow", "two_inputs"]


class Slow(Step):
    """Sleep 1.5 s when a record's amount is 77.77 (a request in flight, a timeout)."""

    output = "slowed"
    scope = "rows"

    def run(self, features: DataFrame[Features]) -> DataFrame[Features]:
        """Unchanged, after a pause for the marked amount."""
        import time

        if (features["amount"] == 77.77).any():
            time.sleep(1.5)
        return features


slow = Pipeline([Slow()], name="slow")
"""``features`` → ``slowed``, slow on one amount."""


def record(**changes: Any) -> dict[str, Any]:
    """A valid record of the fraud example's ``Features``, with ``changes``."""
    base = {"customer_id": 7, "amount": 120.5, "country": "FR", "mean_amount": 80.0, "n_tx": 4}
    return {**base, **changes}
