"""Steps importing helpers relatively and through the own top-level package."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import DataFrame

import pkg_good.features
from pkg_good import features
from pkg_good.features import add_ratio

from . import features as feats
from .features import add_ratio as ratio2
from sdk import Step


class Pair(pa.DataFrameModel):
    """Two numbers."""

    a: float
    b: float


class Ratio(Step):
    """Uses helpers from its own package."""

    def run(self, pair: DataFrame[Pair]) -> DataFrame[Pair]:
        """Add ratios."""
        out = add_ratio(pair)
        out = ratio2(out)
        out = feats.add_ratio(out)
        out = features.add_ratio(out)
        return pkg_good.features.add_ratio(out)
