"""Harder spellings a reviewer would try: star imports, sdk's own I/O, globals(), env writes."""

from __future__ import annotations

import sys  # expect: SDK107
from os import *  # noqa: F403  # expect: SDK107

import numpy as np
import pandas as pd
import pandas.io.parsers
import pandera.pandas as pa
import pyarrow.parquet as pq  # expect: SDK107
import scipy.stats
from pandas.io.parsers import read_csv as parser_read
from pandera.typing import DataFrame

from sdk.io import iter_chunks, open_writer
from sdk.io.files import CsvScheme
from sdk import Params, Step

MODE = "dev"
REGISTRY: dict[str, int] = {}
SEEN: list[int] = []


class Rows(pa.DataFrameModel):
    """A row."""

    k: str
    x: float


def accumulate(x: int, acc: list[int] = []) -> list[int]:  # noqa: B006
    """Mutable default: state that survives between runs."""
    acc.append(x)  # expect: SDK106 beyond-docs
    return acc


class Hard(Step):
    """Harder cases."""

    class Params(Params):
        """As-of defaults to today: a clock read in the nested Params class body."""

        as_of: str = str(pd.Timestamp.today().date())  # expect: SDK105
        seed: int = 0

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Do the hard things."""
        names = listdir(".")  # noqa: F405  # expect: SDK101 beyond-docs
        a = parser_read("a.csv")  # expect: SDK101
        b = pandas.io.parsers.read_csv("b.csv")  # expect: SDK101
        c = pq.read_table("c.parquet")  # expect: SDK101 beyond-docs
        for chunk in iter_chunks(CsvScheme(), "d.csv", 100):  # expect: SDK101 beyond-docs
            self.log.info("chunk", extra={"n": len(chunk.frame)})
        w = open_writer(CsvScheme(), "out.csv")  # expect: SDK101 beyond-docs
        globals()["MODE"] = "prod"  # expect: SDK106 beyond-docs
        globals().update(MODE="x")  # expect: SDK106 beyond-docs
        setattr(sys.modules[__name__], "MODE", "y")  # expect: SDK106 beyond-docs
        environ["MODE"] = "prod"  # noqa: F405  # expect: SDK101|SDK106 beyond-docs
        REGISTRY["a"]["b"] = 1  # expect: SDK106
        del SEEN[:]  # expect: SDK106
        SEEN[:] = [1]  # expect: SDK106
        for REGISTRY["loop"] in range(2):  # expect: SDK106 beyond-docs
            pass
        np.seterr(all="ignore")  # expect: SDK106 beyond-docs
        rng_clock = np.random.default_rng(int(pd.Timestamp.now().timestamp()))  # expect: SDK105
        shuffled = rows.sample(frac=1.0, random_state=np.random.default_rng())  # expect: SDK104
        unbound = pd.DataFrame.sample(rows, 2)  # expect: SDK104
        draws = scipy.stats.norm.rvs(size=3)  # expect: SDK104
        bdays = pd.bdate_range(end="today", periods=5)  # expect: SDK105 beyond-docs
        rows.info()  # expect: SDK102 beyond-docs
        rows.to_csv(sys.stdout)  # expect: SDK101|SDK102
        rows.to_string(buf="rows.txt")  # expect: SDK101 beyond-docs
        writer = rows.to_csv  # expect: SDK101
        writer("via-alias.csv")  # gap: SDK101
        acc = accumulate(len(rows))
        self.log.info("x", extra={"n": [len(names), len(a), len(b), c.num_rows, len(acc),
                                        len(shuffled), len(unbound), len(draws), len(bdays)],
                                  "w": str(w), "r": rng_clock.random()})
        return rows
