"""The JSON Schema of a model's records: exact fragments, and its verdicts against pandera's."""

import json
import sys
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pandera.typing import Series
from sdk_serve.schema import example_records, record_schema

from sdk import synthesize

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # the fraud example is imported as `examples.fraud`
    sys.path.insert(0, str(ROOT))

from examples.fraud.pipeline import Scored, Transactions  # noqa: E402


class Reading(pa.DataFrameModel):
    """One reading of a sensor, as sent by the device.

    This second paragraph is not part of the schema.
    """

    sensor_id: int = pa.Field(ge=0, unique=True, description="The sensor.", title="Sensor")
    value: float = pa.Field(
        in_range={"min_value": 0, "max_value": 100, "include_min": False, "include_max": False}
    )
    status: str = pa.Field(isin=["ok", "warn"], nullable=True)
    code: str = pa.Field(str_matches=r"[A-Z]{3}-\d{2}")
    label: str = pa.Field(str_length={"min_value": 2, "max_value": 5})
    taken_at: pd.Timestamp
    active: bool
    level: int = pa.Field(ge=1, le=5, nullable=True)
    tag: str = pa.Field(str_startswith="t.", str_endswith="$x")
    kind: Series[pa.Category] = pa.Field(dtype_kwargs={"categories": ["a", "b"]})

    class Config:
        coerce = True


class Audited(pa.DataFrameModel):
    """A model with checks JSON Schema cannot state."""

    count: int = pa.Field(ge=0, lt=10, description="How many.")
    day: Series[pa.Date] = pa.Field(required=False)
    unit: str = pa.Field(eq="kg", nullable=True)
    since: pd.Timestamp = pa.Field(ge=pd.Timestamp("2020-01-01"))
    note: object = pa.Field(ne="n/a", notin=["-", "?"])
    wait: pd.Timedelta

    @pa.check("count")
    def is_even(cls, s: pd.Series) -> pd.Series:
        return s % 2 == 0

    @pa.dataframe_check
    def count_below_ten_total(cls, df: pd.DataFrame) -> bool:
        return bool(df["count"].sum() < 10)


MODELS = [Transactions, Scored, Reading, Audited]


def _validator(model: type[pa.DataFrameModel]) -> Draft202012Validator:
    return Draft202012Validator(
        record_schema(model), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_schema_is_valid_json_schema_2020_12(model: type[pa.DataFrameModel]) -> None:
    schema = record_schema(model)
    Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema
    assert schema["type"] == "object"
    assert schema["title"] == model.__name__
    assert schema["additionalProperties"] is True
    assert list(schema["properties"]) == list(model.to_schema().columns)


def test_transactions_schema_is_the_contract_not_every_coercible_form() -> None:
    assert record_schema(Transactions) == {
        "type": "object",
        "title": "Transactions",
        "description": "One card transaction as it arrives: who paid, how much, and where.",
        "properties": {
            "customer_id": {"type": "integer", "minimum": 0},
            "amount": {"type": "number", "minimum": 0, "maximum": 1_000_000},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        },
        "required": ["customer_id", "amount", "country"],
        "additionalProperties": True,
    }


def test_scored_inherits_its_parents_columns() -> None:
    schema = record_schema(Scored)
    assert schema["description"] == "A featured transaction with its fraud score in [0, 1]."
    assert schema["properties"]["n_tx"] == {"type": "integer", "minimum": 1}
    assert schema["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 1}
    # unbounded: infinities too, as the text JSON writes them ("inf", "-inf")
    assert schema["properties"]["mean_amount"] == {
        "type": ["number", "string"],
        "pattern": "^-?inf$",
    }
    assert schema["required"] == list(Scored.to_schema().columns)


def test_reading_fragments() -> None:
    schema = record_schema(Reading)
    props = schema["properties"]
    assert schema["description"] == (
        "One reading of a sensor, as sent by the device.\n\nAcross records: sensor_id is unique."
    )
    assert props["sensor_id"] == {
        "type": "integer",
        "minimum": 0,
        "title": "Sensor",
        "description": "The sensor.",
    }
    assert props["value"] == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100}
    assert props["status"] == {"type": ["string", "null"], "enum": ["ok", "warn", None]}
    assert props["code"] == {"type": "string", "pattern": r"^(?:[A-Z]{3}-\d{2})"}
    assert props["label"] == {"type": "string", "minLength": 2, "maxLength": 5}
    assert props["taken_at"] == {"type": "string", "format": "date-time"}
    assert props["active"] == {"type": "boolean"}
    assert props["level"] == {"type": ["integer", "null"], "minimum": 1, "maximum": 5}
    # two patterns: the first of pandera's checks is the pattern, the next ones stack in allOf
    assert props["tag"] == {"type": "string", "pattern": r"\$x$", "allOf": [{"pattern": r"^t\."}]}
    assert props["kind"] == {"enum": ["a", "b"]}
    assert "status" not in schema["required"] and "level" not in schema["required"]
    assert set(schema["required"]) == set(props) - {"status", "level"}


def test_inexpressible_checks_are_described_not_dropped() -> None:
    schema = record_schema(Audited)
    props = schema["properties"]
    assert schema["description"] == (
        "A model with checks JSON Schema cannot state.\n\n"
        "Across records: dataframe check: count_below_ten_total."
    )
    assert props["count"] == {
        "type": "integer",
        "minimum": 0,
        "exclusiveMaximum": 10,
        "description": "How many.; also checked: is_even",
    }
    assert props["day"] == {"type": "string", "format": "date"}
    assert props["unit"] == {"type": ["string", "null"], "enum": ["kg", None]}
    assert props["since"] == {
        "type": "string",
        "format": "date-time",
        "description": "also checked: greater_than_or_equal_to("
        "min_value=Timestamp('2020-01-01 00:00:00'))",
    }
    assert props["note"] == {
        "type": "string",
        "not": {"enum": ["n/a"]},
        "allOf": [{"not": {"enum": ["-", "?"]}}],
    }
    assert props["wait"] == {}  # a timedelta: no JSON type stands for it
    assert schema["required"] == ["count", "since", "note", "wait"]  # day is optional


def test_unsigned_integers_are_non_negative_and_bounds_tighten() -> None:
    class Counts(pa.DataFrameModel):
        n: Series[pa.UInt8] = pa.Field(ge=-5, in_range={"min_value": 2, "max_value": 9})
        m: int = pa.Field(le=7, str_length={"min_value": 3})  # nonsense on an int, yet stated

    props = record_schema(Counts)["properties"]
    assert props["n"] == {"type": "integer", "minimum": 2, "maximum": 9}
    assert props["m"] == {"type": "integer", "maximum": 7, "minLength": 3}


def test_str_matches_anchors_at_the_start_only_like_pandera() -> None:
    validator = _validator(Reading)
    record = example_records(Reading, 1)[0]
    for code, valid in [("ABC-12", True), ("ABC-12 trailing", True), ("xABC-12", False)]:
        assert validator.is_valid({**record, "code": code}) is valid
        frame = synthesize(Reading, 1).assign(code=code)
        assert _pandera_accepts(Reading, frame) is valid


@pytest.mark.parametrize("model", [Transactions, Scored, Reading], ids=lambda m: m.__name__)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**20))
def test_example_records_validate(model: type[pa.DataFrameModel], seed: int) -> None:
    records = example_records(model, 5, seed=seed)
    assert len(records) == 5
    assert json.loads(json.dumps(records, allow_nan=False)) == records
    validator = _validator(model)
    for record in records:
        assert list(validator.iter_errors(record)) == []


def test_example_records_are_plain_json_and_reproducible() -> None:
    first = example_records(Reading, 3, seed=7)
    assert first == example_records(Reading, 3, seed=7)
    types = {key: {type(r[key]) for r in first} for key in first[0]}
    assert types["sensor_id"] == {int} and types["value"] == {float}
    assert types["active"] == {bool} and types["kind"] == {str}
    assert all(r["taken_at"].endswith("Z") for r in first)  # RFC 3339: naive times as UTC
    assert example_records(Reading, 0) == []


def test_example_records_empty_when_synthesize_refuses() -> None:
    assert example_records(Audited) == []  # a custom check and a dataframe-level check


def test_missing_null_and_extra_keys() -> None:
    validator = _validator(Reading)
    record = example_records(Reading, 1)[0]
    assert validator.is_valid({**record, "status": None, "level": None, "extra": [1]})
    without_nullable = {k: v for k, v in record.items() if k not in ("status", "level")}
    assert validator.is_valid(without_nullable)
    for column in ("sensor_id", "code", "taken_at"):
        assert not validator.is_valid({k: v for k, v in record.items() if k != column})
    assert not validator.is_valid({**record, "code": None})
    assert not validator.is_valid({**record, "active": "yes"})
    assert not validator.is_valid({**record, "taken_at": "yesterday"})


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("customer_id", -1),
        ("customer_id", 1.5),
        ("amount", 1_000_000.01),
        ("amount", "12.5"),  # coercible, but the contract is a number
        ("country", "FRA"),
        ("country", "fr"),
    ],
)
def test_transactions_rejects(column: str, value: object) -> None:
    record = example_records(Transactions, 1)[0]
    assert _validator(Transactions).is_valid(record)
    assert not _validator(Transactions).is_valid({**record, column: value})


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("value", 0),  # exclusive bounds
        ("value", 100.0),
        ("status", "fail"),  # outside isin
        ("level", 6),
        ("label", "a"),  # str_length
        ("label", "abcdef"),
        ("code", "AB-12"),
        ("tag", "t.x"),  # startswith but not endswith
        ("tag", "x$x"),
        ("kind", "c"),  # not a category
        ("sensor_id", -3),
    ],
)
def test_reading_rejects(column: str, value: object) -> None:
    record = example_records(Reading, 1)[0]
    assert _validator(Reading).is_valid(record)
    assert not _validator(Reading).is_valid({**record, column: value})


def _pandera_accepts(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> bool:
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(
    value=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0.0, 100.0, 1e-9, 99.999, -0.0]),
    ),
    status=st.sampled_from(["ok", "warn", "OK", "fail", ""]),
    label=st.text(alphabet="ab€ ", max_size=7),
    level=st.integers(-2, 8),
)
def test_schema_verdicts_agree_with_pandera(
    value: float, status: str, label: str, level: int
) -> None:
    """A record passes the schema exactly when pandera passes it as a row."""
    validator = _validator(Reading)
    base = synthesize(Reading, 1, seed=1)
    record = example_records(Reading, 1, seed=1)[0]
    for column, x in (("value", value), ("status", status), ("label", label), ("level", level)):
        frame = base.copy()
        frame[column] = pd.Series([x], dtype=object if column == "status" else None)
        verdict = validator.is_valid({**record, column: x})
        assert verdict is _pandera_accepts(Reading, frame), (column, x)
    assert validator.is_valid({**record, "value": value}) is (0 < value < 100)
