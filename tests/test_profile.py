"""The run profile: what a user reads in profile.json and on RunResult.profile."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandera.typing import DataFrame

import sdk
from examples.fraud.pipeline import Features, Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk import Pipeline, Step
from sdk.profile import SAMPLE_ROWS, profile_document, profile_frame
from sdk.runners.registry import get_runner
from sdk.runners.stage import UnitResult


def _rounded(value: Any) -> Any:
    """``value`` with floats rounded (runners may sum them in another order)."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _column(document: dict[str, Any], dataset: str, column: str) -> dict[str, Any]:
    return dict(document["datasets"][dataset]["columns"][column])


def test_known_frame_nulls_min_max_and_top() -> None:
    frame = pd.DataFrame(
        {
            "n": [3, 1, 2, 5, 4],
            "x": [0.5, np.nan, -2.0, np.inf, np.nan],
            "s": pd.Series(["b", "a", None, "b", "x" * 300], dtype="str"),
            "o": pd.Series(["u", None, "u", 7, "v"], dtype=object),
            "flag": [True, False, True, True, False],
            "t": pd.to_datetime(["2024-01-02", None, "2023-05-06", "2024-01-01", None]),
            "c": pd.Categorical(["r", "g", "r", None, "r"]),
            "i": pd.array([1, None, 9, 4, None], dtype="Int64"),
        }
    )
    document = profile_document({"raw": profile_frame(frame, "input", cache=None)})
    text = json.dumps(document, allow_nan=False)  # JSON-safe: no NaN, inf, numpy, Timestamp
    columns = json.loads(text)["datasets"]["raw"]["columns"]
    assert json.loads(text)["datasets"]["raw"]["rows"] == 5
    assert columns["n"] == {
        "dtype": "int64", "count": 5, "nulls": 0, "min": 1, "max": 5, "top": None
    }  # fmt: skip
    assert columns["x"] | {"top": "-"} == {
        "dtype": "float64", "count": 3, "nulls": 2, "min": -2.0, "max": "inf", "top": "-"
    }  # fmt: skip
    assert (columns["s"]["count"], columns["s"]["nulls"]) == (4, 1)
    assert (columns["s"]["min"], columns["s"]["max"]) == (None, None)  # text: not computed
    top = dict(map(tuple, columns["s"]["top"]))
    assert top["b"] == 2 and top["a"] == 1
    assert ("x" * 199 + "…") in top  # cut to 200 characters
    assert columns["o"]["nulls"] == 1 and columns["o"]["top"][0] == ["u", 2]
    assert ["7", 1] in columns["o"]["top"]
    assert columns["flag"]["top"] == [["True", 3], ["False", 2]]
    assert columns["t"]["nulls"] == 2
    assert (columns["t"]["min"], columns["t"]["max"]) == (
        "2023-05-06T00:00:00",
        "2024-01-02T00:00:00",
    )
    assert columns["c"]["top"] == [["r", 3], ["g", 1]] and columns["c"]["nulls"] == 1
    assert (columns["i"]["nulls"], columns["i"]["min"], columns["i"]["max"]) == (2, 1, 9)


def test_parts_merge_to_the_whole_and_big_parts_are_sampled() -> None:
    rng = np.random.default_rng(1)
    n = SAMPLE_ROWS + 50_000
    frame = pd.DataFrame(
        {
            "k": pd.Series(rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]), dtype="str"),
            "v": rng.normal(size=n),
        }
    )
    whole = profile_frame(frame, "input", cache=None)
    parts = profile_frame(frame.iloc[:1000], "input", cache=None)
    parts.merge(profile_frame(frame.iloc[1000:], "input", cache=None))
    assert parts.as_dict()["columns"]["v"] == whole.as_dict()["columns"]["v"]
    k = whole.as_dict()["columns"]["k"]
    assert k["sampled"] is True and [v for v, _ in k["top"]] == ["a", "b", "c"]
    assert sum(c for _, c in k["top"]) == pytest.approx(n, rel=0.01)  # scaled to the part
    assert k["top"][0][1] == pytest.approx(0.6 * n, rel=0.05)


def test_parts_of_numbers_and_text_leave_min_and_max_unknown() -> None:
    """A column read as numbers in one part and as text in another (requests of a server):
    no min/max from the numbers alone (13.13 arrived as text, below the numbers' 120.5)."""
    whole = profile_frame(pd.DataFrame({"amount": [120.5, 300.0]}), "input")
    whole.merge(profile_frame(pd.DataFrame({"amount": ["13.13", "abc"]}), "input"))
    column = whole.columns["amount"]
    assert column.count == 4
    assert column.min is None and column.max is None
    numbers = profile_frame(pd.DataFrame({"amount": [1.0, 2.0]}), "input")
    numbers.merge(profile_frame(pd.DataFrame({"amount": [0.5]}), "input"))
    assert (numbers.columns["amount"].min, numbers.columns["amount"].max) == (0.5, 2.0)


def test_local_and_batch_write_the_same_profile(fraud_raw: pd.DataFrame, tmp_path: Path) -> None:
    seen = {}
    for runner, options in (("local", {}), ("batch", {"chunk_rows": 600, "progress": False})):
        result = fraud.run(
            transactions=fraud_raw,
            max_invalid=1.0,
            runner=runner,
            runner_options={"run_dir": str(tmp_path), **options},
        )
        path = tmp_path / result.run_id / "profile.json"
        assert json.loads(path.read_text()) == result.profile
        manifest = json.loads((tmp_path / result.run_id / "manifest.json").read_text())
        assert manifest["profile"] == str(path)
        assert all(s["duration_ms"] > 0 for s in manifest["steps"])
        assert result.profile is not None
        seen[runner] = result.profile
        datasets = result.profile["datasets"]
        assert list(datasets) == ["transactions", "features", "scored"]
        assert datasets["transactions"]["role"] == "input"
        assert datasets["transactions"]["rows"] == result.rows_in == len(fraud_raw)
        assert datasets["scored"]["rows"] == manifest["outputs"][-1]["rows"] == 1970
        # the input as read, bad rows included: raw text, missing amounts, "usa"-like codes
        amount = _column(result.profile, "transactions", "amount")
        assert amount["dtype"] == "str" and amount["nulls"] == fraud_raw["amount"].isna().sum()
        assert ["CUST-0088", 1] not in _column(result.profile, "transactions", "country")["top"]
        # the output as validated: typed, no nulls, in range
        scored = _column(result.profile, "scored", "amount")
        assert scored["dtype"] == "float64" and scored["nulls"] == 0 and scored["min"] >= 0
        assert _column(result.profile, "scored", "country")["top"][0] == ["US", 712]
    # raw amounts are nearly all distinct: their top values, merged from each part's 20 most
    # frequent, are approximate (docs/manifest.md); everything else is equal
    for document in seen.values():
        del document["datasets"]["transactions"]["columns"]["amount"]["top"]
    assert _rounded(seen["local"]) == _rounded(seen["batch"])


def test_profile_survives_a_checkpoint(fraud_raw: pd.DataFrame) -> None:
    profile = profile_frame(fraud_raw, "input", cache=None)
    result = UnitResult(profiles={"transactions": profile})
    restored = UnitResult.from_summary(json.loads(json.dumps(result.summary())), None)
    assert restored.profiles["transactions"].as_dict() == profile.as_dict()


class Broken(Step):
    """Fails on every row: the run fails after the first step's output is profiled."""

    output = "scored"
    scope = "rows"

    def run(self, features: DataFrame[Features]) -> DataFrame[Features]:
        raise ValueError("broken on purpose")


class Passthrough(Step):
    """Adds the feature columns without grouping."""

    output = "features"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        return transactions.assign(mean_amount=transactions["amount"], n_tx=1)


def test_a_failed_run_keeps_its_partial_profile(fraud_raw: pd.DataFrame, tmp_path: Path) -> None:
    pipeline = Pipeline([Passthrough(), Broken()], name="broken")
    with pytest.raises(sdk.StepError):
        pipeline.run(
            transactions=fraud_raw, max_invalid=1.0, runner_options={"run_dir": str(tmp_path)}
        )
    (folder,) = tmp_path.iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["profile"] == str(folder / "profile.json")
    document = json.loads((folder / "profile.json").read_text())
    assert list(document["datasets"]) == ["transactions", "features"]  # not "scored"
    assert document["datasets"]["features"]["rows"] == 1970
    assert [s["duration_ms"] is not None for s in manifest["steps"]] == [True, True]


def test_profile_false_writes_none(fraud_raw: pd.DataFrame, tmp_path: Path) -> None:
    assert "profile" in {o.name for o in get_runner("batch").options}
    result = fraud.run(
        transactions=fraud_raw,
        max_invalid=1.0,
        runner_options={"run_dir": str(tmp_path), "profile": "false"},  # as from the CLI
    )
    assert result.profile is None and result.manifest["profile"] is None
    assert not (tmp_path / result.run_id / "profile.json").exists()
    assert not math.isnan(result.manifest["steps"][0]["duration_ms"])
