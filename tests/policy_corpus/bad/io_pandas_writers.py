"""Steps that write their result (or side outputs) themselves."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandas import DataFrame as PdFrame
from pandera.typing import DataFrame

from sdk import Params, Step


class Sales(pa.DataFrameModel):
    """A sale."""

    store: str
    amount: float


class ExportEverything(Step):
    """Writes side outputs 'for debugging'."""

    class Params(Params):
        """Out folder."""

        out: str = "out"

    def run(self, sales: DataFrame[Sales]) -> DataFrame[Sales]:
        """Aggregate, and dump intermediate frames."""
        out = sales.groupby("store", as_index=False)["amount"].sum()
        out.to_csv(f"{self.params.out}/by_store.csv", index=False)  # expect: SDK101
        out.to_parquet("by_store.parquet")  # expect: SDK101
        out.to_sql("by_store", "sqlite:///x.db")  # expect: SDK101
        out.to_pickle("by_store.pkl")  # expect: SDK101
        out.to_json("by_store.json", orient="records")  # expect: SDK101
        out.to_excel("by_store.xlsx")  # expect: SDK101
        out.to_hdf("by_store.h5", key="t")  # expect: SDK101
        out.to_feather("by_store.feather")  # expect: SDK101
        out.to_stata("by_store.dta")  # expect: SDK101
        out.to_orc("by_store.orc")  # expect: SDK101
        out.to_clipboard()  # expect: SDK101
        out.to_xml("by_store.xml")  # expect: SDK101 beyond-docs
        out.to_html("by_store.html")  # expect: SDK101 beyond-docs
        out.to_markdown("by_store.md")  # expect: SDK101 beyond-docs
        out.to_latex("by_store.tex")  # expect: SDK101 beyond-docs
        sales["amount"].to_csv("amounts.csv")  # expect: SDK101
        sales.amount.to_json("amounts.json")  # expect: SDK101
        pd.DataFrame.to_csv(out, "again.csv")  # expect: SDK101
        PdFrame.to_parquet(out, "again.parquet")  # expect: SDK101
        sales.assign(x=1).reset_index(drop=True).to_csv("chained.csv")  # expect: SDK101
        out.to_csv(path_or_buf="kw.csv")  # expect: SDK101
        return sales


class WriterAsCallback(Step):
    """The writer is referenced, not called directly."""

    def run(self, sales: DataFrame[Sales]) -> DataFrame[Sales]:
        """Write each store's rows."""
        for store, g in sales.groupby("store"):
            g.to_csv(f"store-{store}.csv")  # expect: SDK101
        sales.pipe(pd.DataFrame.to_csv, "piped.csv")  # expect: SDK101 beyond-docs
        return sales
