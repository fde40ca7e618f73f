"""Inline suppressions: without a reason, for the wrong rule, on the wrong line."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class Suppressed(Step):
    """Uses `# sdk: allow[...]` in ways that must still be reported."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Suppression edge cases."""
        # expect-next: SDK108
        print(rows)  # sdk: allow[SDK102]
        # expect-next: SDK102
        print(rows)  # sdk: allow[SDK101] wrong rule
        # expect-next: SDK108
        print(rows)  # sdk: allow[SDK102,SDK105]
        # expect-next: SDK101
        pd.read_csv(  # sdk: allow[SDK102] wrong rule on a multi-line call
            "z.csv"
        )
        # sdk: allow[SDK101] suppression on the line above does not cover the next line
        pd.read_csv("x.csv")  # expect: SDK101
        x = pd.read_csv("y.csv")  # sdk: allow[SDK101] vetted fixture
        self.log.info("x", extra={"n": len(x)})
        return rows
