"""Steps that read the clock through pandas and numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas import Timestamp
from pandas import Timestamp as TS
from pandas import to_datetime
from pandera.typing import DataFrame

from sdk import Step


class Invoices(pa.DataFrameModel):
    """An invoice."""

    due: pd.Timestamp


class Overdue(Step):
    """Flag overdue invoices."""

    def run(self, invoices: DataFrame[Invoices]) -> DataFrame[Invoices]:
        """Compare due dates with now."""
        a = pd.Timestamp.now()  # expect: SDK105
        b = pd.Timestamp.today()  # expect: SDK105
        c = pd.Timestamp.utcnow()  # expect: SDK105
        d = Timestamp.now(tz="UTC")  # expect: SDK105
        e = TS.today()  # expect: SDK105
        f = pd.Timestamp("now")  # expect: SDK105
        g = pd.Timestamp("today")  # expect: SDK105
        h = pd.to_datetime("today")  # expect: SDK105
        i = pd.to_datetime("now")  # expect: SDK105
        j = to_datetime("now", utc=True)  # expect: SDK105
        k = np.datetime64("now")  # expect: SDK105
        m = np.datetime64("today", "D")  # expect: SDK105
        n = pd.Period.now("D")  # expect: SDK105 beyond-docs
        o = pd.Timestamp.now().normalize()  # expect: SDK105
        p = pd.date_range(end=pd.Timestamp.now(), periods=3)  # expect: SDK105
        q = pd.Timestamp("now", tz="UTC")  # expect: SDK105
        self.log.info("now", extra={"t": [str(x) for x in (b, c, d, e, f, g, h, i, j, k, m, n, o, q)]})
        return invoices.assign(overdue=invoices["due"] < a, n=len(p))
