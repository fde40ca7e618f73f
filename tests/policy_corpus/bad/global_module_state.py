"""Steps that remember things between calls in module globals."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


@dataclasses.dataclass
class Settings:
    """Mutable module-level settings object."""

    threshold: float = 0.5


CACHE: dict[str, float] = {}
SEEN = []
IDS = set()
COUNTS = Counter()
BY_KEY = defaultdict(list)
SETTINGS = Settings()
CALLS = 0
LAST = None
REF = pd.DataFrame({"k": [1, 2], "v": [0.1, 0.2]})


class Tx(pa.DataFrameModel):
    """A transaction."""

    tx_id: int
    amount: float


class Dedup(Step):
    """Drops transactions seen in earlier batches."""

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Remember every id ever seen."""
        global CALLS, LAST  # expect: SDK106
        CALLS += 1  # tolerate: SDK106
        LAST = len(tx)  # tolerate: SDK106
        CACHE["last_total"] = float(tx["amount"].sum())  # expect: SDK106
        CACHE.update(batch=float(len(tx)))  # expect: SDK106
        CACHE.setdefault("first", 0.0)  # expect: SDK106
        CACHE.pop("stale", None)  # expect: SDK106
        del CACHE["first"]  # expect: SDK106
        SEEN.append(len(tx))  # expect: SDK106
        SEEN.extend(tx["tx_id"])  # expect: SDK106
        SEEN.insert(0, -1)  # expect: SDK106
        SEEN[0] = 0  # expect: SDK106
        SEEN.sort()  # expect: SDK106
        SEEN.clear()  # expect: SDK106
        IDS.update(tx["tx_id"])  # expect: SDK106
        IDS.add(-1)  # expect: SDK106
        IDS.discard(-1)  # expect: SDK106
        COUNTS["batches"] += 1  # expect: SDK106
        BY_KEY["k"].append(1)  # expect: SDK106
        SETTINGS.threshold = 0.9  # expect: SDK106
        REF.loc[0, "v"] = 1.0  # expect: SDK106
        REF["w"] = 2.0  # expect: SDK106
        REF.drop(columns=["w"], inplace=True)  # expect: SDK106 beyond-docs
        pd.options.display.max_rows = 10  # expect: SDK106 beyond-docs
        pd.set_option("mode.copy_on_write", True)  # expect: SDK106 beyond-docs
        return tx[~tx["tx_id"].isin(IDS)]


class Counter2(Step):
    """Counts batches with nonlocal in a closure."""

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Count with a closure."""
        total = 0

        def bump(x: float) -> float:
            nonlocal total  # expect: SDK106
            total += 1  # tolerate: SDK106
            return x

        tx["amount"].map(bump)
        cache = CACHE
        cache["alias"] = 1.0  # gap: SDK106
        return tx.assign(n=total)


def remember(ids: pd.Series) -> None:
    """Helper that mutates a global; called from a step."""
    IDS.update(ids)  # expect: SDK106
    CACHE["helper"] = 1.0  # expect: SDK106


def bump_global() -> None:
    """Helper using `global`."""
    global CALLS  # expect: SDK106
    CALLS = CALLS + 1  # tolerate: SDK106


class UsesHelpers(Step):
    """Global mutation hidden in helpers."""

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Call the helpers."""
        remember(tx["tx_id"])
        bump_global()
        return tx
