"""Violations tucked into every kind of statement and expression."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Tx(pa.DataFrameModel):
    """A transaction."""

    kind: str
    amount: float


class Branchy(Step):
    """Violations in branches, loops, handlers and expressions."""

    class Params(Params):
        """Mode switch."""

        mode: str = "fast"
        debug: bool = False

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Do everything in odd places."""
        if self.params.debug:
            print("debug")  # expect: SDK102
        elif self.params.mode == "file":
            tx = pd.read_csv("tx.csv")  # expect: SDK101
        else:
            pass
        try:
            extra = pd.read_parquet("extra.parquet")  # expect: SDK101
        except FileNotFoundError:
            print("no extra")  # expect: SDK102
            extra = tx.iloc[:0]
        else:
            extra = extra.sample(frac=0.5)  # expect: SDK104
        finally:
            self.log.info("done")
        for kind in tx["kind"].unique():
            if kind == "x":
                continue
            np.random.shuffle(tx["amount"].to_numpy())  # expect: SDK104
        else:
            stamp = datetime.now()  # expect: SDK105
        n = 0
        while n < 2:
            n += 1
            exec("pass")  # expect: SDK103
        with pd.option_context("display.width", 200):
            print(tx)  # expect: SDK102
        match self.params.mode:
            case "slow":
                tx = tx.assign(r=np.random.rand(len(tx)))  # expect: SDK104
            case _:
                pass
        squares = {k: open(k).read() for k in ["a.txt"]}  # expect: SDK101
        gen = (print(v) for v in tx["amount"])  # expect: SDK102
        flags = {np.random.randint(2) for _ in range(3)}  # expect: SDK104
        value = pd.read_csv("a.csv") if self.params.debug else tx  # expect: SDK101
        label = f"run at {datetime.now()}"  # expect: SDK105
        if (size := len(pd.read_json("n.json"))) > 0:  # expect: SDK101
            self.log.info("size", extra={"n": size})
        assert eval("True"), "never"  # expect: SDK103
        key = sorted(tx["kind"], key=lambda k: np.random.random())  # expect: SDK104
        msg = "{}".format(input())  # expect: SDK102
        self.log.info("x", extra={"s": str(stamp), "q": squares, "g": str(gen), "f": flags,
                                  "v": len(value), "l": label, "k": key, "m": msg, "e": len(extra)})
        return tx

    def _defaults(self, tx: pd.DataFrame, as_of=datetime.now(), fh=open(__file__)):  # expect: SDK105,SDK101
        """Defaults are evaluated once, at import."""
        return tx

    def _nested(self, tx: pd.DataFrame) -> pd.DataFrame:
        """Nested function and class inside a method."""

        def inner() -> None:
            def innermost() -> None:
                open("deep.txt", "w")  # expect: SDK101

            innermost()

        class Local:
            def go(self) -> None:
                print("local class")  # expect: SDK102

        inner()
        Local().go()
        return tx

    async def _async(self, tx: pd.DataFrame) -> pd.DataFrame:
        """An async helper method."""
        print("async")  # expect: SDK102
        return tx

    def _raise(self, tx: pd.DataFrame) -> pd.DataFrame:
        """Violation in a raise message and a return expression."""
        if tx.empty:
            raise ValueError(f"empty at {pd.Timestamp.now()}")  # expect: SDK105
        return tx.assign(t=pd.read_csv("t.csv")["t"])  # expect: SDK101
