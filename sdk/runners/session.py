"""An open run: what a runner works with between ``open`` and ``close``.

:class:`RunRequest` is what was asked (pipeline with params, inputs, destinations, budget);
:class:`RunSession` is the open run: its identity, state, run directory, plan, the datasets
produced so far, and the reporting of step events and hooks from merged totals.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pandas as pd

from sdk.errors import DataQualityError, IOSchemeError, PipelineError, StepError
from sdk.io import dataset_identity, exists, redact
from sdk.logs import get_logger, run_context
from sdk.plugins import resolve_scheme
from sdk.quarantine import check_max_invalid
from sdk.runners.artifacts import RunArtifacts
from sdk.runners.inputs import Input
from sdk.runners.stage import Data, Stage, StepTotals, UnitContext, UnitResult

if TYPE_CHECKING:
    import pluggy

    from sdk.pipeline import Pipeline
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


@attrs.frozen
class RunRequest:
    """What a run was asked to do, checked: every problem with the names is listed at once.

    Attributes:
        pipeline: the pipeline, params applied.
        inputs: each pipeline input, a DataFrame or a URI (an artifact: a URI or the object).
        outputs: datasets to write, by name.
        quarantine: where to write the quarantine, if anywhere.
        max_invalid: this run's error budget.
        run_id: the id asked for (a new one is generated otherwise).
        resume: the id of an interrupted run to continue.
        overwrite: replace existing outputs.
        trusted_artifacts: patterns of artifact files trusted to be loaded with pickle
            (``.joblib``, ``.pkl``) or with types ``skops`` does not trust by default.
    """

    pipeline: Pipeline
    inputs: dict[str, Any]
    outputs: dict[str, str]
    quarantine: str | None
    max_invalid: float
    run_id: str | None = None
    resume: str | None = None
    overwrite: bool = False
    trusted_artifacts: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        pipeline: Pipeline,
        inputs: Mapping[str, Any],
        *,
        outputs: Mapping[str, str] | None = None,
        quarantine: str | None = None,
        params: Mapping[str, Any] | None = None,
        max_invalid: float | None = None,
        run_id: str | None = None,
        resume: str | None = None,
        overwrite: bool = False,
        trusted_artifacts: Sequence[str] = (),
    ) -> RunRequest:
        """Apply ``params`` and check names, types and the budget.

        Raises:
            PipelineError: listing every missing or unknown input or output.
            ParamsError: a param override that does not fit.
        """
        pipeline = pipeline.with_params(params)
        given = dict(inputs)
        outs = {k: str(v) for k, v in (outputs or {}).items()}
        artifacts = set(pipeline.artifacts)
        problems = [
            f"missing input {name!r} ({pipeline.describe_input(name)}); pass it as "
            + (f"{name}=<file or object>" if name in artifacts else f"{name}=<DataFrame or URI>")
            for name in pipeline.inputs
            if name not in given
        ]
        problems += [
            f"unknown input {name!r}; the pipeline's inputs are {', '.join(pipeline.inputs)}"
            for name in given
            if name not in pipeline.inputs
        ]
        problems += [
            f"input {name!r} is a {type(value).__name__}; pass a pandas DataFrame or a URI"
            for name, value in given.items()
            if name not in artifacts and not isinstance(value, pd.DataFrame | str | Path)
        ]
        problems += _artifact_problems(pipeline, given, outs)
        problems += [
            f"unknown output {name!r}; the pipeline produces {', '.join(pipeline.outputs)}"
            for name in outs
            if name not in pipeline.outputs
        ]
        problems += _overlaps(given, outs, quarantine)
        if problems:
            message = problems[0] if len(problems) == 1 else "\n".join(problems)
            raise PipelineError(message, problems)
        return cls(
            pipeline=pipeline,
            inputs={k: (str(v) if isinstance(v, str | Path) else v) for k, v in given.items()},
            outputs=outs,
            quarantine=quarantine,
            max_invalid=check_max_invalid(
                pipeline.max_invalid if max_invalid is None else max_invalid
            ),
            run_id=run_id,
            resume=resume,
            overwrite=overwrite,
            trusted_artifacts=tuple(trusted_artifacts),
        )

    @property
    def frame_inputs(self) -> dict[str, pd.DataFrame | str]:
        """The DataFrame inputs (not the artifacts): a DataFrame or a URI each."""
        artifacts = set(self.pipeline.artifacts)
        return {k: v for k, v in self.inputs.items() if k not in artifacts}

    def refuse_existing(self) -> None:
        """Raise ``PipelineError`` if a destination exists and ``overwrite`` is not set."""
        artifacts = set(self.pipeline.artifacts)
        taken = [
            uri
            for name, uri in self.outputs.items()
            if (
                os.path.exists(uri.removeprefix("file://"))
                if name in artifacts
                else exists(resolve_scheme(uri), uri)
            )
        ]
        if self.quarantine and exists(resolve_scheme(self.quarantine), self.quarantine):
            taken.append(self.quarantine)
        if taken and not self.overwrite:
            raise PipelineError(
                f"output(s) already exist: {', '.join(redact(u) for u in taken)}; pass "
                f"--overwrite (overwrite=True) to replace them, or choose another destination"
            )


def _artifact_problems(
    pipeline: Pipeline, inputs: Mapping[str, object], outputs: Mapping[str, str]
) -> list[str]:
    """Artifact inputs of the wrong type or format, artifact outputs of an unknown format."""
    from sdk.io.artifacts import artifact_format

    problems: list[str] = []
    for name in pipeline.artifacts:
        declared = pipeline.artifact(name)
        if declared is None:  # pragma: no cover - pipeline.artifacts lists declared ones
            continue
        uris = [(f"output {name!r}", outputs[name])] if name in outputs else []
        value = inputs.get(name)
        if isinstance(value, str | Path):
            uris.append((f"input {name!r}", str(value)))
        elif value is not None and not isinstance(value, declared.type):
            problems.append(
                f"input {name!r} is a {type(value).__name__}; the pipeline takes it as "
                f"{declared.label}: pass that object or the file it was saved to"
            )
        for what, uri in uris:
            try:
                fmt = artifact_format(uri)
            except IOSchemeError as exc:
                problems.append(f"{what}: {exc}")
                continue
            if fmt == "json" and not issubclass(declared.type, dict | list):
                problems.append(
                    f"{what}: {redact(uri)} is JSON, which holds metrics, dicts and lists, not "
                    f"{declared.label}; save it as .skops"
                )
    return problems


def _overlaps(
    inputs: Mapping[str, object], outputs: Mapping[str, str], quarantine: str | None
) -> list[str]:
    """Destinations that would overwrite an input or each other (same file, also through a
    symlink, or same table)."""
    read = {
        dataset_identity(str(v)): name
        for name, v in inputs.items()
        if isinstance(v, str | Path) and dataset_identity(str(v)) is not None
    }
    destinations = [(f"output {k!r}", v) for k, v in outputs.items()]
    destinations += [("the quarantine", quarantine)] if quarantine else []
    problems: list[str] = []
    written: dict[tuple[str, ...], str] = {}
    for what, uri in destinations:
        identity = dataset_identity(uri)
        if identity is None:
            continue
        if identity in read:
            problems.append(
                f"{what} ({redact(uri)}) is the input {read[identity]!r}: writing it would "
                f"destroy the input; choose another destination"
            )
        elif identity in written:
            problems.append(
                f"{what} and {written[identity]} are both {redact(uri)}; give each its own "
                f"destination"
            )
        written[identity] = what
    return problems


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
                "run_dir": str(self.path),
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
