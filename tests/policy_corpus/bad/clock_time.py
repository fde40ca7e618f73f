"""Steps that read the clock through the time module."""

from __future__ import annotations

import time  # expect: SDK107
import time as t  # expect: SDK107
from time import monotonic, perf_counter  # expect: SDK107
from time import time as now  # expect: SDK107

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Pings(pa.DataFrameModel):
    """A ping."""

    host: str
    ts: float


class Staleness(Step):
    """How old is each ping, relative to now."""

    def run(self, pings: DataFrame[Pings]) -> DataFrame[Pings]:
        """Compute age in seconds."""
        current = time.time()  # expect: SDK105
        ns = time.time_ns()  # expect: SDK105
        mono = time.monotonic()  # expect: SDK105
        mono2 = monotonic()  # expect: SDK105
        started = perf_counter()  # expect: SDK105 beyond-docs
        lt = time.localtime()  # expect: SDK105
        gm = t.gmtime()  # expect: SDK105
        human = time.ctime()  # expect: SDK105
        asc = time.asctime()  # expect: SDK105
        stamp = time.strftime("%Y-%m-%d")  # expect: SDK105 beyond-docs
        also = now()  # expect: SDK105
        ages = pings["ts"].map(lambda ts: time.time() - ts)  # expect: SDK105
        self.log.info("clock", extra={"ns": ns, "m": mono + mono2 + started, "lt": str(lt),
                                      "gm": str(gm), "h": human, "a": asc, "s": stamp})
        return pings.assign(age=current - pings["ts"], age2=ages, also=also)
