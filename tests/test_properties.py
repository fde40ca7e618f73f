"""Property-based invariants of validation: conservation of rows, no crash on any input frame."""

import json
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdk
from examples.fraud.pipeline import pipeline

COLUMNS = ("customer_id", "amount", "country")
COUNTRY = re.compile(r"^[A-Z]{2}$")
INT64_MAX = 2**63 - 1

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# What each kind of defect must be quarantined as, by column.
CHECKS = {
    "customer_id": {
        "missing": "not_nullable",
        "malformed": "coerce_dtype('int64')",
        "low": "greater_than_or_equal_to(0)",
    },
    "amount": {
        "missing": "not_nullable",
        "malformed": "coerce_dtype('float64')",
        "low": "greater_than_or_equal_to(0)",
        "high": "less_than_or_equal_to(1000000)",
    },
    "country": {
        "missing": "not_nullable",
        "malformed": "str_matches('^[A-Z]{2}$')",
    },
}

# Defects a column of each frame flavour can hold (a numeric column cannot hold "abc").
DEFECTS = {
    "text": {"customer_id": ("missing", "malformed", "low"),
             "amount": ("missing", "malformed", "low", "high"),
             "country": ("missing", "malformed")},
    "numeric": {"customer_id": ("missing", "malformed", "low"),
                "amount": ("missing", "low", "high"),
                "country": ("missing", "malformed")},
    "nullable": {"customer_id": ("missing", "low"),
                 "amount": ("missing", "low", "high"),
                 "country": ("missing", "malformed")},
}
DEFECTS["str"] = DEFECTS["object"] = DEFECTS["text"]
MODES = ("text", "str", "object", "numeric", "nullable")

MALFORMED_INT_TEXT = ("C1042", "CUST-0088", "#1034", "12.5", "1,000", "abc", "0x1F", "7.25")
MALFORMED_FLOAT_TEXT = ("12,5x", "abc", "$45.00", "1.234,56", "12..5", "1_000", "nan")
BAD_COUNTRY = ("us", "USA", "U1", "GBR", "u s", "", "de", "E")


def _ok_cents() -> st.SearchStrategy[int]:
    return st.integers(0, 100_000_000)


@st.composite
def cell(draw: st.DrawFn, column: str, kind: str, mode: str) -> Any:
    """One raw value of ``column`` with defect ``kind`` ("ok" for a valid one) in frame ``mode``."""
    numeric = mode in ("numeric", "nullable")
    if kind == "missing":
        return draw(st.sampled_from([None, np.nan])) if mode in ("text", "object") else None
    if column == "customer_id":
        if kind == "ok":
            value = draw(st.integers(0, 10**9))
            as_text = not numeric and (mode != "object" or draw(st.booleans()))
            return str(value) if as_text else value
        if kind == "low":
            value = draw(st.integers(-(10**9), -1))
            return value if numeric else str(value)
        # malformed: text that is no integer, or a fraction
        if numeric:
            return draw(st.sampled_from([12.5, 0.5, 7.25]))
        return draw(st.sampled_from(MALFORMED_INT_TEXT))
    if column == "amount":
        if kind == "ok":
            value = draw(_ok_cents()) / 100
            as_text = not numeric and (mode != "object" or draw(st.booleans()))
            return f"{value:.2f}" if as_text else value
        if kind == "low":
            value = -draw(st.integers(1, 10**9)) / 100
        elif kind == "high":
            value = draw(st.integers(100_000_001, 10**12)) / 100
        else:
            return draw(st.sampled_from(MALFORMED_FLOAT_TEXT))
        return value if numeric else f"{value:.2f}"
    if kind == "ok":
        return draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2))
    return draw(st.sampled_from(BAD_COUNTRY))


@st.composite
def index_for(draw: st.DrawFn, n: int) -> pd.Index:
    """A default, duplicated-integer or unique-text index for ``n`` rows."""
    flavour = draw(st.sampled_from(["range", "duplicates", "text"]))
    if flavour == "range":
        return pd.RangeIndex(n)
    if flavour == "duplicates":
        return pd.Index(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    labels = draw(st.lists(st.text("abcxyz", min_size=1, max_size=4), min_size=n, max_size=n,
                           unique=True))
    return pd.Index(labels, dtype=object)


def build(columns: dict[str, list[Any]], mode: str, index: pd.Index) -> pd.DataFrame:
    """Assemble the raw frame in the dtypes of ``mode``."""
    if mode == "text" or mode == "object":
        return pd.DataFrame(columns, index=index, dtype=object)
    if mode == "str":
        return pd.DataFrame(columns, index=index, dtype="str")
    if mode == "numeric":
        ids = columns["customer_id"]
        floats = any(v is None or isinstance(v, float) for v in ids)
        return pd.DataFrame(
            {
                "customer_id": np.array([np.nan if v is None else v for v in ids],
                                        dtype="float64" if floats else "int64"),
                "amount": np.array([np.nan if v is None else v for v in columns["amount"]],
                                   dtype="float64"),
                "country": pd.Series(columns["country"], dtype=object).to_numpy(),
            },
            index=index,
        )
    return pd.DataFrame(
        {
            "customer_id": pd.array(columns["customer_id"], dtype="Int64"),
            "amount": pd.array(columns["amount"], dtype="Float64"),
            "country": pd.array(columns["country"], dtype="string"),
        },
        index=index,
    )


@st.composite
def scenarios(draw: st.DrawFn, mode: str) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """A raw frame and, per row, the defects injected in it (column -> kind)."""
    n = draw(st.integers(0, 12))
    all_bad = draw(st.booleans()) and n > 0
    defects: list[dict[str, str]] = []
    columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for _ in range(n):
        kinds = {
            c: draw(st.sampled_from(("ok",) * 4 + DEFECTS[mode][c])) for c in COLUMNS
        }
        if all_bad and all(k == "ok" for k in kinds.values()):
            column = draw(st.sampled_from(COLUMNS))
            kinds[column] = draw(st.sampled_from(DEFECTS[mode][column]))
        for c in COLUMNS:
            columns[c].append(draw(cell(c, kinds[c], mode)))
        defects.append({c: k for c, k in kinds.items() if k != "ok"})
    frame = build(columns, mode, draw(index_for(n)))
    return frame, defects


def as_text(value: Any) -> str | None:
    """The text of a raw value as the quarantine shows it (None when missing)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value.item() if isinstance(value, np.generic) else value)


def as_json(value: Any) -> Any:
    """A raw value as it appears in the quarantine's row JSON."""
    if as_text(value) is None:
        return None
    return value.item() if isinstance(value, np.generic) else value


def check_conservation(result: sdk.RunResult, rows_in: int) -> None:
    """Assert conservation at every boundary, from boundary to boundary, and overall."""
    report = result.report
    assert len(report) == 4
    assert report.iloc[0]["rows"] == rows_in
    for row in report.itertuples():
        assert row.rows == row.passed + row.quarantined, row
    for before, after in zip(report.itertuples(), report.iloc[1:].itertuples(), strict=False):
        assert after.rows == before.passed
    assert len(result.outputs["scored"]) + int(report["quarantined"].sum()) == rows_in
    assert result.rows_in == rows_in


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(data=st.data())
def test_every_row_is_either_output_or_quarantined_with_its_defects(mode: str, data: st.DataObject):
    """Good rows come out with their values; each defect is quarantined by column and check."""
    frame, defects = data.draw(scenarios(mode))
    result = pipeline.run(transactions=frame, max_invalid=1.0)
    check_conservation(result, len(frame))

    bad = [i for i, d in enumerate(defects) if d]
    good = [i for i, d in enumerate(defects) if not d]
    q = result.quarantine
    assert list(q.columns) == list(sdk.QUARANTINE_COLUMNS)
    assert int(result.report["quarantined"].sum()) == len(bad)

    expected = Counter(
        (str(frame.index[i]), column,
         "not_a_number" if as_text(frame.iloc[i][column]) == "nan" else CHECKS[column][kind],
         as_text(frame.iloc[i][column]))
        for i in bad for column, kind in defects[i].items()
    )
    actual = Counter(
        zip(q["source"], q["column"], q["check"], (as_text(v) for v in q["value"]), strict=True)
    )
    assert actual == expected
    assert set(q["boundary"]) <= {"input"}
    rows = Counter(q["row"])
    wanted = Counter(
        json.dumps({c: as_json(frame.iloc[i][c]) for c in COLUMNS})
        for i in bad for _ in defects[i]
    )
    assert Counter(json.dumps(json.loads(r)) for r in rows.elements()) == wanted

    out = result.outputs["scored"]
    assert list(out.index) == [frame.index[i] for i in good]
    assert out["customer_id"].tolist() == [int(frame.iloc[i]["customer_id"]) for i in good]
    assert out["amount"].tolist() == [float(frame.iloc[i]["amount"]) for i in good]
    assert out["country"].tolist() == [frame.iloc[i]["country"] for i in good]
    per_customer = Counter(out["customer_id"].tolist())
    assert out["n_tx"].tolist() == [per_customer[c] for c in out["customer_id"]]
    if len(out):
        assert out["customer_id"].dtype == np.int64
        assert out["amount"].dtype == np.float64


BEYOND_INT64 = st.one_of(
    st.integers(INT64_MAX + 1, 2**80).map(str),
    st.integers(INT64_MAX + 1, 2**80),
    st.floats(1e19, 1e300).map(repr),
    st.floats(1e19, 1e300),
)


@SETTINGS
@given(big=BEYOND_INT64, missing=st.booleans())
def test_integer_beyond_int64_is_quarantined_as_malformed(big: Any, missing: bool):
    """A customer_id too large for int64 cannot be coerced: quarantined as coerce_dtype('int64')."""
    frame = pd.DataFrame(
        {
            "customer_id": [big, 5, None if missing else 6],
            "amount": ["1.0", "2.0", "3.0"],
            "country": ["US", "FR", "DE"],
        },
        dtype=object,
    )
    result = pipeline.run(transactions=frame, max_invalid=1.0)
    check_conservation(result, 3)
    q = result.quarantine
    assert q[q["source"] == "0"][["column", "check", "value"]].values.tolist() == [
        ["customer_id", "coerce_dtype('int64')", str(big)]
    ]
    out = result.outputs["scored"]
    assert out["customer_id"].tolist() == ([5] if missing else [5, 6])
    assert out["customer_id"].dtype == np.int64


# Arbitrary frames: any values, any dtypes, columns possibly missing.

ANY_VALUE = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.sampled_from(["1e30", "inf", "-inf", "nan", " 12 ", "0x1F", "1_000", str(2**63), "US"]),
)


@st.composite
def any_column(draw: st.DrawFn, n: int) -> pd.Series:
    """A column of ``n`` arbitrary values in one of several dtypes."""
    kind = draw(st.sampled_from(["text", "int", "float", "bool", "object", "str"]))
    if kind == "int":
        values = draw(st.lists(st.integers(-(2**63), INT64_MAX), min_size=n, max_size=n))
        return pd.Series(values, dtype="int64")
    if kind == "float":
        return pd.Series(draw(st.lists(st.floats(), min_size=n, max_size=n)), dtype="float64")
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "object":
        return pd.Series(draw(st.lists(ANY_VALUE, min_size=n, max_size=n)), dtype=object)
    texts = draw(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=n, max_size=n))
    return pd.Series(texts, dtype=object if kind == "text" else "str")


@st.composite
def any_frame(draw: st.DrawFn) -> pd.DataFrame:
    """A frame with some or all of the model's columns (plus maybe an extra), any values."""
    n = draw(st.integers(0, 10))
    names = draw(st.lists(st.sampled_from([*COLUMNS, "extra"]), unique=True))
    if draw(st.booleans()):
        names = [*COLUMNS, *(["extra"] if "extra" in names else [])]
    frame = pd.DataFrame({name: draw(any_column(n)) for name in names})
    if names and len(frame) == n:
        frame.index = draw(index_for(n))
    return frame


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frame=any_frame())
def test_arbitrary_frame_never_crashes_and_conserves_rows(frame: pd.DataFrame):
    """Any frame either runs (rows conserved, only valid rows out) or fails with an SdkError."""
    complete = all(c in frame.columns for c in COLUMNS)
    try:
        result = pipeline.run(transactions=frame, max_invalid=1.0)
    except sdk.SdkError as exc:
        # Row-level failures never break a run: only a missing column may stop it.
        assert not complete, repr(exc)
        assert isinstance(exc, sdk.SchemaViolation)
        return
    check_conservation(result, len(frame))
    q = result.quarantine
    labels = {str(v) for v in frame.index}
    assert set(q["source"]) <= labels
    if frame.index.is_unique:
        assert q["source"].nunique() == int(result.report["quarantined"].sum())
    out = result.outputs["scored"]
    assert set(map(str, out.index)) <= labels
    if len(out):
        assert out["customer_id"].dtype == np.int64
        assert out["amount"].dtype == np.float64
        assert (out["customer_id"] >= 0).all()
        assert out["amount"].between(0, 1_000_000).all()
        assert all(isinstance(c, str) and COUNTRY.match(c) for c in out["country"])
        assert out["score"].between(0, 1).all()


@pytest.mark.parametrize("mode", MODES)
def test_empty_frame_runs_and_outputs_nothing(mode: str):
    """An empty frame with the model's columns runs, outputs no rows and quarantines nothing."""
    frame = build({c: [] for c in COLUMNS}, mode, pd.RangeIndex(0))
    result = pipeline.run(transactions=frame, max_invalid=1.0)
    check_conservation(result, 0)
    assert len(result.outputs["scored"]) == 0
    assert len(result.quarantine) == 0


def test_all_bad_frame_runs_and_quarantines_every_row():
    """A frame whose every row is bad runs, outputs nothing and quarantines every row."""
    frame = pd.DataFrame(
        {"customer_id": ["x", "1", "2"], "amount": ["1", None, "5"], "country": ["US", "FR", "us"]},
        dtype=object,
    )
    result = pipeline.run(transactions=frame, max_invalid=1.0)
    check_conservation(result, 3)
    assert len(result.outputs["scored"]) == 0
    assert sorted(result.quarantine["source"]) == ["0", "1", "2"]
