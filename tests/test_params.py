"""Tests of sdk.params: typed frozen params, value parsing, pipeline overrides."""

from typing import Any, Literal, Optional

import attrs
import pytest
from pandera.typing import DataFrame

from examples.fraud.pipeline import AddFeatures, Score, Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk import Params, ParamsError, Pipeline, Step
from sdk.params import parse_param_value


class Filter(Step):
    """Keeps transactions by country, amount and mode."""

    class Params(Params):
        """Filter settings."""

        mode: Literal["fast", "exact"] = "fast"
        countries: list[str] = ["DE", "FR"]
        threshold: Optional[float] = None  # noqa: UP045 - the typing spelling is supported too
        cap: float | None = None
        limit: int = 10
        strict: bool = False
        label: str = "all"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Keep the rows of the chosen countries."""
        return transactions[transactions["country"].isin(self.params.countries)]


class Threshold(Step):
    """Flags amounts over a threshold that has no default."""

    class Params(Params):
        """The threshold must be given."""

        threshold: float

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Keep the rows over the threshold."""
        return transactions[transactions["amount"] > self.params.threshold]


def test_wrong_type_names_step_param_expected_and_given():
    """Score(weight="high") fails at once with the exact message from STYLE.md."""
    with pytest.raises(ParamsError) as info:
        Score(weight="high")
    assert str(info.value) == "step 'score': param 'weight' expects float, got str ('high')"


def test_params_error_is_a_value_error():
    """ParamsError is also a ValueError."""
    with pytest.raises(ValueError):
        Score(weight="high")


def test_wrong_type_message_uses_the_instance_name():
    """The message names the step instance, as it is named in the pipeline."""
    with pytest.raises(ParamsError, match=r"^step 'score_b': param 'bias' expects float"):
        Score(name="score_b", bias=[1.0])


def test_unknown_param_lists_known_params():
    """An unknown keyword fails, naming it and listing the known params."""
    with pytest.raises(ParamsError) as info:
        Score(wieght=0.9)
    message = str(info.value)
    assert "step 'score'" in message
    assert "'wieght'" in message
    assert "known params: bias, weight" in message


def test_unknown_param_on_step_without_params():
    """A step that declares no params refuses any, saying there are none."""
    with pytest.raises(ParamsError, match=r"unknown param\(s\) 'weight'; known params: none"):
        AddFeatures(weight=1.0)


def test_missing_required_param_fails():
    """A field without default must be given; omitting it is a ParamsError naming the field."""
    with pytest.raises(ParamsError) as info:
        Threshold()
    assert "step 'threshold'" in str(info.value)
    assert "threshold" in str(info.value).split(":", 1)[1]
    assert Threshold(threshold=2.0).params.threshold == 2.0


def test_params_are_frozen():
    """Assigning to a param raises attrs' FrozenInstanceError."""
    step = Score(weight=0.9)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        step.params.weight = 1.0  # type: ignore[misc]
    assert step.params.weight == 0.9


def test_defaults_apply():
    """Fields not given keep their declared defaults."""
    params = Score().params
    assert params.weight == 0.5
    assert params.bias == 0.0
    assert params.as_dict() == {"weight": 0.5, "bias": 0.0}


def test_int_is_accepted_for_float():
    """An int is a valid float param (the numeric tower)."""
    assert Score(weight=1).params.weight == 1


def test_literal_accepts_listed_values_only():
    """A Literal field takes one of its values and refuses others, naming the choices."""
    assert Filter(mode="exact").params.mode == "exact"
    with pytest.raises(ParamsError) as info:
        Filter(mode="slow")
    message = str(info.value)
    assert message.startswith("step 'filter': param 'mode' expects Literal[")
    assert "'fast'" in message and "'exact'" in message
    assert "got str ('slow')" in message


def test_list_of_str_accepts_strings():
    """A list[str] field takes a list of strings."""
    assert Filter(countries=["IT"]).params.countries == ["IT"]
    assert Filter(countries=[]).params.countries == []


@pytest.mark.parametrize("value", [["IT", 3], [3], "DE", ("DE",)])
def test_list_of_str_refuses_wrong_items(value):
    """A list[str] field refuses a non-list and any non-string item, not only the first."""
    with pytest.raises(ParamsError, match=r"^step 'filter': param 'countries' expects list\[str\]"):
        Filter(countries=value)


def test_optional_accepts_none_and_the_type():
    """Optional[float] and float | None take None or a float and refuse a string; both are
    named the same way in the message."""
    assert Filter(threshold=None, cap=None).params.threshold is None
    step = Filter(threshold=0.5, cap=2)
    assert step.params.threshold == 0.5
    assert step.params.cap == 2
    with pytest.raises(ParamsError, match=r"param 'threshold' expects float \| None, got str"):
        Filter(threshold="x")
    with pytest.raises(ParamsError, match=r"param 'cap' expects float \| None, got str \('x'\)"):
        Filter(cap="x")


def test_with_params_on_a_step_checks_values():
    """Step.with_params returns a copy checked like the original; the original is unchanged."""
    step = Score(weight=0.7)
    other = step.with_params(bias=1.0)
    assert other.params.as_dict() == {"weight": 0.7, "bias": 1.0}
    assert step.params.bias == 0.0
    with pytest.raises(ParamsError, match=r"param 'bias' expects float, got str"):
        step.with_params(bias="one")


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        ("3", int, 3),
        (" -4 ", int, -4),
        ("0.9", float, 0.9),
        ("1e-3", float, 0.001),
        ("7", float, 7.0),
        ("true", bool, True),
        ("Yes", bool, True),
        ("1", bool, True),
        ("false", bool, False),
        ("off", bool, False),
        ("hello world", str, "hello world"),
        ("", str, ""),
        ("exact", Literal["fast", "exact"], "exact"),
        ("2", Literal[1, 2], 2),
        ("a, b", list[str], ["a", "b"]),
        ('["a", "b"]', list[str], ["a", "b"]),
        ("1,2,3", list[int], [1, 2, 3]),
        ("[1, 2]", list[int], [1, 2]),
        ("0.5", float | None, 0.5),
        ("none", float | None, None),
        ("null", Optional[int], None),  # noqa: UP045 - the typing spelling is supported too
        ("", float | None, None),
        ("anything", Any, "anything"),
    ],
)
def test_parse_param_value_reads_text(text, annotation, expected):
    """Text from the command line is parsed into the annotated type."""
    value = parse_param_value("score", "p", text, annotation)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "annotation", "shown"),
    [
        ("abc", int, "int"),
        ("1.5", int, "int"),
        ("", int, "int"),
        ("high", float, "float"),
        ("maybe", bool, "bool"),
        ("slow", Literal["fast", "exact"], "Literal['fast', 'exact']"),
        ("a,b", list[int], "list[int]"),
        ("[1, 2", list[int], "list[int]"),
        ("x", float | None, "float | None"),
    ],
)
def test_parse_param_value_refuses_bad_text(text, annotation, shown):
    """Unreadable text fails with a ParamsError naming step, param, expected type and the text."""
    with pytest.raises(ParamsError) as info:
        parse_param_value("score", "weight", text, annotation)
    message = str(info.value)
    assert message.startswith(f"step 'score': param 'weight' expects {shown}, ")
    assert repr(text) in message


def test_parse_param_value_passes_typed_values_through():
    """Already-typed values (from a TOML deployment file) are kept when they fit."""
    assert parse_param_value("score", "weight", 0.9, float) == 0.9
    assert parse_param_value("score", "tags", ["a"], list[str]) == ["a"]


def test_parse_param_value_refuses_wrong_typed_value():
    """An already-typed value of the wrong type is a ParamsError, not another exception."""
    with pytest.raises(ParamsError, match=r"^step 'score': param 'weight' expects float"):
        parse_param_value("score", "weight", [0.9], float)


def test_pipeline_with_params_parses_strings():
    """{"score.weight": "0.9"} is parsed into a float on the score step."""
    changed = fraud.with_params({"score.weight": "0.9"})
    score = next(s for s in changed.steps if s.name == "score")
    assert score.params.weight == 0.9
    assert isinstance(score.params.weight, float)
    assert score.params.bias == 0.0


def test_pipeline_with_params_leaves_original_unchanged():
    """with_params returns a new pipeline; the original keeps its params."""
    fraud.with_params({"score.weight": "0.9"})
    score = next(s for s in fraud.steps if s.name == "score")
    assert score.params.weight == 0.7


def test_pipeline_with_params_accepts_nested_mapping():
    """{"score": {"weight": 0.9}} overrides like the dotted form, typed values kept."""
    changed = fraud.with_params({"score": {"weight": 0.9, "bias": "1"}})
    score = next(s for s in changed.steps if s.name == "score")
    assert score.params.as_dict() == {"weight": 0.9, "bias": 1.0}


def test_pipeline_with_params_refuses_bad_text():
    """A string that does not parse is refused with step, param, type and text."""
    with pytest.raises(ParamsError) as info:
        fraud.with_params({"score.weight": "high"})
    message = str(info.value)
    assert "step 'score'" in message
    assert "param 'weight'" in message
    assert "float" in message
    assert "'high'" in message


def test_pipeline_with_params_refuses_wrong_typed_value():
    """A typed value of the wrong type (as from TOML) is refused with a ParamsError."""
    with pytest.raises(ParamsError, match=r"step 'score': param 'weight' expects float"):
        fraud.with_params({"score": {"weight": [0.9]}})


def test_pipeline_with_params_unknown_step_lists_steps():
    """An override for an unknown step names it and lists the pipeline's steps."""
    with pytest.raises(ParamsError) as info:
        fraud.with_params({"scorer.weight": "0.9"})
    message = str(info.value)
    assert "'scorer'" in message
    assert "add_features" in message
    assert "score" in message.split("steps:", 1)[1]


def test_pipeline_with_params_unknown_field_lists_known():
    """An override for an unknown field of a known step lists that step's params."""
    with pytest.raises(ParamsError, match=r"step 'score': unknown param\(s\) 'wieght'"):
        fraud.with_params({"score.wieght": "0.9"})


@pytest.mark.parametrize("key", ["weight", "score.", ".weight"])
def test_pipeline_with_params_malformed_key(key):
    """A key that is not step.field is refused, showing the expected form."""
    with pytest.raises(ParamsError) as info:
        fraud.with_params({key: "0.9"})
    assert "step.field" in str(info.value)


def test_pipeline_with_params_empty_is_identity():
    """No overrides returns an equivalent pipeline."""
    assert fraud.with_params({}).fingerprint() == fraud.fingerprint()
    assert fraud.with_params(None).fingerprint() == fraud.fingerprint()


def test_params_change_the_fingerprint():
    """Different param values give a different fingerprint; equal values the same."""
    base = Pipeline([AddFeatures(), Score(weight=0.7)], name="fraud")
    assert base.fingerprint() == fraud.fingerprint()
    assert base.with_params({"score.weight": "0.7"}).fingerprint() == base.fingerprint()
    assert base.with_params({"score.weight": "0.9"}).fingerprint() != base.fingerprint()
    assert (
        Pipeline([AddFeatures(), Score(bias=1.0)]).fingerprint()
        != Pipeline([AddFeatures(), Score()]).fingerprint()
    )
