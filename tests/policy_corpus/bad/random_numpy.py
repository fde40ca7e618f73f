"""Steps using numpy's global random state or unseeded generators."""

from __future__ import annotations

import numpy as np
import numpy.random as npr
import pandas as pd
import pandera.pandas as pa
from numpy import random as nr
from numpy.random import default_rng, permutation, rand
from pandera.typing import DataFrame

from sdk import Params, Step


class Points(pa.DataFrameModel):
    """A point."""

    x: float
    y: float


class Jitter(Step):
    """Adds noise and subsamples."""

    class Params(Params):
        """Seed."""

        seed: int = 0

    def run(self, points: DataFrame[Points]) -> DataFrame[Points]:
        """Jitter every point."""
        n = len(points)
        a = np.random.rand(n)  # expect: SDK104
        b = np.random.randn(n)  # expect: SDK104
        c = np.random.normal(0, 1, size=n)  # expect: SDK104
        np.random.seed(self.params.seed)  # expect: SDK104
        d = np.random.permutation(n)  # expect: SDK104
        e = np.random.choice(n, size=3, replace=False)  # expect: SDK104
        np.random.shuffle(d)  # expect: SDK104
        f = np.random.randint(0, 10, size=n)  # expect: SDK104
        g = np.random.uniform(size=n)  # expect: SDK104
        h = npr.rand(n)  # expect: SDK104
        i = nr.normal(size=n)  # expect: SDK104
        j = rand(n)  # expect: SDK104
        k = permutation(n)  # expect: SDK104
        rng = np.random.default_rng()  # expect: SDK104
        rng2 = default_rng()  # expect: SDK104
        rng3 = np.random.default_rng(None)  # expect: SDK104
        rng4 = np.random.default_rng(seed=None)  # expect: SDK104
        rs = np.random.RandomState()  # expect: SDK104
        gen = np.random.Generator(np.random.PCG64())  # expect: SDK104 beyond-docs
        state = np.random.get_state()  # expect: SDK104
        parts = [a, b, c, e, f, g, h, i, j, k, rng.random(n), rng2.random(n), rng3.random(n),
                 rng4.random(n), rs.rand(n), gen.random(n)]
        self.log.info("state", extra={"s": str(state)[:10]})
        return pd.DataFrame(points).assign(x=points["x"] + sum(parts))
