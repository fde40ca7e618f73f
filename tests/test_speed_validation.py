"""The shortcuts of small-frame validation give what pandera's own evaluation gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from sdk.models import compile_model
from sdk.validation import BoundaryCheck, ProvenColumns, validate_frame

WHERE = BoundaryCheck("step", "input", "df")


class Bounded(pa.DataFrameModel):
    a: float = pa.Field(ge=0, lt=10, nullable=True)
    b: int = pa.Field(gt=-3, le=2**40)
    code: str = pa.Field(str_matches=r"^[A-Z]{2}$", nullable=True)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("a", [np.nan, -0.5, 0.0, 9.99, 10.0, np.inf]),
        ("b", np.array([-3, -2, 2**40, 2**40 + 1], dtype=np.int64)),
        ("b", np.array([0, 2**41], dtype=np.uint64)),
        ("b", np.array([-4, 1], dtype=np.int8)),
    ],
)
def test_comparisons_give_pandera_verdicts(name: str, values: object) -> None:
    rule = next(r for r in compile_model(Bounded).columns if r.name == name)
    series = pd.Series(values, name=name)
    for prepared in rule.checks:
        assert prepared.compare is not None
        expected = prepared.backend.apply(series).to_numpy()
        assert np.array_equal(np.asarray(prepared.apply(series)), expected)


def test_text_verdicts_remembered_give_pandera_verdicts() -> None:
    rule = next(r for r in compile_model(Bounded).columns if r.name == "code")
    prepared = rule.checks[0]
    for values in (["US", "us", "USA"], ["US", "GB", "us", "US"], ["x", None, "US"], []):
        series = pd.Series(values, dtype="str")
        expected = prepared.backend.apply(series).to_numpy()
        assert np.array_equal(np.asarray(prepared.apply(series)), expected)


def test_small_frames_quarantine_the_same_rows_twice() -> None:
    frame = pd.DataFrame({"a": [1.0, -1.0, np.nan], "b": [1, 2, 3], "code": ["US", "x", None]})
    compiled = compile_model(Bounded)
    first = validate_frame(frame, compiled, WHERE)
    second = validate_frame(frame, compiled, WHERE)
    assert first.passed is not None and second.passed is not None
    assert first.passed.tolist() == second.passed.tolist() == [0, 2]
    assert first.counts == second.counts


def test_a_column_replaced_after_validation_is_not_proven() -> None:
    compiled = compile_model(Bounded)
    frame = pd.DataFrame({"a": [1.0], "b": [1], "code": ["US"]})
    proven = ProvenColumns()
    result = validate_frame(frame, compiled, WHERE, proven)
    assert result.frame is frame
    frame["a"] = [-1.0]  # the same frame object, a column not validated
    proven.remember(frame, compiled)
    again = validate_frame(frame, compiled, WHERE, proven)
    assert again.counts == {"a": {"greater_than_or_equal_to(0)": 1}}


def test_remembered_columns_are_not_checked_again() -> None:
    compiled = compile_model(Bounded)
    frame = pd.DataFrame({"a": [1.0], "b": [1], "code": ["US"]})
    proven = ProvenColumns()
    proven.remember(validate_frame(frame, compiled, WHERE, proven).frame, compiled)
    rule = compiled.columns[0]
    assert proven.covers(frame["a"], rule) == proven.enabled
