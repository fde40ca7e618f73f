"""Steps that load reference data with pandas readers, under many spellings."""

from __future__ import annotations

import pandas
import pandas as p
import pandas as pd
import pandera.pandas as pa
from pandas import ExcelFile, HDFStore
from pandas import read_csv as rc
from pandas import read_parquet
from pandera.typing import DataFrame

from sdk import Params, Step


class Claims(pa.DataFrameModel):
    """An insurance claim."""

    claim_id: int
    region: str


class ReferenceJoin(Step):
    """Joins every kind of reference file an analyst has lying around."""

    class Params(Params):
        """Folder of reference data."""

        ref: str = "ref"

    def run(self, claims: DataFrame[Claims]) -> DataFrame[Claims]:
        """Load lookups, then join them."""
        a = pd.read_csv("regions.csv")  # expect: SDK101
        b = p.read_csv(f"{self.params.ref}/regions.csv")  # expect: SDK101
        c = rc("regions.csv", sep=";")  # expect: SDK101
        d = read_parquet("regions.parquet")  # expect: SDK101
        e = pandas.read_excel("regions.xlsx", sheet_name=0)  # expect: SDK101
        f = pd.read_json("regions.json", lines=True)  # expect: SDK101
        g = pd.read_pickle("regions.pkl")  # expect: SDK103|SDK101
        h = pd.read_feather("regions.feather")  # expect: SDK101
        i = pd.read_orc("regions.orc")  # expect: SDK101
        j = pd.read_hdf("regions.h5", "t")  # expect: SDK101
        k = pd.read_stata("regions.dta")  # expect: SDK101
        m = pd.read_sas("regions.sas7bdat")  # expect: SDK101
        n = pd.read_spss("regions.sav")  # expect: SDK101
        o = pd.read_html("https://example.com/regions.html")  # expect: SDK101
        q = pd.read_xml("regions.xml")  # expect: SDK101
        r = pd.read_fwf("regions.txt")  # expect: SDK101
        s = pd.read_table("regions.tsv")  # expect: SDK101
        t = pd.read_clipboard()  # expect: SDK101
        store = HDFStore("cache.h5")  # expect: SDK101 beyond-docs
        book = ExcelFile("book.xlsx")  # expect: SDK101 beyond-docs
        with pd.ExcelWriter("report.xlsx") as writer:  # expect: SDK101 beyond-docs
            claims.to_excel(writer)  # expect: SDK101
        frames = [a, b, c, d, e, f, g, h, i, j, k, m, n, *o, q, r, s, t]
        self.log.info("refs", extra={"n": len(frames), "s": str(store), "b": str(book)})
        return claims.merge(a, on="region", how="left")


class ReadInHelper(Step):
    """Reader called through pandas' own namespaces."""

    def run(self, claims: DataFrame[Claims]) -> DataFrame[Claims]:
        """Chunked read."""
        chunks = list(pd.read_csv("big.csv", chunksize=1000))  # expect: SDK101
        lookup = pd.io.parquet.read_parquet("x.parquet")  # expect: SDK101
        return claims.assign(n=len(chunks) + len(lookup))
