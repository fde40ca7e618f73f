"""Broad excepts: SDK109 is opt-in, so with the default configuration nothing is reported."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Rows(pa.DataFrameModel):
    """A row."""

    x: float
    n: float


class Ratio(Step):
    """Divides, swallowing errors (allowed unless SDK109 is enabled)."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Ratio with fallbacks."""
        try:
            z = rows["x"] / rows["n"]
        except Exception:
            z = rows["x"] * 0
        try:
            z = z.clip(0, 1)
        except:  # noqa: E722
            pass
        return rows.assign(x=z)
