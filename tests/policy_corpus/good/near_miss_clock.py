"""Dates and times that are not wall-clock reads."""

from __future__ import annotations

import datetime
import datetime as dt
from datetime import date, datetime as DateTime, timedelta, timezone

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Events(pa.DataFrameModel):
    """An event with a timestamp column named `time` and one named `now`."""

    time: str
    now: str


class AgeAsOf(Step):
    """Reference time is a param; all the rest is arithmetic."""

    class Params(Params):
        """As-of date."""

        as_of: str = "2024-01-31"

    def run(self, events: DataFrame[Events]) -> DataFrame[Events]:
        """Age relative to the as-of param."""
        as_of = pd.Timestamp(self.params.as_of)
        fixed = pd.Timestamp("2024-01-01")
        fixed_kw = pd.Timestamp(year=2024, month=1, day=1)
        parsed = pd.to_datetime(events["time"])
        parsed_lit = pd.to_datetime("2024-01-01")
        week = timedelta(days=7)
        day = datetime.timedelta(days=1)
        hour = dt.timedelta(hours=1)
        d0 = DateTime(2024, 1, 1, tzinfo=timezone.utc)
        d1 = datetime.datetime(2024, 1, 1)
        d2 = date(2024, 1, 1)
        d3 = DateTime.fromisoformat("2024-01-01T00:00:00")
        d4 = DateTime.strptime("2024-01-01", "%Y-%m-%d")
        d5 = dt.date.fromisoformat(self.params.as_of)
        n64 = np.datetime64("2024-01-01")
        rng = pd.date_range("2024-01-01", periods=3, freq="D")
        td = pd.Timedelta("1D")
        lo, hi = pd.Timestamp.min, pd.Timestamp.max
        latest = parsed.max()
        now = as_of.normalize()
        today = events["now"]
        time = parsed.dt.hour
        ages = (as_of - parsed).dt.days
        self.log.info("dates", extra={"d": [str(x) for x in (fixed, fixed_kw, parsed_lit, week,
                                                              day, hour, d0, d1, d2, d3, d4, d5,
                                                              n64, td, lo, hi, latest, now)],
                                      "n": len(rng) + len(today) + len(time)})
        return events.assign(age=ages)
