"""Keys of several columns: ``partition_by = ["origin", "time_hour"]`` on every runner.

A join of flights with the weather at their airport and hour, keyed by both columns, gives the
same outputs and quarantine under ``local`` and ``batch`` (any chunking); a raising step is
bisected to exactly the failing ``(origin, time_hour)`` group; a wrong key is refused when the
class is defined, naming the column.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame

from sdk import Pipeline, SdkError, Step, StepDefinitionError, plan
from sdk.testing import assert_equivalent

ORIGINS = ["JFK", "LGA", "EWR"]


class Flights(pa.DataFrameModel):
    """A flight: its airport, the hour it left, its delay."""

    origin: str = pa.Field(isin=ORIGINS)
    time_hour: int = pa.Field(ge=0)
    dep_delay: float = pa.Field(ge=-60, le=1000)

    class Config:
        coerce = True


class Weather(pa.DataFrameModel):
    """The weather at an airport in an hour."""

    origin: str = pa.Field(isin=ORIGINS)
    time_hour: int = pa.Field(ge=0)
    temp: float = pa.Field(ge=-40, le=50)

    class Config:
        coerce = True


class Joined(Flights):
    """A flight with its hour's weather and the mean delay of its airport's hour."""

    temp: float = pa.Field(nullable=True)
    mean_delay: float = pa.Field(le=500)


class JoinWeather(Step):
    """Each flight with the weather of its airport and hour, and that hour's mean delay."""

    partition_by = ["origin", "time_hour"]

    def run(self, flights: DataFrame[Flights], weather: DataFrame[Weather]) -> DataFrame[Joined]:
        mean = flights.groupby(["origin", "time_hour"])["dep_delay"].transform("mean")
        flights = flights.assign(mean_delay=mean)
        return flights.merge(weather, on=["origin", "time_hour"], how="left")


class Busy(pa.DataFrameModel):
    """Flights counted per airport and hour."""

    origin: str
    time_hour: int
    flights: int = pa.Field(ge=1)


class CountPerHour(Step):
    """Flights per airport and hour; raises on a poisoned hour (for bisection)."""

    partition_by = ("origin", "time_hour")
    output = "busy"

    def run(self, flights: DataFrame[Flights]) -> DataFrame[Busy]:
        poisoned = (flights["origin"] == "LGA") & (flights["time_hour"] == 7)
        if poisoned.any():
            raise ValueError("LGA at hour 7 is poisoned")
        counted = flights.groupby(["origin", "time_hour"], as_index=False).size()
        return counted.rename(columns={"size": "flights"})


joined = Pipeline([JoinWeather()], name="flights_weather")
counted = Pipeline([CountPerHour()], name="busy_hours")


def flights_and_weather(seed: int, n: int = 120) -> dict[str, pd.DataFrame]:
    """Flights over 3 airports x 6 hours (some bad rows), and the weather of most hours."""
    rng = np.random.default_rng(seed)
    flights = pd.DataFrame(
        {
            "origin": rng.choice(ORIGINS, n),
            "time_hour": rng.integers(0, 6, n),
            "dep_delay": rng.normal(10, 30, n).round(1),
        }
    )
    flights.loc[rng.choice(n, min(n, 6), replace=False), "dep_delay"] = 5000.0  # out of range
    flights.loc[rng.choice(n, min(n, 3), replace=False), "origin"] = "XXX"
    hours = pd.MultiIndex.from_product([ORIGINS, range(6)], names=["origin", "time_hour"])
    weather = hours.to_frame(index=False).sample(frac=0.8, random_state=seed)
    weather["temp"] = rng.normal(15, 10, len(weather)).round(1)
    weather.loc[weather.index[:2], "temp"] = 99.0  # out of range
    return {"flights": flights, "weather": weather.reset_index(drop=True)}


def run_local_and_batch(pipeline: Pipeline, inputs: dict[str, Any], chunks: tuple[int, ...]):
    """Run on local, then batch per chunk size, asserting each equals local; return local."""
    local = pipeline.run("local", max_invalid=1.0, **inputs)
    for chunk_rows in chunks:
        batch = pipeline.run(
            "batch",
            max_invalid=1.0,
            runner_options={"chunk_rows": chunk_rows, "progress": False},
            **inputs,
        )
        try:
            assert_equivalent(local, batch)
        except AssertionError as exc:
            exc.add_note(f"batch runner with chunk_rows={chunk_rows}")
            raise
    return local


def test_two_column_key_plans_and_labels():
    """The key is kept as a tuple of columns, in the plan and in the scope label."""
    step = JoinWeather()
    assert step.key == ("origin", "time_hour")
    assert step.scope_label == "partition_by=origin,time_hour"
    assert [(s.kind, s.key) for s in plan(joined)] == [
        ("inputs", ("origin", "time_hour")),
        ("partition", ("origin", "time_hour")),
    ]
    assert "scope partition_by=origin,time_hour" in joined.describe()


def test_one_column_key_is_a_one_column_tuple():
    """partition_by = "col" is the one-column key ("col",); its label is unchanged."""

    class PerOrigin(Step):
        """Flights of each airport."""

        partition_by = "origin"

        def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
            return flights

    assert PerOrigin().key == ("origin",)
    assert PerOrigin().scope_label == "partition_by=origin"


def test_two_column_join_is_equal_on_local_and_batch():
    """The keyed join gives local's outputs and quarantine under batch, chunked finely or not."""
    local = run_local_and_batch(joined, flights_and_weather(0), (1, 7, 50, 1000))
    out = local.outputs["join_weather"]
    assert len(out) > 100
    # each flight's mean delay is the mean of its (origin, hour) group, not of the airport's
    sample = out.iloc[0]
    group = out[(out["origin"] == sample["origin"]) & (out["time_hour"] == sample["time_hour"])]
    assert group["dep_delay"].mean() == pytest.approx(sample["mean_delay"])
    checks = {check.split("(")[0] for check in local.quarantine["check"]}
    assert checks >= {"isin", "less_than_or_equal_to"}


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 40), chunk_rows=st.integers(1, 30))
def test_two_column_key_is_equivalent_for_any_chunking(seed: int, n: int, chunk_rows: int):
    """For any flights and weather and any chunk size, batch outputs and quarantines as local."""
    run_local_and_batch(joined, flights_and_weather(seed, n), (chunk_rows,))


def test_bisection_isolates_the_failing_key_pair():
    """on_step_error=quarantine quarantines exactly the rows of the raising (origin, hour)."""
    flights = flights_and_weather(1)["flights"]
    flights = flights[flights["origin"] != "XXX"].reset_index(drop=True)
    flights.loc[len(flights)] = ["LGA", 7, 3.0]
    flights.loc[len(flights)] = ["LGA", 7, 4.0]
    flights.loc[len(flights)] = ["JFK", 7, 5.0]  # same hour, other airport: not poisoned
    flights.loc[len(flights)] = ["LGA", 6, 6.0]  # same airport, other hour: not poisoned
    flights = flights[flights["dep_delay"].between(-60, 1000)]  # only valid rows
    options = {"on_step_error": "quarantine"}
    local = counted.run("local", max_invalid=1.0, runner_options=options, flights=flights)
    raised = local.quarantine[local.quarantine["check"] == "step_error"]
    poisoned = (flights["origin"] == "LGA") & (flights["time_hour"] == 7)
    rows = [json.loads(row) for row in raised["row"]]
    assert sorted((r["origin"], r["time_hour"], r["dep_delay"]) for r in rows) == [
        ("LGA", 7, 3.0),
        ("LGA", 7, 4.0),
    ]
    assert set(raised["value"]) == {"ValueError: LGA at hour 7 is poisoned"}
    busy = local.outputs["busy"]
    assert ("LGA", 7) not in set(zip(busy["origin"], busy["time_hour"], strict=True))
    assert {("JFK", 7), ("LGA", 6)} <= set(zip(busy["origin"], busy["time_hour"], strict=True))
    assert busy["flights"].sum() == len(flights) - poisoned.sum()
    for chunk_rows in (3, 1000):
        batch = counted.run(
            "batch",
            max_invalid=1.0,
            runner_options={**options, "chunk_rows": chunk_rows, "progress": False},
            flights=flights,
        )
        assert_equivalent(local, batch)


def test_key_column_missing_from_an_input_is_refused_naming_it():
    """A key column one input lacks fails at class definition, naming column and input."""
    with pytest.raises(StepDefinitionError) as info:

        class JoinOnDay(Step):
            """Joins flights and weather by airport and day."""

            partition_by = ["origin", "day"]

            def run(
                self, flights: DataFrame[Flights], weather: DataFrame[Weather]
            ) -> DataFrame[Joined]:
                return flights

    message = str(info.value)
    assert "JoinOnDay" in message
    assert "partition_by = ['origin', 'day']: 'day' is not a column of input 'flights'" in message
    assert "Flights has origin, time_hour, dep_delay" in message


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        (["origin", "origin"], "names 'origin' twice"),
        ([], "name a column (partition_by = 'customer_id') or several"),
        (["origin", 3], "name a column"),
        ({"origin"}, "name a column"),
    ],
)
def test_malformed_key_is_refused_at_definition(declared: Any, fragment: str):
    """An empty, repeated or non-string key fails at class definition with the fix."""
    with pytest.raises(StepDefinitionError, match="step Keyed: partition_by = ") as info:

        class Keyed(Step):
            """Keyed on something odd."""

            partition_by = declared

            def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
                return flights

    assert fragment in str(info.value)


def test_multi_column_key_step_verifies_clean_and_a_wrong_one_is_caught():
    """verify partitions by both columns: a correct keyed join passes, one that uses another
    hour's rows breaks partition_by."""

    class MeanOfAirport(Step):
        """Declares the (origin, hour) key but averages over the whole airport."""

        partition_by = ["origin", "time_hour"]

        def run(self, flights: DataFrame[Flights]) -> DataFrame[Joined]:
            mean = flights.groupby("origin")["dep_delay"].transform("mean")
            return flights.assign(temp=np.nan, mean_delay=mean)

    inputs = flights_and_weather(3, 200)
    assert joined.verify(**inputs).ok
    report = Pipeline([MeanOfAirport()]).verify(flights=inputs["flights"])
    (violation,) = report.violations
    assert violation.property == "partition_by"
    assert "declared partition_by = ['origin', 'time_hour']" in violation.message


def test_errors_from_a_keyed_run_still_name_the_step():
    """A keyed step that raises under on_step_error=fail fails with StepError, as before."""
    flights = pd.DataFrame({"origin": ["LGA"], "time_hour": [7], "dep_delay": [1.0]})
    with pytest.raises(SdkError, match="step 'count_per_hour' raised ValueError"):
        counted.run("batch", runner_options={"progress": False}, flights=flights)


def test_two_column_join_from_csv_files_is_equal_on_local_and_batch(tmp_path):
    """Read from CSV (keys as text until validated), batch gives local's outputs and
    quarantine, each quarantined row named by its file line."""
    uris = {}
    for name, frame in flights_and_weather(5).items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        uris[name] = str(path)
    local = run_local_and_batch(joined, uris, (7, 1000))
    assert len(local.quarantine)
    assert all(
        source.startswith(str(tmp_path)) and source.rsplit(":", 1)[1].isdigit()
        for source in local.quarantine["source"]
    )
