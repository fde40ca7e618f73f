"""The runner template: everything every runner does alike, once.

``Runner.run`` resolves params, sets the run context, reads inputs, calls the subclass's
``_execute`` (which only decides how data is split and where work runs, calling
:meth:`RunState.run_step` for each unit of work), then writes the quarantine, enforces the
error budget and writes the outputs.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pandas as pd

from sdk.errors import DataQualityError, PipelineError, SdkError, StepError
from sdk.io import Loaded
from sdk.logs import ensure_logging, get_logger, run_context
from sdk.plugins import get_plugin_manager, resolve_scheme
from sdk.quarantine import QUARANTINE_COLUMNS, Sources, build_records, empty_quarantine
from sdk.result import REPORT_COLUMNS, RunResult
from sdk.validation import BoundaryCheck, ProvenColumns, compile_model, validate_frame

if TYPE_CHECKING:
    import pandera.pandas as pa

    from sdk.pipeline import Pipeline
    from sdk.step import Step

__all__ = ["Data", "RunInfo", "RunState", "Runner", "new_run_id"]

logger = get_logger("sdk.run")


def new_run_id() -> str:
    """Return a new run id: UTC time to the second plus a random suffix (sortable, unique)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


@attrs.frozen
class RunInfo:
    """What hooks learn about the run they observe."""

    run_id: str
    pipeline: str
    runner: str
    params: dict[str, dict[str, Any]]
    fingerprint: str
    host: str


@attrs.define
class Data:
    """A dataset in flight: the frame and the source reference of each of its rows."""

    frame: pd.DataFrame
    sources: Sources


def _summary(frames: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    return {
        name: {"rows": len(f), "columns": [str(c) for c in f.columns]} for name, f in frames.items()
    }


class RunState:
    """The bookkeeping of one run: quarantine, per-boundary counts, hooks.

    Runners call :meth:`run_step` for each step (or each chunk of a step); it validates the
    inputs, calls the step, validates the output and records everything.
    """

    def __init__(self, pipeline: Pipeline, info: RunInfo) -> None:
        self.pipeline = pipeline
        self.info = info
        self.hook = get_plugin_manager().hook
        self._quarantine: list[pd.DataFrame] = []
        self._counts: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._order: list[tuple[str, str, str]] = []
        self._skipped = set(pipeline.check().skipped)
        self.rows_in = 0
        self.proven = ProvenColumns()

    def validate(
        self, step: Step, boundary: str, dataset: str, data: Data, model: type[pa.DataFrameModel]
    ) -> Data:
        """Validate ``data`` at one boundary; quarantine failing rows; return the rows that pass."""
        key = (step.name, boundary, dataset)
        if boundary == "input" and (step.name, dataset) in self._skipped:
            self._count(key, len(data.frame), len(data.frame), 0, {}, skipped=True)
            logger.info(
                "validated",
                extra={
                    "boundary": boundary,
                    "dataset": dataset,
                    "rows": len(data.frame),
                    "passed": len(data.frame),
                    "quarantined": 0,
                    "failures": {},
                    "skipped": True,
                },
            )
            return data
        where = BoundaryCheck(step.name, boundary, dataset)
        compiled = compile_model(model)
        result = validate_frame(data.frame, compiled, where, self.proven)
        self.proven.remember(result.frame, compiled)
        if result.failures:
            records = build_records(
                raw=data.frame,
                failures=result.failures,
                sources=data.sources,
                context={
                    "run_id": self.info.run_id,
                    "step": step.name,
                    "boundary": boundary,
                    "dataset": dataset,
                },
            )
            self._quarantine.append(records)
            self.hook.sdk_on_quarantine(
                run=self.info, step=step, boundary=boundary, dataset=dataset, records=records
            )
        self._count(
            key, result.rows, result.rows - result.quarantined, result.quarantined, result.counts
        )
        logger.info(
            "validated",
            extra={
                "boundary": boundary,
                "dataset": dataset,
                "rows": result.rows,
                "passed": result.rows - result.quarantined,
                "quarantined": result.quarantined,
                "failures": result.counts,
                "skipped": False,
            },
        )
        sources = data.sources if result.passed is None else data.sources.take(result.passed)
        return Data(result.frame, sources)

    def _count(
        self,
        key: tuple[str, str, str],
        rows: int,
        passed: int,
        quarantined: int,
        failures: dict[str, dict[str, int]],
        skipped: bool = False,
    ) -> None:
        entry = self._counts.get(key)
        if entry is None:
            self._order.append(key)
            entry = self._counts[key] = {
                "rows": 0,
                "passed": 0,
                "quarantined": 0,
                "skipped": skipped,
                "failures": {},
            }
        entry["rows"] += rows
        entry["passed"] += passed
        entry["quarantined"] += quarantined
        for column, checks in failures.items():
            per = entry["failures"].setdefault(column, {})
            for check, n in checks.items():
                per[check] = per.get(check, 0) + n

    def run_step(self, step: Step, inputs: Mapping[str, Data]) -> Data:
        """Validate ``inputs`` (by dataset name), run ``step``, validate and return its output.

        Raises:
            StepError: the step's ``run`` raised or returned something other than a DataFrame.
            SchemaViolation: a frame-level validation failure.
        """
        contract = type(step).contract()
        with run_context(step=step.name):
            rows_in = {d: len(inputs[d].frame) for d in step.input_names.values()}
            logger.info("step_started", extra={"scope": step.scope_label, "rows_in": rows_in})
            self.hook.sdk_before_step(run=self.info, step=step, rows_in=rows_in)
            started = time.perf_counter()
            try:
                args = {
                    param: self.validate(
                        step, "input", dataset, inputs[dataset], contract.inputs[param]
                    )
                    for param, dataset in step.input_names.items()
                }
                output = self._call(step, {p: d.frame for p, d in args.items()})
                first = next(iter(args.values()))
                sources = first.sources.derived(output.index, first.frame.index)
                result = self.validate(
                    step, "output", step.output_name, Data(output, sources), contract.output
                )
            except SdkError as exc:
                logger.error(
                    "step_failed",
                    extra={"error": type(exc).__name__, "error_message": str(exc)},
                    exc_info=exc.__cause__ is not None,
                )
                if isinstance(exc, StepError):
                    self.hook.sdk_on_step_error(run=self.info, step=step, error=exc)
                raise
            duration = (time.perf_counter() - started) * 1000
            logger.info(
                "step_finished",
                extra={"rows_out": len(result.frame), "duration_ms": round(duration, 3)},
            )
            self.hook.sdk_after_step(
                run=self.info, step=step, rows_out=len(result.frame), duration_ms=duration
            )
            return result

    def _call(self, step: Step, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        try:
            output = step.run(**frames)
        except Exception as exc:
            raise StepError(
                f"step {step.name!r} raised {type(exc).__name__}: {exc} (run {self.info.run_id}; "
                f"inputs: {', '.join(f'{k} {len(v)} rows' for k, v in frames.items())})",
                step=step.name,
                run_id=self.info.run_id,
                input_summary=_summary(frames),
                original=f"{type(exc).__name__}: {exc}",
            ) from exc
        if not isinstance(output, pd.DataFrame):
            raise StepError(
                f"step {step.name!r} returned {type(output).__name__}, not a DataFrame; return "
                f"the output frame from run()",
                step=step.name,
                run_id=self.info.run_id,
                input_summary=_summary(frames),
                original=f"returned {type(output).__name__}",
            )
        return output

    def quarantine(self) -> pd.DataFrame:
        """All quarantine records so far, in the documented column order."""
        if not self._quarantine:
            return empty_quarantine()
        frame = pd.concat(self._quarantine, ignore_index=True)
        return frame.loc[:, list(QUARANTINE_COLUMNS)]

    @property
    def quarantined(self) -> int:
        """Distinct rows quarantined so far."""
        return sum(c["quarantined"] for c in self._counts.values())

    def report(self) -> pd.DataFrame:
        """One row per boundary, in the order they were first validated."""
        rows = [
            {"step": s, "boundary": b, "dataset": d, **self._counts[(s, b, d)]}
            for s, b, d in self._order
        ]
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))


class Runner:
    """Base of every runner (template method).

    Subclasses set ``name`` and implement :meth:`_execute`; constructor keyword arguments
    are the runner's options (``runner_options`` in ``Pipeline.run``).
    """

    name: ClassVar[str] = ""

    def run(
        self,
        pipeline: Pipeline,
        inputs: Mapping[str, pd.DataFrame | str | Path],
        *,
        outputs: Mapping[str, str] | None = None,
        quarantine: str | None = None,
        params: Mapping[str, Any] | None = None,
        max_invalid: float | None = None,
        run_id: str | None = None,
    ) -> RunResult:
        """Run ``pipeline`` over ``inputs``; write outputs and quarantine; return the result.

        Raises:
            PipelineError: a missing input, an unknown input or output dataset.
            DataQualityError: the error budget was exceeded (after the quarantine is written).
            StepError, SchemaViolation: a step failed.
        """
        pipeline = pipeline.with_params(params)
        outputs = {k: str(v) for k, v in (outputs or {}).items()}
        budget = pipeline.max_invalid if max_invalid is None else float(max_invalid)
        if not 0 <= budget <= 1:
            raise PipelineError(f"max_invalid={budget!r} must be a fraction between 0 and 1")
        self._check_names(pipeline, inputs, outputs)
        ensure_logging()
        info = RunInfo(
            run_id=run_id or new_run_id(),
            pipeline=pipeline.name,
            runner=self.name,
            params={s.name: s.params.as_dict() for s in pipeline.order},
            fingerprint=pipeline.fingerprint(),
            host=socket.gethostname(),
        )
        state = RunState(pipeline, info)
        started = time.perf_counter()
        with run_context(run_id=info.run_id, pipeline=info.pipeline, runner=self.name, step=None):
            logger.info(
                "run_started",
                extra={
                    "inputs": {
                        k: (v if isinstance(v, str | Path) else "<DataFrame>")
                        for k, v in inputs.items()
                    },
                    "outputs": outputs,
                    "params": info.params,
                    "fingerprint": info.fingerprint,
                    "max_invalid": budget,
                },
            )
            state.hook.sdk_before_run(run=info)
            try:
                data = {name: self._load(name, value, state) for name, value in inputs.items()}
                produced = self._execute(pipeline, data, state)
                result = self._finish(
                    pipeline, state, produced, outputs, quarantine, budget, started
                )
            except SdkError as exc:
                self._fail(state, exc, quarantine, started)
                raise
            state.hook.sdk_after_run(run=info, result=result)
            return result

    def _check_names(
        self, pipeline: Pipeline, inputs: Mapping[str, Any], outputs: Mapping[str, str]
    ) -> None:
        problems = [
            f"missing input {name!r} ({pipeline.input_model(name).__name__}); pass it as "
            f"{name}=<DataFrame or URI>"
            for name in pipeline.inputs
            if name not in inputs
        ]
        problems += [
            f"unknown input {name!r}; the pipeline's inputs are {', '.join(pipeline.inputs)}"
            for name in inputs
            if name not in pipeline.inputs
        ]
        problems += [
            f"unknown output {name!r}; the pipeline produces {', '.join(pipeline.outputs)}"
            for name in outputs
            if name not in pipeline.outputs
        ]
        if problems:
            message = problems[0] if len(problems) == 1 else "\n".join(problems)
            raise PipelineError(message, problems)

    def _load(self, name: str, value: pd.DataFrame | str | Path, state: RunState) -> Data:
        if isinstance(value, pd.DataFrame):
            loaded = Loaded(value, Sources.from_index(value.index))
        elif isinstance(value, str | Path):
            loaded = resolve_scheme(str(value)).read(str(value))
        else:
            raise PipelineError(
                f"input {name!r} is a {type(value).__name__}; pass a pandas DataFrame or a URI"
            )
        state.rows_in += len(loaded.frame)
        logger.info(
            "input_read",
            extra={
                "dataset": name,
                "rows": len(loaded.frame),
                "uri": str(value) if not isinstance(value, pd.DataFrame) else None,
            },
        )
        return Data(loaded.frame, loaded.sources)

    def _execute(
        self, pipeline: Pipeline, inputs: dict[str, Data], state: RunState
    ) -> dict[str, pd.DataFrame]:
        """Run every step (subclasses decide how data is split and where work runs).

        Returns:
            The produced datasets to return and write, by name.
        """
        raise NotImplementedError

    def _finish(
        self,
        pipeline: Pipeline,
        state: RunState,
        produced: dict[str, pd.DataFrame],
        outputs: Mapping[str, str],
        quarantine_uri: str | None,
        budget: float,
        started: float,
    ) -> RunResult:
        quarantine = state.quarantine()
        written: dict[str, str] = {}
        if quarantine_uri:
            resolve_scheme(quarantine_uri).write(quarantine, quarantine_uri)
            written["quarantine"] = quarantine_uri
        invalid = state.quarantined
        fraction = invalid / state.rows_in if state.rows_in else 0.0
        if fraction > budget:
            raise DataQualityError(
                f"run {state.info.run_id}: {invalid} of {state.rows_in} rows ({fraction:.2%}) were "
                f"quarantined, over the error budget max_invalid={budget:g}; inspect the quarantine"
                + (f" at {quarantine_uri}" if quarantine_uri else "")
                + " or raise max_invalid for this run",
                run_id=state.info.run_id,
                invalid=invalid,
                total=state.rows_in,
                max_invalid=budget,
                quarantine=quarantine,
            )
        for name, uri in outputs.items():
            resolve_scheme(uri).write(produced[name], uri)
            written[name] = uri
        duration = (time.perf_counter() - started) * 1000
        result = RunResult(
            run_id=state.info.run_id,
            pipeline=pipeline.name,
            runner=self.name,
            status="succeeded",
            outputs=produced,
            quarantine=quarantine,
            report=state.report(),
            rows_in=state.rows_in,
            duration_ms=duration,
            written=written,
        )
        logger.info(
            "run_finished",
            extra={
                "status": "succeeded",
                "rows_in": state.rows_in,
                "rows_out": {k: len(v) for k, v in produced.items()},
                "quarantined": invalid,
                "duration_ms": round(duration, 3),
                "outputs": written,
            },
        )
        return result

    def _fail(
        self, state: RunState, exc: SdkError, quarantine_uri: str | None, started: float
    ) -> None:
        if quarantine_uri and not isinstance(exc, DataQualityError):
            try:  # nothing lost: what was quarantined before the failure is kept
                resolve_scheme(quarantine_uri).write(state.quarantine(), quarantine_uri)
            except SdkError:
                logger.warning("quarantine_not_written", extra={"uri": quarantine_uri})
        duration = (time.perf_counter() - started) * 1000
        logger.error(
            "run_finished",
            extra={
                "status": "failed",
                "error": type(exc).__name__,
                "error_message": str(exc),
                "rows_in": state.rows_in,
                "quarantined": state.quarantined,
                "duration_ms": round(duration, 3),
            },
        )
        state.hook.sdk_on_run_error(run=state.info, error=exc)
