"""Steps deriving from a base step defined in a sibling module, using imported helpers."""

from __future__ import annotations

import pandas as pd
from pandera.typing import DataFrame

from pkg.helpers import write_side
from .base import BaseStep, Rows
from .helpers import load_lookup


class FromSiblingBase(BaseStep):
    """A Step subclass whose Step base is imported from the package."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Print and read, directly in the step."""
        print(len(rows))  # expect: SDK102 beyond-docs
        extra = pd.read_csv("x.csv")  # expect: SDK101 beyond-docs
        return rows.assign(n=len(extra))


class UsesImportedHelpers(BaseStep):
    """Calls helpers imported from a sibling module (followed: reported in helpers.py)."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Delegate the I/O to helpers."""
        lookup = load_lookup("regions")
        write_side(rows)
        return rows.assign(n=len(lookup))
