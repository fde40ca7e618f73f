"""Local and instance state, and read-only use of module constants."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import ClassVar

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step

THRESHOLDS = {"low": 0.1, "high": 0.9}
LABELS = ("a", "b")
CACHE: dict[str, int] = {}


class Rows(pa.DataFrameModel):
    """A row."""

    k: str
    x: float


class LocalState(Step):
    """Mutates only locals, copies and self."""

    output = "rows"
    scope = "rows"
    LIMIT: ClassVar[int] = 10
    count = 0

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Mutate locals freely."""
        out = rows.copy()
        out["y"] = out["x"] * 2
        out.loc[out["x"] < 0, "x"] = 0.0
        out.drop(columns=["y"], inplace=True)
        seen: list[str] = []
        seen.append("a")
        seen.extend(LABELS)
        counts = Counter(out["k"])
        counts["extra"] += 1
        groups = defaultdict(list)
        groups["k"].append(1)
        local = dict(THRESHOLDS)
        local.update(mid=0.5)
        local["low"] = 0.2
        del local["mid"]
        CACHE = {}  # noqa: N806 - a local shadowing the module global
        CACHE["k"] = 1
        self.count += 1
        self.total = len(out)
        self.memo = {}
        self.memo["k"] = 1
        self.history = []
        self.history.append(len(out))
        limit = type(self).LIMIT + self.LIMIT + LocalState.LIMIT
        name = type(self).__name__ + self.__class__.__name__
        high = THRESHOLDS["high"]
        low = THRESHOLDS.get("low", 0.0)
        self.log.info("state", extra={"s": seen, "c": dict(counts), "g": dict(groups),
                                      "l": local, "C": CACHE, "lim": limit, "n": name})
        return out[(out["x"] > low) & (out["x"] < high)]

    def _closure(self, rows: pd.DataFrame) -> int:
        """A closure that reads (not rebinds) an outer local."""
        total = [0]

        def add(v: float) -> float:
            total[0] += 1
            return v

        rows["x"].map(add)
        return total[0]
