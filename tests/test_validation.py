"""Validation and quarantine through ``pipeline.run`` (local runner): error handling."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame, Series

import sdk
from examples.fraud.pipeline import AddFeatures, Features, Scored, Transactions, pipeline
from sdk import Pipeline, Step

COLUMNS = ["run_id", "step", "boundary", "dataset", "source", "column", "check", "value", "row"]
REGEX = "str_matches('^[A-Z]{2}$')"


def tx(rows: list[tuple], index: list | None = None) -> pd.DataFrame:
    """A raw transactions frame (object text columns) from (customer_id, amount, country) tuples."""
    frame = pd.DataFrame(rows, columns=["customer_id", "amount", "country"], dtype=object)
    if index is not None:
        frame.index = index
    return frame


GOOD = [("1", "10.5", "US"), ("2", "20.0", "FR"), ("1", "30.25", "US"), ("3", "0", "DE")]


def run(frame: pd.DataFrame, **kwargs) -> sdk.RunResult:
    """Run the fraud pipeline over ``frame`` with an unlimited error budget."""
    kwargs.setdefault("max_invalid", 1.0)
    return pipeline.run(transactions=frame, **kwargs)


def conserved(result: sdk.RunResult) -> None:
    """Assert conservation at every boundary of ``result.report``."""
    for row in result.report.itertuples():
        assert row.rows == row.passed + row.quarantined, row


# Models and steps used by the tests below (module level so annotations resolve).


class OverScore(Step):
    """Score = amount / 100, which is above 1 for amounts over 100."""

    output = "scored"

    def run(self, features: DataFrame[Features]) -> DataFrame[Scored]:
        """Divide the amount by 100."""
        return features.assign(score=features["amount"] / 100)


class DropsColumn(Step):
    """Forgets the n_tx column its output model declares."""

    output = "features"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Add only mean_amount."""
        return transactions.assign(mean_amount=transactions["amount"].mean())


class Boom(Step):
    """Raises inside run."""

    output = "features"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Fail."""
        raise ValueError("boom")


class ReturnsDict(Step):
    """Returns a dict instead of a DataFrame."""

    output = "features"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Return the wrong type."""
        return transactions.to_dict()  # type: ignore[return-value]


class Items(pa.DataFrameModel):
    """Items with custom checks: an element-wise one and a vectorised one."""

    code: str
    qty: int

    class Config:
        coerce = True

    @pa.check("code", element_wise=True)
    def code_upper(cls, value: str) -> bool:
        """The code is upper case."""
        return value.isupper()

    @pa.check("qty")
    def qty_even(cls, qty: Series[int]) -> Series[bool]:
        """The quantity is even."""
        return qty % 2 == 0


class PassItems(Step):
    """Identity over items."""

    output = "items_out"

    def run(self, items: DataFrame[Items]) -> DataFrame[Items]:
        """Return the items unchanged."""
        return items


class Small(pa.DataFrameModel):
    """A dataframe-wide check: the total quantity is below 10."""

    qty: int

    class Config:
        coerce = True

    @pa.dataframe_check
    def total_small(cls, df: pd.DataFrame) -> bool:
        """A scalar over the whole frame."""
        return bool(df["qty"].sum() < 10)


class PassSmall(Step):
    """Identity over a frame with a dataframe-wide check."""

    output = "small_out"

    def run(self, small: DataFrame[Small]) -> DataFrame[Small]:
        """Return the frame unchanged."""
        return small


class Keyed(pa.DataFrameModel):
    """A unique key and an optional note."""

    key: int = pa.Field(unique=True)
    note: str = pa.Field(nullable=True)

    class Config:
        coerce = True


class PassKeyed(Step):
    """Identity over keyed rows."""

    output = "keyed_out"

    def run(self, keyed: DataFrame[Keyed]) -> DataFrame[Keyed]:
        """Return the rows unchanged."""
        return keyed


class Strict(pa.DataFrameModel):
    """A model that does not ask for coercion."""

    n: int
    x: float


class PassStrict(Step):
    """Identity over a non-coercing model."""

    output = "strict_out"

    def run(self, strict: DataFrame[Strict]) -> DataFrame[Strict]:
        """Return the rows unchanged."""
        return strict


# The quarantine's shape.


def test_quarantine_has_exactly_the_documented_columns():
    """The quarantine has exactly the documented columns, in order."""
    result = run(tx([*GOOD, ("x", "1", "US")]))
    assert list(result.quarantine.columns) == COLUMNS
    assert list(sdk.QUARANTINE_COLUMNS) == COLUMNS


def test_clean_run_has_empty_quarantine_with_documented_columns():
    """A run without failures still returns a quarantine frame with the documented columns."""
    result = run(tx(GOOD))
    assert len(result.quarantine) == 0
    assert list(result.quarantine.columns) == COLUMNS
    assert len(result.outputs["scored"]) == len(GOOD)


def test_quarantine_record_carries_run_step_boundary_dataset():
    """Each record names the run id, step, boundary and dataset where the row failed."""
    result = run(tx([*GOOD, ("5", "abc", "US")]), run_id="run-42")
    (record,) = result.quarantine.to_dict("records")
    assert record["run_id"] == "run-42" == result.run_id
    assert record["step"] == "add_features"
    assert record["boundary"] == "input"
    assert record["dataset"] == "transactions"
    assert record["column"] == "amount"


def test_row_failing_two_checks_gives_two_records_with_same_source():
    """A row failing two checks gives two records (one per check) with the same source."""
    result = run(tx([*GOOD, ("2", "12,5x", "us")], index=[0, 1, 2, 3, "r4"]))
    q = result.quarantine
    assert len(q) == 2
    assert set(q["source"]) == {"r4"}
    assert set(zip(q["column"], q["check"], strict=True)) == {
        ("amount", "coerce_dtype('float64')"),
        ("country", REGEX),
    }
    assert result.report.iloc[0]["quarantined"] == 1


def test_value_is_raw_text_and_row_is_raw_json_object():
    """`value` is the cell's raw text; `row` is a JSON object of the raw row before coercion."""
    result = run(tx([*GOOD, ("2", "12,5x", "US")]))
    (record,) = result.quarantine.to_dict("records")
    assert record["value"] == "12,5x"
    assert json.loads(record["row"]) == {"customer_id": "2", "amount": "12,5x", "country": "US"}


def test_missing_value_has_missing_value_and_null_in_row():
    """A missing value is recorded with check not_nullable, no value, and null in the row JSON."""
    result = run(tx([*GOOD, ("7", None, "US")]))
    (record,) = result.quarantine.to_dict("records")
    assert (record["column"], record["check"]) == ("amount", "not_nullable")
    assert record["value"] is None or pd.isna(record["value"])
    assert json.loads(record["row"]) == {"customer_id": "7", "amount": None, "country": "US"}


def test_source_is_index_label_for_in_memory_frame():
    """For an in-memory frame the source is the row's index label as text."""
    frame = tx([*GOOD, ("x", "1", "US")], index=[100, 101, 102, 103, 104])
    result = run(frame)
    assert result.quarantine["source"].tolist() == ["104"]


def test_source_is_path_line_for_csv_uri(tmp_path: Path):
    """A CSV input given as a URI has sources path:line, with the header on line 1."""
    path = tmp_path / "tx.csv"
    path.write_text(
        "customer_id,amount,country\n1,10.5,US\n2,abc,FR\n3,5,DE\n4,-1,US\n", encoding="utf-8"
    )
    result = pipeline.run(transactions=str(path), max_invalid=1.0)
    q = result.quarantine
    assert dict(zip(q["source"], q["value"], strict=True)) == {
        f"{path}:3": "abc",
        f"{path}:5": "-1",
    }
    assert len(result.outputs["scored"]) == 2


def test_source_is_path_row_for_parquet_uri(tmp_path: Path):
    """A Parquet input given as a URI has sources path#row."""
    path = tmp_path / "tx.parquet"
    tx([("1", "10.5", "US"), ("2", "1.5", "FR"), ("3", "oops", "DE")]).astype(str).to_parquet(path)
    result = pipeline.run(transactions=str(path), max_invalid=1.0)
    q = result.quarantine
    assert q["source"].tolist() == [f"{path}#2"]
    assert q["value"].tolist() == ["oops"]


def test_source_is_path_line_for_jsonl_uri(tmp_path: Path):
    """A JSON-lines input given as a URI has sources path:line (first line = 1)."""
    path = tmp_path / "tx.jsonl"
    lines = [
        {"customer_id": 1, "amount": 10.5, "country": "US"},
        {"customer_id": 2, "amount": "12,5x", "country": "FR"},
        {"customer_id": 3, "amount": 7, "country": "de"},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    result = pipeline.run(transactions=str(path), max_invalid=1.0)
    q = result.quarantine
    assert dict(zip(q["source"], q["check"], strict=True)) == {
        f"{path}:2": "coerce_dtype('float64')",
        f"{path}:3": REGEX,
    }


# Row-level checks.


def test_coercion_failure_is_isolated_to_its_row():
    """One malformed float quarantines only its row; the rest pass and the column is float64."""
    rows = [(str(i), f"{i}.5", "US") for i in range(20)]
    rows[7] = ("7", "12,5x", "US")
    result = run(tx(rows))
    q = result.quarantine
    assert q["source"].tolist() == ["7"]
    assert q["check"].tolist() == ["coerce_dtype('float64')"]
    out = result.outputs["scored"]
    assert len(out) == 19
    assert out["amount"].dtype == np.float64
    assert out.loc[8, "amount"] == 8.5
    assert 7 not in out.index


def test_malformed_integer_is_quarantined_with_int_coercion_check():
    """A value that is not an integer in an int column is quarantined with coerce_dtype('int64')."""
    result = run(tx([*GOOD, ("C1042", "1", "US"), ("12.5", "1", "US")]))
    q = result.quarantine
    assert q["check"].tolist() == ["coerce_dtype('int64')"] * 2
    assert q["value"].tolist() == ["C1042", "12.5"]
    assert result.outputs["scored"]["customer_id"].dtype == np.int64


@pytest.mark.parametrize("column", ["customer_id", "amount", "country"])
def test_missing_value_is_quarantined_as_not_nullable(column: str):
    """A missing value in a non-nullable column is quarantined with check not_nullable."""
    row = dict(zip(["customer_id", "amount", "country"], ["9", "1.0", "US"], strict=True))
    row[column] = None
    result = run(tx([*GOOD, tuple(row.values())]))
    q = result.quarantine
    assert q[["column", "check"]].values.tolist() == [[column, "not_nullable"]]
    assert len(result.outputs["scored"]) == len(GOOD)


@pytest.mark.parametrize(
    ("amount", "check"),
    [
        ("-0.01", "greater_than_or_equal_to(0)"),
        ("1000000.01", "less_than_or_equal_to(1000000)"),
    ],
)
def test_out_of_range_amount_is_quarantined_by_range_check(amount: str, check: str):
    """An amount out of [0, 1e6] is quarantined by the bound it breaks; the bounds pass."""
    result = run(tx([*GOOD, ("9", amount, "US"), ("9", "0", "US"), ("9", "1000000", "US")]))
    q = result.quarantine
    assert q[["column", "check", "value"]].values.tolist() == [["amount", check, amount]]
    assert len(result.outputs["scored"]) == len(GOOD) + 2


def test_negative_customer_id_is_quarantined_by_range_check():
    """A negative customer_id is quarantined with greater_than_or_equal_to(0)."""
    result = run(tx([*GOOD, ("-3", "1", "US")]))
    assert result.quarantine[["column", "check", "value"]].values.tolist() == [
        ["customer_id", "greater_than_or_equal_to(0)", "-3"]
    ]


@pytest.mark.parametrize("country", ["us", "USA", "U1", ""])
def test_regex_mismatch_is_quarantined_by_str_matches(country: str):
    """A country that does not match ^[A-Z]{2}$ is quarantined with the str_matches check."""
    result = run(tx([*GOOD, ("9", "1", country)]))
    assert result.quarantine[["column", "check", "value"]].values.tolist() == [
        ["country", REGEX, country]
    ]


def test_custom_checks_quarantine_rows_by_check_name():
    """Element-wise and vectorised @pa.check methods quarantine failing rows under their names."""
    items = pd.DataFrame({"code": ["AB", "ab", "CD", "EF"], "qty": ["2", "4", "3", "6"]})
    result = Pipeline([PassItems()], name="items").run(items=items, max_invalid=1.0)
    q = result.quarantine
    assert q[["source", "column", "check", "value"]].values.tolist() == [
        ["1", "code", "code_upper", "ab"],
        ["2", "qty", "qty_even", "3"],
    ]
    out = result.outputs["items_out"]
    assert out.index.tolist() == [0, 3]
    assert out["qty"].tolist() == [2, 6]


def test_unique_field_duplicates_are_quarantined_as_field_uniqueness():
    """Duplicates in a unique=True field are quarantined with check field_uniqueness."""
    keyed = pd.DataFrame({"key": ["1", "2", "2", "3"], "note": ["a", "b", "c", "d"]})
    result = Pipeline([PassKeyed()], name="keyed").run(keyed=keyed, max_invalid=1.0)
    q = result.quarantine
    assert set(q["check"]) == {"field_uniqueness"}
    assert set(q["column"]) == {"key"}
    assert set(q["source"]) == {"1", "2"}
    assert result.outputs["keyed_out"]["key"].tolist() == [1, 3]
    conserved(result)


def test_nullable_column_keeps_its_missing_values():
    """A nullable=True column lets missing values through to the output."""
    keyed = pd.DataFrame({"key": ["1", "2", "3"], "note": ["a", None, np.nan]}, dtype=object)
    result = Pipeline([PassKeyed()], name="keyed").run(keyed=keyed)
    assert len(result.quarantine) == 0
    out = result.outputs["keyed_out"]
    assert len(out) == 3
    assert out["note"].isna().tolist() == [False, True, True]


def test_wrong_dtype_is_coerced_even_when_model_does_not_ask():
    """With coerce=False a wrong-dtype column is still coerced; uncoercible rows are quarantined."""
    frame = pd.DataFrame({"n": ["1", "2", "x"], "x": ["0.5", "1e3", "2"]}, dtype=object)
    result = Pipeline([PassStrict()], name="strict").run(strict=frame, max_invalid=1.0)
    out = result.outputs["strict_out"]
    assert out["n"].dtype == np.int64
    assert out["x"].dtype == np.float64
    assert out["n"].tolist() == [1, 2]
    assert out["x"].tolist() == [0.5, 1000.0]
    assert result.quarantine[["source", "column", "check", "value"]].values.tolist() == [
        ["2", "n", "coerce_dtype('int64')", "x"]
    ]


def test_duplicate_index_labels_do_not_break_the_run():
    """Input frames with duplicate index labels validate, quarantine and score normally."""
    rows = [*GOOD, ("9", "bad", "US"), ("9", "4", "US")]
    result = run(tx(rows, index=[0, 0, 1, 1, 1, 2]))
    q = result.quarantine
    assert q[["source", "value"]].values.tolist() == [["1", "bad"]]
    out = result.outputs["scored"]
    assert out.index.tolist() == [0, 0, 1, 1, 2]
    assert out["customer_id"].tolist() == [1, 2, 1, 3, 9]
    assert out["n_tx"].tolist() == [2, 1, 2, 1, 1]
    assert out["mean_amount"].tolist() == pytest.approx([20.375, 20.0, 20.375, 0.0, 4.0])
    conserved(result)


def test_numeric_input_frame_is_validated_like_text():
    """A numeric input frame is validated as is; its bad values are quarantined."""
    frame = pd.DataFrame(
        {"customer_id": [1, 2, 3], "amount": [1.5, -2.0, np.nan], "country": ["US", "FR", "DE"]}
    )
    result = run(frame)
    q = result.quarantine
    assert q[["source", "column", "check", "value"]].values.tolist() == [
        ["1", "amount", "greater_than_or_equal_to(0)", "-2.0"],
        ["2", "amount", "not_nullable", None],
    ]
    assert result.outputs["scored"]["customer_id"].tolist() == [1]


# Conservation.


def test_conservation_on_the_bundled_fraud_data(fraud_raw: pd.DataFrame):
    """Every boundary conserves rows; input rows = output rows + distinct quarantined sources."""
    result = run(fraud_raw)
    conserved(result)
    q = result.quarantine
    assert len(q) > 0
    assert result.rows_in == len(fraud_raw)
    assert len(result.outputs["scored"]) + q["source"].nunique() == len(fraud_raw)
    assert int(result.report["quarantined"].sum()) == q["source"].nunique()


def test_report_chains_rows_from_boundary_to_boundary(fraud_raw: pd.DataFrame):
    """Each boundary's rows in equal the rows passed by the boundary before it."""
    report = run(fraud_raw).report
    assert report[["step", "boundary", "dataset"]].values.tolist() == [
        ["add_features", "input", "transactions"],
        ["add_features", "output", "features"],
        ["score", "input", "features"],
        ["score", "output", "scored"],
    ]
    assert report.iloc[0]["rows"] == len(fraud_raw)
    for before, after in zip(report.itertuples(), report.iloc[1:].itertuples(), strict=False):
        assert after.rows == before.passed


def test_quarantine_counts_match_report_failures(fraud_raw: pd.DataFrame):
    """The report's failures by column and check count the quarantine records exactly."""
    result = run(fraud_raw)
    q = result.quarantine
    failures = result.report.iloc[0]["failures"]
    counted = q.groupby(["column", "check"]).size().to_dict()
    flat = {(c, k): n for c, checks in failures.items() for k, n in checks.items()}
    assert flat == counted


# Output-boundary failures.


def test_output_violations_are_quarantined_at_output_boundary_with_input_label():
    """Rows breaking the output model are quarantined at boundary output under the input label."""
    frame = tx([("1", "50", "US"), ("2", "150", "FR"), ("3", "99.5", "DE"), ("4", "1000", "US")])
    frame.index = ["a", "b", "c", "d"]
    bad = Pipeline([AddFeatures(), OverScore()], name="over")
    result = bad.run(transactions=frame, max_invalid=1.0)
    q = result.quarantine
    assert q[["step", "boundary", "dataset", "source", "column", "check"]].values.tolist() == [
        ["over_score", "output", "scored", "b", "score", "less_than_or_equal_to(1)"],
        ["over_score", "output", "scored", "d", "score", "less_than_or_equal_to(1)"],
    ]
    assert q["value"].tolist() == ["1.5", "10.0"]
    assert json.loads(q["row"].iloc[0])["score"] == 1.5
    assert result.outputs["scored"].index.tolist() == ["a", "c"]
    conserved(result)
    assert len(result.outputs["scored"]) + q["source"].nunique() == len(frame)


def test_output_violations_map_back_to_csv_line(tmp_path: Path):
    """An output-boundary failure of a CSV input is traced back to the input's path:line."""
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,amount,country\n1,50,US\n2,x,FR\n3,150,DE\n", encoding="utf-8")
    bad = Pipeline([AddFeatures(), OverScore()], name="over")
    result = bad.run(transactions=str(path), max_invalid=1.0)
    q = result.quarantine
    assert q[["boundary", "source"]].values.tolist() == [
        ["input", f"{path}:3"],
        ["output", f"{path}:4"],
    ]


# Frame-level failures.


def test_missing_declared_output_column_raises_schema_violation():
    """An output missing a declared column raises SchemaViolation naming dataset, column, check."""
    broken = Pipeline([DropsColumn()], name="broken")
    with pytest.raises(sdk.SchemaViolation) as info:
        broken.run(transactions=tx(GOOD))
    err = info.value
    assert err.dataset == "features"
    assert err.column == "n_tx"
    assert err.check == "column_in_dataframe"
    assert err.boundary == "output"
    assert err.step == "drops_column"
    assert "n_tx" in str(err) and "features" in str(err)


def test_missing_input_column_raises_schema_violation():
    """An input frame without a declared column raises SchemaViolation at the input boundary."""
    with pytest.raises(sdk.SchemaViolation) as info:
        run(tx(GOOD).drop(columns="country"))
    err = info.value
    assert (err.dataset, err.column, err.check, err.boundary) == (
        "transactions", "country", "column_in_dataframe", "input",
    )


def test_dataframe_wide_check_failure_raises_schema_violation():
    """A dataframe-wide check returning a scalar False raises SchemaViolation."""
    small = Pipeline([PassSmall()], name="small")
    with pytest.raises(sdk.SchemaViolation) as info:
        small.run(small=pd.DataFrame({"qty": [5, 6]}), max_invalid=1.0)
    err = info.value
    assert err.dataset == "small"
    assert err.column is None
    assert err.check == "total_small"
    assert "total_small" in str(err)


def test_dataframe_wide_check_passing_lets_rows_through():
    """A dataframe-wide check returning True lets the frame through untouched."""
    result = Pipeline([PassSmall()], name="small").run(small=pd.DataFrame({"qty": [1, 2]}))
    assert result.outputs["small_out"]["qty"].tolist() == [1, 2]


def test_schema_violation_is_an_sdk_error_and_pickles():
    """SchemaViolation is an SdkError and survives a pickle round trip with its attributes."""
    import pickle

    with pytest.raises(sdk.SchemaViolation) as info:
        Pipeline([DropsColumn()], name="broken").run(transactions=tx(GOOD))
    assert isinstance(info.value, sdk.SdkError)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.dataset, copy.column, copy.check) == ("features", "n_tx", "column_in_dataframe")


# Error budget.


def half_bad() -> pd.DataFrame:
    """Four rows, two of them bad."""
    return tx([("1", "1", "US"), ("2", "x", "US"), ("3", "3", "FR"), ("4", "4", "us")])


def test_error_budget_exceeded_raises_after_quarantine_written(tmp_path: Path):
    """Over max_invalid (default 0.05): DataQualityError after the quarantine, no outputs."""
    qpath = tmp_path / "q.csv"
    opath = tmp_path / "scored.csv"
    with pytest.raises(sdk.DataQualityError) as info:
        pipeline.run(
            transactions=half_bad(), quarantine=str(qpath), outputs={"scored": str(opath)}
        )
    err = info.value
    assert (err.invalid, err.total, err.max_invalid) == (2, 4, 0.05)
    assert "0.05" in str(err)
    assert qpath.exists()
    written = pd.read_csv(qpath, dtype=str)
    assert list(written.columns) == COLUMNS
    assert sorted(written["source"]) == ["1", "3"]
    assert sorted(written["value"]) == ["us", "x"]
    assert not opath.exists()


def test_error_budget_exceeded_carries_failure_cases():
    """DataQualityError carries the quarantine records (the failure cases)."""
    with pytest.raises(sdk.DataQualityError) as info:
        pipeline.run(transactions=half_bad())
    assert isinstance(info.value, sdk.SdkError)
    assert sorted(info.value.quarantine["source"]) == ["1", "3"]


def test_error_budget_overridden_per_run(tmp_path: Path):
    """max_invalid=1.0 for one run lets a half-bad frame through and writes its outputs."""
    opath = tmp_path / "scored.csv"
    result = pipeline.run(transactions=half_bad(), max_invalid=1.0, outputs={"scored": str(opath)})
    assert len(result.outputs["scored"]) == 2
    assert opath.exists()
    assert len(pd.read_csv(opath)) == 2


def test_error_budget_at_the_limit_passes():
    """Exactly max_invalid of the rows quarantined is within budget (only exceeding fails)."""
    rows = [(str(i), "1", "US") for i in range(20)]
    rows[3] = ("3", "bad", "US")
    result = pipeline.run(transactions=tx(rows))
    assert len(result.outputs["scored"]) == 19
    assert result.invalid_fraction == pytest.approx(0.05)


def test_error_budget_set_on_the_pipeline():
    """A pipeline built with max_invalid uses it as its default budget."""
    lenient = Pipeline([AddFeatures()], name="lenient", max_invalid=0.5)
    assert len(lenient.run(transactions=half_bad()).outputs["features"]) == 2
    strict = Pipeline([AddFeatures()], name="strict", max_invalid=0.1)
    with pytest.raises(sdk.DataQualityError):
        strict.run(transactions=half_bad())


# Step errors.


def test_exception_in_run_is_wrapped_in_step_error():
    """An exception inside run becomes StepError with step, run id, input summary and the cause."""
    failing = Pipeline([Boom()], name="boom")
    with pytest.raises(sdk.StepError) as info:
        failing.run(transactions=tx(GOOD), run_id="run-7")
    err = info.value
    assert err.step == "boom"
    assert err.run_id == "run-7"
    assert err.input_summary == {
        "transactions": {"rows": 4, "columns": ["customer_id", "amount", "country"]}
    }
    assert isinstance(err.__cause__, ValueError)
    assert "boom" in err.original
    assert "'boom'" in str(err) and "run-7" in str(err)


def test_non_dataframe_return_raises_step_error():
    """A step returning something other than a DataFrame raises StepError naming the step."""
    with pytest.raises(sdk.StepError) as info:
        Pipeline([ReturnsDict()], name="dict").run(transactions=tx(GOOD))
    err = info.value
    assert err.step == "returns_dict"
    assert "dict" in str(err) and "DataFrame" in str(err)


def test_step_error_quarantine_before_failure_is_kept(tmp_path: Path):
    """When a step fails, the rows quarantined before the failure are still written."""
    qpath = tmp_path / "q.csv"
    with pytest.raises(sdk.StepError):
        Pipeline([Boom()], name="boom").run(
            transactions=tx([*GOOD, ("x", "1", "US")]), quarantine=str(qpath), max_invalid=1.0
        )
    assert pd.read_csv(qpath, dtype=str)["value"].tolist() == ["x"]


def test_non_text_value_in_text_column_is_row_level():
    """A non-text value in a text column is a row-level failure, never a frame-level one."""
    frame = pd.DataFrame(
        {"customer_id": [1, 2, 3], "amount": [1.0, 2.0, 3.0], "country": [None, 12, None]},
        dtype=object,
    )
    result = run(frame)
    q = result.quarantine
    assert q[["source", "column", "check", "value"]].values.tolist() == [
        ["0", "country", "not_nullable", None],
        ["1", "country", REGEX, "12"],
        ["2", "country", "not_nullable", None],
    ]
    assert len(result.outputs["scored"]) == 0


def test_nullable_extension_dtypes_are_coerced_to_model_dtypes():
    """Input in pandas nullable dtypes (Int64, Float64, string) comes out in the model's dtypes."""
    frame = pd.DataFrame(
        {
            "customer_id": pd.array([1, None, 3], dtype="Int64"),
            "amount": pd.array([1.5, 2.5, None], dtype="Float64"),
            "country": pd.array(["US", "FR", "DE"], dtype="string"),
        }
    )
    result = run(frame)
    assert result.quarantine["check"].tolist() == ["not_nullable", "not_nullable"]
    out = result.outputs["scored"]
    assert out["customer_id"].dtype == np.int64
    assert out["amount"].dtype == np.float64
    assert out["score"].dtype == np.float64
    assert out["customer_id"].tolist() == [1]
