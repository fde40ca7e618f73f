"""The runner core: units, the base's step events and hooks, options, reuse and the error budget.

Every runner executes the same plan (``sdk.plan``) and commits units (``sdk.run_unit``
results); the base emits the step events and hooks once per step from merged counts. These
tests watch what a user sees — parsed JSON log lines, hook arguments, outputs, quarantine,
errors — for ``local``, ``batch`` at several chunk sizes, and a toy runner written here as a
plugin author would, running every unit in a worker process.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import multiprocessing
import pickle
import tempfile
import textwrap
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import ROOT, cli
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame
from test_equivalence import PIPELINES, as_csv, report_rows

import sdk
import sdk.hookspecs
import sdk.plugins
import sdk.runners.registry
from examples.fraud.pipeline import Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk.testing import assert_equivalent, canonical, capture_logs

# -- a three-scope pipeline: rows -> partition_by -> global ----------------------------------


class Priced(Transactions):
    """A transaction with its amount in whole cents (amounts over 500 fail the check)."""

    cents: int = pa.Field(ge=0, le=50_000)


class Totalled(Priced):
    """A priced transaction with its customer's total and count (more than 3 fails)."""

    total_cents: int = pa.Field(ge=0)
    n: int = pa.Field(ge=1, le=3)


class Ranked(Totalled):
    """A totalled transaction with its rank by amount over the whole dataset."""

    rank: int = pa.Field(ge=1)


class Price(sdk.Step):
    """Add the amount in cents."""

    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Add ``cents``."""
        return transactions.assign(cents=(transactions["amount"] * 100).round().astype("int64"))


class CustomerTotals(sdk.Step):
    """Per-customer total cents and transaction count."""

    output = "totalled"
    partition_by = "customer_id"

    def run(self, priced: DataFrame[Priced]) -> DataFrame[Totalled]:
        """Add ``total_cents`` and ``n`` per customer."""
        g = priced.groupby("customer_id")["cents"]
        return priced.assign(total_cents=g.transform("sum"), n=g.transform("size"))


class Rank(sdk.Step):
    """Rank every row by amount (needs the whole dataset)."""

    output = "ranked"

    def run(self, totalled: DataFrame[Totalled]) -> DataFrame[Ranked]:
        """Add ``rank``."""
        return totalled.assign(rank=totalled["cents"].rank(method="min").astype("int64"))


three_scopes = sdk.Pipeline([Price(), CustomerTotals(), Rank()], name="three_scopes")
"""A rows step, a partition_by step and a global step, in that order."""


def three_scope_input() -> pd.DataFrame:
    """24 transactions as text (as a CSV gives them): 4 bad values, 2 amounts over 500 (the
    price step's output check), customer 1 with 4 valid rows (the totals' output check)."""
    rows = [
        ("1", "10.00", "US"), ("2", "20.50", "FR"), ("1", "3.25", "US"), ("x", "1.00", "US"),
        ("3", "99.99", "DE"), ("1", "750.00", "US"), ("2", "7.00", "FR"), ("4", "-1", "US"),
        ("5", "12.00", "usa"), ("3", "8.00", "DE"), ("1", "4.50", "US"), ("2", None, "FR"),
        ("0", "0.00", "US"), ("4", "15.00", "US"), ("5", "16.00", "FR"), ("3", "620.00", "DE"),
        ("1", "1.50", "US"), ("0", "2.25", "US"), ("4", "3.75", "US"), ("5", "5.00", "FR"),
        ("2", "6.00", "FR"), ("0", "9.00", "US"), ("3", "11.00", "DE"), ("4", "13.00", "US"),
    ]
    return pd.DataFrame(rows, columns=["customer_id", "amount", "country"], dtype=object)


# -- a plugin recording every hook, in the same stream as the SDK's log records --------------

STEP_EVENTS = ("step_started", "validated", "step_finished", "step_failed")
STEP_HOOKS = ("sdk_before_step", "sdk_on_quarantine", "sdk_after_step", "sdk_on_step_error")
marker = logging.getLogger("sdk.tests.recorder")


class Recorder:
    """Implements every hookspec of ``sdk.hookspecs``: records each call with its arguments and
    logs a ``hook_called`` line, so hook calls and SDK events form one ordered timeline."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, hook: str, **kwargs: Any) -> None:
        self.calls.append((hook, kwargs))
        marker.info("hook_called", extra={"hook": hook, "call": len(self.calls) - 1})

    @sdk.hookimpl
    def sdk_register_runners(self) -> list[type[sdk.Runner]]:
        self.calls.append(("sdk_register_runners", {}))  # asked at every get_runner: not logged
        return []

    @sdk.hookimpl
    def sdk_register_io_schemes(self) -> list[sdk.IOScheme]:
        self.calls.append(("sdk_register_io_schemes", {}))  # asked at every read or write
        return []

    @sdk.hookimpl
    def sdk_before_run(self, run: sdk.RunInfo) -> None:
        self._record("sdk_before_run", run=run)

    @sdk.hookimpl
    def sdk_after_run(self, run: sdk.RunInfo, result: sdk.RunResult) -> None:
        self._record("sdk_after_run", run=run, result=result)

    @sdk.hookimpl
    def sdk_on_run_error(self, run: sdk.RunInfo, error: Exception) -> None:
        self._record("sdk_on_run_error", run=run, error=error)

    @sdk.hookimpl
    def sdk_before_step(self, run: sdk.RunInfo, step: sdk.Step, rows_in: dict[str, int]) -> None:
        self._record("sdk_before_step", run=run, step=step, rows_in=dict(rows_in))

    @sdk.hookimpl
    def sdk_after_step(
        self, run: sdk.RunInfo, step: sdk.Step, rows_out: int, duration_ms: float
    ) -> None:
        self._record("sdk_after_step", run=run, step=step, rows_out=rows_out,
                     duration_ms=duration_ms)

    @sdk.hookimpl
    def sdk_on_step_error(self, run: sdk.RunInfo, step: sdk.Step, error: Exception) -> None:
        self._record("sdk_on_step_error", run=run, step=step, error=error)

    @sdk.hookimpl
    def sdk_after_unit(self, run: sdk.RunInfo, summary: sdk.UnitSummary) -> None:
        self._record("sdk_after_unit", run=run, summary=summary)

    @sdk.hookimpl
    def sdk_on_quarantine(
        self, run: sdk.RunInfo, step: sdk.Step, boundary: str, dataset: str,
        records: pd.DataFrame,
    ) -> None:
        self._record("sdk_on_quarantine", run=run, step=step, boundary=boundary,
                     dataset=dataset, records=records.copy())



@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A Recorder registered in-process for the test."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = Recorder()
    pm.register(plugin, name="test-recorder")
    yield plugin
    pm.unregister(plugin)


def record_rows(records: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Quarantine records without ``run_id``, order-insensitive."""
    columns = [c for c in sdk.QUARANTINE_COLUMNS if c != "run_id"]
    return sorted(tuple(r) for r in records.loc[:, columns].astype(str).itertuples(index=False))


@attrs.frozen
class Recording:
    """One run as observed: its result, its log records (hook calls logged among them as
    ``hook_called``) and the recorded hook calls."""

    result: sdk.RunResult
    logs: list[dict[str, Any]]
    calls: list[tuple[str, dict[str, Any]]]

    def named(self, hook: str) -> list[dict[str, Any]]:
        """The arguments of every call of ``hook``, in order."""
        return [kwargs for name, kwargs in self.calls if name == hook]

    def timeline(self) -> dict[str, list[tuple[str, str]]]:
        """Per step, in order: its events (without timings) and its hook calls (with their
        arguments, records order-insensitive), each as (name, JSON of its fields)."""
        per_step: dict[str, list[tuple[str, str]]] = {}
        for record in self.logs:
            event = record["event"]
            if event in STEP_EVENTS:
                fields = {
                    k: v for k, v in record.items()
                    if k not in ("ts", "level", "logger", "event", "run_id", "pipeline", "step",
                                 "runner", "duration_ms")
                }
                per_step.setdefault(record["step"], []).append(
                    (event, json.dumps(fields, sort_keys=True))
                )
            elif event == "hook_called" and record["hook"] in STEP_HOOKS:
                hook, kwargs = self.calls[record["call"]]
                args: dict[str, Any] = {
                    k: v for k, v in kwargs.items()
                    if k not in ("run", "step", "duration_ms", "error")
                }
                if "records" in args:
                    args["records"] = record_rows(args["records"])
                per_step.setdefault(kwargs["step"].name, []).append(
                    (hook, json.dumps(args, sort_keys=True, default=str))
                )
        return per_step


def run_recorded(
    pipeline: sdk.Pipeline, runner: str, options: dict[str, Any], recorder: Recorder,
    **inputs: Any,
) -> Recording:
    """Run ``pipeline`` (max_invalid=1.0) and return what was observed."""
    recorder.calls.clear()
    with capture_logs() as logs:
        result = pipeline.run(
            runner, max_invalid=1.0, runner_options={"progress": False, **options}, **inputs
        )
    return Recording(result, list(logs), list(recorder.calls))


RUNNERS = [
    ("batch", {"chunk_rows": 1}),
    ("batch", {"chunk_rows": 7}),
    ("batch", {"chunk_rows": 1000}),
]
CONFIGS = [("local", {}), *RUNNERS]


@pytest.fixture(scope="module")
def recordings() -> dict[str, Recording]:
    """The three-scope pipeline run once per configuration, recorded, by configuration id."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = Recorder()
    pm.register(plugin, name="test-recorder-module")
    try:
        return {
            config_id(runner, options): run_recorded(
                three_scopes, runner, options, plugin, transactions=three_scope_input()
            )
            for runner, options in CONFIGS
        }
    finally:
        pm.unregister(plugin)


def config_id(runner: str, options: dict[str, Any]) -> str:
    """``batch-chunk_rows=7``."""
    return "-".join([runner, *(f"{k}={v}" for k, v in options.items())])


def test_recorder_implements_every_hookspec() -> None:
    """The recording plugin implements exactly the hookspecs (a new hookspec fails this test
    until it is recorded), and pluggy accepts it."""
    specs = {
        name for name, value in vars(sdk.hookspecs).items()
        if name.startswith("sdk_") and hasattr(value, "sdk_spec")
    }
    implemented = {name for name in dir(Recorder) if name.startswith("sdk_")}
    assert specs, "no hookspec found in sdk.hookspecs"
    assert implemented == specs
    pm = sdk.plugins.get_plugin_manager()
    plugin = Recorder()
    pm.register(plugin, name="test-recorder-check")
    try:
        pm.check_pending()
        for name in specs:
            impls = getattr(pm.hook, name).get_hookimpls()
            assert "test-recorder-check" in {impl.plugin_name for impl in impls}, name
    finally:
        pm.unregister(plugin)


@pytest.mark.parametrize(("runner", "options"), RUNNERS, ids=[config_id(*c) for c in RUNNERS])
def test_step_events_and_hooks_match_local(
    recordings: dict[str, Recording], runner: str, options: dict[str, Any]
) -> None:
    """Through batch at any chunk size, each step has the sequence of events and hook calls
    that local gives it, with the same counts and the same quarantine records."""
    local = recordings["local"]
    other = recordings[config_id(runner, options)]
    assert_equivalent(local.result, other.result)
    expected, got = local.timeline(), other.timeline()
    assert list(got) == list(expected) == [s.name for s in three_scopes.order]
    for step in three_scopes.order:
        assert got[step.name] == expected[step.name], step.name


@pytest.mark.parametrize(("runner", "options"), CONFIGS, ids=[config_id(*c) for c in CONFIGS])
def test_each_step_is_reported_once_in_order(
    recordings: dict[str, Recording], runner: str, options: dict[str, Any]
) -> None:
    """Per step: step_started, before_step, each boundary's validated (then on_quarantine when
    it removed rows), step_finished, after_step — once, from counts that add up; the input is
    read before the first step is reported."""
    seen = recordings[config_id(runner, options)]
    result, logs = seen.result, seen.logs
    per_step = seen.timeline()
    assert len(seen.named("sdk_before_run")) == len(seen.named("sdk_after_run")) == 1
    assert seen.named("sdk_on_run_error") == seen.named("sdk_on_step_error") == []
    assert seen.named("sdk_after_run")[0]["result"] is result
    for step in three_scopes.order:
        names = [name for name, _ in per_step[step.name]]
        assert names[:2] == ["step_started", "sdk_before_step"], names
        assert names[-2:] == ["step_finished", "sdk_after_step"], names
        assert names.count("sdk_before_step") == names.count("sdk_after_step") == 1
        middle = per_step[step.name][2:-2]
        validated = [json.loads(fields) for name, fields in middle if name == "validated"]
        assert [v["boundary"] for v in validated] == ["input", "output"]
        for index, (name, fields) in enumerate(middle):
            if name != "validated":
                continue
            counts = json.loads(fields)
            follows = middle[index + 1] if index + 1 < len(middle) else None
            quarantined = follows is not None and follows[0] == "sdk_on_quarantine"
            assert quarantined == (counts["quarantined"] > 0), (step.name, counts)
            if quarantined:
                hook = json.loads(follows[1])
                where = (counts["boundary"], counts["dataset"])
                assert (hook["boundary"], hook["dataset"]) == where
                sources = {r[3] for r in hook["records"]}
                assert len(sources) == counts["quarantined"]
        started = json.loads(per_step[step.name][0][1])
        before = json.loads(per_step[step.name][1][1])
        assert before["rows_in"] == started["rows_in"]
        finished = json.loads(per_step[step.name][-2][1])
        after = json.loads(per_step[step.name][-1][1])
        assert after["rows_out"] == finished["rows_out"] == len(result.outputs[step.output_name])
    for _, kwargs in seen.calls:
        if "run" in kwargs:
            assert kwargs["run"].runner == runner
            assert kwargs["run"].run_id == result.run_id
        if "step" in kwargs:
            assert isinstance(kwargs["step"], sdk.Step)
    for event in (r for r in logs if r["event"] == "validated"):
        assert event["rows"] == event["passed"] + event["quarantined"], event
    events = [r["event"] for r in logs]
    assert events.count("input_read") == 1
    assert events.index("input_read") < events.index("step_started")


@pytest.mark.parametrize(("runner", "options"), CONFIGS, ids=[config_id(*c) for c in CONFIGS])
def test_after_unit_reports_every_committed_unit(
    recordings: dict[str, Recording], runner: str, options: dict[str, Any]
) -> None:
    """sdk_after_unit is called once per committed unit, with what its unit_committed event
    says; local commits one unit per stage, batch at 7 rows several per rows stage; the units'
    counts add up to the step hooks' counts."""
    seen = recordings[config_id(runner, options)]
    summaries = [kwargs["summary"] for kwargs in seen.named("sdk_after_unit")]
    committed = [r for r in seen.logs if r["event"] == "unit_committed"]
    assert committed and all(r["level"] == "DEBUG" for r in committed)
    assert [
        (s.unit, s.stage, s.rows_in, s.quarantined, s.steps) for s in summaries
    ] == [
        (r["unit"], r["stage"], r["rows_in"], r["quarantined"], r["steps"]) for r in committed
    ]
    assert len({s.unit for s in summaries}) == len(summaries)
    stages = sdk.plan(three_scopes)
    if runner == "local":
        assert [s.stage for s in summaries] == [stage.number for stage in stages]
    elif options["chunk_rows"] == 7:
        assert len(summaries) > len(stages)
        assert [s.stage for s in summaries].count(0) == math.ceil(len(three_scope_input()) / 7)
    assert sum(s.quarantined for s in summaries) == len(seen.result.quarantine)
    for kwargs in seen.named("sdk_after_step"):
        name = kwargs["step"].name
        assert kwargs["rows_out"] == sum(
            s.steps[name]["rows_out"] for s in summaries if name in s.steps
        )
    for kwargs in seen.named("sdk_before_step"):
        name = kwargs["step"].name
        totals: dict[str, int] = {}
        for s in summaries:
            for dataset, rows in s.steps.get(name, {}).get("rows_in", {}).items():
                totals[dataset] = totals.get(dataset, 0) + rows
        assert kwargs["rows_in"] == totals


# -- run_unit: pure and picklable ------------------------------------------------------------


class Explode(sdk.Step):
    """Fail on every input."""

    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        """Raise."""
        raise RuntimeError("boom")


def unit_view(result: sdk.UnitResult) -> dict[str, Any]:
    """What a unit gave, comparable across processes (durations aside)."""
    return {
        "outputs": {
            name: (canonical(d.frame).to_dict("list"), list(d.frame.dtypes.astype(str)),
                   sorted(d.sources.render(np.arange(len(d.frame)))))
            for name, d in result.outputs.items()
        },
        "quarantine": record_rows(result.quarantine),
        "run_ids": sorted(set(result.quarantine["run_id"])),
        "counts": {key: c.as_dict() for key, c in result.counts.items()},
        "steps": {n: (t.rows_in, t.rows_out) for n, t in result.steps.items()},
        "rows_in": result.rows_in,
        "error": None if result.error is None else (type(result.error), str(result.error)),
        "failed_step": result.failed_step,
    }


def test_run_unit_round_trips_through_pickle_and_runs_in_a_worker_process() -> None:
    """Every stage's unit — its stage, frames and context, and its result — pickles, and run
    in a fresh worker process it gives what it gives in process."""
    frame = three_scope_input()
    context = sdk.UnitContext("pickled-run")
    datasets: dict[str, sdk.Data] = {
        "transactions": sdk.Data(frame, sdk.Sources.from_index(frame.index))
    }
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing inherited
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        stages = sdk.plan(three_scopes)
        assert [s.kind for s in stages] == ["rows", "inputs", "partition", "global"]
        for stage in stages:
            frames = {name: datasets[name] for name in stage.inputs}
            here = sdk.run_unit(stage, frames, context)
            assert here.error is None
            copied_stage, copied_frames, copied_context = pickle.loads(
                pickle.dumps((stage, frames, context))
            )
            assert copied_context == context
            assert (copied_stage.kind, copied_stage.key, copied_stage.number) == (
                stage.kind, stage.key, stage.number
            )
            assert [(type(s), s.name, s.params.as_dict()) for s in copied_stage.steps] == [
                (type(s), s.name, s.params.as_dict()) for s in stage.steps
            ]
            assert unit_view(sdk.run_unit(copied_stage, copied_frames, copied_context)) == (
                unit_view(here)
            )
            assert unit_view(pickle.loads(pickle.dumps(here))) == unit_view(here)
            there = pool.submit(sdk.run_unit, stage, frames, context).result()
            assert unit_view(there) == unit_view(here), stage.kind
            datasets.update(here.outputs)
        assert len(datasets["ranked"].frame) > 0
        failing = sdk.plan(sdk.Pipeline([Explode()], name="explode"))[0]
        frames = {"transactions": datasets["transactions"]}
        here = sdk.run_unit(failing, frames, context)
        there = pool.submit(sdk.run_unit, failing, frames, context).result()
    assert isinstance(there.error, sdk.StepError)
    assert there.failed_step == "explode"
    assert unit_view(there) == unit_view(here)
    assert "RuntimeError: boom" in str(there.error)


def test_unit_result_of_a_quarantined_step_error_round_trips() -> None:
    """Under on_step_error="quarantine" the unit's step_error records pickle and come back the
    same from a worker process."""
    frame = pd.DataFrame({"customer_id": [1, 2], "amount": [1.0, 2.0], "country": ["US", "FR"]})
    stage = sdk.plan(sdk.Pipeline([Explode()], name="explode"))[0]
    frames = {"transactions": sdk.Data(frame, sdk.Sources.from_index(frame.index))}
    context = sdk.UnitContext("pickled-run", on_step_error="quarantine")
    here = sdk.run_unit(stage, frames, context)
    with ProcessPoolExecutor(max_workers=1) as pool:
        there = pool.submit(sdk.run_unit, stage, frames, context).result()
    assert here.error is None
    assert set(here.quarantine["check"]) == {sdk.STEP_ERROR}
    assert unit_view(there) == unit_view(here) == unit_view(pickle.loads(pickle.dumps(here)))


# -- a toy runner written as a plugin author would: every unit in a worker process -----------


class ProcessRunner(sdk.Runner):
    """Runs every unit in a worker process: rows in chunks, partitions by key, global whole."""

    name = "processes"
    options = (
        *sdk.BASE_OPTIONS,
        sdk.RunnerOption("workers", int, 2, "worker processes, and units per stage"),
    )

    def execute(self, session: sdk.RunSession) -> None:
        """One pool of workers for the run."""
        with ProcessPoolExecutor(max_workers=self.config["workers"]) as pool:
            session.work = pool
            super().execute(session)

    def run_stage(self, session: sdk.RunSession, stage: sdk.Stage) -> None:
        """Cut the stage's whole inputs into units, run them in the pool, commit them in order."""
        whole = {name: session.whole(name) for name in stage.inputs}
        futures = [
            session.work.submit(sdk.run_unit, stage, frames, session.context)
            for frames in self.units(stage, whole)
        ]
        results = [future.result() for future in futures]
        for index, result in enumerate(results):
            self.commit(session, stage, f"s{stage.number:02d}-{index:03d}", result)
        for name in stage.outputs:
            session.datasets[name] = concat([r.outputs[name] for r in results])

    def units(
        self, stage: sdk.Stage, whole: dict[str, sdk.Data]
    ) -> list[dict[str, sdk.Data]]:
        """The frames of each unit: a global stage whole; a partition stage's inputs grouped by
        a hash of the key (the same key in the same unit for every input); otherwise chunks."""
        n = self.config["workers"]
        if stage.kind == "global":
            return [whole]
        if stage.kind == "partition":
            group = {
                name: pd.util.hash_pandas_object(d.frame[list(stage.key or ())], index=False)
                .to_numpy()
                % n
                for name, d in whole.items()
            }
            parts = [
                {name: take(d, np.flatnonzero(group[name] == g)) for name, d in whole.items()}
                for g in range(n)
            ]
        else:
            cuts = {name: np.array_split(np.arange(len(d.frame)), n) for name, d in whole.items()}
            parts = [{name: take(d, cuts[name][i]) for name, d in whole.items()} for i in range(n)]
        kept = [p for p in parts if any(len(d.frame) for d in p.values())]
        return kept or parts[:1]


def take(data: sdk.Data, positions: np.ndarray) -> sdk.Data:
    """The rows of ``data`` at ``positions``, with their sources."""
    return sdk.Data(data.frame.iloc[positions], data.sources.take(positions))


def concat(parts: list[sdk.Data]) -> sdk.Data:
    """Units' outputs as one dataset; their sources rebased on the root they share."""
    if len(parts) == 1:
        return parts[0]
    kept = [p for p in parts if len(p.frame)] or parts[:1]
    frame = pd.concat([p.frame for p in kept])
    positions = np.concatenate([p.sources.positions(len(p.frame)) for p in kept])
    return sdk.Data(frame, kept[0].sources.rebase(positions, frame.index))


class ProcessPlugin:
    """Registers the toy runner."""

    @sdk.hookimpl
    def sdk_register_runners(self) -> list[type[sdk.Runner]]:
        return [ProcessRunner]


@pytest.fixture(scope="module")
def process_runner() -> Iterator[str]:
    """The toy runner, registered in-process for this module's tests."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = ProcessPlugin()
    pm.register(plugin, name="test-processes")
    yield ProcessRunner.name
    pm.unregister(plugin)


def test_toy_runner_uses_only_the_public_sdk() -> None:
    """This module (and so the toy runner) imports nothing from sdk.runners.batch or chunked."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {m for m in imported if m.startswith(("sdk.runners.batch", "sdk.runners.chunked"))}


@pytest.mark.parametrize("name", list(PIPELINES))
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_toy_process_runner_matches_local(process_runner: str, name: str, data: st.DataObject):
    """For any frame with bad rows, given in memory or as CSV, the toy runner outputs,
    quarantines and counts as local does, whatever the number of workers."""
    pipeline, strategy = PIPELINES[name]
    inputs = data.draw(strategy())
    workers = data.draw(st.sampled_from([1, 2, 3]), label="workers")
    with tempfile.TemporaryDirectory() as folder:
        if data.draw(st.booleans(), label="as_csv"):
            inputs = as_csv(inputs, Path(folder))
        local = pipeline.run("local", max_invalid=1.0, **inputs)
        toy = pipeline.run(
            process_runner, max_invalid=1.0,
            runner_options={"workers": workers, "progress": False}, **inputs,
        )
    assert toy.runner == "processes"
    assert_equivalent(local, toy)
    assert report_rows(toy) == report_rows(local)


def test_toy_runner_reports_steps_as_local(
    process_runner: str, recorder: Recorder, recordings: dict[str, Recording]
) -> None:
    """The toy runner gets local's step events and hooks from the base, without emitting any."""
    seen = run_recorded(
        three_scopes, process_runner, {"workers": 3}, recorder, transactions=three_scope_input()
    )
    assert seen.timeline() == recordings["local"].timeline()
    assert_equivalent(recordings["local"].result, seen.result)
    units = seen.named("sdk_after_unit")
    assert [u["summary"].stage for u in units].count(0) == 3


# -- options checked at the door -------------------------------------------------------------


@pytest.mark.parametrize(
    ("runner", "options", "named"),
    [
        ("local", {"chunk_rows": 5}, "chunk_rows"),
        ("batch", {"chunk_size": 5}, "chunk_size"),
        ("batch", {"chunk_rows": "abc"}, "chunk_rows"),
        ("batch", {"chunk_rows": 7.5}, "chunk_rows"),
        ("batch", {"chunk_rows": True}, "chunk_rows"),
        ("batch", {"progress": "sometimes"}, "progress"),
        ("local", {"on_step_error": "ignore"}, "on_step_error"),
        ("processes", {"workers": "many"}, "workers"),
        ("processes", {"threads": 2}, "threads"),
    ],
)
def test_bad_option_is_refused_naming_it_and_the_accepted_ones(
    process_runner: str, runner: str, options: dict[str, Any], named: str
) -> None:
    """An unknown or ill-typed option: PluginError naming it and listing every accepted one."""
    with pytest.raises(sdk.PluginError) as info:
        sdk.runners.registry.get_runner(runner, **options)
    message = str(info.value)
    assert repr(named) in message
    assert repr(runner) in message
    cls = sdk.runners.registry.list_runners()[runner][0]
    for option in cls.options:
        assert option.name in message
    with pytest.raises(sdk.PluginError):
        fraud.run(runner, runner_options=options, transactions=three_scope_input())


def test_text_options_are_parsed_into_their_declared_types(process_runner: str) -> None:
    """Option values given as text (CLI, deployment file) become the declared type."""
    batch = sdk.runners.registry.get_runner(
        "batch", chunk_rows="7", progress="false", on_step_error="quarantine"
    )
    assert (batch.config["chunk_rows"], batch.config["progress"]) == (7, False)
    assert batch.config["on_step_error"] == "quarantine"
    assert sdk.runners.registry.get_runner(process_runner, workers="3").config["workers"] == 3
    frame = three_scope_input()
    local = three_scopes.run(transactions=frame, max_invalid=1.0)
    parsed = three_scopes.run(
        "batch", runner_options={"chunk_rows": "7"}, transactions=frame, max_invalid=1.0
    )
    assert_equivalent(local, parsed)


def small_csv(tmp_path: Path) -> Path:
    """The three-scope input as a CSV file."""
    path = tmp_path / "transactions.csv"
    three_scope_input().to_csv(path, index=False)
    return path


def test_cli_runner_option_is_parsed_and_applied(tmp_path: Path) -> None:
    """`--runner-option chunk_rows=7` (text) cuts batch's first stage in chunks of 7 rows."""
    out = cli(
        "run", "examples.fraud.pipeline:pipeline", "--runner", "batch",
        "--input", f"transactions={small_csv(tmp_path)}",
        "--max-invalid", "1", "--runner-option", "chunk_rows=7", "--runner-option",
        "progress=false", "--log-level", "DEBUG",
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    units = [r for r in records if r["event"] == "unit_committed" and r["stage"] == 0]
    assert [u["rows_in"] for u in units] == [7, 7, 7, 3]


def test_cli_ill_typed_runner_option_exits_2_with_one_line() -> None:
    """`--runner-option chunk_rows=abc`: exit 2, one line naming the option and the accepted
    ones, no traceback."""
    out = cli(
        "run", "examples.fraud.pipeline:pipeline", "--runner", "batch",
        "--input", f"transactions={ROOT / 'examples' / 'fraud' / 'transactions.csv'}",
        "--runner-option", "chunk_rows=abc",
    )
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("sdk: error (PluginError):")
    assert "'chunk_rows'" in lines[0] and "'abc'" in lines[0]
    assert "memory_limit" in lines[0]


def test_cli_runners_prints_each_runners_options() -> None:
    """`sdk runners` lists, under each runner, every option it declares with its help."""
    out = cli("runners")
    assert out.returncode == 0, out.stderr
    blocks: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        if line.strip() and not line.startswith(" "):
            current = blocks.setdefault(line.split()[0], [])
        elif line.strip():
            current.append(line.strip())
    for name, (cls, _) in sdk.runners.registry.list_runners().items():
        if name == "processes":  # registered in this process only
            continue
        for option in cls.options:
            (line,) = [x for x in blocks[name] if x.startswith(f"--runner-option {option.name}:")]
            assert option.help in line
    assert any("chunk_rows: int | None = None" in x for x in blocks["batch"])
    assert not any("chunk_rows" in x for x in blocks["local"])


def test_deployment_with_unknown_runner_option_exits_2(tmp_path: Path) -> None:
    """A deployment file whose [runner_options] has an unknown key: exit 2, naming it."""
    deploy = tmp_path / "deploy.toml"
    deploy.write_text(textwrap.dedent(f"""
        pipeline = "examples.fraud.pipeline:pipeline"
        runner = "batch"
        max_invalid = 1.0

        [inputs]
        transactions = "{small_csv(tmp_path)}"

        [runner_options]
        chunk_size = 5
    """), encoding="utf-8")
    out = cli("run", str(deploy))
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip() and line[0] != "{"]
    assert len(errors) == 1, out.stderr
    assert "'chunk_size'" in errors[0] and "chunk_rows" in errors[0]


# -- runner instances are reusable -----------------------------------------------------------


def test_runner_instance_is_reusable() -> None:
    """One batch runner instance runs twice on different inputs, each time as local, and its
    options are unchanged."""
    runner = sdk.runners.registry.get_runner("batch", chunk_rows=5, progress=False)
    config = dict(runner.config)
    attributes = dict(vars(runner))
    first = three_scope_input()
    second = pd.concat([first.iloc[::2], first.iloc[:5]], ignore_index=True)
    for frame in (first, second, first):
        result = runner.run(three_scopes, {"transactions": frame}, max_invalid=1.0)
        assert_equivalent(three_scopes.run(transactions=frame, max_invalid=1.0), result)
        assert result.rows_in == len(frame)
    assert dict(runner.config) == config
    assert dict(vars(runner)).keys() == attributes.keys()
    assert {k: v for k, v in vars(runner).items() if k != "config"} == {
        k: v for k, v in attributes.items() if k != "config"
    }


def test_runner_instance_runs_concurrently() -> None:
    """The same batch runner instance, run from two threads at once, gives local's results."""
    runner = sdk.runners.registry.get_runner("batch", chunk_rows=3, progress=False)
    first = three_scope_input()
    frames = [first, first.iloc[4:].reset_index(drop=True), first.iloc[::-1]]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(
            lambda f: runner.run(three_scopes, {"transactions": f}, max_invalid=1.0), frames
        ))
    for frame, result in zip(frames, results, strict=True):
        assert_equivalent(three_scopes.run(transactions=frame, max_invalid=1.0), result)


# -- the error budget fails early, with local's outcome --------------------------------------


class Tally(sdk.Step):
    """Count its calls (a global step: needs the whole dataset)."""

    output = "tallied"
    calls = 0

    def run(self, priced: DataFrame[Priced]) -> DataFrame[Priced]:
        """Return the rows unchanged; log and count the call."""
        type(self).calls += 1
        self.log.info("tally_called", extra={"rows": len(priced)})
        return priced


budgeted = sdk.Pipeline([Price(), Tally()], name="budgeted")
"""A rows stage, then a global stage."""


@pytest.mark.parametrize(
    ("runner", "options"),
    [("local", {}), ("batch", {"chunk_rows": 5}), ("batch", {"chunk_rows": 1000})],
    ids=lambda v: str(v),
)
def test_over_budget_fails_before_the_global_step(
    recorder: Recorder, runner: str, options: dict[str, Any]
) -> None:
    """When the rows stage quarantines more than max_invalid, the run fails with
    DataQualityError as local does, and the global step is never called nor reported."""
    frame = three_scope_input()
    with pytest.raises(sdk.DataQualityError) as expected:
        budgeted.run(transactions=frame, max_invalid=0.1)
    Tally.calls = 0
    recorder.calls.clear()
    with capture_logs() as logs, pytest.raises(sdk.DataQualityError) as info:
        budgeted.run(
            runner, transactions=frame, max_invalid=0.1,
            runner_options={"progress": False, **options},
        )
    error = info.value
    assert (error.invalid, error.total, error.max_invalid) == (
        expected.value.invalid, expected.value.total, 0.1
    )
    assert record_rows(error.quarantine) == record_rows(expected.value.quarantine)
    assert Tally.calls == 0
    assert logs.events("tally_called") == []
    assert [r for r in logs if r["event"] in STEP_EVENTS and r["step"] == "tally"] == []
    assert [name for name, kwargs in recorder.calls
            if "step" in kwargs and kwargs["step"].name == "tally"] == []
    (failed,) = [kwargs for name, kwargs in recorder.calls if name == "sdk_on_run_error"]
    assert failed["error"] is error
