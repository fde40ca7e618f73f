"""Round 2: randomness and class-body state in less common spellings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import scipy.stats
from numpy.random import default_rng
from pandera.typing import DataFrame

from sdk import Params, Step


class Rows(pa.DataFrameModel):
    """A row."""

    k: str
    x: float


class Rand(Step):
    """Unseeded randomness in less common spellings."""

    history: list[int] = []  # noqa: RUF012
    counts: dict[str, int] = {}  # noqa: RUF012

    class Params(Params):
        """Seed."""

        seed: int = 0

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Draw."""
        a = np.random.Generator(np.random.MT19937())  # expect: SDK104 beyond-docs
        b = np.random.default_rng(None)  # expect: SDK104
        c = np.random.default_rng(seed=None)  # expect: SDK104
        d = default_rng()  # expect: SDK104
        e = np.random.SeedSequence()  # expect: SDK104 beyond-docs
        f = scipy.stats.norm(0, 1).rvs(3)  # expect: SDK104
        g = rows.sample(n=2, random_state=None)  # expect: SDK104
        h = np.random.RandomState(None)  # expect: SDK104
        i = rows["x"].sample(frac=0.5, replace=True)  # expect: SDK104
        j = np.random.default_rng().permutation(len(rows))  # expect: SDK104
        self.history += [len(rows)]  # expect: SDK106 beyond-docs
        self.counts.setdefault("n", 0)  # expect: SDK106 beyond-docs
        self.counts.update(n=1)  # expect: SDK106
        self.log.info("r", extra={"v": [str(a), str(b), str(c), str(d), str(e), str(f),
                                        len(g), str(h), len(i), len(j)]})
        return rows
