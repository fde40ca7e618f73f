"""Steps that print, prompt or write to the console."""

from __future__ import annotations

import builtins  # expect: SDK107
import functools
import pprint  # expect: SDK107
import sys  # expect: SDK107
from pprint import pp  # expect: SDK107
from sys import stderr, stdout  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Tx(pa.DataFrameModel):
    """A transaction."""

    amount: float
    country: str


class Chatty(Step):
    """Prints while it works, as notebooks teach."""

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Print a lot."""
        print("rows:", len(tx))  # expect: SDK102
        print(f"max amount {tx['amount'].max():.2f}", file=sys.stderr)  # expect: SDK102
        print(tx.head(),  # expect: SDK102
              end="\n\n")
        builtins.print("via builtins")  # expect: SDK102
        sys.stdout.write("progress\n")  # expect: SDK102
        sys.stderr.write("warn\n")  # expect: SDK102
        stdout.flush()  # expect: SDK102
        stderr.write("warn\n")  # expect: SDK102
        sys.stdout.flush()  # expect: SDK102
        pprint.pprint(tx.to_dict())  # expect: SDK102
        pp(tx.describe())  # expect: SDK102
        tx.apply(lambda row: print(row["amount"]), axis=1)  # expect: SDK102
        _ = [print(c) for c in tx.columns]  # expect: SDK102
        list(map(print, tx["country"]))  # expect: SDK102 beyond-docs
        echo = functools.partial(print, "country:")  # expect: SDK102 beyond-docs
        echo("DE")

        def show(frame: pd.DataFrame) -> None:
            print(frame.shape)  # expect: SDK102

        show(tx)
        return tx


class Interactive(Step):
    """Asks the user."""

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Prompt for a threshold."""
        threshold = float(input("threshold? "))  # expect: SDK102
        line = sys.stdin.readline()  # expect: SDK102
        data = sys.stdin.read()  # expect: SDK102
        if threshold < 0:
            breakpoint()  # expect: SDK102|SDK103|SDK101
        self.log.info("read", extra={"line": line, "data": data})
        return tx[tx["amount"] > threshold]
