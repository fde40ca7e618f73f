"""A legacy step under the per-path override that disables SDK101."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class Legacy(Step):
    """Still reads a file (allowed here) and prints (not allowed)."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Read and print."""
        ref = pd.read_csv("ref.csv")
        print(len(ref))  # expect: SDK102
        return rows
