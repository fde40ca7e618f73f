"""Coercion edges: exact integers, NaN and infinity text, datetimes (issue 10).

Each test runs a one-step pipeline over raw text, as a CSV file gives it, and asserts what a user
sees: the values and dtypes the step received and returned, and the quarantine records. Where a
value's fate could depend on the other values of its column, the same rows also go through a CSV
file and the batch runner in chunks of 3 rows, which must equal the local run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.engines import pandas_engine
from pandera.typing import DataFrame, Series

from sdk import Pipeline, RunResult, Step
from sdk.testing import assert_equivalent

INT64_MAX = "9223372036854775807"
INT64_MIN = "-9223372036854775808"
BIG = "9007199254740993"  # 2**53 + 1: the first integer a float64 cannot hold


# -- models and steps ---------------------------------------------------------------------------


class Ints(pa.DataFrameModel):
    """One integer column."""

    n: int


class IntsOut(Ints):
    """The integer and its successor, computed by the step."""

    successor: int


class AddOne(Step):
    """Add one to each integer (exact only if the step received exact integers)."""

    output = "out"

    def run(self, data: DataFrame[Ints]) -> DataFrame[IntsOut]:
        """Compute ``successor = n + 1``."""
        return data.assign(successor=data["n"] + 1)


class KeepInts(Step):
    """Pass the integers through."""

    output = "out"

    def run(self, data: DataFrame[Ints]) -> DataFrame[Ints]:
        """Return the input."""
        return data


class Floats(pa.DataFrameModel):
    """One float column without bounds."""

    x: float = pa.Field(nullable=True)


class KeepFloats(Step):
    """Pass the floats through."""

    output = "out"

    def run(self, data: DataFrame[Floats]) -> DataFrame[Floats]:
        """Return the input."""
        return data


class BoundedFloats(pa.DataFrameModel):
    """One float column between -1e6 and 1e6."""

    x: float = pa.Field(ge=-1e6, le=1e6)


class KeepBounded(Step):
    """Pass the bounded floats through."""

    output = "out"

    def run(self, data: DataFrame[BoundedFloats]) -> DataFrame[BoundedFloats]:
        """Return the input."""
        return data


class Dates(pa.DataFrameModel):
    """One naive datetime column, ISO 8601 text by default."""

    d: Series[pd.Timestamp]


class Years(Dates):
    """The datetime and its year, computed by the step."""

    year: int


class YearOf(Step):
    """Take the year of each datetime (raises if the step received text)."""

    output = "out"

    def run(self, data: DataFrame[Dates]) -> DataFrame[Years]:
        """Compute ``year`` with the ``.dt`` accessor."""
        return data.assign(year=data["d"].dt.year.astype("int64"))


class DayFirst(pa.DataFrameModel):
    """A datetime column written day first, through pandera's own dtype options."""

    d: Series[pandas_engine.DateTime] = pa.Field(
        dtype_kwargs={"to_datetime_kwargs": {"format": "%d/%m/%Y"}}
    )


class DayFirstYears(DayFirst):
    """The day-first datetime and its year."""

    year: int


class YearOfDayFirst(Step):
    """Take the year of each day-first datetime."""

    output = "out"

    def run(self, data: DataFrame[DayFirst]) -> DataFrame[DayFirstYears]:
        """Compute ``year`` with the ``.dt`` accessor."""
        return data.assign(year=data["d"].dt.year.astype("int64"))


class UtcDates(pa.DataFrameModel):
    """A timezone-aware datetime column in UTC."""

    d: Series[Annotated[pd.DatetimeTZDtype, "ns", "UTC"]]


class KeepUtc(Step):
    """Pass the UTC datetimes through."""

    output = "out"

    def run(self, data: DataFrame[UtcDates]) -> DataFrame[UtcDates]:
        """Return the input."""
        return data


# -- helpers ------------------------------------------------------------------------------------


def run(step: Step, column: str, values: list[str | None], **kwargs) -> RunResult:
    """Run ``step`` over a text column holding ``values`` (object dtype, None = missing), beside
    a ``key`` column the models do not declare (it passes through)."""
    frame = pd.DataFrame(
        {"key": [str(i) for i in range(len(values))], column: pd.Series(values, dtype=object)}
    )
    return Pipeline([step], name="coercion").run(max_invalid=1.0, data=frame, **kwargs)


def run_csv(step: Step, column: str, values: list[str], path: Path, **kwargs) -> RunResult:
    """Run ``step`` over a CSV file of ``key,<column>`` lines holding ``values``."""
    lines = [f"key,{column}", *(f"{i},{v}" for i, v in enumerate(values))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Pipeline([step], name="coercion").run(max_invalid=1.0, data=str(path), **kwargs)


def quarantined(result: RunResult) -> list[tuple[str, str, str]]:
    """The quarantine as sorted (check, value, source) triples."""
    q = result.quarantine
    return sorted(zip(q["check"], q["value"], q["source"], strict=True))


def same_everywhere(step: Step, column: str, values: list[str], tmp_path: Path) -> RunResult:
    """Run ``values`` locally, from a CSV file, and through batch in chunks of 3 from the same
    file; assert batch equals local on the file and the frame agrees with the file.

    Returns the local run over the CSV file.
    """
    local = run_csv(step, column, values, tmp_path / "in.csv")
    batch = run_csv(
        step,
        column,
        values,
        tmp_path / "in.csv",
        runner="batch",
        runner_options={"chunk_rows": 3, "progress": False},
    )
    assert_equivalent(local, batch)
    frame = run(step, column, [v or None for v in values])  # an empty field is missing
    pd.testing.assert_frame_equal(
        frame.outputs["out"].reset_index(drop=True), local.outputs["out"].reset_index(drop=True)
    )
    assert sorted(frame.quarantine["check"]) == sorted(local.quarantine["check"])
    return local


# -- 1. integers are exact ----------------------------------------------------------------------


def test_big_integers_stay_exact_beside_a_malformed_value():
    """A malformed value in an int column does not round the other values through float."""
    result = run(AddOne(), "n", [BIG, "x", INT64_MAX[:-1] + "6", "-" + BIG])
    out = result.outputs["out"]
    assert out["n"].dtype == np.int64
    assert out["n"].tolist() == [2**53 + 1, 2**63 - 2, -(2**53) - 1]
    assert out["successor"].tolist() == [2**53 + 2, 2**63 - 1, -(2**53)]
    assert quarantined(result) == [("coerce_dtype('int64')", "x", "1")]


def test_int64_limits_pass_and_one_beyond_is_quarantined():
    """The int64 maximum and minimum pass exactly; one beyond either end is quarantined."""
    values = [INT64_MAX, INT64_MIN, "9223372036854775808", "-9223372036854775809", "x"]
    result = run(KeepInts(), "n", values)
    out = result.outputs["out"]
    assert out["n"].dtype == np.int64
    assert out["n"].tolist() == [2**63 - 1, -(2**63)]
    assert quarantined(result) == [
        ("coerce_dtype('int64')", "-9223372036854775809", "3"),
        ("coerce_dtype('int64')", "9223372036854775808", "2"),
        ("coerce_dtype('int64')", "x", "4"),
    ]


def test_python_integers_beyond_any_float_are_quarantined_not_a_crash():
    """A frame (JSON read by the standard library) holding a Python int too large for a float
    quarantines that value in a float column; it raised OverflowError out of the run."""
    result = run(KeepFloats(), "x", [10**400, 2.5, 10**20])  # type: ignore[list-item]
    assert result.outputs["out"]["x"].tolist() == [2.5, 1e20]
    assert quarantined(result) == [("coerce_dtype('float64')", "1" + "0" * 400, "0")]


def test_integral_text_forms_are_read_exactly():
    """'12.0', '+4', ' 3 ', '1e3' and a long '…993.000' are read exactly; '12.5' and '0x1F' are
    quarantined."""
    values = ["12.0", "+4", " 3 ", "1e3", BIG + ".000", "12.5", "0x1F", "1_000", "1e400"]
    result = run(KeepInts(), "n", values)
    assert result.outputs["out"]["n"].tolist() == [12, 4, 3, 1000, 2**53 + 1]
    assert [v for _, v, _ in quarantined(result)] == ["0x1F", "12.5", "1_000", "1e400"]


@pytest.mark.parametrize("dtype", [object, "str"])
def test_hexadecimal_text_is_malformed_beside_plain_integers(dtype):
    """Hexadecimal forms are quarantined even where every other value is plain digits (the
    column Arrow reads whole), with or without a sign or padding."""
    values = ["1", "0x1F", "2", "0X1f", "3", "-0x10", "+0x10", " 0x1F", "0xZZ"]
    frame = pd.DataFrame({"n": pd.Series(values, dtype=dtype)})
    result = Pipeline([KeepInts()], name="coercion").run(max_invalid=1.0, data=frame)
    assert result.outputs["out"]["n"].tolist() == [1, 2, 3]
    assert sorted(result.quarantine["value"]) == sorted(values[1:2] + values[3:4] + values[5:])
    only_hex = pd.DataFrame({"n": pd.Series(["10", "0x1F", "20"], dtype=dtype)})
    result = Pipeline([KeepInts()], name="coercion").run(max_invalid=1.0, data=only_hex)
    assert result.outputs["out"]["n"].tolist() == [10, 20]
    assert quarantined(result) == [("coerce_dtype('int64')", "0x1F", "1")]


def test_big_integers_agree_across_csv_and_batch_chunks(tmp_path: Path):
    """Chunks of 3 rows, some with a malformed value and some without, give local's exact
    values and quarantine."""
    values = [BIG, "1", "2", BIG, "x", INT64_MAX, "-9223372036854775809", "4", BIG]
    local = same_everywhere(KeepInts(), "n", values, tmp_path)
    out = local.outputs["out"]
    assert out["n"].dtype == np.int64
    assert out["n"].tolist() == [2**53 + 1, 1, 2, 2**53 + 1, 2**63 - 1, 4, 2**53 + 1]
    assert [(c, v) for c, v, _ in quarantined(local)] == [
        ("coerce_dtype('int64')", "-9223372036854775809"),
        ("coerce_dtype('int64')", "x"),
    ]


def test_json_integers_beside_text_stay_exact():
    """Python ints beside text (as from JSON) are exact, big ones included."""
    frame = pd.DataFrame({"n": pd.Series([2**53 + 1, "x", 2**63 - 1, 2**63], dtype=object)})
    result = Pipeline([KeepInts()], name="coercion").run(max_invalid=1.0, data=frame)
    assert result.outputs["out"]["n"].tolist() == [2**53 + 1, 2**63 - 1]
    assert [v for _, v, _ in quarantined(result)] == [str(2**63), "x"]


# -- 3. NaN and infinity text in numeric columns ------------------------------------------------


@pytest.mark.parametrize("text", ["NaN", "nan", "-nan", " NAN "])
def test_nan_text_in_float_column_is_not_a_number(text: str):
    """'NaN' text is not a missing value (only an empty field is): it is quarantined as
    not_a_number, even in a nullable column."""
    result = run(KeepFloats(), "x", ["1.5", text, None])
    assert quarantined(result) == [("not_a_number", text, "1")]
    out = result.outputs["out"]
    assert out["x"].dtype == np.float64
    assert out["x"].iloc[0] == 1.5 and np.isnan(out["x"].iloc[1])


def test_nan_text_in_int_column_is_not_a_number():
    """'NaN' text in an int column is quarantined as not_a_number, like in a float column."""
    result = run(KeepInts(), "n", ["1", "nan", "x"])
    assert quarantined(result) == [
        ("coerce_dtype('int64')", "x", "2"),
        ("not_a_number", "nan", "1"),
    ]


def test_infinity_text_passes_a_float_column_without_bounds():
    """'inf', '-inf' and 'Infinity' are float64 values: they pass a column without bounds."""
    result = run(KeepFloats(), "x", ["inf", "-inf", "Infinity", "2.5"])
    assert result.quarantine.empty
    assert result.outputs["out"]["x"].tolist() == [np.inf, -np.inf, np.inf, 2.5]


def test_overflowing_float_text_is_quarantined():
    """'1e400' is a finite number float64 cannot hold: quarantined, not turned into inf."""
    result = run(KeepFloats(), "x", ["1e400", "-1e400", "1e308", "1e-400"])
    assert quarantined(result) == [
        ("coerce_dtype('float64')", "-1e400", "1"),
        ("coerce_dtype('float64')", "1e400", "0"),
    ]
    assert result.outputs["out"]["x"].tolist() == [1e308, 0.0]


def test_bounds_catch_infinity():
    """With bounds, infinity fails the bound check."""
    result = run(KeepBounded(), "x", ["inf", "-inf", "5"])
    assert [c for c, _, _ in quarantined(result)] == [
        "greater_than_or_equal_to(-1000000.0)",
        "less_than_or_equal_to(1000000.0)",
    ]
    assert result.outputs["out"]["x"].tolist() == [5.0]


def test_nan_and_infinity_agree_across_csv_and_batch_chunks(tmp_path: Path):
    """NaN, infinity and overflow text give the same records from a file and through batch."""
    values = ["1.5", "NaN", "inf", "1e400", "", "-inf", "x", "nan", "2"]
    local = same_everywhere(KeepFloats(), "x", values, tmp_path)
    assert [(c, v) for c, v, _ in quarantined(local)] == [
        ("coerce_dtype('float64')", "1e400"),
        ("coerce_dtype('float64')", "x"),
        ("not_a_number", "NaN"),
        ("not_a_number", "nan"),
    ]
    out = local.outputs["out"]["x"]
    assert out.dtype == np.float64
    assert out.fillna(-1.0).tolist() == [1.5, np.inf, -1.0, -np.inf, 2.0]  # -1.0: the empty field


# -- 2. datetimes -------------------------------------------------------------------------------


def test_mixed_iso_forms_reach_the_step_as_datetimes():
    """ISO 8601 dates and date-times mixed in one column are read, not a crash."""
    result = run(YearOf(), "d", ["2024-01-02", "2023-03-04T10:20:30", "2022-05-06 07:08"])
    out = result.outputs["out"]
    assert out["d"].dtype == "datetime64[ns]"
    assert out["d"].tolist() == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2023-03-04 10:20:30"),
        pd.Timestamp("2022-05-06 07:08"),
    ]
    assert out["year"].tolist() == [2024, 2023, 2022]
    assert result.quarantine.empty


def test_non_iso_and_invalid_dates_are_quarantined_and_step_gets_datetimes():
    """A non-ISO date and an invalid value are quarantined; the step still gets datetime64."""
    result = run(YearOf(), "d", ["2024-01-02", "02/01/2024", "nope", "2024-02-30", "2024-03-01"])
    out = result.outputs["out"]
    assert out["d"].dtype == "datetime64[ns]"
    assert out["year"].tolist() == [2024, 2024]
    assert quarantined(result) == [
        ("coerce_dtype('datetime64[ns]')", "02/01/2024", "1"),
        ("coerce_dtype('datetime64[ns]')", "2024-02-30", "3"),
        ("coerce_dtype('datetime64[ns]')", "nope", "2"),
    ]


def test_timezone_aware_text_in_a_naive_column_is_quarantined():
    """A value with an offset or Z in a naive column is quarantined: converting it would pick
    a zone silently."""
    values = ["2024-01-02T10:00:00+02:00", "2024-01-02", "2024-01-03T00:00:00Z"]
    result = run(YearOf(), "d", values)
    assert result.outputs["out"]["d"].tolist() == [pd.Timestamp("2024-01-02")]
    assert [v for _, v, _ in quarantined(result)] == [values[0], values[2]]


def test_timezone_aware_column_converts_offsets_and_localizes_naive_values():
    """In a UTC column, offsets are converted to UTC and naive values are taken as UTC."""
    values = ["2024-01-02T10:00:00+02:00", "2024-01-02", "2024-01-03T00:00:00Z", "x"]
    result = run(KeepUtc(), "d", values)
    out = result.outputs["out"]
    assert str(out["d"].dtype) == "datetime64[ns, UTC]"
    assert out["d"].tolist() == [
        pd.Timestamp("2024-01-02T08:00:00", tz="UTC"),
        pd.Timestamp("2024-01-02", tz="UTC"),
        pd.Timestamp("2024-01-03", tz="UTC"),
    ]
    assert [v for _, v, _ in quarantined(result)] == ["x"]


def test_out_of_range_date_is_quarantined():
    """A date outside datetime64[ns] (years 1677-2262) is quarantined, not clamped or wrapped."""
    result = run(YearOf(), "d", ["9999-12-31", "2024-01-02"])
    assert [v for _, v, _ in quarantined(result)] == ["9999-12-31"]
    assert result.outputs["out"]["year"].tolist() == [2024]


def test_per_column_format_through_pandera_dtype_kwargs():
    """`to_datetime_kwargs={"format": "%d/%m/%Y"}` reads day-first dates; ISO text is then
    quarantined."""
    result = run(YearOfDayFirst(), "d", ["02/01/2024", "31/12/2023", "2024-01-02", "13/13/2024"])
    out = result.outputs["out"]
    assert out["d"].dtype == "datetime64[ns]"
    assert out["d"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2023-12-31")]
    assert [v for _, v, _ in quarantined(result)] == ["13/13/2024", "2024-01-02"]


def test_dates_agree_across_csv_and_batch_chunks(tmp_path: Path):
    """Chunks of 3 rows with different mixes of forms give local's values and quarantine."""
    values = [
        "2024-01-02",
        "2024-01-02T03:04:05",
        "nope",
        "2024-01-02T10:00:00+02:00",
        "2021-06-07",
        "2020-02-29 12:00",
        "02/01/2024",
        "2019-01-01",
        "2018-01-01T00:00:00.5",
    ]
    local = same_everywhere(YearOf(), "d", values, tmp_path)
    assert local.outputs["out"]["year"].tolist() == [2024, 2024, 2021, 2020, 2019, 2018]
    assert sorted(v for _, v, _ in quarantined(local)) == sorted(
        ["nope", "2024-01-02T10:00:00+02:00", "02/01/2024"]
    )
    records = local.quarantine.to_dict("records")
    assert all(json.loads(r["row"])["d"] == r["value"] for r in records)
