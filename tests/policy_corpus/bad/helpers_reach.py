"""Violations hidden behind helpers: functions, methods, properties, mixins, callbacks."""

from __future__ import annotations

import functools
from datetime import datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Tx(pa.DataFrameModel):
    """A transaction."""

    customer: str
    amount: float


def load_rates() -> pd.DataFrame:
    """Direct helper: reads a file."""
    return pd.read_csv("rates.csv")  # expect: SDK101


def outer(tx: pd.DataFrame) -> pd.DataFrame:
    """Transitive helper, level 1."""
    return middle(tx)


def middle(tx: pd.DataFrame) -> pd.DataFrame:
    """Transitive helper, level 2."""
    return inner(tx)


def inner(tx: pd.DataFrame) -> pd.DataFrame:
    """Transitive helper, level 3: prints."""
    print(tx.shape)  # expect: SDK102
    return tx


def add_noise(s: pd.Series) -> pd.Series:
    """Passed to Series.pipe (referenced, not called by name)."""
    return s + np.random.normal(size=len(s))  # expect: SDK104


def per_row(row: pd.Series) -> float:
    """Passed to DataFrame.apply."""
    return row["amount"] * datetime.now().hour  # expect: SDK105


def per_value(x: float) -> float:
    """Passed to Series.map."""
    return eval(str(x))  # expect: SDK103


def used_by_partial(tx: pd.DataFrame, path: str) -> pd.DataFrame:
    """Wrapped in functools.partial."""
    tx.to_csv(path)  # expect: SDK101
    return tx


def traced(fn):
    """Decorator whose wrapper runs inside the step."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        print("calling", fn.__name__)  # expect: SDK102
        return fn(*args, **kwargs)

    return wrapper


def recursive(n: int) -> int:
    """Recursion must not hang the checker; the print must still be found."""
    if n <= 0:
        print("bottom")  # expect: SDK102
        return 0
    return recursive(n - 1)


load_lambda = lambda path: pd.read_parquet(path)  # noqa: E731  # expect: SDK101 beyond-docs


class IOMixin:
    """A non-Step mixin whose method a step inherits and calls."""

    def save(self, frame: pd.DataFrame) -> None:
        """Write the frame."""
        frame.to_parquet("mixin.parquet")  # expect: SDK101 beyond-docs


class Loader:
    """A plain class the step instantiates and uses."""

    def load(self) -> pd.DataFrame:
        """Read a lookup."""
        return pd.read_json("lookup.json")  # gap: SDK101


class Enrich(IOMixin, Step):
    """Every way a step reaches a helper."""

    class Params(Params):
        """Seed."""

        seed: int = 0

    def __init__(self, **kwargs) -> None:
        """Constructor that peeks at a file."""
        super().__init__(**kwargs)
        self.header = open("header.txt").read()  # expect: SDK101

    @property
    def today(self) -> pd.Timestamp:
        """A property read inside run."""
        return pd.Timestamp.today()  # expect: SDK105

    @staticmethod
    def _static(tx: pd.DataFrame) -> pd.DataFrame:
        """A staticmethod."""
        return tx.sample(frac=0.5)  # expect: SDK104

    @classmethod
    def _cls(cls, tx: pd.DataFrame) -> pd.DataFrame:
        """A classmethod."""
        cls.calls = 1  # expect: SDK106
        return tx

    def _helper(self, tx: pd.DataFrame) -> pd.DataFrame:
        """A private method."""
        return self._deeper(tx)

    def _deeper(self, tx: pd.DataFrame) -> pd.DataFrame:
        """Called only through _helper."""
        exec("pass")  # expect: SDK103
        return tx

    def unused_method(self) -> None:
        """Never called, but every method of a step is checked."""
        input("never")  # expect: SDK102

    @traced
    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Use every helper."""
        rates = load_rates()
        tx = outer(tx)
        tx = tx.assign(amount=tx["amount"].pipe(add_noise))
        tx = tx.assign(w=tx.apply(per_row, axis=1), v=tx["amount"].map(per_value))
        tx = functools.partial(used_by_partial, path="p.csv")(tx)
        tx = self._static(tx)
        tx = Enrich._static(tx)
        tx = self._cls(tx)
        tx = self._helper(tx)
        recursive(2)
        other = load_lambda("x.parquet")
        self.save(tx)
        lookup = Loader().load()
        self.log.info("rates", extra={"n": len(rates) + len(other) + len(lookup),
                                      "t": str(self.today)})
        return tx
