"""A unit of work: one stage of steps run over one piece of data, purely.

:func:`run_unit` validates a stage's inputs, calls its steps, validates their outputs and
returns a :class:`UnitResult` with the frames, quarantine records, counts per boundary and
durations. It holds no hook relay, logger handler or open file, and everything it takes and
returns pickles, so a runner may call it in process, in a worker process or in a Dask task.
The run state merges the results (``RunState.merge``); the runner base logs and calls hooks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.artifact import check_object, plain_metrics
from sdk.errors import PipelineError, SdkError, StepError
from sdk.logs import run_context
from sdk.profile import merge_profiles, profile_frame
from sdk.quarantine import Sources, build_records
from sdk.runners.stage import (
    BoundaryCounts,
    Data,
    Stage,
    StepTotals,
    UnitContext,
    UnitResult,
    records_in_order,
    validated_name,
)
from sdk.validation import BoundaryCheck, ProvenColumns, compile_model, validate_frame

if TYPE_CHECKING:
    import pandera.pandas as pa

    from sdk.step import Step

__all__ = ["STEP_ERROR", "call_step", "run_unit"]

STEP_ERROR = "step_error"
"""The check name of rows quarantined because they made a step's ``run`` raise."""
_STEP_COLUMN = "<step>"  # the failures key of step_error counts (no column to blame)


class _Unit:
    """The bookkeeping of one :func:`run_unit` call."""

    def __init__(self, context: UnitContext, artifacts: Mapping[str, Any]) -> None:
        self.context = context
        self.artifacts = artifacts
        self.result = UnitResult()
        self.records: list[pd.DataFrame] = []
        self.proven = ProvenColumns()
        self.raw: dict[tuple[str, str], tuple[pd.DataFrame, np.ndarray | None]] = {}

    def totals(self, step: Step) -> StepTotals:
        return self.result.steps.setdefault(step.name, StepTotals())

    def count(self, key: tuple[str, str, str], counts: BoundaryCounts) -> None:
        self.result.counts.setdefault(key, BoundaryCounts(skipped=counts.skipped)).add(counts)

    def validate(
        self, step: Step, boundary: str, dataset: str, data: Data, model: type[pa.DataFrameModel]
    ) -> Data:
        """Validate ``data`` at one boundary; quarantine failing rows; return the passing ones."""
        key = (step.name, boundary, dataset)
        if boundary == "input" and key in self.context.profiled:  # as read: what came in
            merge_profiles(self.result.profiles, {dataset: profile_frame(data.frame, "input")})
        if boundary == "input":
            rows_in = self.totals(step).rows_in
            rows_in[dataset] = rows_in.get(dataset, 0) + len(data.frame)
            if (step.name, dataset) in self.context.skipped:
                n = len(data.frame)
                self.count(key, BoundaryCounts(rows=n, passed=n, skipped=True))
                return data
        compiled = compile_model(model)
        result = validate_frame(
            data.frame, compiled, BoundaryCheck(step.name, boundary, dataset), self.proven
        )
        self.proven.remember(result.frame, compiled)
        if boundary == "output" and key in self.context.profiled:  # as validated: what went out
            merge_profiles(self.result.profiles, {dataset: profile_frame(result.frame, "output")})
        if result.failures:
            self.records.append(
                build_records(
                    raw=data.frame,
                    failures=result.failures,
                    sources=data.sources,
                    context=self._context(step, boundary, dataset),
                    masking=self.context.masking,
                )
            )
        self.count(
            key,
            BoundaryCounts(
                rows=result.rows,
                passed=result.rows - result.quarantined,
                quarantined=result.quarantined,
                failures=result.counts,
            ),
        )
        sources = data.sources if result.passed is None else data.sources.take(result.passed)
        if boundary == "input":  # kept for step_error records, which show rows as read
            self.raw[(step.name, dataset)] = (data.frame, result.passed)
        return Data(result.frame, sources)

    def _context(self, step: Step, boundary: str, dataset: str) -> dict[str, str]:
        return {
            "run_id": self.context.run_id,
            "step": step.name,
            "boundary": boundary,
            "dataset": dataset,
        }

    def validate_inputs(self, step: Step, frames: Mapping[str, Data]) -> dict[str, Data]:
        """Validate each input of ``step`` present in ``frames``; passing rows by parameter."""
        contract = type(step).contract()
        return {
            param: self.validate(step, "input", dataset, frames[dataset], contract.inputs[param])
            for param, dataset in step.frame_inputs.items()
            if dataset in frames
        }

    def given(self, step: Step) -> dict[str, Any]:
        """The artifacts ``step`` takes, by parameter (the same objects in every unit)."""
        missing = [d for d in step.artifact_inputs.values() if d not in self.artifacts]
        if missing:
            raise PipelineError(
                f"step {step.name!r} takes artifact(s) {', '.join(map(repr, missing))}, which "
                f"the runner did not provide; pass them as inputs or produce them upstream"
            )
        return {p: self.artifacts[d] for p, d in step.artifact_inputs.items()}

    def apply(self, step: Step, args: dict[str, Data]) -> Data | None:
        """Call ``step`` on validated inputs (isolating rows that raise, if asked) and validate
        its output; an artifact it returns is kept in the result (``None`` is returned)."""
        given = self.given(step)
        if type(step).contract().produces is not None:  # a model has no partial result
            frames = {p: d.frame for p, d in args.items()}
            self.result.artifacts[step.output_name] = call_step(
                step, frames, self.context.run_id, given
            )
            return None
        if type(step).scope == "rows" and not any(len(d.frame) for d in args.values()):
            # every row of this unit was quarantined: a rows step has nothing to compute, and
            # many libraries (scikit-learn's predict) refuse an empty frame
            output = _empty_output(step)
        elif self.context.on_step_error == "quarantine":
            output = self._call_isolating(step, args, given)
        else:
            frames = {p: d.frame for p, d in args.items()}
            output = call_step(step, frames, self.context.run_id, given)
        first = next(iter(args.values()))
        if len(args) > 1 and _fresh(output.index, first.frame.index):
            # a merge numbers its rows anew: those labels would point at unrelated input rows
            sources = Sources.of_output(step.output_name, output.index)
        else:  # labels kept by assign, filters, transforms: the input row's source
            sources = first.sources.derived(output.index, first.frame.index)
        model = type(step).contract().frame_output()
        return self.validate(step, "output", step.output_name, Data(output, sources), model)

    def _call_isolating(
        self, step: Step, args: dict[str, Data], given: dict[str, Any]
    ) -> pd.DataFrame:
        """Call ``step``; if it raises, bisect to the rows (or keys) that make it raise.

        A ``rows`` step is bisected row by row and a ``partition_by`` step key by key, over all
        its inputs at once (both are correct on any such subset); any other step cannot be
        split, so all its input rows are quarantined.
        """
        run_id = self.context.run_id
        try:
            return call_step(step, {p: d.frame for p, d in args.items()}, run_id, given)
        except StepError as exc:
            whole = {p: np.arange(len(d.frame), dtype=np.int64) for p, d in args.items()}
            if step.key is None and (type(step).scope != "rows" or len(args) != 1):
                self._quarantine_raising(step, args, [(whole, exc)])
                return _empty_output(step)
        members = _Members(args, step.key)
        parts: list[pd.DataFrame] = []
        failed: list[tuple[dict[str, np.ndarray], StepError]] = []

        def probe(lo: int, hi: int) -> None:
            if lo >= hi:
                return
            chosen = members(lo, hi)
            frames = {p: args[p].frame.iloc[positions] for p, positions in chosen.items()}
            try:
                parts.append(call_step(step, frames, run_id, given))
            except StepError as exc:
                if hi - lo == 1:
                    failed.append((chosen, exc))
                    return
                middle = (lo + hi) // 2
                probe(lo, middle)
                probe(middle, hi)

        probe(0, members.count // 2)
        probe(members.count // 2, members.count)
        self._quarantine_raising(step, args, failed)
        return pd.concat(parts) if parts else _empty_output(step)

    def _quarantine_raising(
        self,
        step: Step,
        args: dict[str, Data],
        failed: list[tuple[dict[str, np.ndarray], StepError]],
    ) -> None:
        """Quarantine rows that made ``step`` raise (as read, where the unit read them),
        moving them from passed to quarantined at the step's input boundary."""
        for param, data in args.items():
            dataset = step.frame_inputs[param]
            groups = [(chosen[param], exc) for chosen, exc in failed if len(chosen[param])]
            if not groups:
                continue
            raw, passed = self.raw.get((step.name, dataset), (data.frame, None))
            if passed is not None:
                raw = raw.take(passed)
            records = build_records(
                raw=raw,
                failures=[(positions, None, STEP_ERROR) for positions, _ in groups],
                sources=data.sources,
                context=self._context(step, "input", dataset),
                masking=self.context.masking,
            )
            message = {int(p): exc.original for positions, exc in groups for p in positions}
            order = np.sort(np.concatenate([positions for positions, _ in groups]))
            records["value"] = [message[int(p)] for p in order]
            self.records.append(records)
            k = len(order)
            self.count(
                (step.name, "input", dataset),
                BoundaryCounts(passed=-k, quarantined=k, failures={_STEP_COLUMN: {STEP_ERROR: k}}),
            )

    def finish(self) -> UnitResult:
        records = [r for r in self.records if len(r)]
        if records:
            self.result.quarantine = records_in_order(records)
        return self.result


class _Members:
    """The rows of bisectable groups ``[lo, hi)`` of a step's inputs: single rows of its one
    input, or every row of each input whose key (its values in every key column) is among
    the chosen keys."""

    def __init__(self, args: Mapping[str, Data], key: tuple[str, ...] | None) -> None:
        self.args = args
        self.groups: dict[str, np.ndarray] = {}
        if key is None:
            self.count = len(next(iter(args.values())).frame)
            return
        columns = list(key)
        keys = pd.concat([d.frame[columns] for d in args.values()], ignore_index=True)
        # one number per distinct key, in order of first appearance, across all inputs
        numbers = keys.groupby(columns, sort=False, dropna=False).ngroup().to_numpy()
        start = 0
        for param, data in args.items():
            self.groups[param] = numbers[start : start + len(data.frame)]
            start += len(data.frame)
        self.count = int(numbers.max()) + 1 if len(numbers) else 0

    def __call__(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        if not self.groups:
            return {p: np.arange(lo, hi, dtype=np.int64) for p in self.args}
        return {
            p: np.flatnonzero((group >= lo) & (group < hi)).astype(np.int64)
            for p, group in self.groups.items()
        }


def _fresh(out_index: pd.Index, in_index: pd.Index) -> bool:
    """Whether a step's output index was made anew (``merge``, ``reset_index``) rather than
    kept from its first input."""
    return isinstance(out_index, pd.RangeIndex) and not out_index.equals(in_index)


def _empty_output(step: Step) -> pd.DataFrame:
    """No rows, with the step's output columns (everything its input had made it raise)."""
    model = type(step).contract().frame_output()
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in model.to_schema().columns})


def _summary(frames: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    return {
        name: {"rows": len(f), "columns": [str(c) for c in f.columns]} for name, f in frames.items()
    }


def call_step(
    step: Step,
    frames: dict[str, pd.DataFrame],
    run_id: str,
    artifacts: Mapping[str, Any] | None = None,
) -> Any:
    """Call ``step.run`` on ``frames`` and ``artifacts`` (by parameter name); wrap what it
    raises in StepError, and check what it returns: a DataFrame, or the artifact or metrics
    it declares."""
    try:
        output = step.run(**frames, **(artifacts or {}))
    except Exception as exc:
        raise StepError(
            f"step {step.name!r} raised {type(exc).__name__}: {exc} (run {run_id}; "
            f"inputs: {', '.join(f'{k} {len(v)} rows' for k, v in frames.items())})",
            step=step.name,
            run_id=run_id,
            input_summary=_summary(frames),
            original=f"{type(exc).__name__}: {exc}",
        ) from exc
    produces = type(step).contract().produces
    if produces is not None:
        problem = check_object(output, produces)
        if problem is not None:
            raise StepError(
                f"step {step.name!r} {problem}; return the object run() declares",
                step=step.name,
                run_id=run_id,
                input_summary=_summary(frames),
                original=problem,
            )
        return plain_metrics(output) if produces.kind == "metrics" else output
    if not isinstance(output, pd.DataFrame):
        raise StepError(
            f"step {step.name!r} returned {type(output).__name__}, not a DataFrame; return "
            f"the output frame from run()",
            step=step.name,
            run_id=run_id,
            input_summary=_summary(frames),
            original=f"returned {type(output).__name__}",
        )
    return output


def _run_step(unit: _Unit, stage: Stage, index: int, step: Step, current: dict[str, Data]) -> None:
    """Run one step of ``stage`` on ``current`` (datasets by name), adding its output."""
    started = time.perf_counter()
    if stage.kind == "inputs":
        validated = unit.validate_inputs(step, current)
        for param, dataset in step.frame_inputs.items():
            if param in validated:
                current[validated_name(step.name, dataset)] = validated[param]
    elif stage.kind == "partition" and index == 0:
        args = {p: current[validated_name(step.name, d)] for p, d in step.frame_inputs.items()}
        contract = type(step).contract()
        for param, data in args.items():  # validated by the inputs stage: columns proven
            unit.proven.remember(data.frame, compile_model(contract.inputs[param]))
        current[step.output_name] = _produced(unit.apply(step, args))
    else:
        args = unit.validate_inputs(step, current)
        output = unit.apply(step, args)
        if output is not None:
            current[step.output_name] = output
    totals = unit.totals(step)
    totals.duration_ms += (time.perf_counter() - started) * 1000
    if stage.kind != "inputs" and step.output_name in current:
        totals.rows_out += len(current[step.output_name].frame)


def _produced(output: Data | None) -> Data:
    if output is None:  # pragma: no cover - artifact steps are never partitioned (global)
        raise TypeError("a partition stage's step returned an artifact")
    return output


def run_unit(
    stage: Stage,
    frames: Mapping[str, Data],
    context: UnitContext,
    artifacts: Mapping[str, Any] | None = None,
) -> UnitResult:
    """Run ``stage`` on one unit of data: validate, call each step, validate, record.

    Args:
        stage: the steps to run (from :func:`sdk.plan`).
        frames: the stage's input datasets by name (``stage.inputs``); for a ``partition``
            stage, already validated by its ``inputs`` stage.
        context: the run id, the ``on_step_error`` rule and the skipped validations.
        artifacts: the artifacts the stage's steps take, by name (``stage.artifacts``): the
            same objects for every unit (loaded once per process, never per unit).

    Returns:
        The unit's outputs (every dataset the stage produced), quarantine records, counts and
        durations. A step that fails (``StepError`` under ``on_step_error="fail"``, or a
        frame-level ``SchemaViolation``) ends the unit: ``error`` and ``failed_step`` are set
        and what was recorded before is kept.
    """
    unit = _Unit(context, artifacts or {})
    current = dict(frames)
    step: Step | None = None
    try:
        for index, step in enumerate(stage.steps):
            with run_context(run_id=context.run_id, step=step.name):
                _run_step(unit, stage, index, step, current)
    except SdkError as exc:
        unit.result.error = exc
        unit.result.failed_step = step.name if step is not None else None
    result = unit.finish()
    result.outputs = {name: current[name] for name in stage.outputs if name in current}
    return result
