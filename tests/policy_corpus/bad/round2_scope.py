"""Round 2: steps declared in odd places, and import-time code around them."""

from __future__ import annotations

import functools
import os  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step

FEATURE = True
REGISTERED: list[str] = []


class Rows(pa.DataFrameModel):
    """A row."""

    k: str
    x: float


def register(cls):
    """Class decorator: runs at import, when the step module is imported."""
    print("registering", cls.__name__)  # expect: SDK102 beyond-docs
    return cls


def tagged(label: str):
    """Decorator factory for methods."""

    def deco(fn):
        return fn

    return deco


@register
class Decorated(Step):
    """A step with a class decorator."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Clock in run."""
        return rows.assign(t=pd.Timestamp.utcnow())  # expect: SDK105


@functools.lru_cache(maxsize=len(open("cache_size.txt").read()))  # expect: SDK101
def cached_helper(n: int) -> int:
    """Decorator argument evaluated at import."""
    return n


if FEATURE:

    class InIfBlock(Step):
        """A step defined inside a module-level if block."""

        def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
            """Print."""
            print("in if")  # expect: SDK102
            return rows

else:
    InIfBlock = None


try:
    import orjson  # expect: SDK107

    class InTryBlock(Step):
        """A step defined inside a try block."""

        def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
            """Read."""
            return pd.read_feather("x.feather")  # expect: SDK101

except ImportError:
    orjson = None


def make_step() -> type:
    """A step class built by a factory function."""

    class Built(Step):
        """Built inside a function."""

        def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
            """Eval."""
            return rows.assign(x=eval("1"))  # expect: SDK103

    return Built


class Outer:
    """A plain class holding a step class."""

    class Inner(Step):
        """A step nested inside a plain class."""

        def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
            """Env."""
            return rows.assign(k=os.environ.get("USER", ""))  # expect: SDK101


class PlainBase:
    """Not a step; its run does I/O and the step calls super().run()."""

    def run(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Write a checkpoint."""
        rows.to_parquet("checkpoint.parquet")  # expect: SDK101
        return rows


class UsesSuper(PlainBase, Step):
    """super().run() reaches a plain base class."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Delegate."""
        return super().run(rows)


class PrintingBase(Step):
    """A base step whose run prints."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Print."""
        print(len(rows))  # expect: SDK102
        return rows


class InheritsRun(PrintingBase):
    """No run of its own: inherits the printing run."""

    def _extra(self) -> int:
        """Pure."""
        return 1


class Hooks(Step):
    """Import-time and construction-time hooks."""

    retries = int(os.environ.get("RETRIES", "1"))  # expect: SDK101

    class Params(Params):
        """Params with a method that does I/O, called by run."""

        path: str = "lookup.csv"

        def lookup(self) -> pd.DataFrame:
            """Read the lookup named by the param."""
            return pd.read_csv(self.path)  # expect: SDK101 beyond-docs

    def __init_subclass__(cls, **kwargs) -> None:
        """Runs when a subclass is defined."""
        super().__init_subclass__(**kwargs)
        REGISTERED.append(cls.__name__)  # expect: SDK106

    def __repr__(self) -> str:
        """A dunder that prints."""
        print("repr")  # expect: SDK102
        return "Hooks"

    @functools.cached_property
    def threshold(self) -> float:
        """A cached property reading a file."""
        return float(open("threshold.txt").read())  # expect: SDK101

    loader = staticmethod(lambda: pd.read_excel("x.xlsx"))  # expect: SDK101
    handlers = {"csv": pd.read_csv}  # expect: SDK101

    @tagged(label=str(pd.Timestamp.now()))  # expect: SDK105
    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Use the hooks."""
        lookup = self.params.lookup()
        self.log.info("x", extra={"n": len(lookup), "t": self.threshold})
        return rows
