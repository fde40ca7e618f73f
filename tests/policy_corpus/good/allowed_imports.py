"""Every module on the default allow-list, used the way analysts use them."""

from __future__ import annotations

import collections
import dataclasses
import decimal
import enum
import fractions
import functools
import itertools
import json
import math
import operator
import re
import statistics
import typing
from collections import OrderedDict, namedtuple
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache, partial, reduce
from itertools import accumulate, chain, groupby
from typing import Any, Optional

import numpy as np
import numpy.linalg as la
import pandas as pd
import pandera as pa_root
import pandera.pandas as pa
import scipy
import scipy.special
import scipy.stats as st
from pandera.typing import DataFrame, Series
from scipy.special import expit

import sdk
from sdk import Params, Step
from sdk.params import Params as P2


class Color(enum.Enum):
    """An enum."""

    RED = 1
    BLUE = 2


@dataclass(frozen=True)
class Band:
    """A dataclass."""

    lo: float
    hi: float = 1.0
    tags: tuple[str, ...] = field(default_factory=tuple)


Pair = namedtuple("Pair", ["a", "b"])


class Measures(pa.DataFrameModel):
    """A measurement."""

    group: str
    value: float = pa.Field(ge=0)
    weight: Series[float]


@lru_cache(maxsize=None)
def band_for(value: float) -> Band:
    """Pure, cached helper."""
    return Band(lo=math.floor(value), hi=math.ceil(value) + 1)


def money(x: float) -> Decimal:
    """Round half up to cents."""
    return Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class Summarise(Step):
    """Uses only allowed modules."""

    class Params(Params):
        """Options."""

        z: float = 1.96

    def run(self, measures: DataFrame[Measures]) -> DataFrame[Measures]:
        """Summarise values per group."""
        values = measures["value"].tolist()
        mean = statistics.fmean(values) if values else 0.0
        med = statistics.median(values) if values else 0.0
        total = reduce(operator.add, values, 0.0)
        running = list(accumulate(values))
        flat = list(chain.from_iterable([[1], [2]]))
        grouped = {k: len(list(g)) for k, g in groupby(sorted(measures["group"]))}
        ordered = OrderedDict(sorted(collections.Counter(measures["group"]).items()))
        frac = fractions.Fraction(1, 3)
        dec = money(total) + decimal.Decimal("0")
        cdf = st.norm.cdf(self.params.z) + scipy.special.logit(0.5) + expit(0.0)
        norm = la.norm(np.asarray(values)) if values else 0.0
        prods = list(itertools.product("ab", repeat=2))
        scaled = partial(operator.mul, 2)
        bands = [band_for(v) for v in values]
        color = Color.RED
        pair = Pair(1, 2)
        hint: Optional[dict[str, Any]] = typing.cast(dict, {"m": mean})
        tag: str | None = None
        replaced = dataclasses.replace(Band(0.0), hi=2.0)
        words = re.split(r"\s+", "a b")
        payload = json.dumps({"mean": mean})
        self.log.info("summary", extra={"med": med, "r": running, "f": flat, "g": grouped,
                                        "o": dict(ordered), "fr": str(frac), "d": str(dec),
                                        "cdf": float(cdf), "norm": float(norm), "p": prods,
                                        "s": scaled(2), "b": len(bands), "c": color.name,
                                        "pair": pair.a, "h": hint, "t": tag, "rep": replaced.hi,
                                        "w": words, "j": payload, "x": str(sdk.__name__),
                                        "P2": P2.__name__, "pa": pa_root.__name__})
        return measures.assign(value=measures["value"] * mean)
