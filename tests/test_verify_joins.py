"""verify on joins: the inputs of a multi-input step are sampled by their shared key, so the
join is exercised on matching rows instead of a near-empty intersection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame

from sdk import Pipeline, Step
from sdk.verify import verify_pipeline
from sdk.verify.sample import sample_inputs

ORIGINS = ["JFK", "LGA", "EWR"]
HOURS = 10_000
SAMPLE = 300


class Flights(pa.DataFrameModel):
    """A flight: its airport, the hour it left, its delay."""

    origin: str = pa.Field(isin=ORIGINS)
    time_hour: int = pa.Field(ge=0)
    dep_delay: float

    class Config:
        coerce = True


class Weather(pa.DataFrameModel):
    """The weather at an airport in an hour."""

    origin: str = pa.Field(isin=ORIGINS)
    time_hour: int = pa.Field(ge=0)
    temp: float

    class Config:
        coerce = True


class Joined(Flights):
    """A flight with its hour's weather."""

    temp: float


class JoinWeather(Step):
    """Each flight with the weather of its airport and hour (flights without one dropped)."""

    output = "joined"
    partition_by = ["origin", "time_hour"]

    def run(self, flights: DataFrame[Flights], weather: DataFrame[Weather]) -> DataFrame[Joined]:
        return flights.merge(weather, on=["origin", "time_hour"])


class JoinOnHourOnly(Step):
    """Joins on the hour alone, though it declares the airport as part of its key."""

    output = "joined"
    partition_by = ["origin", "time_hour"]

    def run(self, flights: DataFrame[Flights], weather: DataFrame[Weather]) -> DataFrame[Joined]:
        joined = flights.merge(weather.drop(columns="origin"), on="time_hour")
        return joined.loc[:, ["origin", "time_hour", "dep_delay", "temp"]]


class CenteredTemp(Step):
    """Joins by airport and hour, then centres the temperature on the mean of every row."""

    output = "joined"
    partition_by = ["origin", "time_hour"]

    def run(self, flights: DataFrame[Flights], weather: DataFrame[Weather]) -> DataFrame[Joined]:
        joined = flights.merge(weather, on=["origin", "time_hour"])
        return joined.assign(temp=joined["temp"] - joined["temp"].mean())


class CleanFlights(Step):
    """Flights that left (a delay is known)."""

    output = "clean_flights"
    scope = "rows"

    def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
        return flights[flights["dep_delay"].notna()]


class JoinGlobal(Step):
    """The same join as a global step: its inputs share origin and time_hour."""

    output = "joined"

    def run(
        self, clean_flights: DataFrame[Flights], weather: DataFrame[Weather]
    ) -> DataFrame[Joined]:
        return clean_flights.merge(weather, on=["origin", "time_hour"])


def flights_and_weather(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Weather for every airport and hour; about one flight per airport and hour."""
    rng = np.random.default_rng(seed)
    weather = pd.MultiIndex.from_product(
        [ORIGINS, range(HOURS)], names=["origin", "time_hour"]
    ).to_frame(index=False)
    weather["temp"] = rng.normal(15, 10, len(weather)).round(1)
    flights = weather.loc[:, ["origin", "time_hour"]].sample(frac=1.0, random_state=seed)
    flights["dep_delay"] = rng.normal(10, 30, len(flights)).round(1)
    return {"flights": flights.reset_index(drop=True), "weather": weather}


def test_independent_samples_barely_join():
    """The premise: inputs sampled alone share few keys, so the join returns a few rows."""
    data = flights_and_weather()
    flights = data["flights"].sample(n=SAMPLE, random_state=0)
    weather = data["weather"].sample(n=SAMPLE, random_state=0)
    report = Pipeline([JoinWeather()]).verify(flights=flights, weather=weather)
    assert report.rows_out["join_weather"] < 15


def test_join_inputs_are_sampled_by_their_key():
    """Sampled by (origin, time_hour) together, nearly every sampled flight finds its weather."""
    report = Pipeline([JoinWeather()]).verify(sample_rows=SAMPLE, **flights_and_weather())
    assert report.ok, str(report)
    assert report.sample_rows["flights"] <= SAMPLE
    assert report.sample_rows["weather"] <= SAMPLE
    assert report.rows_out["join_weather"] >= 0.9 * SAMPLE
    assert report.sampled_by_key == [
        "flights and weather by origin, time_hour (joined by 'join_weather')"
    ]
    text = str(report)
    assert "  sampled by key: flights and weather by origin, time_hour" in text
    assert "join_weather: checked runs, no_input_mutation, deterministic, partition_by: ok (" in (
        text
    )


def test_join_on_a_column_the_key_does_not_cover_is_caught():
    """Joining on the hour alone while partitioning by airport and hour breaks partition_by."""
    report = Pipeline([JoinOnHourOnly()]).verify(sample_rows=SAMPLE, **flights_and_weather())
    (violation,) = report.violations
    assert violation.property == "partition_by"
    assert "declared partition_by = ['origin', 'time_hour']" in violation.message


def test_join_using_rows_of_other_keys_is_caught():
    """A keyed join that centres on the mean of all joined rows breaks partition_by, which
    only shows when the sample joins."""
    report = Pipeline([CenteredTemp()]).verify(sample_rows=SAMPLE, **flights_and_weather())
    (violation,) = report.violations
    assert violation.step == "centered_temp"
    assert violation.property == "partition_by"
    assert "column 'temp' differs" in violation.message


def test_global_join_after_a_rows_step_is_sampled_by_shared_key_like_columns():
    """A global join of a cleaned input and a raw one: the models share origin and
    time_hour (temp and dep_delay are floats, not keys), and the raw inputs are sampled by
    them."""
    pipeline = Pipeline([CleanFlights(), JoinGlobal()])
    report = verify_pipeline(pipeline, flights_and_weather(), sample_rows=SAMPLE)
    assert report.ok, str(report)
    assert report.sampled_by_key == [
        "flights and weather by origin, time_hour (joined by 'join_global')"
    ]
    assert report.rows_out["join_global"] >= 0.9 * SAMPLE


def test_small_inputs_are_used_whole():
    """Inputs within sample_rows are used whole: nothing is sampled by key."""
    data = {name: frame.head(100) for name, frame in flights_and_weather().items()}
    report = Pipeline([JoinWeather()]).verify(sample_rows=SAMPLE, **data)
    assert report.sampled_by_key == []
    assert report.sample_rows == {"flights": 100, "weather": 100}


def test_one_input_sampled_by_a_coarse_key_is_refined():
    """A key of few values (three airports) would not fit the sample: the inputs are sampled
    by the airport and the other key-like column they share."""

    class PerAirport(Step):
        """Joins by airport and hour, declared by airport."""

        output = "joined"
        partition_by = "origin"

        def run(
            self, flights: DataFrame[Flights], weather: DataFrame[Weather]
        ) -> DataFrame[Joined]:
            return flights.merge(weather, on=["origin", "time_hour"])

    report = Pipeline([PerAirport()]).verify(sample_rows=SAMPLE, **flights_and_weather())
    assert report.ok, str(report)
    assert report.sampled_by_key == [
        "flights and weather by origin, time_hour (joined by 'per_airport')"
    ]
    assert report.rows_out["per_airport"] >= 0.9 * SAMPLE


@settings(max_examples=40, deadline=None)
@given(
    flights=st.lists(st.tuples(st.sampled_from(ORIGINS), st.integers(0, 30)), max_size=60),
    weather=st.lists(st.tuples(st.sampled_from(ORIGINS), st.integers(0, 30)), max_size=60),
    sample_rows=st.integers(1, 40),
    seed=st.integers(0, 100),
)
def test_joint_sample_keeps_whole_keys_within_the_budget(
    flights: list[tuple[str, int]],
    weather: list[tuple[str, int]],
    sample_rows: int,
    seed: int,
):
    """Any inputs: each sample is at most sample_rows rows of its input, in their order, and
    a key drawn for a joint sample comes with all its rows from every input."""
    frames = {
        "flights": pd.DataFrame(flights, columns=["origin", "time_hour"]).assign(dep_delay=1.0),
        "weather": pd.DataFrame(weather, columns=["origin", "time_hour"]).assign(temp=2.0),
    }
    sampled, joints = sample_inputs(Pipeline([JoinWeather()]), frames, sample_rows, seed)
    for name, frame in frames.items():
        assert len(sampled[name]) <= sample_rows
        assert sampled[name].index.isin(frame.index).all()
        assert sampled[name].index.is_monotonic_increasing
    if joints:
        drawn = set().union(
            *(set(zip(f["origin"], f["time_hour"], strict=True)) for f in sampled.values())
        )
        for name, frame in frames.items():
            keys = pd.Series(list(zip(frame["origin"], frame["time_hour"], strict=True)))
            assert len(sampled[name]) == keys.isin(drawn).sum()
