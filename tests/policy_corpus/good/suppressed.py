"""Findings suppressed inline, each with a reason."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step

import yaml  # sdk: allow[SDK107] vetted pure parser for the demo


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class Demo(Step):
    """A demo step with justified exceptions."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Suppressed findings."""
        print(rows)  # sdk: allow[SDK102] demo notebook only, never deployed
        ref = pd.read_csv("ref.csv")  # sdk: allow[SDK101] fixture bundled with the demo
        both = pd.read_csv(f"{pd.Timestamp.now():%Y}.csv")  # sdk: allow[SDK101,SDK105] demo: yearly file
        multi = pd.read_csv(  # sdk: allow[SDK101] multi-line call, suppressed on its first line
            "multi.csv",
            sep=";",
        )
        cfg = yaml.safe_load("a: 1")
        return rows.assign(n=len(ref) + len(both) + len(multi) + len(cfg))
