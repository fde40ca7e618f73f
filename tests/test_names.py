"""Names that used to do something else silently: a class-level ``name``, inherited ``output``
and ``inputs``, and a misspelt ``run()`` parameter that became a pipeline input."""

from __future__ import annotations

import warnings

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

from sdk import Params, Pipeline, PipelineError, Step, StepDefinitionError


class Flights(pa.DataFrameModel):
    """A flight and its delay."""

    carrier: str
    dep_delay: float = pa.Field(ge=-60)

    class Config:
        coerce = True


class CleanFlights(Step):
    """Flights with a known carrier."""

    name = "clean"
    output = "clean_flights"
    scope = "rows"

    class Params(Params):
        carrier: str = "UA"

    def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
        return flights[flights["carrier"] != "??"]


class Late(Step):
    """Flights more than an hour late."""

    scope = "rows"

    def run(self, clean_flights: DataFrame[Flights]) -> DataFrame[Flights]:
        return clean_flights[clean_flights["dep_delay"] > 60]


FLIGHTS = pd.DataFrame({"carrier": ["UA", "??", "AA"], "dep_delay": [90.0, 120.0, 5.0]})


# -- (a) a class-level name ------------------------------------------------------------------


def test_class_level_name_is_the_step_name():
    """name = "clean" on the class names the step in the pipeline, params and quarantine."""
    step = CleanFlights()
    assert step.name == "clean"
    pipeline = Pipeline([step, Late()])
    assert [s.name for s in pipeline.order] == ["clean", "late"]
    tuned = pipeline.with_params({"clean.carrier": "AA"})
    assert tuned.order[0].params.carrier == "AA"
    result = pipeline.run(flights=FLIGHTS.assign(dep_delay=["90", "x", "5"]), max_invalid=1.0)
    assert set(result.quarantine["step"]) == {"clean"}


def test_explicit_name_wins_over_the_class_name():
    """Step(name=...) still names the instance, over the class attribute."""
    assert CleanFlights(name="clean_again").name == "clean_again"


def test_steps_without_a_name_are_named_after_their_class():
    """Without a class-level name, the default stays the snake_case class name."""
    assert Late().name == "late"


def test_malformed_class_level_name_fails_at_definition():
    """A name that is not a non-empty string fails when the class is defined."""
    with pytest.raises(StepDefinitionError, match=r"step Nameless: name = 3; a step's name"):

        class Nameless(Step):
            """Named by a number."""

            name = 3

            def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
                return flights


# -- (b) inherited output and inputs ---------------------------------------------------------


def test_subclass_inherits_output_and_name():
    """A subclass publishes under its base's output and keeps its base's name."""

    class StricterClean(CleanFlights):
        """Clean flights, also without negative delays."""

        def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
            return flights[(flights["carrier"] != "??") & (flights["dep_delay"] >= 0)]

    step = StricterClean()
    assert (step.name, step.output_name) == ("clean", "clean_flights")
    result = Pipeline([step, Late()]).run(flights=FLIGHTS)
    assert list(result.outputs) == ["clean_flights", "late"]
    assert result.outputs["late"]["dep_delay"].tolist() == [90.0]


def test_subclass_of_a_step_with_default_output_takes_its_own_class_name():
    """A default output is the class's own name, for the subclass too: only a declared
    output is inherited."""

    class VeryLate(Late):
        """Flights more than two hours late."""

        def run(self, clean_flights: DataFrame[Flights]) -> DataFrame[Flights]:
            return clean_flights[clean_flights["dep_delay"] > 120]

    assert Late.output == "late"
    assert VeryLate.output == "very_late"
    assert VeryLate().output_name == "very_late"


def test_class_level_inputs_are_inherited_and_merged_with_the_arguments():
    """A class-level inputs mapping renames run() parameters, is inherited, and inputs=
    overrides it parameter by parameter."""

    class LateOfV2(Late):
        """Late flights of the second cleaning."""

        inputs = {"clean_flights": "clean_flights_v2"}

    class LateOfV2Too(LateOfV2):
        """The same, under another name."""

    assert LateOfV2().input_names == {"clean_flights": "clean_flights_v2"}
    assert LateOfV2Too().input_names == {"clean_flights": "clean_flights_v2"}
    renamed = LateOfV2Too(inputs={"clean_flights": "other"})
    assert renamed.input_names == {"clean_flights": "other"}
    pipeline = Pipeline([CleanFlights(output="clean_flights_v2"), LateOfV2()])
    assert pipeline.inputs == ["flights"]


def test_class_level_inputs_naming_an_unknown_parameter_fails_at_definition():
    """inputs naming a parameter run() does not take fails when the class is defined."""
    with pytest.raises(StepDefinitionError) as info:

        class Misrenamed(Step):
            """Renames a parameter it does not have."""

            inputs = {"flight": "clean_flights"}

            def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
                return flights

    assert str(info.value) == (
        "step Misrenamed: inputs renames unknown parameter(s) flight; run() takes flights"
    )


# -- (c) a misspelt input --------------------------------------------------------------------


class LateTypo(Step):
    """Late flights, with the input misspelt."""

    scope = "rows"

    def run(self, clean_flight: DataFrame[Flights]) -> DataFrame[Flights]:
        return clean_flight[clean_flight["dep_delay"] > 60]


HINT = (
    "step 'late_typo': parameter 'clean_flight' is not produced by any step, so it becomes a "
    "pipeline input; did you mean 'clean_flights' (produced by 'clean')?"
)


def test_misspelt_input_warns_did_you_mean_when_built():
    """A pipeline input named like a produced dataset warns at construction, naming the step,
    the parameter and the dataset meant, and is kept in Pipeline.hints."""
    with pytest.warns(UserWarning) as caught:
        pipeline = Pipeline([CleanFlights(), LateTypo()])
    assert [str(w.message) for w in caught] == [HINT]
    assert caught[0].filename == __file__  # points at the line that built the pipeline
    assert pipeline.hints == (HINT,)
    assert pipeline.inputs == ["flights", "clean_flight"]


def test_misspelt_input_still_fails_the_run_naming_it():
    """The run without the misspelt input still fails, naming the missing input."""
    with pytest.warns(UserWarning):
        pipeline = Pipeline([CleanFlights(), LateTypo()])
    with pytest.raises(PipelineError, match="clean_flight"):
        pipeline.run(flights=FLIGHTS)


def test_renamed_input_close_to_a_produced_dataset_names_both():
    """A misspelt inputs= rename is reported with the parameter and the dataset it names."""
    with pytest.warns(UserWarning, match="did you mean") as caught:
        Pipeline([CleanFlights(), Late(inputs={"clean_flights": "cleaned_flights"})])
    assert str(caught[0].message).startswith(
        "step 'late': parameter 'clean_flights' (dataset 'cleaned_flights') is not produced"
    )


def test_correctly_wired_and_unrelated_inputs_give_no_hint():
    """Inputs unlike any produced name, and correct wiring, warn nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = Pipeline([CleanFlights(), Late()])
    assert pipeline.hints == ()


def test_with_params_keeps_the_hints_without_warning_again():
    """A copy with params overridden (as every run with --param makes) keeps the hints but
    does not repeat the warning."""
    with pytest.warns(UserWarning):
        pipeline = Pipeline([CleanFlights(), LateTypo()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tuned = pipeline.with_params({"clean.carrier": "AA"})
    assert tuned.hints == (HINT,)


def test_dataset_made_from_the_input_itself_is_not_hinted():
    """A step that reads ``flight`` and writes ``flights`` is a rename, not a misspelling: the
    input cannot have meant a dataset made from itself."""

    class Plural(Step):
        """Flights, under a plural name."""

        scope = "rows"
        output = "flights"

        def run(self, flight: DataFrame[Flights]) -> DataFrame[Flights]:
            return flight

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = Pipeline([Plural(), Late(inputs={"clean_flights": "flights"})])
    assert pipeline.hints == ()
