"""Simulating the production stream: synthesize valid rows, inject faults, replay them."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import REDIS, ROOT, cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame
from test_pipeline import NullableAmount

import sdk
from examples.fraud.pipeline import Transactions
from examples.fraud.pipeline import pipeline as fraud_pipeline
from sdk.models import compile_model
from sdk.plugins import resolve_scheme
from sdk.simulate import FAULTS, inject_faults, replay, synthesize
from sdk.simulate._rules import is_builtin
from sdk.testing import capture_logs

# -- models ----------------------------------------------------------------------------------


class Orders(pa.DataFrameModel):
    """Every kind of column and check synthesize understands."""

    order_id: int = pa.Field(ge=1, unique=True)
    code: str = pa.Field(str_matches=r"^[A-Z]{2}-\d{4}$", unique=True)
    email: str = pa.Field(str_matches=r"^[a-z]+@[a-z]+\.com$")
    year: str = pa.Field(str_matches=r"^\d{4}$")
    amount: float = pa.Field(gt=0, lt=500, nullable=True)
    qty: int = pa.Field(in_range={"min_value": 1, "max_value": 99})
    status: str = pa.Field(isin=["new", "paid", "void"])
    paid: bool
    at: pd.Timestamp = pa.Field(ge=pd.Timestamp("2024-01-01"), lt=pd.Timestamp("2025-01-01"))
    level: pd.CategoricalDtype = pa.Field(dtype_kwargs={"categories": ["lo", "mid", "hi"]})
    tag: pd.CategoricalDtype
    note: str = pa.Field(str_length={"min_value": 2, "max_value": 5}, nullable=True)
    small: int = pa.Field(ne=3, ge=0, le=5)
    byte: np.uint8 = pa.Field(ge=250)
    maybe: pd.Int64Dtype = pa.Field(nullable=True, ge=-5)
    ref: str = pa.Field(str_startswith="R-", str_endswith="!", notin=["R-x!"])

    class Config:
        unique = ["qty", "status", "small"]


class Pair(pa.DataFrameModel):
    """Two columns, the first shared with :class:`PairTwin`."""

    x: int = pa.Field(ge=0)
    y: float


class PairTwin(pa.DataFrameModel):
    """A model sharing column ``x`` with :class:`Pair`."""

    x: int = pa.Field(ge=0)
    z: str


def _repository_models() -> list[type[pa.DataFrameModel]]:
    """Every pandera model of the examples and of the other modules of the tests."""
    names = ["examples.fraud.pipeline", "examples.spaceflights.pipeline"] + [
        p.stem
        for p in sorted((ROOT / "tests").glob("*.py"))
        if p.stem not in ("test_simulate", "conftest")
    ]
    found: dict[type[pa.DataFrameModel], None] = {}
    for name in names:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, pa.DataFrameModel)
                and value is not pa.DataFrameModel
                and value.__module__ == module.__name__
            ):
                found[value] = None
    return list(found)


REPOSITORY_MODELS = _repository_models()


def _needs_help(model: type[pa.DataFrameModel]) -> bool:
    """Whether the model has a check synthesize must refuse: custom or dataframe-level."""
    compiled = compile_model(model)
    custom = any(not is_builtin(c) for r in compiled.columns for c in r.checks)
    return custom or bool(compiled.frame_checks)


# -- synthesize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", REPOSITORY_MODELS, ids=[f"{m.__module__}.{m.__name__}" for m in REPOSITORY_MODELS]
)
def test_synthesized_rows_pass_every_model_of_the_repository(model) -> None:
    """Rows synthesized for each model of the examples and tests pass its validation; a model
    with a custom or dataframe-level check is refused with a message naming it and the fix."""
    try:
        frame = synthesize(model, 300, seed=7)
    except sdk.PipelineError as error:
        assert _needs_help(model), error
        assert str(error).startswith(f"cannot synthesize {model.__name__}:")
        for problem in error.problems:
            assert model.__name__ in problem
            assert "generators=" in problem or "dataframe-level check" in problem, problem
        pytest.skip(f"refused as expected: {'; '.join(error.problems)}")
    assert len(frame) == 300
    assert list(frame.columns) == compile_model(model).column_names
    model.validate(frame, lazy=True)


def test_repository_models_are_found() -> None:
    """The collection above sees the examples' models and those of the other test modules."""
    names = {m.__name__ for m in REPOSITORY_MODELS}
    assert {"Transactions", "ShuttlesRaw", "CompaniesRaw", "UniquePairs", "Items"} <= names
    assert len(REPOSITORY_MODELS) > 40


def test_generators_satisfy_custom_checks() -> None:
    """A model refused for its custom checks is synthesized with a generator per column."""
    from test_validation import Items

    frame = synthesize(
        Items,
        500,
        generators={
            "code": lambda rng, n: np.array(["AB", "XY", "QQ"])[rng.integers(0, 3, n)],
            "qty": lambda rng, n: 2 * rng.integers(0, 50, n),
        },
    )
    Items.validate(frame)
    assert set(frame["code"]) == {"AB", "XY", "QQ"}


def test_generator_values_failing_a_check_are_drawn_again() -> None:
    """A generator whose values sometimes fail a check is called again for those rows."""
    from test_pipeline import SmallOrders

    frame = synthesize(
        SmallOrders, 400, generators={"amount": lambda rng, n: rng.uniform(0, 2000, n)}
    )
    SmallOrders.validate(frame)
    assert frame["amount"].max() < 1000


def test_rich_model_passes_its_validation() -> None:
    """Every understood check at once: ranges, sets, patterns, lengths, exclusions, uniqueness
    of a column and of a column set, dtypes int/float/str/bool/datetime/category/Int64/uint8."""
    frame = synthesize(Orders, 1000, seed=3)
    Orders.validate(frame, lazy=True)
    assert frame["order_id"].is_unique and frame["code"].is_unique
    assert not frame.duplicated(["qty", "status", "small"]).any()
    assert frame["amount"].isna().any() and frame["note"].isna().any()  # nullable: a few
    assert not frame.drop(columns=["amount", "note", "maybe"]).isna().any().any()
    assert (frame["small"] != 3).all() and (frame["ref"] != "R-x!").all()
    assert frame["ref"].str.startswith("R-").all() and frame["ref"].str.endswith("!").all()
    assert str(frame["at"].dtype) == "datetime64[ns]" and str(frame["byte"].dtype) == "uint8"
    assert set(frame["level"].cat.categories) == {"lo", "mid", "hi"}


class Bookings(pa.DataFrameModel):
    """Calendar dates (``pa.Date``), stored as ``datetime.date`` objects, one with a range."""

    booked: pa.typing.Series[pa.Date]
    stay: dt.date = pa.Field(ge=dt.date(2026, 1, 1), le=dt.date(2026, 12, 31))


def test_date_columns_get_calendar_dates_and_date_faults() -> None:
    """A ``pa.Date`` column is drawn as dates (it was drawn as random text, failing its own
    validation); faults of every kind can be injected into it and are all found."""
    frame = synthesize(Bookings, 200, seed=5)
    Bookings.validate(frame)
    assert all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in frame["stay"])
    assert frame["stay"].between(dt.date(2026, 1, 1), dt.date(2026, 12, 31)).all()
    faulty, truth = inject_faults(
        frame, Bookings, missing=0.05, malformed=0.05, out_of_range=0.05, seed=6
    )
    assert set(truth["fault"]) == {"missing", "malformed", "out_of_range"}
    result = sdk.Pipeline([Stay()], name="bookings").run(bookings=faulty, max_invalid=1)
    quarantine = result.quarantine
    found = set(zip(quarantine["source"].astype(int), quarantine["column"], strict=True))
    assert found == set(zip(truth["row"], truth["column"], strict=True))


class Stay(sdk.Step):
    """Bookings through unchanged."""

    scope = "rows"

    def run(self, bookings: DataFrame[Bookings]) -> DataFrame[Bookings]:
        return bookings


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_synthesize_passes_validation_for_any_size_and_seed(n: int, seed: int) -> None:
    """For any n and seed the rows pass the model, with exactly n rows."""
    frame = synthesize(Orders, n, seed=seed)
    assert len(frame) == n
    Orders.validate(frame, lazy=True)
    fraud = synthesize(Transactions, n, seed=seed)
    Transactions.validate(fraud, lazy=True)


def test_same_seed_same_rows_and_columns_independent() -> None:
    """The same seed gives the same frame; a column depends only on the seed and its name."""
    pd.testing.assert_frame_equal(synthesize(Orders, 300, seed=1), synthesize(Orders, 300, seed=1))
    assert not synthesize(Pair, 300, seed=1).equals(synthesize(Pair, 300, seed=2))
    pd.testing.assert_series_equal(
        synthesize(Pair, 300, seed=5)["x"], synthesize(PairTwin, 300, seed=5)["x"]
    )


PATTERNS = [
    r"^[A-Z]{2}$",
    r"^\d{4}$",
    r"^[a-z]+@[a-z]+\.com$",
    r"^\d{1,3}%$",
    r"^\$[\d,]+(\.\d+)?$",
    r"^[^@]+@[^@]+$",
    r"^(?:DE|FR|IT)-\d{2,}$",
    r"(?i)^ab(c|de)*$",
    r"^(?P<hex>[A-F0-9]{2})(:[A-F0-9]{2}){5}$",
    r"^\w+\s\S?\D$",
    r"^[\]a-]x[.]y\.z$",
    r"^é{2}ü\u00e9[\x41-\x43]$",
    r"^x*?y+?z{0,2}a{2,}$",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_subset_matches(pattern: str) -> None:
    """Strings drawn for a pattern of the subset all match it (as pandera's str_matches)."""
    model = type(
        "Texts",
        (pa.DataFrameModel,),
        {"__annotations__": {"t": str}, "t": pa.Field(str_matches=pattern)},
    )
    frame = synthesize(model, 3000, seed=11)
    compiled = re.compile(pattern)
    assert all(compiled.match(value) for value in frame["t"])
    model.validate(frame)


def test_pattern_that_may_be_empty_never_is() -> None:
    """A pattern that allows the empty string still draws text: an empty CSV field would read
    back as a missing value; a pattern that only allows it gives it."""
    model = type(
        "Digits",
        (pa.DataFrameModel,),
        {
            "__annotations__": {"d": str, "e": str},
            "d": pa.Field(str_matches=r"^\d*$"),
            "e": pa.Field(str_matches=r"^$"),
        },
    )
    frame = synthesize(model, 5000, seed=1)
    assert (frame["d"].str.len() > 0).all() and (frame["e"] == "").all()


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(a)\1$", "a back reference"),
        (r"^(?=a)a$", "the group construct (?="),
        (r"^\bword$", "the escape \\b"),
        (r"^a$b", "an anchor that is not at the end"),
        (r"^a{,2}$", "the quantifier {,m}, read differently by re and RE2"),
        (r"^a++$", "a possessive quantifier"),
    ],
)
def test_pattern_outside_subset_is_refused(pattern: str, reason: str) -> None:
    """A pattern outside the subset is refused naming the column, the check, what is not
    understood, and the fix (a generator)."""
    model = type(
        "Texts",
        (pa.DataFrameModel,),
        {"__annotations__": {"t": str}, "t": pa.Field(str_matches=pattern)},
    )
    with pytest.raises(sdk.PipelineError) as caught:
        synthesize(model, 10)
    (problem,) = caught.value.problems
    assert problem.startswith("Texts.t: check str_matches(")
    assert reason in problem and "generators={'t': fn}" in problem


class Impossible(pa.DataFrameModel):
    """Checks no rows can satisfy, a custom check and a frame check."""

    a: int = pa.Field(ge=5, le=3)
    b: str = pa.Field(isin=["x", "y"], unique=True)
    c: float = pa.Field(ge=0)
    d: pd.Timedelta

    @pa.check("c")
    def positive(cls, c: pd.Series) -> pd.Series:
        """Strictly positive."""
        return c > 0

    @pa.dataframe_check
    def balanced(cls, df: pd.DataFrame) -> bool:
        """A frame-wide condition."""
        return True


def test_every_refusal_is_listed_at_once() -> None:
    """All the problems of a model are reported in one PipelineError, each naming the column,
    the check and the fix."""
    with pytest.raises(sdk.PipelineError) as caught:
        synthesize(Impossible, 5, generators={"nope": lambda rng, n: [1] * n})
    problems = caught.value.problems
    assert len(problems) == 6, problems
    text = "\n".join(problems)
    assert "'nope' not a column of Impossible (columns: a, b, c, d)" in text
    assert "dataframe-level check 'balanced'" in text
    assert "Impossible.a: no integer satisfies its range checks (>= 5 and <= 3)" in text
    assert "Impossible.b: unique, but its checks allow only 2 distinct values for n=5" in text
    assert "Impossible.c: synthesize cannot satisfy the custom check 'positive'" in text
    assert "Impossible.d: synthesize does not generate dtype timedelta64[ns]" in text
    assert isinstance(caught.value, sdk.SdkError) and isinstance(caught.value, ValueError)


def test_failing_generator_is_reported() -> None:
    """A generator that raises or returns the wrong number of values is named in the error."""
    with pytest.raises(sdk.PipelineError, match=r"Pair\.y: its generator failed: ValueError"):
        synthesize(Pair, 5, generators={"y": lambda rng, n: [1.0] * (n + 1)})
    with pytest.raises(sdk.PipelineError, match=r"Pair\.y: its generator failed: ZeroDivision"):
        synthesize(Pair, 5, generators={"y": lambda rng, n: 1 / 0})


@pytest.mark.parametrize("n", [-1, 2.5, True, "3"])
def test_bad_n_is_a_params_error(n) -> None:
    """``n`` must be a non-negative integer."""
    with pytest.raises(sdk.ParamsError, match="synthesize: n must be a non-negative integer"):
        synthesize(Pair, n)


def test_zero_rows_have_the_model_dtypes() -> None:
    """n=0 gives an empty frame with the model's columns and dtypes."""
    frame = synthesize(Orders, 0)
    assert frame.empty and list(frame.columns) == compile_model(Orders).column_names
    Orders.validate(frame)


def test_unique_column_near_its_capacity() -> None:
    """A unique column asked for almost as many rows as its pattern allows still fills."""
    model = type(
        "Codes",
        (pa.DataFrameModel,),
        {"__annotations__": {"c": str}, "c": pa.Field(str_matches=r"^[A-Z]{2}$", unique=True)},
    )
    frame = synthesize(model, 600, seed=2)
    assert frame["c"].is_unique
    with pytest.raises(sdk.PipelineError, match="only 676 distinct values for n=677"):
        synthesize(model, 677)


def test_fraud_transactions_look_like_transactions() -> None:
    """The fraud model's rows: customers repeat (aggregates mean something), amounts in cents."""
    frame = synthesize(Transactions, 5000, seed=0)
    assert frame["customer_id"].nunique() < 5000
    assert np.allclose(frame["amount"], frame["amount"].round(2))


# -- inject_faults ---------------------------------------------------------------------------


class Keep(sdk.Step):
    """Pass the orders through: the quarantine at its input is what validation found."""

    def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
        """Return the orders."""
        return orders


def found(quarantine: pd.DataFrame, step: str) -> set[tuple[str, str]]:
    """(source, column) of the records quarantined at ``step``'s input."""
    at = quarantine[(quarantine["boundary"] == "input") & (quarantine["step"] == step)]
    return set(zip(at["source"].astype(str), at["column"], strict=True))


def expected(truth: pd.DataFrame) -> set[tuple[str, str]]:
    """(row, column) of the truth, rows as the quarantine's ``source`` of an in-memory frame."""
    return set(zip(truth["row"].astype(str), truth["column"], strict=True))


def test_fraud_quarantine_equals_the_truth() -> None:
    """On the fraud example, the quarantine at the first step's input is exactly the injected
    faults, by row and column: precision and recall 1.0."""
    clean = synthesize(Transactions, 2000, seed=1)
    faulty, truth = inject_faults(
        clean, Transactions, missing=0.02, malformed=0.02, out_of_range=0.02, seed=2
    )
    assert truth["fault"].value_counts().to_dict() == {
        "missing": 40,
        "malformed": 40,
        "out_of_range": 40,
    }
    result = fraud_pipeline.run(transactions=faulty, max_invalid=1.0)
    assert found(result.quarantine, "add_features") == expected(truth)
    assert len(result.outputs["scored"]) == 2000 - 120


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rates=st.tuples(*[st.sampled_from([0.0, 0.01, 0.05, 0.2])] * 3),
    overlap=st.booleans(),
)
def test_fraud_truth_equals_quarantine_for_any_seed_and_rates(seed, rates, overlap) -> None:
    """For any seed, rates and overlap, the fraud quarantine equals the truth."""
    clean = synthesize(Transactions, 500, seed=seed)
    missing, malformed, out_of_range = rates
    faulty, truth = inject_faults(
        clean,
        Transactions,
        missing=missing,
        malformed=malformed,
        out_of_range=out_of_range,
        seed=seed,
        overlap=overlap,
    )
    result = fraud_pipeline.run(transactions=faulty, max_invalid=1.0)
    assert found(result.quarantine, "add_features") == expected(truth)
    if not overlap:
        assert truth["row"].is_unique  # one fault per row


@pytest.mark.parametrize("overlap", [False, True])
def test_every_kind_of_fault_is_found_exactly(overlap: bool) -> None:
    """Missing, malformed, out-of-range and duplicated values in every dtype, unique columns
    and a unique column set: the quarantine equals the truth by row and column."""
    clean = synthesize(Orders, 1000, seed=4)
    faulty, truth = inject_faults(
        clean,
        Orders,
        missing=0.05,
        malformed=0.05,
        out_of_range=0.05,
        duplicates=0.03,
        seed=5,
        overlap=overlap,
    )
    assert set(truth["fault"]) == set(FAULTS)
    result = sdk.Pipeline([Keep()], name="keep").run(orders=faulty, max_invalid=1.0)
    assert found(result.quarantine, "keep") == expected(truth)


def test_duplicates_are_appended_copies_marked_twice() -> None:
    """A duplicate is an appended copy with the next integer label; the truth lists the
    original and the copy under each unique column and the unique column set."""
    clean = synthesize(Orders, 200, seed=1)
    faulty, truth = inject_faults(
        clean, Orders, missing=0, malformed=0, out_of_range=0, duplicates=0.05, seed=3
    )
    assert list(faulty.index) == [*range(200), *range(200, 210)]
    copies = faulty.iloc[200:]
    dups = truth[truth["fault"] == "duplicate"]
    for label, row in copies.iterrows():
        (original,) = clean.index[(clean["order_id"] == row["order_id"]).to_numpy()]
        pd.testing.assert_series_equal(row, clean.loc[original], check_names=False)
        for who in (original, label):
            assert set(dups.loc[dups["row"] == who, "column"]) == {
                "order_id",
                "code",
                "qty,status,small",
            }
    assert len(dups) == 10 * 2 * 3


def test_faulty_columns_are_text_like_a_messy_csv() -> None:
    """Columns with unreadable values become text (object) as a CSV reader gives them; missing
    values go only into columns that are not nullable; other columns keep their dtype."""
    clean = synthesize(Transactions, 1000, seed=0)
    faulty, truth = inject_faults(clean, Transactions, seed=1, out_of_range=0)
    assert faulty["amount"].dtype == object and faulty["customer_id"].dtype == object
    malformed = truth[truth["fault"] == "malformed"]
    for row in malformed.itertuples():
        value = faulty.at[row.row, row.column]
        assert isinstance(value, str)
        if row.column == "amount":
            assert pd.isna(pd.to_numeric(value, errors="coerce")), value
        else:
            assert not re.fullmatch(r"-?\d+", value), value
    untouched = faulty.index.difference(truth["row"])
    assert (faulty.loc[untouched, "amount"].astype(float) == clean.loc[untouched, "amount"]).all()
    missing = truth[truth["fault"] == "missing"]
    assert all(pd.isna(faulty.at[r.row, r.column]) for r in missing.itertuples())
    nullable = synthesize(NullableAmount, 500)
    faulty, truth = inject_faults(nullable, NullableAmount, malformed=0, out_of_range=0, seed=2)
    assert set(truth["column"]) <= {"order_id", "country"}
    assert faulty["country"].dtype == nullable["country"].dtype  # str holds a missing value


def test_text_rows_are_coerced_before_faults() -> None:
    """Rows read as text from a file are coerced to the model's dtypes, then faulted."""
    text = synthesize(Transactions, 300, seed=2).astype(str)
    faulty, truth = inject_faults(text, Transactions, seed=3, missing=0.1)
    result = fraud_pipeline.run(transactions=faulty, max_invalid=1.0)
    assert found(result.quarantine, "add_features") == expected(truth)


def test_invalid_rows_are_refused(fraud_raw: pd.DataFrame) -> None:
    """Faults are counted against valid rows: a frame with invalid rows is refused naming one."""
    with pytest.raises(sdk.ParamsError, match=r"rows of df fail Transactions \(e\.g\. row"):
        inject_faults(fraud_raw, Transactions)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"missing": 1.5}, "missing must be a share in [0, 1], got 1.5"),
        ({"duplicates": -0.1}, "duplicates must be a share in [0, 1]"),
        ({"missing": 0.6, "malformed": 0.6}, "the rates sum to 1.21, above 1"),
    ],
)
def test_bad_rates_are_refused(kwargs, message) -> None:
    """Rates are shares of the rows; without overlap they cannot sum above 1."""
    with pytest.raises(sdk.ParamsError, match=re.escape(message)):
        inject_faults(synthesize(Transactions, 10), Transactions, **kwargs)


def test_repeated_index_is_refused() -> None:
    """The truth names rows by label, so labels must be unique."""
    frame = synthesize(Transactions, 10).set_axis([0] * 10)
    with pytest.raises(sdk.ParamsError, match=r"index repeats labels.*reset_index"):
        inject_faults(frame, Transactions)


def test_undetectable_kinds_are_skipped_with_a_warning() -> None:
    """A kind no column can show (all nullable, no checks, nothing unique) is skipped and
    logged as faults_skipped with the reason; a float column can still be malformed."""
    clean = synthesize(Loose, 100)
    with capture_logs() as logs:
        faulty, truth = inject_faults(clean, Loose, duplicates=0.1)
    assert truth.to_dict("list") == {"row": [82], "column": ["a"], "fault": ["malformed"]}
    assert len(faulty) == 100
    reasons = {r["fault"]: r["reason"] for r in logs.events("faults_skipped")}
    assert reasons == {
        "missing": "every column is nullable",
        "out_of_range": "no column has a check a value just outside could fail",
        "duplicate": "no column is unique and the model has no unique column set",
    }
    assert {r["level"] for r in logs.events("faults_skipped")} == {"WARNING"}


class Loose(pa.DataFrameModel):
    """Nothing to violate but the dtype."""

    a: float = pa.Field(nullable=True)
    b: str = pa.Field(nullable=True)


# -- replay ----------------------------------------------------------------------------------

@pytest.fixture
def stream(client) -> Iterator[str]:
    """A fresh stream name, deleted after the test."""
    name = f"sdk-test-simulate-{uuid.uuid4().hex[:10]}"
    yield name
    client.delete(name)


def uri(stream: str) -> str:
    """The Redis URI of ``stream``."""
    return f"{REDIS}?stream={stream}"


MIXED = pd.DataFrame(
    {
        "n": pd.array([1, None, 3, None], dtype="Int64"),
        "x": [0.1, 2.5, np.nan, np.nan],
        "s": ["a b", "", None, None],
        "at": pd.to_datetime(["2024-01-02 03:04:05", None, "2024-12-31 00:00:00", None]),
    }
)


def test_replay_into_redis_writes_rows_as_text_fields(client, stream: str) -> None:
    """One entry per row, in order; each column a field holding its value as text; a missing
    value left out of its entry; a row with every value missing is ``json`` = ``{}``."""
    assert replay(MIXED, uri(stream)) == 4
    entries = [fields for _, fields in client.xrange(stream)]
    assert entries == [
        {"n": "1", "x": "0.1", "s": "a b", "at": "2024-01-02T03:04:05.000000"},
        {"x": "2.5", "s": ""},
        {"n": "3", "at": "2024-12-31T00:00:00.000000"},
        {"json": "{}"},
    ]


def test_replayed_rows_read_back_as_their_text(client, stream: str) -> None:
    """What replay writes, the Redis scheme reads back: the rows' values as text."""
    frame = synthesize(Transactions, 500, seed=3)
    assert replay(frame, uri(stream), batch=64) == 500
    back = resolve_scheme(uri(stream)).read(uri(stream)).frame
    expected_text = frame.astype(str).astype(object)
    pd.testing.assert_frame_equal(back[list(frame.columns)], expected_text)


def test_replay_holds_a_steady_rate(client, stream: str) -> None:
    """At 1,000 rows/s, 400 rows take about 0.4 s, spread evenly (by Redis' own clock)."""
    started = time.monotonic()
    assert replay(synthesize(Transactions, 400), uri(stream), rate=1000) == 400
    elapsed = time.monotonic() - started
    stamps = np.array([int(entry.split("-")[0]) for entry, _ in client.xrange(stream)])
    assert 0.35 <= elapsed < 3, elapsed
    spread = (stamps[-1] - stamps[0]) / 1000
    assert 0.35 <= spread < 3, spread
    first_half = (stamps < stamps[0] + spread * 500).sum()  # ms: half of the spread
    assert 120 <= first_half <= 280, first_half


def test_replay_as_fast_as_possible_keeps_order(client, stream: str) -> None:
    """Without a rate, rows go in pipelined rounds of ``batch``, in order."""
    frame = pd.DataFrame({"i": range(5000)})
    assert replay(frame, uri(stream), batch=700) == 5000
    values = [int(fields["i"]) for _, fields in client.xrange(stream)]
    assert values == list(range(5000))


def test_replay_to_json_lines_appends(tmp_path: Path) -> None:
    """A .jsonl destination gets one object per row, appended (missing values null)."""
    target = tmp_path / "rows.jsonl"
    assert replay(MIXED, str(target)) == 4
    assert replay(MIXED.iloc[:1], str(target)) == 1
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == 5 and lines[0] == lines[4]
    assert lines[1] == {"n": None, "x": 2.5, "s": "", "at": None}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "replay: rate must be a positive number of rows/s, got 0"),
        ({"rate": "fast"}, "replay: rate must be a positive number of rows/s, got 'fast'"),
        ({"batch": 0}, "replay: batch must be a positive integer, got 0"),
    ],
)
def test_bad_rate_or_batch_is_refused(tmp_path: Path, kwargs, message) -> None:
    """A rate must be positive and a batch a positive integer."""
    with pytest.raises(sdk.ParamsError, match=re.escape(message)):
        replay(MIXED, str(tmp_path / "x.jsonl"), **kwargs)
    assert not (tmp_path / "x.jsonl").exists()


def test_replay_to_an_unreachable_redis_says_so() -> None:
    """A server that does not answer is an IOSchemeError naming it."""
    with pytest.raises(sdk.IOSchemeError, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        replay(MIXED, "redis://127.0.0.1:1/0?stream=nowhere")


def test_replay_without_redis_py_says_how_to_install() -> None:
    """Without redis-py, replaying into Redis exits 2 naming the extra to install."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from sdk.cli import main\n"
        f"sys.exit(main(['simulate', 'replay', {str(ROOT / 'examples/fraud/transactions.csv')!r},"
        " '--to', 'redis://127.0.0.1:6379/0?stream=never']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 2, out.stderr
    assert (
        "sdk: error (IOSchemeError): Redis streams need redis-py: pip install 'pipeline-sdk[redis]'"
        in out.stderr
    )


# -- the command line ------------------------------------------------------------------------

TX = "examples.fraud.pipeline:Transactions"


def test_cli_synthesize_writes_valid_rows(tmp_path: Path) -> None:
    """`sdk simulate synthesize` writes n valid rows, the same for the same seed."""
    for name in ("a.csv", "b.csv"):
        out = cli(
            "simulate", "synthesize", TX, "-n", "300", "--seed", "4", "--out", str(tmp_path / name)
        )
        assert out.returncode == 0, out.stderr
        assert f"wrote 300 rows of Transactions to {tmp_path / name}" in out.stderr
    rows = pd.read_csv(tmp_path / "a.csv", dtype={"country": str})
    Transactions.validate(rows)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_cli_synthesize_refusal_exits_2_with_the_fix(tmp_path: Path) -> None:
    """A model with custom checks is refused with exit 2 and the problems listed."""
    out = cli(
        "simulate",
        "synthesize",
        "tests/test_validation.py:Items",
        "-n",
        "5",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert out.returncode == 2
    assert "sdk: error (PipelineError): cannot synthesize Items: 2 problem(s)" in out.stderr
    assert "pass generators={'qty': fn}" in out.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("Transactions", "must be module:Model"),
        ("examples.nothing:Model", "cannot import 'examples.nothing'"),
        (
            "examples.fraud.pipeline:pipeline",
            "'pipeline' in examples.fraud.pipeline is Pipeline, not a pandera DataFrameModel",
        ),
        ("missing.py:Model", "file 'missing.py' does not exist"),
    ],
)
def test_cli_bad_model_target_exits_2(tmp_path: Path, target: str, message: str) -> None:
    """A target that is not module:Model naming a pandera model is a usage error (exit 2)."""
    out = cli("simulate", "synthesize", target, "-n", "5", "--out", str(tmp_path / "x.csv"))
    assert out.returncode == 2
    assert message in out.stderr


def test_cli_faults_truth_equals_the_batch_quarantine(tmp_path: Path) -> None:
    """Synthesize, inject faults and run the fraud pipeline with the batch runner, all from
    the command line: the quarantine's lines are exactly the truth's rows (line = row + 2)."""
    clean, faulty, truth, quarantine = (
        tmp_path / f for f in ("tx.csv", "faulty.csv", "truth.csv", "q.csv")
    )
    assert (
        cli(
            "simulate", "synthesize", TX, "-n", "2000", "--seed", "1", "--out", str(clean)
        ).returncode
        == 0
    )
    out = cli(
        "simulate",
        "faults",
        str(clean),
        TX,
        "--out",
        str(faulty),
        "--truth",
        str(truth),
        "--missing",
        "0.02",
        "--malformed",
        "0.02",
        "--out-of-range",
        "0.02",
        "--seed",
        "9",
    )
    assert out.returncode == 0, out.stderr
    assert "(rows: 40 missing, 40 malformed, 40 out_of_range, 0 duplicate)" in out.stderr
    run = cli(
        "run",
        "examples.fraud.pipeline:pipeline",
        "--runner",
        "batch",
        "--chunk-rows",
        "300",
        "--input",
        f"transactions={faulty}",
        "--quarantine",
        str(quarantine),
        "--max-invalid",
        "1",
    )
    assert run.returncode == 0, run.stderr
    q = pd.read_csv(quarantine, dtype=str, keep_default_na=False)
    q = q[q["boundary"] == "input"]
    got = set(zip(q["source"], q["column"], strict=True))
    t = pd.read_csv(truth)
    want = {
        (f"{faulty}:{row + 2}", column) for row, column in zip(t["row"], t["column"], strict=True)
    }
    assert got == want


def test_cli_faults_on_invalid_rows_exits_2(tmp_path: Path) -> None:
    """The bundled example's transactions include invalid rows: refused, exit 2."""
    out = cli(
        "simulate",
        "faults",
        "examples/fraud/transactions.csv",
        TX,
        "--out",
        str(tmp_path / "f.csv"),
        "--truth",
        str(tmp_path / "t.csv"),
    )
    assert out.returncode == 2
    assert "sdk: error (ParamsError): inject_faults:" in out.stderr
    assert "rows of df fail Transactions" in out.stderr


def test_cli_replay_into_redis(client, stream: str, tmp_path: Path) -> None:
    """`sdk simulate replay FILE --to URI --rate N` writes every row and reports the rate."""
    source = tmp_path / "tx.jsonl"
    synthesize(Transactions, 200, seed=5).to_json(source, orient="records", lines=True)
    out = cli("simulate", "replay", str(source), "--to", uri(stream), "--rate", "2000")
    assert out.returncode == 0, out.stderr
    assert re.search(rf"replayed 200 rows to .*stream={stream} in [\d.]+ s", out.stderr)
    assert client.xlen(stream) == 200


def test_cli_simulate_without_action_is_a_usage_error() -> None:
    """`sdk simulate` alone prints its usage and exits 2."""
    out = cli("simulate")
    assert out.returncode == 2
    assert "usage: sdk simulate" in out.stderr and "ACTION" in out.stderr
