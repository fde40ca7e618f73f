"""A step module importing a sibling module by its bare name (folder is not a package)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import DataFrame

import helpers_flat
from helpers_flat import read_rates
from sdk import Step


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class UsesFlatHelper(Step):
    """Delegates reading to a sibling helper module."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Read via helper, and print directly."""
        rates = read_rates()
        helpers_flat.write_rates(rates)
        print(rates)  # expect: SDK102
        return rows
