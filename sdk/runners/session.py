"""An open run: what a runner works with between ``open`` and ``close``.

:class:`RunRequest` is what was asked (pipeline with params, inputs, destinations, budget);
:class:`RunSession` is the open run: its identity, state, run directory, plan, the datasets
produced so far, and the reporting of step events and hooks from merged totals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pandas as pd

from sdk.errors import DataQualityError, IOSchemeError, PipelineError, StepError
from sdk.io import redact
from sdk.logs import get_logger, run_context
from sdk.manifest import build_manifest
from sdk.runners.artifacts import RunArtifacts
from sdk.runners.inputs import Input
from sdk.runners.publish import collect, ordered
from sdk.runners.request import RunRequest
from sdk.runners.stage import Data, Stage, StepTotals, UnitContext, UnitResult, UnitSummary

if TYPE_CHECKING:
    import pluggy

    from sdk.runners.progress import Progress
    from sdk.runners.rundir import RunDirectory
    from sdk.runners.state import RunInfo, RunState

__all__ = ["RunRequest", "RunSession", "Spilled"]

logger = get_logger("sdk.run")


def _snapshot(uri: str | None) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a local file input; ``None`` for anything else."""
    if uri is None or uri == "-":
        return None
    path = uri.removeprefix("file://")
    if "://" in path or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


class Spilled(Protocol):
    """A produced dataset kept out of memory (e.g. part files): iterable in chunks."""

    rows: int

    def frames(self) -> Iterator[pd.DataFrame]:
        """The dataset's rows, chunk by chunk."""
        ...


@attrs.define
class RunSession:
    """One open run.

    Attributes:
        request: what was asked.
        info: the run's identity, as hooks see it.
        state: the totals merged from committed units.
        directory: the run directory (``None`` for runs that keep none).
        inputs: the pipeline's inputs, to read whole or in chunks.
        stages: the plan.
        context: what every unit needs (run id, ``on_step_error``, skipped validations).
        settings: the runner's per-run settings (e.g. ``chunk_rows``), recorded for resume.
        progress: rows processed, shown or logged.
        hook: the plugin manager's hook relay.
        datasets: what each stage produced, by name, as the runner keeps it (``Data`` in
            memory or a :class:`Spilled` dataset).
        work: the runner's own state of this run (e.g. its checkpoints), if it keeps any.
        artifacts: the artifacts the run takes and those its steps returned.
        identity: what makes the run the same run (``run.json``; see
            :func:`sdk.runners.identity.run_identity`).
        started: when the run opened (ISO 8601, UTC).
        policy: the policy findings of the pipeline's steps (``None``: not checked).
        units: units committed or replayed so far; ``reused``: how many of them were
            replayed from a checkpoint (a resumed run).
    """

    request: RunRequest
    info: RunInfo
    state: RunState
    directory: RunDirectory | None
    inputs: dict[str, Input]
    stages: list[Stage]
    context: UnitContext
    settings: dict[str, Any]
    progress: Progress
    hook: pluggy.HookRelay
    datasets: dict[str, Data | Spilled] = attrs.field(factory=dict)
    work: Any = None
    artifacts: RunArtifacts = attrs.field(default=None)
    identity: dict[str, Any] = attrs.field(factory=dict)
    started: str = ""
    policy: dict[str, Any] | None = None
    units: int = 0
    reused: int = 0
    snapshots: dict[str, tuple[int, int]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.artifacts is None:
            self.artifacts = RunArtifacts(self.request.pipeline, self.request.trusted_artifacts)
        self.snapshots = {
            name: snapshot
            for name, given in self.inputs.items()
            if (snapshot := _snapshot(given.uri)) is not None
        }

    def check_inputs_unchanged(self) -> None:
        """Refuse to publish when a file input changed while the run read it.

        Raises:
            IOSchemeError: naming the input, when its size or modification time differs from
                when the run opened (the rows read may be a mix of two versions).
        """
        changed = [
            name
            for name, before in self.snapshots.items()
            if _snapshot(self.inputs[name].uri) != before
        ]
        if changed:
            raise IOSchemeError(
                f"input(s) {', '.join(map(repr, changed))} changed while the run read them "
                f"(size or modification time differ); nothing was published. Run again once the "
                f"file(s) are complete"
            )

    @property
    def resuming(self) -> bool:
        """Whether this run continues an interrupted one."""
        return self.request.resume is not None

    @property
    def path(self) -> Path:
        """The run directory (runners that checkpoint need one)."""
        if self.directory is None:
            raise PipelineError(f"run {self.info.run_id} has no run directory")
        return self.directory.path

    def announce(self, outputs: dict[str, str]) -> None:
        """Log ``run_started`` (passwords redacted in every URI)."""
        request, info = self.request, self.info
        logger.info(
            "run_started",
            extra={
                "inputs": {
                    k: (redact(v) if isinstance(v, str) else f"<{type(v).__name__}>")
                    for k, v in request.inputs.items()
                },
                "outputs": outputs,
                "params": info.params,
                "fingerprint": info.fingerprint,
                "max_invalid": request.max_invalid,
                "resumed": self.resuming,
                "run_dir": str(self.path) if self.directory is not None else None,
                "on_step_error": self.context.on_step_error,
            },
        )

    # -- reading inputs, counted once ------------------------------------------------------
    def count_input(self, name: str, rows: int) -> None:
        """Count pipeline input ``name`` as read whole, ``rows`` rows (the first time only)."""
        if name in self.inputs and self.state.input_read(name, rows):
            uri = self.inputs[name].uri
            logger.info(
                "input_read",
                extra={"dataset": name, "rows": rows, "uri": redact(uri) if uri else None},
            )

    def load(self, name: str) -> Data:
        """Read input ``name`` whole (counted in the run's rows in; logs ``input_read``)."""
        data = self.inputs[name].read()
        self.count_input(name, len(data.frame))
        return data

    def whole(self, name: str) -> Data:
        """Dataset ``name`` in memory: an earlier stage's output, or a pipeline input, read
        whole the first time and kept in ``datasets`` (in-memory runners).

        Raises:
            TypeError: the dataset was kept out of memory (spilled) by the runner.
        """
        if name not in self.datasets:
            self.datasets[name] = self.load(name)
        value = self.datasets[name]
        if not isinstance(value, Data):
            raise TypeError(f"dataset {name!r} was spilled; read it with its frames()")
        return value

    def chunks(self, name: str, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame, Any]]:
        """Read input ``name`` in chunks (see :meth:`Input.chunks`); counted once, when whole."""
        rows = 0
        for offset, frame, sources in self.inputs[name].chunks(chunk_rows):
            rows = offset + len(frame)
            yield offset, frame, sources
        self.count_input(name, rows)

    # -- reporting -------------------------------------------------------------------------
    def report_steps(self, stage: Stage, failed: UnitResult | None = None) -> None:
        """Log the step events and call the step hooks of ``stage``, from merged totals.

        With ``failed``, report the steps up to the one that failed, then its failure.
        """
        if stage.kind == "inputs" and failed is None:
            return  # its counts are reported with the step's partition stage
        # records are concatenated per boundary only for observers that take them
        observed = bool(self.hook.sdk_on_quarantine.get_hookimpls())
        for step in stage.steps:
            totals = self.state.steps.get(step.name, StepTotals())
            error = failed.error if failed is not None and failed.failed_step == step.name else None
            with run_context(step=step.name):
                rows_in = dict(totals.rows_in)
                logger.info(
                    "step_started",
                    extra={"scope": step.scope_label, "stage": stage.number, "rows_in": rows_in},
                )
                self.hook.sdk_before_step(run=self.info, step=step, rows_in=rows_in)
                for key, counts in self.state.boundaries(step.name):
                    logger.info(
                        "validated",
                        extra={"boundary": key[1], "dataset": key[2], **counts.as_dict()},
                    )
                    records = self.state.records(key) if observed else None
                    if records is not None:
                        self.hook.sdk_on_quarantine(
                            run=self.info,
                            step=step,
                            boundary=key[1],
                            dataset=key[2],
                            records=records,
                        )
                if error is not None:
                    logger.error(
                        "step_failed",
                        extra={"error": type(error).__name__, "error_message": str(error)},
                        exc_info=error.__cause__ is not None,
                    )
                    if isinstance(error, StepError):
                        self.hook.sdk_on_step_error(run=self.info, step=step, error=error)
                    return
                self.artifacts.report(step.name)
                logger.info(
                    "step_finished",
                    extra={
                        "rows_out": totals.rows_out,
                        "duration_ms": round(totals.duration_ms, 3),
                    },
                )
                self.hook.sdk_after_step(
                    run=self.info,
                    step=step,
                    rows_out=totals.rows_out,
                    duration_ms=totals.duration_ms,
                )

    def report_unit(self, summary: UnitSummary, level: int = logging.DEBUG, **fields: Any) -> None:
        """Log ``unit_committed`` (with ``fields``) and call ``sdk_after_unit``."""
        logger.log(
            level,
            "unit_committed",
            extra={
                "unit": summary.unit,
                "stage": summary.stage,
                "rows_in": summary.rows_in,
                "quarantined": summary.quarantined,
                "steps": summary.steps,
                **fields,
            },
        )
        self.hook.sdk_after_unit(run=self.info, summary=summary)

    def in_memory_outputs(self) -> dict[str, Any]:
        """What the run's result holds: every produced dataset kept in memory (spilled ones
        too when nothing was written), and every artifact the steps returned."""
        request = self.request
        outputs: dict[str, Any] = {
            name: next(ordered(value, request.outputs_sort.get(name, ())))
            if name in request.outputs_sort
            else collect(value)
            for name, value in self.datasets.items()
            if name in request.pipeline.outputs and (isinstance(value, Data) or not request.outputs)
        }
        outputs.update(
            (name, obj)
            for name, obj in self.artifacts.objects.items()
            if name in request.pipeline.outputs
        )
        return outputs

    def manifest(
        self,
        status: str,
        rows_out: dict[str, int],
        written: dict[str, str],
        error: BaseException | None = None,
        quarantine_uri: str | None = None,
    ) -> dict[str, Any]:
        """The run's manifest (``docs/manifest.md``): returned on the result, and written to
        the run directory and beside file outputs where there are any.

        Args:
            status: how the run ended.
            rows_out: rows of each produced dataset.
            written: the destinations published, by dataset.
            error: what failed the run.
            quarantine_uri: where the quarantine is, when not the requested destination
                (kept in the run directory).
        """
        state, request, identity = self.state, self.request, self.identity
        quarantine_uri = quarantine_uri or request.quarantine
        options = {"max_invalid": request.max_invalid, **identity.get("options", {})}
        if request.outputs_sort:
            options["outputs_sort"] = {k: list(v) for k, v in request.outputs_sort.items()}
        return build_manifest(
            pipeline=request.pipeline,
            run_id=self.info.run_id,
            runner=self.info.runner,
            status=status,
            started=self.started,
            inputs=[
                {**item, "rows": state.input_rows(item["name"])}
                for item in identity.get("inputs", [])
            ],
            outputs=[
                {"name": name, "uri": redact(written[name]) if name in written else None, "rows": n}
                for name, n in rows_out.items()
            ],
            validation=[
                {"step": step, "boundary": boundary, "dataset": dataset, **counts.as_dict()}
                for (step, boundary, dataset), counts in state.counts.items()
            ],
            quarantine=state.quarantine(),
            quarantine_uri=redact(quarantine_uri) if quarantine_uri else None,
            error=None if error is None else {"type": type(error).__name__, "message": str(error)},
            options=options,
            artifacts=self.artifacts.manifest_entry(),
            metrics=self.artifacts.metrics,
            policy=self.policy,
        )

    def budget_error(self) -> DataQualityError:
        """The error of a run over its error budget, with the counts and quarantine so far."""
        state, request = self.state, self.request
        invalid, total = state.quarantined, state.rows_in
        fraction = invalid / total if total else 0.0
        where = f" at {redact(request.quarantine)}" if request.quarantine else ""
        return DataQualityError(
            f"run {self.info.run_id}: {invalid} of {total} rows ({fraction:.2%}) were "
            f"quarantined, over the error budget max_invalid={request.max_invalid:g}; inspect "
            f"the quarantine{where} or raise max_invalid for this run",
            run_id=self.info.run_id,
            invalid=invalid,
            total=total,
            max_invalid=request.max_invalid,
            quarantine=state.quarantine(),
        )
