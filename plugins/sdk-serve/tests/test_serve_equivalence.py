"""Equivalence, property-based: the same records through ``serve`` and through ``local`` give
the same outputs and the same quarantine, and every record is accounted for.

One ``scoring:scoring`` server for the module; Hypothesis generates lists of 0-30 records of
the fraud example's ``Features`` mixing valid values and faults (null, malformed text, out of
range, wrong JSON types, absent keys); each list is POSTed, and run in this process with
``Pipeline([Score(weight=0.7)]).run(features=pd.DataFrame(records))``.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_harness import Server

from examples.fraud.pipeline import Score
from sdk import Pipeline

COLUMNS = ("customer_id", "amount", "country", "mean_amount", "n_tx")
LOCAL = Pipeline([Score(weight=0.7)], name="scoring")

# Finite numbers (NaN and Infinity literals are not JSON: the server refuses them, 400) and
# integers within 64 bits (beyond, see test_an_integer_beyond_64_bits_is_quarantined_as_sent).
_floats = st.floats(allow_nan=False, allow_infinity=False)
_wrong_types = st.one_of(
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.sampled_from("ab"), st.integers(0, 9), max_size=1),
)
# not "inf": see test_an_infinite_mean_amount_is_answered_as_local_computes
_malformed = st.sampled_from(["12x", "", " ", "abc", "1,5", "1e", "--1", "0x10", "NaN", "1e400"])
_numeric_text = st.one_of(
    st.integers(-5, 10**6).map(str), st.floats(0, 1e6, allow_nan=False).map(repr)
)
_country = st.from_regex(r"\A[A-Z]{2}\Z")
_bad_country = st.one_of(
    st.sampled_from(["fr", "FRA", "F", "", "F1", "É€", "  ", "GB "]), st.text(max_size=4)
)


def _faults(out_of_range: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Null, out of range, malformed text, text that coerces, or a wrong JSON type."""
    return st.one_of(st.none(), out_of_range, _malformed, _numeric_text, _wrong_types)


VALID = {
    "customer_id": st.integers(0, 10**9),
    "amount": st.floats(0, 1_000_000, allow_nan=False),
    "country": _country,
    "mean_amount": _floats,
    "n_tx": st.integers(1, 10_000),
}
FAULTS = {
    "customer_id": _faults(
        st.one_of(st.integers(-(10**9), -1), st.just(2**63), st.just(2**64 - 1), _floats)
    ),
    "amount": _faults(st.one_of(st.floats(-1e12, -1e-9), st.floats(1_000_000.001, 1e12))),
    "country": _faults(_bad_country),
    "mean_amount": _faults(st.integers(-(10**12), 10**12)),
    "n_tx": _faults(
        st.one_of(st.integers(-10, 0), st.floats(-10, 10, allow_nan=False), st.just(-(2**63)))
    ),
}


@st.composite
def record_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """0-30 records, about half of them valid; the others have faults in about a third of
    their columns, a key absent now and then (never from all the records: ``local`` refuses
    a frame without a model column, where ``serve`` quarantines each row), an extra key."""
    records = []
    for _ in range(draw(st.integers(0, 30))):
        clean = draw(st.booleans())
        record = {
            column: draw(VALID[column] if clean or draw(st.integers(0, 2)) else FAULTS[column])
            for column in COLUMNS
        }
        if not clean and draw(st.integers(0, 4)) == 0:  # a key absent
            del record[draw(st.sampled_from(COLUMNS))]
        if draw(st.integers(0, 9)) == 0:  # an extra key, carried through to the output
            record["note"] = draw(
                st.one_of(st.text(max_size=5), st.integers(-(2**63), 2**64 - 1), st.none())
            )
        records.append(record)
    for column in COLUMNS:
        if records and all(column not in r for r in records):
            records[0][column] = None
    return records


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="sdk-serve-equivalence-") as tmp:
        started = Server("scoring:scoring", [], Path(tmp) / "runs", None)
        try:
            yield started.wait_ready()
        finally:
            if started.process.poll() is None:
                started.stop()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=record_lists())
def test_serve_answers_what_local_computes(server: Any, records: list[dict[str, Any]]) -> None:
    response = httpx.post(server.url + "/v1/run", json=records, timeout=60)
    assert response.status_code in (200, 422), response.text[:2000]
    answer = response.json()
    served = answer["outputs"]["scored"]
    assert (response.status_code == 422) == (not served)

    if not records:  # local refuses a frame without columns; serve answers nothing
        assert response.status_code == 422
        assert answer["quarantine"] == []
        return
    _assert_same_answer(records, answer)


def _assert_same_answer(records: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    served = answer["outputs"]["scored"]
    local = LOCAL.run(features=pd.DataFrame(records), max_invalid=1.0)
    expected = local.outputs["scored"]

    # the quarantine: the same records (position, not source text), checks and values
    served_quarantine = Counter(_served_key(q) for q in answer["quarantine"])
    local_quarantine = Counter(_local_key(q) for q in local.quarantine.to_dict("records"))
    assert served_quarantine == local_quarantine

    # every record accounted for: an output, in the order of the records sent, or quarantined
    quarantined = {key[0] for key in served_quarantine}
    passed = [i for i in range(len(records)) if i not in quarantined]
    assert [int(label) for label in expected.index] == passed
    assert len(served) == len(passed)

    # the outputs: the same, in order and (floats to rel 1e-12) order-insensitively
    local_rows = [_native(row) for row in expected.to_dict("records")]
    for got, want in zip(served, local_rows, strict=True):
        _assert_same_record(got, want)
    for got, want in zip(sorted(served, key=_order), sorted(local_rows, key=_order), strict=True):
        _assert_same_record(got, want)


def test_an_integer_beyond_64_bits_is_quarantined_as_sent(server: Any) -> None:
    base = {"customer_id": 7, "amount": 1.0, "country": "FR", "mean_amount": 1.0, "n_tx": 1}
    records = [base, base | {"n_tx": 10**20}, base | {"customer_id": 2**64}]
    response = httpx.post(server.url + "/v1/run", json=records, timeout=60)
    assert response.status_code == 200
    _assert_same_answer(records, response.json())


def test_an_infinite_mean_amount_is_answered_as_local_computes(server: Any) -> None:
    base = {"customer_id": 7, "amount": 1.0, "country": "FR", "mean_amount": 1.0, "n_tx": 1}
    records = [base, base | {"mean_amount": "inf"}, base | {"mean_amount": "-Infinity"}]
    response = httpx.post(server.url + "/v1/run", json=records, timeout=60)
    assert response.status_code == 200
    _assert_same_answer(records, response.json())


def _served_key(q: dict[str, Any]) -> tuple[Any, ...]:
    assert q["source"].startswith("request#"), q
    position = int(q["source"].removeprefix("request#"))
    row = json.dumps(q["row"], sort_keys=True)
    where = (q["step"], q["boundary"], q["dataset"])
    return (position, *where, q["column"], q["check"], q["value"], row)


def _local_key(q: dict[str, Any]) -> tuple[Any, ...]:
    position = int(q["source"])
    row = json.dumps(json.loads(q["row"]), sort_keys=True)
    value = None if _missing(q["value"]) else q["value"]
    column = None if _missing(q["column"]) else q["column"]
    where = (q["step"], q["boundary"], q["dataset"])
    return (position, *where, column, q["check"], value, row)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _native(row: dict[str, Any]) -> dict[str, Any]:
    """A local output row as the server answers it: NaN as null, infinities as text."""
    out = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and math.isinf(value):
            value = "inf" if value > 0 else "-inf"
        out[str(key)] = None if isinstance(value, float) and math.isnan(value) else value
    return out


def _order(row: dict[str, Any]) -> str:
    """A sort key that ignores float noise: numbers rounded to 9 significant digits."""
    return json.dumps(
        {k: float(f"{v:.9g}") if _is_number(v) else v for k, v in row.items()},
        sort_keys=True,
        default=str,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _assert_same_record(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys(), (got, want)
    for key, value in want.items():
        if _is_number(value) and _is_number(got[key]):
            assert math.isclose(got[key], value, rel_tol=1e-12), (key, got, want)
        else:
            assert got[key] == value, (key, got, want)
