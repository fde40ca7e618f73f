"""Tests of sdk.errors: one hierarchy, builtin bases, pickling with attributes, StepError."""

import pickle

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

import sdk
from sdk import (
    ArtifactError,
    DataQualityError,
    IOSchemeError,
    ParamsError,
    Pipeline,
    PipelineError,
    PluginError,
    SchemaViolation,
    SdkError,
    Step,
    StepDefinitionError,
    StepError,
)


class Counts(pa.DataFrameModel):
    """Counts of something."""

    n: int


class Share(Step):
    """Each row's share of the total count."""

    def run(self, counts: DataFrame[Counts]) -> DataFrame[Counts]:
        """Divide every count by the total (which may be zero)."""
        total = int(counts["n"].sum())
        per_row = len(counts) // total
        return counts.assign(n=counts["n"] * per_row)


QUARANTINE = pd.DataFrame(
    {"run_id": ["r1"], "step": ["score"], "column": ["amount"], "check": ["not_nullable"]}
)

ERRORS = {
    "SdkError": (SdkError("something failed"), {}),
    "PolicyError": (
        sdk.PolicyError("2 policy findings", ["a.py:3:8 SDK101 open() ..."]),
        {"findings": ["a.py:3:8 SDK101 open() ..."]},
    ),
    "ResourceLimitError": (
        sdk.ResourceLimitError("step 'rank' (scope global) needs 3 GB, over the limit of 2 GB"),
        {},
    ),
    "StepDefinitionError": (
        StepDefinitionError("step Score: missing docstring; add one sentence"),
        {},
    ),
    "ParamsError": (
        ParamsError("step 'score': param 'weight' expects float, got str ('high')"),
        {},
    ),
    "PipelineError": (
        PipelineError("2 problems: ...", ["cycle between a -> b -> a", "dup 'x'"]),
        {"problems": ["cycle between a -> b -> a", "dup 'x'"]},
    ),
    "SchemaViolation": (
        SchemaViolation(
            "dataset 'features': column 'amount' missing",
            dataset="features",
            column="amount",
            check="column_in_dataframe",
            step="score",
            boundary="input",
        ),
        {
            "dataset": "features",
            "column": "amount",
            "check": "column_in_dataframe",
            "step": "score",
            "boundary": "input",
        },
    ),
    "DataQualityError": (
        DataQualityError(
            "run r1: 30 of 100 rows quarantined",
            run_id="r1",
            invalid=30,
            total=100,
            max_invalid=0.05,
            quarantine=QUARANTINE,
        ),
        {"run_id": "r1", "invalid": 30, "total": 100, "max_invalid": 0.05},
    ),
    "StepError": (
        StepError(
            "step 'score' raised ZeroDivisionError: division by zero",
            step="score",
            run_id="r1",
            input_summary={"features": {"rows": 3, "columns": ["amount"]}},
            original="ZeroDivisionError: division by zero",
        ),
        {
            "step": "score",
            "run_id": "r1",
            "input_summary": {"features": {"rows": 3, "columns": ["amount"]}},
            "original": "ZeroDivisionError: division by zero",
        },
    ),
    "PluginError": (PluginError("no runner 'sparkk'; registered: local"), {}),
    "IOSchemeError": (IOSchemeError("cannot read 'x.xlsx': no scheme for .xlsx"), {}),
    "ArtifactError": (ArtifactError("artifact 'm.skops' changed after it was written"), {}),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_error_round_trips_through_pickle(name, protocol):
    """Every SDK error pickles and unpickles with its type, message and attributes."""
    error, attributes = ERRORS[name]
    copy = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    for attribute, value in attributes.items():
        assert getattr(copy, attribute) == value, attribute


def test_data_quality_error_pickles_its_quarantine():
    """DataQualityError keeps its failure cases (the quarantine frame) across pickling."""
    error, _ = ERRORS["DataQualityError"]
    copy = pickle.loads(pickle.dumps(error))
    pd.testing.assert_frame_equal(copy.quarantine, QUARANTINE)


def test_every_public_error_is_covered():
    """The pickling test covers every exception class sdk exports."""
    exported = {
        name
        for name in sdk.__all__
        if isinstance(getattr(sdk, name), type) and issubclass(getattr(sdk, name), BaseException)
    }
    assert exported == set(ERRORS)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_derives_from_sdk_error(name):
    """All SDK errors share the one root SdkError, itself an Exception."""
    assert issubclass(getattr(sdk, name), SdkError)
    assert issubclass(SdkError, Exception)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (StepDefinitionError, TypeError),
        (ParamsError, ValueError),
        (PipelineError, ValueError),
        (PluginError, TypeError),
        (IOSchemeError, ValueError),
    ],
)
def test_errors_subclass_the_matching_builtin(error, builtin):
    """Errors also subclass the builtin that fits, so generic handlers catch them."""
    assert issubclass(error, builtin)
    with pytest.raises(builtin):
        raise error("x")


def test_pipeline_error_problems_default_to_the_message():
    """A PipelineError built with only a message has that message as its one problem."""
    error = PipelineError("missing input 'transactions'")
    assert error.problems == ["missing input 'transactions'"]
    assert pickle.loads(pickle.dumps(error)).problems == ["missing input 'transactions'"]


def real_step_error() -> StepError:
    """Run a pipeline whose step divides by a zero total; return the StepError it raises."""
    pipeline = Pipeline([Share()], name="shares")
    counts = pd.DataFrame({"n": [0, 0, 0], "extra": ["a", "b", "c"]})
    with pytest.raises(StepError) as info:
        pipeline.run(counts=counts, run_id="run-zero")
    return info.value


def test_step_error_names_step_run_and_inputs():
    """A step raising is wrapped in StepError with step, run id and the input summary."""
    step_error = real_step_error()
    assert step_error.step == "share"
    assert step_error.run_id == "run-zero"
    summary = step_error.input_summary["counts"]
    assert summary["rows"] == 3
    assert "n" in summary["columns"]
    assert step_error.original.startswith("ZeroDivisionError")
    message = str(step_error)
    assert "'share'" in message
    assert "ZeroDivisionError" in message
    assert "run-zero" in message


def test_step_error_chains_the_original():
    """The original exception is kept as __cause__."""
    step_error = real_step_error()
    assert isinstance(step_error.__cause__, ZeroDivisionError)


def test_real_step_error_pickles():
    """A StepError from a real run survives pickling with its message and attributes."""
    step_error = real_step_error()
    copy = pickle.loads(pickle.dumps(step_error))
    assert type(copy) is StepError
    assert str(copy) == str(step_error)
    assert copy.step == step_error.step
    assert copy.run_id == step_error.run_id
    assert copy.input_summary == step_error.input_summary
    assert copy.original == step_error.original
