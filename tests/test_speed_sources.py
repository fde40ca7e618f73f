"""Sources of quarantined rows stay right now that in-memory sources are rendered lazily."""

import pickle

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

from examples.fraud.pipeline import pipeline
from sdk import Pipeline, Step
from sdk.quarantine import Sources

INDEXES = {
    "range from 100": pd.RangeIndex(100, 106),
    "integers": pd.Index([7, 3, 11, 5, 2, 40]),
    "floats": pd.Index([0.5, 1.25, 2.0, 3.5, 1e20, -1.0]),
    "text": pd.Index(["a", "b", "c", "d", "e", "f"]),
    "datetimes": pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC"),
    "tuples": pd.MultiIndex.from_product([[1, 2, 3], ["x", "y"]]),
}


def _transactions(index: pd.Index) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 1, 3, 2, 4],
            "amount": [10.0, -5.0, 30.0, 20.0, 1.0, np.nan],
            "country": ["US", "FR", "usa", "DE", "GB", "US"],
        }
    )
    frame.index = index
    return frame


@pytest.mark.parametrize("name", list(INDEXES))
def test_quarantined_rows_of_an_in_memory_frame_name_their_index_label(name: str):
    """Each quarantined row's source is its own index label as text, whatever the index."""
    index = INDEXES[name]
    labels = [str(label) for label in index]
    result = pipeline.run(transactions=_transactions(index), max_invalid=1.0)
    q = result.quarantine
    expected = {1: "amount", 2: "country", 5: "amount"}
    assert len(q) == 3
    for position, column in expected.items():
        rows = q[q["column"] == column]
        assert labels[position] in rows["source"].tolist()
    assert sorted(q["source"]) == sorted(labels[p] for p in expected)


def test_sources_of_an_index_render_only_the_rows_asked_and_pickle():
    """Sources of an index render the labels at the given positions, also after a pickle
    round trip and after narrowing to the passing rows."""
    sources = Sources.from_index(pd.Index([10, 20, 30, 40]))
    assert sources.render(np.array([3, 0])) == ["40", "10"]
    again = pickle.loads(pickle.dumps(sources))
    assert again.render(np.array([1])) == ["20"]
    assert sources.take(np.array([1, 3])).render(np.array([1])) == ["40"]
    assert sources.render(np.array([], dtype=np.int64)) == []


class Left(pa.DataFrameModel):
    key: int
    a: float = pa.Field(ge=0)


class Right(pa.DataFrameModel):
    key: int
    b: float


class Joined(pa.DataFrameModel):
    key: int
    a: float
    b: float = pa.Field(ge=0)


class Join(Step):
    """Join two inputs by key (the output is numbered anew)."""

    output = "joined"

    def run(self, left: DataFrame[Left], right: DataFrame[Right]) -> DataFrame[Joined]:
        return left.merge(right, on="key")  # type: ignore[return-value]


def test_rows_quarantined_after_a_join_name_the_joined_row():
    """A joined row that fails is named after the output dataset and its own label."""
    left = pd.DataFrame({"key": [1, 2, 3], "a": [1.0, 2.0, 3.0]}, index=[50, 60, 70])
    right = pd.DataFrame({"key": [1, 2, 3], "b": [1.0, -2.0, 3.0]})
    result = Pipeline([Join()], name="join").run(left=left, right=right, max_invalid=1.0)
    assert result.quarantine["source"].tolist() == ["joined#1"]
    assert result.quarantine["value"].tolist() == ["-2.0"]
