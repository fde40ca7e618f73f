"""Names that look like forbidden builtins but are locals, params, columns or own functions."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Bars(pa.DataFrameModel):
    """A price bar: columns named open, close, time, input."""

    open: float
    close: float
    time: int
    input: str


def open_positions(bars: pd.DataFrame) -> pd.DataFrame:
    """An own function whose name starts with open."""
    return bars[bars["close"] > bars["open"]]


def open(bars: pd.DataFrame) -> pd.Series:  # noqa: A001 - a module function shadowing open
    """Shadows the builtin at module level: calling it is not file I/O."""
    return bars["open"]


def read_text(value: str) -> str:
    """An own function named like a Path method."""
    return value.strip()


class Candles(Step):
    """Works with columns and locals named like builtins."""

    class Params(Params):
        """A param named open."""

        open: float = 0.0
        print: bool = False

    def run(self, input: DataFrame[Bars]) -> DataFrame[Bars]:
        """The step's input is literally called `input`."""
        bars = input.copy()
        opening = open(bars)
        print = self.log.info
        print("shadowed print is the logger")
        compile = "not the builtin"
        eval = len(compile)
        spread = bars["close"] - bars["open"]
        t = bars["time"] + bars.time
        col = bars.open.mean() + self.params.open
        named = [open for open in bars["open"]]
        bars = bars.assign(open=bars["open"].round(2), time=t, input=bars["input"].map(read_text))
        self.log.info("candles", extra={"o": opening.sum(), "s": spread.sum(), "c": col,
                                        "e": eval, "n": len(named), "p": self.params.print})
        return open_positions(self.apply(bars, open=bars.copy, input=len))

    def apply(self, bars: pd.DataFrame, open, input) -> pd.DataFrame:
        """Parameters named open and input."""
        frame = open()
        return frame.assign(n=input(frame))

    def exec(self, bars: pd.DataFrame) -> pd.DataFrame:
        """A method named exec, called through self."""
        return bars

    def save(self, bars: pd.DataFrame) -> pd.DataFrame:
        """A method named save that does no I/O."""
        return self.exec(bars)
