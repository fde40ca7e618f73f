"""Round 2 near misses: names, strings and seeded spellings that must not be reported."""

from __future__ import annotations

import datetime
import functools

import numpy as np
import pandas as pd
import pandera.pandas as pa
import scipy.stats
from pandera.typing import DataFrame

from sdk import Params, Step


class Orders(pa.DataFrameModel):
    """An order; columns named like forbidden calls."""

    open_orders: int
    print_ready: bool
    time: float
    now: str
    today: str
    x: float


def pure_deco(fn):
    """A decorator that only wraps."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


class Clean(Step):
    """Looks suspicious, is not."""

    class Params(Params):
        """A reference time, an epoch and a seed."""

        now: str = "2024-01-01"
        epoch: float = 0.0
        seed: int = 7

    @pure_deco
    def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
        """Use near-miss spellings."""
        recs = orders.to_records()
        sampled = orders.sample(n=2, random_state=self.params.seed)
        rng = np.random.default_rng(self.params.seed)
        noise = rng.normal(size=len(orders))
        rng2 = np.random.default_rng(seed=self.params.seed)
        gen = np.random.Generator(np.random.PCG64(seed=self.params.seed))
        frozen = scipy.stats.norm(0, 1).rvs(3, random_state=rng)
        grouped = orders.groupby("now").sample(n=1, random_state=self.params.seed)
        as_of = pd.Timestamp(self.params.now)
        then = datetime.datetime.fromtimestamp(self.params.epoch, tz=datetime.timezone.utc)
        fixed = datetime.datetime.utcfromtimestamp(0)
        ready = orders[orders["print_ready"]]
        opened = orders["open_orders"].sum()
        evald = orders.eval("y = x * 2")
        queried = orders.query("time > 3")
        renamed = orders.rename(columns={"today": "now_"})
        indexed = orders.set_index("now")
        dropped = orders.drop(columns="today")
        eq = orders["today"].eq("today")
        filled = orders["now"].fillna("now")
        cols = orders[["now", "today", "time"]]
        with pd.option_context("display.width", 200):
            text = orders.to_csv(index=False)
        with np.errstate(divide="ignore"):
            ratio = orders["x"] / orders["time"]
        data = self.read(orders)
        shown = self.print(orders)
        opened2 = self.open(orders)
        ev = self.eval("x")
        total = functools.reduce(lambda a, b: a + b, orders["x"], 0.0)
        self.log.info("clean", extra={"v": [len(recs), len(sampled), float(noise.sum()),
                                            str(rng2), str(gen), float(frozen.sum()),
                                            len(grouped), str(as_of), str(then), str(fixed),
                                            len(ready), int(opened), len(evald), len(queried),
                                            len(renamed), len(indexed), len(dropped), int(eq.sum()),
                                            len(filled), len(cols), len(text), float(ratio.sum()),
                                            len(data), shown, len(opened2), ev, total]})
        return orders

    def read(self, orders: pd.DataFrame) -> pd.DataFrame:
        """Own method named read: pure."""
        return orders.head(3)

    def print(self, orders: pd.DataFrame) -> str:
        """Own method named print: formats, does not print."""
        return orders.to_string()

    def open(self, orders: pd.DataFrame) -> pd.DataFrame:
        """Own method named open: the open orders."""
        return orders[orders["open_orders"] > 0]

    def eval(self, column: str) -> str:
        """Own method named eval: a column name."""
        return column.upper()

    @staticmethod
    def _static(orders: pd.DataFrame) -> pd.DataFrame:
        """A pure staticmethod."""
        return orders.sort_values("x")

    @property
    def as_of(self) -> pd.Timestamp:
        """A pure property."""
        return pd.Timestamp(self.params.now)


if True:

    class InIf(Step):
        """A clean step inside an if block."""

        def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
            """Local named like builtins, defined with def."""

            def input(v: float) -> float:  # noqa: A001
                return v * 2

            return orders.assign(x=orders["x"].map(input))
