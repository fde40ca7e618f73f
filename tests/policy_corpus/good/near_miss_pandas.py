"""pandas methods named to_* that do not write, readers' look-alikes, eval/query."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step

PATTERN = re.compile(r"^[A-Z]{2}$")


class Tx(pa.DataFrameModel):
    """A transaction."""

    a: float
    b: float
    country: str
    ts: str


class Convert(Step):
    """Conversions that stay in memory."""

    class Params(Params):
        """A JSON mapping and a formula-free weight."""

        mapping: str = '{"DE": 1}'
        weight: float = 1.0

    def run(self, tx: DataFrame[Tx]) -> DataFrame[Tx]:
        """Convert and compute."""
        arr = tx.to_numpy()
        recs = tx.to_records(index=False)
        d = tx.to_dict(orient="records")
        lst = tx["a"].to_list()
        lst2 = tx["a"].tolist()
        frame = tx["a"].to_frame()
        text = tx.to_string()
        js = tx.to_json()  # tolerate: SDK101 (returns a string, no path)
        ts = pd.to_datetime(tx["ts"])
        num = pd.to_numeric(tx["a"], errors="coerce")
        td = pd.to_timedelta(tx["b"], unit="s")
        per = ts.dt.to_period("M")
        summed = tx.eval("a + b")
        q = tx.query("a > b")
        pe = pd.eval("tx.a + tx.b")
        mapping = json.loads(self.params.mapping)
        dumped = json.dumps(mapping)
        rx = re.compile(r"\d+")
        ok = tx["country"].str.match(PATTERN)
        digits = tx["country"].str.contains(rx)
        arr2 = np.asarray(lst) * self.params.weight
        csv_text = pd.DataFrame(d).to_csv(index=False)  # tolerate: SDK101 (returns a string)
        stats = tx.describe()
        self.log.info("shapes", extra={"n": len(arr) + len(recs) + len(frame) + len(text)
                                       + len(js) + len(dumped) + len(csv_text)})
        out = tx.assign(a=summed + num + td.dt.total_seconds() + pe + arr2, b=ok & ~digits)
        return out[out.index.isin(q.index) | (per.astype(str) != "") | (len(stats) > 0)]
