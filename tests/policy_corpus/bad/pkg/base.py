"""A shared base step (clean) for the package's steps."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class BaseStep(Step):
    """Base with a shared, clean helper."""

    def scale(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Double x."""
        return rows.assign(x=rows["x"] * 2)

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Identity."""
        return self.scale(rows)
