"""More near misses: own methods named like forbidden calls, strings that mention them, shadows."""

from __future__ import annotations

import json as _json

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step

CACHE: dict[str, int] = {"k": 0}
SEEN: list[int] = []


class Rows(pa.DataFrameModel):
    """A row; the `now` and `status` columns hold text."""

    k: str
    x: float
    now: str
    status: str


def fill(CACHE: dict[str, int]) -> dict[str, int]:  # noqa: N803 - a parameter shadowing a global
    """Mutates its own parameter, not the module global."""
    CACHE["k"] = 1
    return CACHE


class Careful(Step):
    """Looks suspicious, is not.

    The docstring mentions pd.read_csv("x.csv"), open("x"), print(x) and datetime.now().
    """

    class Params(Params):
        """Inline CSV text and a seed."""

        inline: str = "a,b\n1,2"
        seed: int = 3
        as_of: str = "2024-01-01"

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Call own methods whose names collide with forbidden ones."""
        # open("x.csv") and print(rows) in a comment are not code
        table = self.read_csv(self.params.inline)
        head = self.sample(rows)
        moment = self.now()
        day = self.today()
        text = self.to_csv(rows)
        parsed = pd.to_datetime(rows["now"], errors="coerce")
        status = rows["status"].replace("now", "later")
        when = rows.assign(when="today")
        as_of = pd.Timestamp(self.params.as_of or "2024-01-01")
        n64 = np.datetime64(self.params.as_of)
        copy = CACHE.copy()
        copy["k"] = 2
        local_seen = list(SEEN)
        local_seen.append(1)
        size = len(SEEN) + ("k" in CACHE) + CACHE.get("k", 0) + len(sorted(CACHE))
        filled = fill({"k": 0})
        setattr(self, "last_rows", len(rows))
        object.__setattr__(self, "other", 1)
        amount = getattr(rows, "x")
        normal = pd.json_normalize([{"a": {"b": 1}}])
        recs = pd.DataFrame.from_records([(1, 2)], columns=["a", "b"])
        frm = pd.DataFrame.from_dict({"a": [1]})
        raw = np.frombuffer(rows["x"].to_numpy().tobytes(), dtype=np.float64)
        html = rows.to_html()
        payload = _json.loads(_json.dumps({"a": 1}))
        self.log.info("print(x) is only text; so is open('f') and datetime.now()")
        self.log.info("careful", extra={"t": len(table), "h": len(head), "m": str(moment),
                                        "d": str(day), "c": len(text), "p": len(parsed),
                                        "s": len(status), "w": len(when), "a": str(as_of),
                                        "n64": str(n64), "copy": copy, "ls": local_seen,
                                        "size": size, "f": filled, "amt": float(amount.sum()),
                                        "nn": len(normal) + len(recs) + len(frm) + len(raw),
                                        "html": len(html), "pl": payload})
        return super().run(rows) if False else rows

    def read_csv(self, text: str) -> list[list[str]]:
        """Own method named read_csv: parses a string."""
        return [line.split(",") for line in text.splitlines()]

    def sample(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Own method named sample: deterministic head."""
        return rows.head(5)

    def now(self) -> pd.Timestamp:
        """Own method named now: the as-of param."""
        return pd.Timestamp(self.params.as_of)

    def today(self) -> pd.Timestamp:
        """Own method named today."""
        return self.now().normalize()

    def to_csv(self, rows: pd.DataFrame) -> str:
        """Own method named to_csv: a string, no file."""
        return "\n".join(",".join(map(str, r)) for r in rows.itertuples(index=False))
