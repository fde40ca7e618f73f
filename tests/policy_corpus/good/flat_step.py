"""A step importing a pure helper from a sibling module (not a package)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import DataFrame

import flat_helpers_mixed
from flat_helpers_mixed import add_total
from sdk import Step


class Pair(pa.DataFrameModel):
    """Two numbers."""

    a: float
    b: float


class Total(Step):
    """Adds a total."""

    def run(self, pair: DataFrame[Pair]) -> DataFrame[Pair]:
        """Add the total twice."""
        return flat_helpers_mixed.add_total(add_total(pair))
