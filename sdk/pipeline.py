"""A pipeline: steps wired into a DAG by dataset name, checked when it is built."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd
import pandera.pandas as pa

from sdk.artifact import ArtifactType
from sdk.contracts import ContractReport, artifact_problems, pipeline_report
from sdk.dag import name_hints, toposort
from sdk.errors import ParamsError, PipelineError, SdkError
from sdk.fingerprint import fingerprint
from sdk.params import parse_param_value
from sdk.quarantine import MAX_INVALID, check_max_invalid
from sdk.step import Step
from sdk.validation import compile_model

if TYPE_CHECKING:
    from sdk.replay import ReplayReport
    from sdk.result import RunResult
    from sdk.verify import VerifyReport

__all__ = ["Pipeline"]


class Pipeline:
    """Steps composed into a DAG by the datasets they consume and produce.

    Datasets that no step produces are the pipeline's inputs. Every wiring problem (two
    producers of one dataset, a cycle, a hard contract break) is reported at once, when the
    pipeline is built.

    Args:
        steps: step instances, in any order.
        name: the pipeline's name (logs, quarantine, manifests); default ``"pipeline"``.
        max_invalid: the error budget, the largest fraction of input rows that may be
            quarantined before the run fails with ``sdk.DataQualityError`` (default 0.05).

    Attributes:
        inputs: the datasets no step produces, which a run must be given.
        hints: a "did you mean ..." for each input whose name is close to a dataset a step
            produces (``clean_flight`` beside ``clean_flights``): most likely a misspelt
            ``run()`` parameter. Each is also a ``UserWarning`` when the pipeline is built,
            and ``sdk run --strict`` refuses the pipeline while there are any.

    Raises:
        PipelineError: listing every problem found.
    """

    def __init__(
        self, steps: Sequence[Step], name: str | None = None, *, max_invalid: float = MAX_INVALID
    ):
        problems: list[str] = []
        steps = list(steps)
        for i, step in enumerate(steps):
            if not isinstance(step, Step):
                problems.append(
                    f"item {i} is the class {step.__name__}, not a step instance; "
                    f"write {step.__name__}()"
                    if isinstance(step, type) and issubclass(step, Step)
                    else f"item {i} is {step!r}, not an sdk.Step instance"
                )
        if problems:
            raise PipelineError(_listing(problems), problems)
        self.name = name or "pipeline"
        self.steps: list[Step] = steps
        self.max_invalid = check_max_invalid(max_invalid)
        seen: dict[str, int] = {}
        for step in steps:
            seen[step.name] = seen.get(step.name, 0) + 1
        problems += [
            f"step name {n!r} is used {k} times; give instances distinct names with name=..."
            for n, k in seen.items()
            if k > 1
        ]
        producers: dict[str, Step] = {}
        for step in steps:
            other = producers.get(step.output_name)
            if other is not None:
                problems.append(
                    f"dataset {step.output_name!r} is produced by both {other.name!r} and "
                    f"{step.name!r}; rename one output with output=..."
                )
            else:
                producers[step.output_name] = step
        self._producers = producers
        self.inputs: list[str] = []
        for step in steps:
            for dataset in step.input_names.values():
                if dataset not in producers and dataset not in self.inputs:
                    self.inputs.append(dataset)
        # with repeated names the DAG is ambiguous; the duplicate-name problem says why
        order, cycle = (steps, []) if len(seen) < len(steps) else toposort(steps, producers)
        if cycle:
            problems.append(
                f"cycle between steps {' -> '.join(cycle)}; a step cannot consume what it "
                f"(indirectly) produces"
            )
        self.order: list[Step] = order
        for step in steps:  # unsupported model features fail now, not mid-run
            contract = type(step).contract()
            for model in (*contract.inputs.values(), contract.output):
                if model is None:
                    continue
                try:
                    compile_model(model)
                except SdkError as exc:
                    problems.append(f"step {step.name!r}: {exc}")
        self._report = pipeline_report(self)
        problems += [f.message for f in self._report.errors]
        problems += artifact_problems(self)
        if problems:
            raise PipelineError(_listing(sorted(set(problems))), sorted(set(problems)))
        self.hints: tuple[str, ...] = name_hints(self.order, producers)
        for hint in self.hints:
            warnings.warn(hint, UserWarning, stacklevel=2)

    @property
    def outputs(self) -> list[str]:
        """Every dataset the pipeline produces, in execution order."""
        return [s.output_name for s in self.order]

    def producer(self, dataset: str) -> Step | None:
        """The step that produces ``dataset``, or ``None`` for a pipeline input."""
        return self._producers.get(dataset)

    def input_model(self, dataset: str) -> type[pa.DataFrameModel]:
        """The model a pipeline input is first validated against.

        Raises:
            KeyError: ``dataset`` is not a DataFrame input (an artifact, or unknown).
        """
        for step in self.order:
            for param, name in step.frame_inputs.items():
                if name == dataset:
                    return type(step).contract().inputs[param]
        raise KeyError(dataset)

    def artifact(self, name: str) -> ArtifactType | None:
        """What artifact ``name`` is declared as (by its producer, else by its first
        consumer), or ``None`` when ``name`` is a DataFrame dataset."""
        producer = self._producers.get(name)
        if producer is not None:
            return type(producer).contract().produces
        for step in self.order:
            for param, dataset in step.artifact_inputs.items():
                if dataset == name:
                    return type(step).contract().artifacts[param]
        return None

    @property
    def artifacts(self) -> list[str]:
        """Every artifact (and metrics) name the pipeline takes or produces."""
        names = [s.output_name for s in self.order if type(s).contract().produces is not None]
        return names + [d for d in self.inputs if d not in names and self.artifact(d)]

    def consumers(self, name: str) -> list[Step]:
        """The steps that take ``name`` as an input."""
        return [s for s in self.order if name in s.input_names.values()]

    def describe_input(self, name: str) -> str:
        """How an input is declared: its model's name or its artifact annotation."""
        declared = self.artifact(name)
        return declared.label if declared is not None else self.input_model(name).__name__

    def check(self, policy: bool = False) -> ContractReport:
        """Return the static contract report: findings per edge and the skipped validations.

        Args:
            policy: also check every step's code against the restricted-environment policy
                (``report.policy``; works for steps defined in notebook cells).
        """
        if not policy:
            return self._report
        from sdk.policy import check_pipeline

        return attrs.evolve(self._report, policy=check_pipeline(self))

    def verify(
        self, *, sample_rows: int = 2000, seed: int = 0, **inputs: pd.DataFrame | str | Path
    ) -> VerifyReport:
        """Run each step on a sample of ``inputs`` and check what it declares (``sdk.verify``).

        Args:
            sample_rows: at most this many rows of each input are used.
            seed: seeds the sample, shuffles and splits.
            **inputs: each pipeline input as a DataFrame or a URI.

        Returns:
            The report: scope, determinism and no-mutation violations with minimal examples.
        """
        from sdk.verify import verify_pipeline

        return verify_pipeline(self, inputs, sample_rows=sample_rows, seed=seed)

    def with_params(self, overrides: Mapping[str, Any] | None) -> Pipeline:
        """Return a copy with params overridden.

        Args:
            overrides: ``{"step.field": value}`` or ``{"step": {"field": value}}``; string
                values are parsed into the annotated type (as from the command line).

        Raises:
            ParamsError: an unknown step or param, or a value that does not fit.
        """
        if not overrides:
            return self
        per_step: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            if isinstance(value, Mapping):
                per_step.setdefault(key, {}).update(value)
                continue
            step_name, dot, field = key.partition(".")
            if not dot or not field or not step_name:
                raise ParamsError(f"param override {key!r} must be written step.field=value")
            per_step.setdefault(step_name, {})[field] = value
        by_name = {s.name: s for s in self.steps}
        unknown = sorted(set(per_step) - set(by_name))
        if unknown:
            raise ParamsError(
                f"param override for unknown step(s) {', '.join(map(repr, unknown))}; steps: "
                f"{', '.join(by_name)}"
            )
        steps = []
        for step in self.steps:
            values = per_step.get(step.name)
            if values:
                types_ = type(step).Params.field_types()
                parsed = {
                    k: parse_param_value(step.name, k, v, types_[k]) if k in types_ else v
                    for k, v in values.items()
                }
                step = step.with_params(**parsed)
            steps.append(step)
        with warnings.catch_warnings():  # said when this pipeline was built: kept in .hints
            warnings.simplefilter("ignore", UserWarning)
            return Pipeline(steps, name=self.name, max_invalid=self.max_invalid)

    def fingerprint(self) -> str:
        """A hash of the step classes' source code and params: equal fingerprints, equal logic."""
        return fingerprint(self.order)

    def run(
        self,
        runner: str = "local",
        *,
        params: Mapping[str, Any] | None = None,
        max_invalid: float | None = None,
        outputs: Mapping[str, str] | None = None,
        quarantine: str | None = None,
        run_id: str | None = None,
        resume: str | None = None,
        overwrite: bool = False,
        runner_options: Mapping[str, Any] | None = None,
        trusted_artifacts: Sequence[str] = (),
        outputs_sort: Mapping[str, Sequence[str]] | None = None,
        **inputs: Any,
    ) -> RunResult:
        """Run the pipeline and return its result.

        Args:
            runner: a registered runner's name (``sdk runners`` lists them).
            params: param overrides, ``{"step.field": value}``.
            max_invalid: this run's error budget (default: the pipeline's).
            outputs: datasets to write, ``{"dataset": "uri"}``.
            quarantine: where to write the quarantine (a URI).
            run_id: the run's id (default: generated).
            resume: continue the interrupted run with this id, or ``"latest"``: the most
                recent interrupted run with the same identity (runners that checkpoint).
            overwrite: replace outputs that already exist (refused otherwise).
            runner_options: options passed to the runner's constructor.
            trusted_artifacts: glob patterns of artifact files that may be loaded with pickle
                (``.joblib``, ``.pkl``) or with types skops does not trust by default; only
                for files you produced.
            outputs_sort: ``{"dataset": ["column", ...]}``: sort these outputs stably by those
                columns when they are published (row order is otherwise not part of the
                contract between runners).
            **inputs: each pipeline input as a DataFrame or a URI; an artifact input as a
                file (``models/regressor.skops``) or the object itself.

        Raises:
            PipelineError: an input is missing or an output names an unknown dataset.
            DataQualityError: more than ``max_invalid`` of the rows were quarantined.
            StepError: a step raised.
            SchemaViolation: a frame-level validation failure.
        """
        from sdk.runners.registry import get_runner

        return get_runner(runner, **dict(runner_options or {})).run(
            self,
            inputs,
            outputs=outputs,
            quarantine=quarantine,
            params=params,
            max_invalid=max_invalid,
            run_id=run_id,
            resume=resume,
            overwrite=overwrite,
            trusted_artifacts=trusted_artifacts,
            outputs_sort=outputs_sort,
        )

    def replay_quarantine(
        self,
        records: pd.DataFrame | str,
        runner: str = "local",
        *,
        inputs: Mapping[str, pd.DataFrame | str] | None = None,
        **run_options: Any,
    ) -> ReplayReport:
        """Replay a quarantine's rows through this (fixed) pipeline and report what became of them.

        Args:
            records: the quarantine, as a frame or a URI any I/O scheme reads.
            runner: the runner to replay on.
            inputs: the pipeline's inputs that have no rows in the quarantine.
            **run_options: passed to :meth:`run`; ``outputs`` receive the rows that pass.

        Returns:
            How many rows pass now, still fail their check, fail another, or cannot be
            replayed (see :func:`sdk.replay.replay_quarantine`).
        """
        from sdk.replay import replay_quarantine

        return replay_quarantine(self, records, runner, inputs=inputs, **run_options)

    def run_stream(
        self, frame: pd.DataFrame, *, rate: float | None = None, **options: Any
    ) -> RunResult:
        """Simulate production: replay ``frame`` into a fresh Redis stream at ``rate`` rows/s
        while the ``stream`` runner consumes it, in this process; return the usual result.

        See :func:`sdk.simulate.run_stream` for ``options`` (``runner``, ``redis``,
        ``idle_timeout_s``, ``runner_options``, artifact inputs, ...).
        """
        from sdk.simulate import run_stream

        return run_stream(self, frame, rate=rate, **options)

    def describe(self) -> str:
        """Return a human-readable description: steps, datasets, models, scopes, params."""
        lines = [f"pipeline {self.name!r}: {len(self.order)} step(s)"]
        lines.append(
            f"  inputs: {', '.join(f'{d} ({self.describe_input(d)})' for d in self.inputs)}"
        )
        for step in self.order:
            contract = type(step).contract()
            ins = ", ".join(f"{d} ({contract.input_label(p)})" for p, d in step.input_names.items())
            params = step.params.as_dict()
            lines.append(
                f"  {step.name} [{type(step).__name__}, scope {step.scope_label}]: {ins} -> "
                f"{step.output_name} ({contract.output_label})"
                + (
                    f"; params {', '.join(f'{k}={v!r}' for k, v in params.items())}"
                    if params
                    else ""
                )
                + _runs_whole(step)
            )
        for step_name, dataset in self.check().skipped:
            lines.append(
                f"  input {dataset!r} of {step_name}: validation skipped (proven redundant)"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Pipeline({[s.name for s in self.order]!r}, name={self.name!r})"


def _listing(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


def _runs_whole(step: Step) -> str:
    """What ``describe`` adds for a step declared ``rows`` or ``partition_by`` that every
    runner nevertheless runs on all its rows at once (as the planner decides)."""
    from sdk.validation import checks_across_rows

    if type(step).scope == "global" and step.key is None:
        return ""
    contract = type(step).contract()
    if checks_across_rows((*contract.inputs.values(), contract.output)):
        return (
            "; runs on all rows at once: its models check across rows (unique or "
            "dataframe-level checks)"
        )
    if step.key is None and len(step.frame_inputs) > 1:
        return "; runs on all rows at once (several inputs)"
    return ""
