"""Steps that read and write files with the builtin open and its cousins."""

from __future__ import annotations

import builtins  # expect: SDK107
import codecs  # expect: SDK107
import io  # expect: SDK107
import json
from builtins import open as bopen  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Orders(pa.DataFrameModel):
    """An order line."""

    order_id: int
    sku: str
    qty: int = pa.Field(ge=0)


class EnrichFromFile(Step):
    """Join a price list that the analyst keeps next to the notebook."""

    class Params(Params):
        """Where the price list lives."""

        prices_path: str = "prices.json"
        audit_path: str = "audit.txt"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
        """Attach prices read from a local file."""
        with open(self.params.prices_path) as fh:  # expect: SDK101
            prices = json.load(fh)  # tolerate: SDK101
        raw = open(self.params.prices_path, "rb").read()  # expect: SDK101
        text = io.open(self.params.prices_path, encoding="utf-8").read()  # expect: SDK101
        legacy = codecs.open(self.params.prices_path, "r", "latin-1").read()  # expect: SDK101
        fh2 = builtins.open(self.params.audit_path, "a")  # expect: SDK101
        fh3 = bopen(self.params.audit_path, "w")  # expect: SDK101
        blob = io.FileIO(self.params.audit_path).readall()  # expect: SDK101 beyond-docs
        self.log.info("loaded", extra={"n": len(prices) + len(raw) + len(text) + len(legacy)})
        del fh2, fh3, blob
        return orders.assign(price=orders["sku"].map(prices).fillna(0.0))


class AppendAudit(Step):
    """Writes an audit trail line by line."""

    def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
        """Append each order id to an audit file."""
        with open("audit.log", mode="a", encoding="utf-8") as log_file, open("b.log", "w") as b:  # expect: SDK101
            b.write("start")  # tolerate: SDK101
        sizes = [len(open(f"part-{i}.txt").read()) for i in range(3)]  # expect: SDK101
        self.log.info("audit", extra={"sizes": sizes})
        return orders


class WritesViaPandasBuffer(Step):
    """Hands an open file to a pandas writer (two findings on one line)."""

    def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
        """Export."""
        orders.to_csv(open("x.csv", "w"))  # expect: SDK101
        return pd.DataFrame(orders)
