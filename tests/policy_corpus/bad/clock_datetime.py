"""Steps that read the clock through datetime."""

from __future__ import annotations

import datetime
import datetime as dt
from datetime import date, datetime as DateTime, timezone

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Accounts(pa.DataFrameModel):
    """An account with its opening date."""

    opened: pd.Timestamp


class AccountAge(Step):
    """Age of every account."""

    def run(self, accounts: DataFrame[Accounts]) -> DataFrame[Accounts]:
        """Age in days, relative to today."""
        a = datetime.datetime.now()  # expect: SDK105
        b = dt.datetime.utcnow()  # expect: SDK105
        c = dt.datetime.now(tz=dt.timezone.utc)  # expect: SDK105
        d = DateTime.now(timezone.utc)  # expect: SDK105
        e = DateTime.today()  # expect: SDK105
        f = date.today()  # expect: SDK105
        g = datetime.date.today()  # expect: SDK105
        h = dt.date.today().isoformat()  # expect: SDK105
        i = DateTime.utcnow().date()  # expect: SDK105
        j = datetime.datetime.now().astimezone()  # expect: SDK105
        k = f"report-{dt.datetime.now():%Y%m%d}"  # expect: SDK105
        age = (pd.Timestamp(a) - accounts["opened"]).dt.days
        self.log.info("now", extra={"t": [str(x) for x in (b, c, d, e, f, g, h, i, j, k)]})
        return accounts.assign(age=age)
