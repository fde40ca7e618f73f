"""Tests of sdk.step: class-definition checks, deferred annotations, naming and renaming."""

import importlib.util
import logging
import sys
import textwrap
import uuid
from pathlib import Path
from types import ModuleType

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

from examples.fraud.pipeline import AddFeatures, Features, Score, Scored, Transactions
from sdk import Pipeline, Step, StepDefinitionError


class Readings(pa.DataFrameModel):
    """Sensor readings."""

    sensor: str
    value: float


class Smoothed(Readings):
    """Readings with a smoothed value."""

    smoothed: float


class SmoothReadings(Step):
    """Rolling mean of each sensor's value."""

    partition_by = "sensor"

    def run(self, readings: DataFrame[Readings]) -> DataFrame[Smoothed]:
        """Add the rolling mean per sensor."""
        rolled = readings.groupby("sensor")["value"].transform(lambda s: s.rolling(2).mean())
        return readings.assign(smoothed=rolled)


class HTTPStatusCheck(Step):
    """A class name with an acronym; no scope declared."""

    def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
        """Return the readings unchanged."""
        return readings


def _import_module(path: Path) -> ModuleType:
    """Import ``path`` as a fresh module (registered in sys.modules, as a real import is)."""
    name = f"deferred_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def deferred_module(tmp_path: Path):
    """A step module using postponed annotations, with its models defined after the step."""
    path = tmp_path / "late_models.py"
    path.write_text(
        textwrap.dedent(
            '''
            from __future__ import annotations

            import pandera.pandas as pa
            from pandera.typing import DataFrame

            from sdk import Step


            class Enrich(Step):
                """Adds a doubled value; its models are defined further down."""

                partition_by = "key"

                def run(self, raw: DataFrame[RawLate]) -> DataFrame[EnrichedLate]:
                    return raw.assign(doubled=raw["value"] * 2)


            class RawLate(pa.DataFrameModel):
                key: int
                value: float


            class EnrichedLate(RawLate):
                doubled: float
            '''
        )
    )
    module = _import_module(path)
    yield module
    sys.modules.pop(module.__name__, None)


def test_step_definition_error_is_a_type_error():
    """StepDefinitionError is also a TypeError, so generic handlers catch it."""
    with pytest.raises(TypeError):

        class Undocumented(Step):
            def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
                return readings


def test_missing_docstring_fails_at_definition():
    """A step class without a docstring fails when defined, naming the class and the fix."""
    with pytest.raises(StepDefinitionError) as info:

        class Undocumented(Step):
            def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "Undocumented" in message
    assert "docstring" in message
    assert "add one sentence" in message


def test_blank_docstring_fails_at_definition():
    """A whitespace-only docstring counts as missing."""
    with pytest.raises(StepDefinitionError, match=r"Blank: missing docstring"):

        class Blank(Step):
            """ """

            def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
                return readings


def test_missing_run_fails_at_definition():
    """A step class without run() fails when defined, showing the signature to write."""
    with pytest.raises(StepDefinitionError) as info:

        class NoRun(Step):
            """Does nothing."""

    message = str(info.value)
    assert "NoRun" in message
    assert "no run() method" in message
    assert "def run(self, name: DataFrame[InModel]) -> DataFrame[OutModel]" in message


def test_var_positional_run_fails_at_definition():
    """run(self, *frames) fails: each input dataset must be its own parameter."""
    with pytest.raises(StepDefinitionError) as info:

        class TakesArgs(Step):
            """Takes anything."""

            def run(self, *frames: DataFrame[Readings]) -> DataFrame[Readings]:
                return frames[0]

    message = str(info.value)
    assert "TakesArgs" in message
    assert "*frames" in message
    assert "name each input dataset as its own parameter" in message


def test_var_keyword_run_fails_at_definition():
    """run(self, **frames) fails: each input dataset must be its own parameter."""
    with pytest.raises(StepDefinitionError) as info:

        class TakesKwargs(Step):
            """Takes anything."""

            def run(self, **frames: DataFrame[Readings]) -> DataFrame[Readings]:
                return next(iter(frames.values()))

    message = str(info.value)
    assert "TakesKwargs" in message
    assert "**frames" in message
    assert "name each input dataset as its own parameter" in message


def test_unannotated_parameter_fails_at_definition():
    """A run() parameter without annotation fails, naming class, parameter and DataFrame[Model]."""
    with pytest.raises(StepDefinitionError) as info:

        class Unannotated(Step):
            """Forgets an annotation."""

            def run(self, readings) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "Unannotated" in message
    assert "'readings'" in message
    assert "DataFrame[Model]" in message


def test_plain_pandas_annotation_fails_at_definition():
    """A parameter annotated pd.DataFrame fails: it declares no contract."""
    with pytest.raises(StepDefinitionError) as info:

        class PlainPandas(Step):
            """Uses plain pandas."""

            def run(self, readings: pd.DataFrame) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "PlainPandas" in message
    assert "'readings'" in message
    assert "DataFrame[Model]" in message
    assert "from pandera.typing import DataFrame" in message


def test_dataframe_without_model_fails_at_definition():
    """A parameter annotated with pandera's bare DataFrame (no model) fails."""
    with pytest.raises(StepDefinitionError) as info:

        class BareFrame(Step):
            """Forgets the model."""

            def run(self, readings: DataFrame) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "BareFrame" in message
    assert "'readings'" in message
    assert "DataFrame[Model]" in message


def test_plain_pandas_return_annotation_fails_at_definition():
    """A return value annotated pd.DataFrame fails, naming the return value."""
    with pytest.raises(StepDefinitionError) as info:

        class PlainReturn(Step):
            """Returns plain pandas."""

            def run(self, readings: DataFrame[Readings]) -> pd.DataFrame:
                return readings

    message = str(info.value)
    assert "PlainReturn" in message
    assert "return value" in message
    assert "DataFrame[Model]" in message


def test_missing_return_annotation_fails_at_definition():
    """run() without a return annotation fails, saying to declare -> DataFrame[Model]."""
    with pytest.raises(StepDefinitionError) as info:

        class NoReturn(Step):
            """Forgets the output."""

            def run(self, readings: DataFrame[Readings]):
                return readings

    message = str(info.value)
    assert "NoReturn" in message
    assert "no return annotation" in message
    assert "-> DataFrame[Model]" in message


def test_unknown_scope_fails_at_definition():
    """An unknown scope fails, listing the scopes that exist and partition_by."""
    with pytest.raises(StepDefinitionError) as info:

        class Chunked(Step):
            """Wrong scope."""

            scope = "chunks"

            def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "Chunked" in message
    assert "'chunks'" in message
    assert "'rows'" in message
    assert "'global'" in message
    assert "partition_by" in message


def test_partition_by_unknown_column_fails_at_definition():
    """partition_by naming a column the input model lacks fails, listing the model's columns."""
    with pytest.raises(StepDefinitionError) as info:

        class WrongKey(Step):
            """Partitions by a column that does not exist."""

            partition_by = "device"

            def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "WrongKey" in message
    assert "'device'" in message
    assert "Readings" in message
    assert "sensor" in message
    assert "scope = 'global'" in message


def test_rows_scope_with_partition_by_fails_at_definition():
    """scope='rows' together with partition_by is a contradiction and fails."""
    with pytest.raises(StepDefinitionError) as info:

        class Contradiction(Step):
            """Says both."""

            scope = "rows"
            partition_by = "sensor"

            def run(self, readings: DataFrame[Readings]) -> DataFrame[Readings]:
                return readings

    message = str(info.value)
    assert "Contradiction" in message
    assert "'rows'" in message
    assert "'sensor'" in message
    assert "keep one" in message


def test_run_without_input_fails_at_definition():
    """run(self) with no input dataset fails: data must come in through run's parameters."""
    with pytest.raises(StepDefinitionError) as info:

        class Source(Step):
            """Makes data out of nothing."""

            def run(self) -> DataFrame[Readings]:
                return pd.DataFrame({"sensor": ["a"], "value": [1.0]})

    message = str(info.value)
    assert "Source" in message
    assert "no input dataset" in message
    assert "DataFrame[Model]" in message


def test_deferred_annotations_resolve_at_instantiation(deferred_module):
    """A step whose models are defined after it (postponed annotations) instantiates fine."""
    step = deferred_module.Enrich()
    contract = type(step).contract()
    assert contract.inputs == {"raw": deferred_module.RawLate}
    assert contract.output is deferred_module.EnrichedLate
    assert step.input_names == {"raw": "raw"}
    assert step.output_name == "enrich"


def test_deferred_step_builds_and_runs_in_a_pipeline(deferred_module):
    """A pipeline of a deferred-annotation step resolves its input and runs it."""
    pipeline = Pipeline([deferred_module.Enrich()])
    assert pipeline.inputs == ["raw"]
    result = pipeline.run(raw=pd.DataFrame({"key": [1, 2], "value": [1.5, 2.0]}))
    assert result.outputs["enrich"]["doubled"].tolist() == [3.0, 4.0]


def test_deferred_partition_by_is_checked_at_instantiation(tmp_path):
    """partition_by on a deferred step is still checked, at the latest on instantiation."""
    path = tmp_path / "late_key.py"
    path.write_text(
        textwrap.dedent(
            '''
            from __future__ import annotations

            import pandera.pandas as pa
            from pandera.typing import DataFrame

            from sdk import Step


            class KeyedLate(Step):
                """Partitions by a column its model lacks."""

                partition_by = "nope"

                def run(self, raw: DataFrame[LateModel]) -> DataFrame[LateModel]:
                    return raw


            class LateModel(pa.DataFrameModel):
                key: int
            '''
        )
    )
    module = _import_module(path)
    try:
        with pytest.raises(StepDefinitionError, match=r"KeyedLate: partition_by = 'nope'"):
            module.KeyedLate()
    finally:
        sys.modules.pop(module.__name__, None)


def test_undefined_model_fails_at_instantiation(tmp_path):
    """A model name that is never defined fails at instantiation, naming the class and the name."""
    path = tmp_path / "undefined_model.py"
    path.write_text(
        textwrap.dedent(
            '''
            from __future__ import annotations

            from pandera.typing import DataFrame

            from sdk import Step


            class Orphan(Step):
                """Refers to a model nobody defines."""

                def run(self, raw: DataFrame[NeverDefined]) -> DataFrame[NeverDefined]:
                    return raw
            '''
        )
    )
    module = _import_module(path)  # defining the class is allowed: the model may come later
    try:
        with pytest.raises(StepDefinitionError) as info:
            module.Orphan()
    finally:
        sys.modules.pop(module.__name__, None)
    message = str(info.value)
    assert "Orphan" in message
    assert "NeverDefined" in message
    assert "define the model" in message


def test_output_defaults_to_snake_case_class_name():
    """Without an output attribute, the dataset is the class name in snake_case."""
    assert SmoothReadings.output == "smooth_readings"
    assert SmoothReadings().output_name == "smooth_readings"
    assert HTTPStatusCheck().output_name == "http_status_check"


def test_explicit_output_attribute_is_kept():
    """A class-level output names the published dataset."""
    assert AddFeatures().output_name == "features"
    assert Score().output_name == "scored"


def test_step_name_defaults_to_snake_case_class_name():
    """The instance name defaults to the snake_case class name, not the output."""
    assert AddFeatures().name == "add_features"
    assert Score().name == "score"


def test_name_keyword_sets_the_step_name():
    """name= gives an instance its own name (and logger)."""
    step = Score(name="score_b")
    assert step.name == "score_b"
    assert step.log.name == "sdk.step.score_b"
    assert step.output_name == "scored"


def test_instance_renames_output_and_inputs():
    """Score(output=..., inputs=...) publishes and consumes other dataset names."""
    step = Score(output="x", inputs={"features": "features_v2"})
    assert step.output_name == "x"
    assert step.input_names == {"features": "features_v2"}
    assert Score.output == "scored"  # the class is untouched
    assert Score().input_names == {"features": "features"}


def test_renamed_step_is_wired_by_the_new_names():
    """A pipeline resolves a renamed step by its renamed datasets."""
    pipeline = Pipeline(
        [AddFeatures(output="features_v2"), Score(output="x", inputs={"features": "features_v2"})]
    )
    assert pipeline.inputs == ["transactions"]
    assert pipeline.outputs == ["features_v2", "x"]
    assert pipeline.producer("features_v2").name == "add_features"


def test_inputs_with_unknown_key_fails():
    """inputs= renaming a parameter run() does not take fails, listing run()'s parameters."""
    with pytest.raises(StepDefinitionError) as info:
        Score(inputs={"featurez": "features_v2"})
    message = str(info.value)
    assert "'score'" in message
    assert "featurez" in message
    assert "features" in message.split("run() takes", 1)[1]


def test_step_log_is_a_logger_under_sdk_step():
    """self.log is a standard logging.Logger named sdk.step.<name>."""
    step = Score()
    assert isinstance(step.log, logging.Logger)
    assert step.log.name == "sdk.step.score"
    assert step.log.name.startswith("sdk.step.")


def test_contract_reports_models_by_parameter():
    """Step.contract() gives the input model per run() parameter and the output model."""
    contract = Score.contract()
    assert contract.inputs == {"features": Features}
    assert contract.output is Scored
    assert AddFeatures.contract().inputs == {"transactions": Transactions}


def test_scope_labels():
    """scope_label reads rows, global (the default) or partition_by=<col>."""
    assert Score().scope_label == "rows"
    assert SmoothReadings().scope_label == "partition_by=sensor"
    assert HTTPStatusCheck().scope_label == "global"
