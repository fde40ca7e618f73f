"""The bookkeeping of one run, shared by every runner: validation, quarantine, counts, hooks.

Runners call :meth:`RunState.run_step` (or its parts :meth:`RunState.validate` and
:meth:`RunState.call`) for each unit of work; the state records quarantine records and
per-boundary counts, logs the fixed events and calls the lifecycle hooks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd

from sdk.errors import SdkError, StepError
from sdk.logs import get_logger, run_context
from sdk.plugins import get_plugin_manager
from sdk.quarantine import QUARANTINE_COLUMNS, build_records, empty_quarantine
from sdk.result import REPORT_COLUMNS
from sdk.validation import BoundaryCheck, ProvenColumns, compile_model, validate_frame

if TYPE_CHECKING:
    import pandera.pandas as pa

    from sdk.pipeline import Pipeline
    from sdk.quarantine import Sources
    from sdk.step import Step

__all__ = ["Data", "RunInfo", "RunState"]

logger = get_logger("sdk.run")


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
        # chunked runners log one aggregated event per boundary instead of one per chunk
        self.quiet = False
        self.run_path: Path | None = None
        self.resuming = False
        self.requested: set[str] = set()  # datasets the run writes (empty: return them all)
        self._unit: dict[tuple[str, str, str], dict[str, Any]] = {}

    def validate(
        self, step: Step, boundary: str, dataset: str, data: Data, model: type[pa.DataFrameModel]
    ) -> Data:
        """Validate ``data`` at one boundary; quarantine failing rows; return the rows that pass."""
        key = (step.name, boundary, dataset)
        if boundary == "input" and (step.name, dataset) in self._skipped:
            self._count(key, len(data.frame), len(data.frame), 0, {}, skipped=True)
            self._log_validated(
                {
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
        self._log_validated(
            {
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

    def _log_validated(self, fields: dict[str, Any]) -> None:
        if not self.quiet:
            logger.info("validated", extra=fields)

    def add_rows_in(self, rows: int) -> None:
        """Count rows read from a pipeline input."""
        self.rows_in += rows

    def take_unit(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Return and reset what was recorded since the last call: quarantine and counts.

        Chunked runners checkpoint these per unit of work and give them back on resume with
        :meth:`merge_unit`.
        """
        quarantine = self.quarantine()
        counts = {"|".join(k): v for k, v in self._unit.items()}
        self._quarantine, self._unit = [], {}
        return quarantine, counts

    def restore_quarantine(self, frames: list[pd.DataFrame]) -> None:
        """Replace the in-memory quarantine with records kept on disk (chunked runners)."""
        self._quarantine = [f for f in frames if len(f)]

    def merge_unit(self, counts: dict[str, Any]) -> None:
        """Add the counts of a unit completed before a crash (read back from its checkpoint)."""
        for joined, entry in counts.items():
            step, boundary, dataset = joined.split("|", 2)
            self._count(
                (step, boundary, dataset),
                entry["rows"],
                entry["passed"],
                entry["quarantined"],
                entry["failures"],
                entry["skipped"],
                unit=False,
            )

    def log_boundaries(self, step: Step) -> None:
        """Log one aggregated ``validated`` event per boundary of ``step`` (chunked runners)."""
        for key in self._order:
            if key[0] != step.name:
                continue
            entry = self._counts[key]
            with run_context(step=step.name):
                logger.info(
                    "validated",
                    extra={
                        "boundary": key[1],
                        "dataset": key[2],
                        "rows": entry["rows"],
                        "passed": entry["passed"],
                        "quarantined": entry["quarantined"],
                        "failures": entry["failures"],
                        "skipped": entry["skipped"],
                    },
                )

    def _count(
        self,
        key: tuple[str, str, str],
        rows: int,
        passed: int,
        quarantined: int,
        failures: dict[str, dict[str, int]],
        skipped: bool = False,
        unit: bool = True,
    ) -> None:
        if key not in self._counts:
            self._order.append(key)
        targets = [self._counts, self._unit] if unit else [self._counts]
        for table in targets:
            entry = table.setdefault(
                key, {"rows": 0, "passed": 0, "quarantined": 0, "skipped": skipped, "failures": {}}
            )
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
        with run_context(step=step.name), self.step_errors(step):
            rows_in = {d: len(inputs[d].frame) for d in step.input_names.values()}
            if not self.quiet:
                logger.info("step_started", extra={"scope": step.scope_label, "rows_in": rows_in})
            self.hook.sdk_before_step(run=self.info, step=step, rows_in=rows_in)
            started = time.perf_counter()
            result = self.apply(step, self.validate_inputs(step, inputs))
            duration = (time.perf_counter() - started) * 1000
            if not self.quiet:
                logger.info(
                    "step_finished",
                    extra={"rows_out": len(result.frame), "duration_ms": round(duration, 3)},
                )
            self.hook.sdk_after_step(
                run=self.info, step=step, rows_out=len(result.frame), duration_ms=duration
            )
            return result

    def validate_inputs(self, step: Step, inputs: Mapping[str, Data]) -> dict[str, Data]:
        """Validate each input of ``step``; return the passing rows by ``run`` parameter name."""
        contract = type(step).contract()
        return {
            param: self.validate(step, "input", dataset, inputs[dataset], contract.inputs[param])
            for param, dataset in step.input_names.items()
        }

    def apply(self, step: Step, args: Mapping[str, Data]) -> Data:
        """Call ``step`` on validated inputs and validate its output."""
        output = self.call(step, {p: d.frame for p, d in args.items()})
        first = next(iter(args.values()))
        sources = first.sources.derived(output.index, first.frame.index)
        model = type(step).contract().output
        return self.validate(step, "output", step.output_name, Data(output, sources), model)

    @contextlib.contextmanager
    def step_errors(self, step: Step) -> Iterator[None]:
        """Log ``step_failed`` and call ``sdk_on_step_error`` for an SDK error in the block."""
        try:
            yield
        except SdkError as exc:
            logger.error(
                "step_failed",
                extra={"error": type(exc).__name__, "error_message": str(exc)},
                exc_info=exc.__cause__ is not None,
            )
            if isinstance(exc, StepError):
                self.hook.sdk_on_step_error(run=self.info, step=step, error=exc)
            raise

    def call(self, step: Step, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Call ``step.run`` on ``frames``; wrap what it raises in ``StepError``."""
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
        """Rows quarantined so far, each counted once.

        Rows removed at output boundaries are distinct rows; a dataset validated by several
        consumers has the same rows checked several times, so it counts with the largest
        number any of them removed.
        """
        per_input: dict[str, int] = {}
        total = 0
        for (_, boundary, dataset), entry in self._counts.items():
            if boundary == "input":
                per_input[dataset] = max(per_input.get(dataset, 0), entry["quarantined"])
            else:
                total += entry["quarantined"]
        return total + sum(per_input.values())

    def report(self) -> pd.DataFrame:
        """One row per boundary, in the order they were first validated."""
        rows = [
            {"step": s, "boundary": b, "dataset": d, **self._counts[(s, b, d)]}
            for s, b, d in self._order
        ]
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
