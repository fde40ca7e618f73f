"""A pipeline whose answer cannot be rendered for requests of three records: an unexpected
fault in the server (a value whose text representation raises)."""

from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame, Series

from examples.fraud.pipeline import Features
from sdk import Pipeline, Step


class Cursed:
    """A value that refuses to be turned into text."""

    def __str__(self) -> str:
        raise RuntimeError("boom: internal details the client must not see")

    __repr__ = __str__


class Tagged(Features):
    """A transaction with an opaque tag."""

    tag: Series[Any] = pa.Field(nullable=True)


class Tag(Step):
    """Tag requests of three records with a value no JSON writer can render."""

    output = "tagged"
    scope = "rows"

    def run(self, features: DataFrame[Features]) -> DataFrame[Tagged]:
        """The features, tagged."""
        tag = [Cursed() if len(features) == 3 else None] * len(features)
        return features.assign(tag=pd.Series(tag, index=features.index, dtype=object))


scoring = Pipeline([Tag()], name="faulty")
"""``features`` → ``tagged``; the answer to three records cannot be written."""
