"""Round 2: forbidden calls in unusual expressions and reached through odd spellings."""

from __future__ import annotations

import datetime
import functools
import operator
import os  # expect: SDK107
import sys  # expect: SDK107
import time  # expect: SDK107

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step

CACHE: dict[str, int] = {}


class Rows(pa.DataFrameModel):
    """A row."""

    k: str
    x: float


class Odd(Step):
    """Odd spellings of forbidden calls."""

    class Params(Params):
        """Deadline."""

        deadline: str = "2024-01-01"
        mode: str = "a"

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Everything in odd places."""
        getattr(os, "system")("ls")  # expect: SDK101 beyond-docs
        fh = __builtins__["open"]("x.txt")  # expect: SDK101|SDK103 beyond-docs
        total = functools.reduce(lambda a, b: print(a) or a + b, rows["x"], 0.0)  # expect: SDK102
        stamp = datetime.datetime.fromtimestamp(time.time())  # expect: SDK105
        while pd.Timestamp.now() < pd.Timestamp(self.params.deadline):  # expect: SDK105
            break
        match os.environ.get("MODE"):  # expect: SDK101
            case "x":
                pass
            case _ if np.random.rand() > 0.5:  # expect: SDK104
                pass
        try:
            rows = rows.copy()
        finally:
            print("cleanup")  # expect: SDK102
        width = f"{total:{print('w') or 5}}"  # expect: SDK102
        ordered = sorted(rows["k"], key=lambda k, t=time.time(): t)  # expect: SDK105
        rows.pipe(print)  # expect: SDK102
        rows["x"].apply(print)  # expect: SDK102
        operator.setitem(CACHE, "k", 1)  # expect: SDK106 beyond-docs
        CACHE.__setitem__("j", 2)  # expect: SDK106 beyond-docs
        vars(sys.modules[__name__])["CACHE"] = {}  # expect: SDK106 beyond-docs
        sys.modules["pandas"] = None  # expect: SDK106 beyond-docs
        np.pi = 3.0  # expect: SDK106 beyond-docs
        pd.reset_option("all")  # expect: SDK106 beyond-docs
        np.random.set_state(np.random.get_state())  # expect: SDK104
        stamped = rows.assign(t=pd.Timestamp.now)  # expect: SDK105 beyond-docs
        inst = pd.Timestamp(self.params.deadline).now()  # expect: SDK105 beyond-docs
        dinst = datetime.date(2020, 1, 1).today()  # expect: SDK105 beyond-docs
        bucket = hash(self.params.mode) % 8  # expect: SDK104 beyond-docs
        styled = rows.style.to_html("report.html")  # expect: SDK101 beyond-docs
        with open("a.txt") as a, open("b.txt") as b:  # expect: SDK101
            pass
        rows.to_json(sys.stdout)  # expect: SDK101|SDK102
        self.log.info("x", extra={"w": width, "o": ordered, "s": str(stamp), "fh": str(fh),
                                  "t": len(stamped), "i": str(inst), "d": str(dinst),
                                  "b": bucket, "st": styled, "a": str(a), "bb": str(b)})
        return rows

    def _grouped(self, rows: pd.DataFrame) -> pd.DataFrame:
        """except* handler."""
        try:
            return rows
        except* ValueError:
            print("group")  # expect: SDK102
            raise

    def _kwdefault(self, rows: pd.DataFrame, emit=print) -> pd.DataFrame:  # expect: SDK102
        """print as a default value."""
        emit(len(rows))
        return rows
