"""Seeded randomness: every seed comes from params or a constant."""

from __future__ import annotations

import numpy as np
import numpy.random as npr
import pandas as pd
import pandera.pandas as pa
from numpy.random import PCG64, Generator, default_rng
from pandera.typing import DataFrame

from sdk import Params, Step


class Users(pa.DataFrameModel):
    """A user."""

    user_id: int
    score: float


class SeededDraws(Step):
    """Draws that are reproducible."""

    class Params(Params):
        """Seed and fraction."""

        seed: int = 42
        frac: float = 0.5

    def run(self, users: DataFrame[Users]) -> DataFrame[Users]:
        """Sample and jitter with explicit seeds."""
        rng = np.random.default_rng(self.params.seed)
        rng_kw = np.random.default_rng(seed=self.params.seed)
        rng_const = np.random.default_rng(12345)
        rng_expr = np.random.default_rng(self.params.seed + 1)
        rng_alias = npr.default_rng(self.params.seed)
        rng_from = default_rng(self.params.seed)
        gen = Generator(PCG64(self.params.seed))
        gen2 = np.random.Generator(np.random.PCG64(self.params.seed))
        legacy = np.random.RandomState(self.params.seed)
        seq = np.random.SeedSequence(self.params.seed)
        noise = rng.normal(size=len(users))
        order = rng.permutation(len(users))
        pick = rng.choice(len(users), size=min(2, len(users)), replace=False)
        ints = rng_kw.integers(0, 10, size=len(users))
        arr = users["score"].to_numpy().copy()
        rng_const.shuffle(arr)
        a = users.sample(frac=self.params.frac, random_state=self.params.seed)
        b = users.sample(n=1, random_state=rng)
        c = users.groupby("user_id").sample(n=1, random_state=0)
        d = users["score"].sample(frac=0.5, random_state=self.params.seed)
        e = users.sample(frac=1.0, replace=True, random_state=legacy)
        f = users.sample(1, None, False, None, self.params.seed)
        extra = (rng_expr.random() + rng_alias.random() + rng_from.random() + gen.random()
                 + gen2.random() + seq.entropy % 2)
        out = users.assign(score=users["score"] + noise + extra + ints)
        self.log.info("draws", extra={"o": order.tolist(), "p": pick.tolist(), "a": arr.sum(),
                                      "n": len(a) + len(b) + len(c) + len(d) + len(e) + len(f)})
        return pd.DataFrame(out)
