"""Steps that subsample without a seed."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Reviews(pa.DataFrameModel):
    """A product review."""

    product: str
    stars: int


class Subsample(Step):
    """Keeps a sample of the reviews for labelling."""

    class Params(Params):
        """Fraction."""

        frac: float = 0.1

    def run(self, reviews: DataFrame[Reviews]) -> DataFrame[Reviews]:
        """Take samples."""
        a = reviews.sample(frac=self.params.frac)  # expect: SDK104
        b = reviews.sample(n=3, random_state=None)  # expect: SDK104
        c = reviews["stars"].sample(2)  # expect: SDK104
        d = reviews.groupby("product").sample(n=1)  # expect: SDK104
        e = reviews.sample(frac=1.0, replace=True, weights="stars")  # expect: SDK104
        f = reviews.sample(  # expect: SDK104
            frac=0.5,
            replace=False,
        )
        g = pd.DataFrame(reviews).sample(1, axis=1)  # expect: SDK104
        h = reviews.stars.sample(frac=0.2)  # expect: SDK104
        i = reviews.sample(frac=0.1, random_state=None if self.params.frac else 1)  # gap: SDK104
        return pd.concat([a, b, c.to_frame(), d, e, f, g, h.to_frame(), i])
