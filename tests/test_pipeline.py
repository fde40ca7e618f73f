"""Tests of sdk.pipeline: DAG resolution, wiring errors, static contract check, run inputs."""

import itertools

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame, Series

from examples.fraud.pipeline import AddFeatures, Score
from examples.fraud.pipeline import pipeline as fraud
from sdk import ContractReport, Pipeline, PipelineError, Step
from sdk.contracts import check_edge

# --- models ---------------------------------------------------------------------------------


class Orders(pa.DataFrameModel):
    """Orders as they arrive."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)
    country: str = pa.Field(isin=["DE", "FR"])


class Tagged(Orders):
    """Orders with a tag: a subclass of Orders."""

    tag: str


class OrdersTwin(pa.DataFrameModel):
    """The same columns and checks as Orders, but not a subclass of it."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)
    country: str = pa.Field(isin=["DE", "FR"])


class NullableAmount(pa.DataFrameModel):
    """Orders whose amount may be missing."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0, nullable=True)
    country: str = pa.Field(isin=["DE", "FR"])


class LooseRange(pa.DataFrameModel):
    """Orders whose amount may be down to -5."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=-5)
    country: str = pa.Field(isin=["DE", "FR"])


class NoRange(pa.DataFrameModel):
    """Orders whose amount has no bound."""

    order_id: int = pa.Field(ge=0)
    amount: float
    country: str = pa.Field(isin=["DE", "FR"])


class MoreCountries(pa.DataFrameModel):
    """Orders from a wider set of countries."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)
    country: str = pa.Field(isin=["DE", "FR", "IT"])


class FewerCountries(pa.DataFrameModel):
    """Orders from a narrower set of countries."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)
    country: str = pa.Field(isin=["DE"])


class NoCountry(pa.DataFrameModel):
    """Orders without a country column."""

    order_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)


class IntAmount(pa.DataFrameModel):
    """Orders whose amount must be whole."""

    order_id: int = pa.Field(ge=0)
    amount: int = pa.Field(ge=0)
    country: str = pa.Field(isin=["DE", "FR"])


class SmallOrders(Orders):
    """Orders with a custom check on the amount."""

    @pa.check("amount")
    def under_a_thousand(cls, amount: Series[float]) -> Series[bool]:
        """Amounts stay below 1000."""
        return amount < 1000


class Customers(pa.DataFrameModel):
    """Customers, a second input."""

    order_id: int
    name: str


class Report(Orders):
    """Orders with their customer's name."""

    name: str


# --- steps ----------------------------------------------------------------------------------


class Tag(Step):
    """Tags every order: its output model subclasses the consumer's input model."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[Tagged]:
        """Add a constant tag."""
        return orders.assign(tag="x")


class Mirror(Step):
    """Passes orders on as a compatible but unrelated model."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[OrdersTwin]:
        """Return the orders unchanged."""
        return orders


class EmitNullable(Step):
    """Produces orders whose amount may be missing."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[NullableAmount]:
        """Return the orders unchanged."""
        return orders


class EmitLooseRange(Step):
    """Produces orders with amounts down to -5."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[LooseRange]:
        """Return the orders unchanged."""
        return orders


class EmitNoRange(Step):
    """Produces orders with unbounded amounts."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[NoRange]:
        """Return the orders unchanged."""
        return orders


class EmitMoreCountries(Step):
    """Produces orders from more countries than Orders allows."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[MoreCountries]:
        """Return the orders unchanged."""
        return orders


class EmitFewerCountries(Step):
    """Produces orders from fewer countries than Orders allows."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[FewerCountries]:
        """Return the German orders."""
        return orders[orders["country"] == "DE"]


class DropCountry(Step):
    """Produces orders without a country."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[NoCountry]:
        """Drop the country column."""
        return orders.drop(columns=["country"])


class Emit(Step):
    """Passes orders on as Orders."""

    output = "mid"

    def run(self, orders: DataFrame[Orders]) -> DataFrame[Orders]:
        """Return the orders unchanged."""
        return orders


class Take(Step):
    """Consumes orders as Orders."""

    output = "final"

    def run(self, mid: DataFrame[Orders]) -> DataFrame[Orders]:
        """Return the orders unchanged."""
        return mid


class TakeWhole(Step):
    """Consumes orders whose amount must be whole."""

    output = "final"

    def run(self, mid: DataFrame[IntAmount]) -> DataFrame[IntAmount]:
        """Return the orders unchanged."""
        return mid


class TakeSmall(Step):
    """Consumes orders under a custom check."""

    output = "final"

    def run(self, mid: DataFrame[SmallOrders]) -> DataFrame[SmallOrders]:
        """Return the orders unchanged."""
        return mid


class Join(Step):
    """Adds the customer's name to each order."""

    output = "report"

    def run(self, mid: DataFrame[Orders], customers: DataFrame[Customers]) -> DataFrame[Report]:
        """Merge on order_id."""
        return mid.merge(customers, on="order_id")


class Relay(Step):
    """Passes orders on; instances are wired by renaming."""

    def run(self, data: DataFrame[Orders]) -> DataFrame[Orders]:
        """Return the orders unchanged."""
        return data


def orders_frame() -> pd.DataFrame:
    """Three valid orders."""
    return pd.DataFrame(
        {"order_id": [1, 2, 3], "amount": [10.0, 20.0, 30.0], "country": ["DE", "FR", "DE"]}
    )


def edge_report(producer: Step, consumer: Step) -> ContractReport:
    """The contract report of a two-step pipeline orders -> producer -> mid -> consumer."""
    return Pipeline([producer, consumer]).check()


# --- DAG ------------------------------------------------------------------------------------


def test_order_follows_dependencies_not_list_order():
    """Steps run producers first whatever order they are listed in."""
    for steps in itertools.permutations([Emit(), Take(), Join()]):
        pipeline = Pipeline(list(steps))
        names = [s.name for s in pipeline.order]
        assert names.index("emit") < names.index("take")
        assert names.index("emit") < names.index("join")
        assert set(pipeline.inputs) == {"orders", "customers"}
        assert set(pipeline.outputs) == {"mid", "final", "report"}


def test_linear_chain_order_is_unique():
    """A chain listed backwards runs in dependency order."""
    pipeline = Pipeline([Score(), AddFeatures()])
    assert [s.name for s in pipeline.order] == ["add_features", "score"]
    assert pipeline.outputs == ["features", "scored"]


def test_inputs_are_datasets_no_step_produces():
    """Pipeline inputs are exactly the consumed datasets without a producer."""
    pipeline = Pipeline([Join(), Emit()])
    assert sorted(pipeline.inputs) == ["customers", "orders"]
    assert pipeline.producer("mid").name == "emit"
    assert pipeline.producer("orders") is None
    assert fraud.inputs == ["transactions"]


def test_outputs_list_every_produced_dataset_in_order():
    """outputs lists every dataset a step produces, in execution order."""
    pipeline = Pipeline([Take(), Emit()])
    assert pipeline.outputs == ["mid", "final"]


def test_renamed_instances_form_a_chain():
    """Instances of one class wired by inputs=/output= form a chain."""
    pipeline = Pipeline(
        [
            Relay(name="second", inputs={"data": "a"}, output="b"),
            Relay(name="first", inputs={"data": "raw"}, output="a"),
        ]
    )
    assert [s.name for s in pipeline.order] == ["first", "second"]
    assert pipeline.inputs == ["raw"]
    assert pipeline.outputs == ["a", "b"]


# --- wiring errors --------------------------------------------------------------------------


def test_duplicate_producer_and_cycle_are_reported_together():
    """Two producers of one dataset and a cycle are both listed in one PipelineError."""
    steps = [
        Relay(name="maker_a", inputs={"data": "raw"}, output="dup"),
        Relay(name="maker_b", inputs={"data": "raw"}, output="dup"),
        Relay(name="ping", inputs={"data": "pong_out"}, output="ping_out"),
        Relay(name="pong", inputs={"data": "ping_out"}, output="pong_out"),
    ]
    with pytest.raises(PipelineError) as info:
        Pipeline(steps)
    problems = info.value.problems
    assert len(problems) == 2
    duplicate = next(p for p in problems if "'dup'" in p)
    assert "maker_a" in duplicate and "maker_b" in duplicate
    cycle = next(p for p in problems if "cycle" in p)
    assert "ping" in cycle and "pong" in cycle
    message = str(info.value)
    assert duplicate in message and cycle in message


def test_self_loop_is_a_cycle():
    """A step consuming its own output is refused as a cycle naming it."""
    with pytest.raises(PipelineError, match=r"cycle between steps loop -> loop"):
        Pipeline([Relay(name="loop", inputs={"data": "x"}, output="x")])


def test_longer_cycle_names_every_step():
    """A three-step cycle names all three steps."""
    with pytest.raises(PipelineError) as info:
        Pipeline(
            [
                Relay(name="a", inputs={"data": "c_out"}, output="a_out"),
                Relay(name="b", inputs={"data": "a_out"}, output="b_out"),
                Relay(name="c", inputs={"data": "b_out"}, output="c_out"),
                Take(),
                Emit(),
            ]
        )
    (problem,) = info.value.problems
    assert problem.startswith("cycle between steps ")
    assert {"a", "b", "c"} <= set(problem.split("steps ", 1)[1].split(";")[0].split(" -> "))


def test_non_step_items_are_all_listed():
    """A class instead of an instance, and a non-step, are each reported with the fix."""
    with pytest.raises(PipelineError) as info:
        Pipeline([Emit, "take", Take()])  # type: ignore[list-item]
    problems = info.value.problems
    assert len(problems) == 2
    assert any("item 0" in p and "write Emit()" in p for p in problems)
    assert any("item 1" in p and "'take'" in p and "not an sdk.Step" in p for p in problems)


def test_duplicate_step_names_are_refused():
    """Two instances with one name are refused, saying to pass name=, and no cycle is invented."""
    with pytest.raises(PipelineError) as info:
        Pipeline([Relay(output="a"), Relay(inputs={"data": "a"}, output="b")])
    assert not [p for p in info.value.problems if "cycle" in p]  # a -> b is a chain, not a loop
    (problem,) = info.value.problems
    assert "'relay'" in problem
    assert "2 times" in problem
    assert "name=" in problem


def test_pipeline_error_is_a_value_error():
    """PipelineError is an SdkError and a ValueError."""
    with pytest.raises(ValueError):
        Pipeline([Relay(name="loop", inputs={"data": "x"}, output="x")])


# --- static contract check ------------------------------------------------------------------


def test_compatible_chain_has_no_findings():
    """Equal models on an edge give no findings and the edge is listed."""
    report = edge_report(Emit(), Take())
    assert report.edges == (("emit", "take", "mid"),)
    assert report.findings == ()
    assert report.ok


def test_missing_required_column_is_an_error():
    """A column the consumer needs and the producer lacks is an error finding."""
    (finding,) = check_edge("drop_country", "take", "mid", NoCountry, Orders)
    assert finding.severity == "error"
    assert finding.kind == "missing_column"
    assert finding.column == "country"


def test_missing_required_column_refuses_the_pipeline():
    """Building a pipeline with a missing required column raises, naming consumer and column."""
    with pytest.raises(PipelineError) as info:
        Pipeline([DropCountry(), Take()])
    (problem,) = info.value.problems
    assert "take" in problem
    assert "'country'" in problem
    assert "NoCountry" in problem


def test_nullable_widened_is_a_warning():
    """A producer allowing nulls the consumer refuses gives a nullable_widened warning."""
    report = edge_report(EmitNullable(), Take())
    (finding,) = report.findings
    assert (finding.kind, finding.severity) == ("nullable_widened", "warning")
    assert finding.column == "amount"
    assert report.ok


@pytest.mark.parametrize("producer", [EmitLooseRange, EmitNoRange], ids=["ge=-5", "no bound"])
def test_range_widened_is_a_warning(producer):
    """A producer lower bound below the consumer's (or none) gives a range_widened warning."""
    report = edge_report(producer(), Take())
    (finding,) = report.findings
    assert (finding.kind, finding.severity) == ("range_widened", "warning")
    assert finding.column == "amount"
    assert "0" in finding.message


def test_isin_widened_is_a_warning():
    """A producer allowing more values than the consumer's isin gives an isin_widened warning."""
    report = edge_report(EmitMoreCountries(), Take())
    (finding,) = report.findings
    assert (finding.kind, finding.severity) == ("isin_widened", "warning")
    assert finding.column == "country"


def test_isin_narrowed_is_fine():
    """A producer restricted to a subset of the consumer's values gives no finding."""
    assert edge_report(EmitFewerCountries(), Take()).findings == ()


def test_float_to_int_is_undecidable():
    """float -> int depends on the values, so it is reported undecidable, not guessed."""
    report = edge_report(Emit(), TakeWhole())
    (finding,) = report.findings
    assert (finding.kind, finding.severity, finding.column) == ("dtype", "undecidable", "amount")
    assert report.ok


def test_custom_check_is_undecidable():
    """A consumer's custom check cannot be proven statically: undecidable."""
    report = edge_report(Emit(), TakeSmall())
    (finding,) = report.findings
    assert (finding.kind, finding.severity, finding.column) == (
        "check_unproven",
        "undecidable",
        "amount",
    )
    assert report.skipped == ()


def test_subclass_edge_without_findings_is_skipped():
    """An output model subclassing the input model, with no findings, skips input validation."""
    report = edge_report(Tag(), Take())
    assert report.findings == ()
    assert report.skipped == (("take", "mid"),)


def test_skipped_boundary_is_marked_in_the_run_report():
    """At run time the skipped input boundary shows skipped=True; the others are validated."""
    result = Pipeline([Tag(), Take()]).run(orders=orders_frame())
    report = result.report.set_index(["step", "boundary", "dataset"])
    assert bool(report.loc[("take", "input", "mid"), "skipped"]) is True
    assert int(report.loc[("take", "input", "mid"), "passed"]) == 3
    assert bool(report.loc[("tag", "input", "orders"), "skipped"]) is False
    assert bool(report.loc[("take", "output", "final"), "skipped"]) is False
    assert len(result.outputs["final"]) == 3


def test_compatible_non_subclass_edge_is_not_skipped():
    """An equal but unrelated model has no findings yet is still validated at run time."""
    pipeline = Pipeline([Mirror(), Take()])
    assert pipeline.check().findings == ()
    assert pipeline.check().skipped == ()
    report = pipeline.run(orders=orders_frame()).report.set_index(["step", "boundary", "dataset"])
    assert bool(report.loc[("take", "input", "mid"), "skipped"]) is False


def test_subclass_edge_with_findings_is_not_skipped():
    """A subclass edge is not skipped when it has findings (here a custom check)."""
    report = edge_report(Emit(), TakeSmall())
    assert report.skipped == ()


def test_fraud_example_skips_scores_input_validation():
    """The DESIGN.md example: Features -> Score's input is proven redundant."""
    report = fraud.check()
    assert report.skipped == (("score", "features"),)
    assert report.findings == ()


# --- running --------------------------------------------------------------------------------


def test_run_without_input_names_it_and_its_model():
    """Running without a pipeline input raises PipelineError naming the input and its model."""
    with pytest.raises(PipelineError) as info:
        fraud.run()
    message = str(info.value)
    assert "'transactions'" in message
    assert "Transactions" in message
    assert "transactions=" in message


def test_run_reports_every_missing_input():
    """All missing inputs are listed at once."""
    with pytest.raises(PipelineError) as info:
        Pipeline([Emit(), Join()]).run()
    problems = info.value.problems
    assert len(problems) == 2
    assert any("'orders'" in p and "Orders" in p for p in problems)
    assert any("'customers'" in p and "Customers" in p for p in problems)


def test_run_with_unknown_input_errors():
    """An input the pipeline does not take is refused, listing its inputs."""
    with pytest.raises(PipelineError) as info:
        Pipeline([Emit(), Take()]).run(orders=orders_frame(), orderz=orders_frame())
    message = str(info.value)
    assert "'orderz'" in message
    assert "orders" in message.split("inputs are", 1)[1]


def test_run_with_unknown_output_errors(tmp_path):
    """An output the pipeline does not produce is refused, listing what it produces."""
    with pytest.raises(PipelineError) as info:
        Pipeline([Emit(), Take()]).run(
            orders=orders_frame(), outputs={"nope": str(tmp_path / "nope.csv")}
        )
    message = str(info.value)
    assert "'nope'" in message
    assert "mid" in message and "final" in message
    assert not (tmp_path / "nope.csv").exists()


def test_run_produces_every_output():
    """A run returns every produced dataset by name."""
    customers = pd.DataFrame({"order_id": [1, 2, 3], "name": ["a", "b", "c"]})
    result = Pipeline([Join(), Emit()]).run(orders=orders_frame(), customers=customers)
    assert set(result.outputs) == {"mid", "report"}
    assert result.outputs["report"]["name"].tolist() == ["a", "b", "c"]


# --- describe -------------------------------------------------------------------------------


def test_describe_mentions_steps_datasets_models_scopes_params():
    """describe() names every step, dataset, model, scope and param."""
    text = fraud.describe()
    for expected in [
        "'fraud'",
        "add_features",
        "AddFeatures",
        "score",
        "Score",
        "transactions",
        "features",
        "scored",
        "Transactions",
        "Features",
        "Scored",
        "partition_by=customer_id",
        "scope rows",
        "weight=0.7",
        "bias=0.0",
    ]:
        assert expected in text, expected


def test_describe_shows_global_scope_and_skipped_validation():
    """describe() shows the default global scope and the boundaries skipped as redundant."""
    text = Pipeline([Tag(), Take()]).describe()
    assert "scope global" in text
    assert "skipped" in text
    assert "'mid'" in text


class UniqueOrder(pa.DataFrameModel):
    """An order with an id unique across all rows."""

    order_id: int = pa.Field(unique=True)


class Dedupe(Step):
    """Declared rows, but its model checks uniqueness across rows."""

    scope = "rows"

    def run(self, orders: DataFrame[UniqueOrder]) -> DataFrame[UniqueOrder]:
        return orders


def test_describe_says_when_a_rows_step_runs_on_all_rows_at_once():
    """A `rows` step whose model checks across rows (unique) is run whole by every runner:
    describe() says so next to the declared scope, instead of only `scope rows`."""
    text = Pipeline([Dedupe()]).describe()
    assert "scope rows" in text
    assert "runs on all rows at once: its models check across rows" in text
    assert "runs on all rows at once" not in fraud.describe()
