"""A step module with I/O only in code that no step reaches (documented as out of scope)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step

GLOBAL_COUNT = 0


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class Exporter:
    """Not a step, never used by one: may read and write."""

    def export(self, frame: pd.DataFrame) -> None:
        """Write and print."""
        frame.to_csv("export.csv")
        print("exported", pd.Timestamp.now())
        global GLOBAL_COUNT
        GLOBAL_COUNT += 1


def make_fixture() -> pd.DataFrame:
    """Not called by any step."""
    frame = pd.read_csv("fixture.csv")
    print(frame.sample(frac=0.5))
    return frame


def _never(step: "Clean") -> None:
    """Mentions the step but is not called by it."""
    step.run(pd.read_parquet("x.parquet"))


class Clean(Step):
    """A clean step next to the dirty utilities."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Double x."""
        return rows.assign(x=rows["x"] * 2)


if __name__ == "__main__":
    data = pd.read_csv("sample.csv")
    print(Clean().run(data))
    Exporter().export(data)
