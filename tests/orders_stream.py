"""The pipeline the stream tests run: an order line's total, one ``rows`` step.

A module of its own, without scikit-learn, so that the consumers the tests start in child
processes import it in a fraction of a second (tests/test_stream.py imports scikit-learn).
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Pipeline, Step


class Order(pa.DataFrameModel):
    """An order line."""

    order_id: int = pa.Field(ge=1)
    quantity: int = pa.Field(ge=1, le=1000)
    unit_price: float = pa.Field(ge=0)

    class Config:
        coerce = True


class Priced(Order):
    """With its total."""

    total: float = pa.Field(ge=0)


class Price(Step):
    """Total of each order line."""

    scope = "rows"

    def run(self, orders: DataFrame[Order]) -> DataFrame[Priced]:
        return orders.assign(total=orders["quantity"] * orders["unit_price"])


pipeline = Pipeline([Price()], name="orders")
