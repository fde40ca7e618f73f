"""The runner template: a run is ``open`` → ``commit`` of each unit → ``close``.

:meth:`Runner.run` opens the run (run id, run directory, identity and resume checks,
``run_started``), executes the plan stage by stage — the only part a runner decides, in
:meth:`Runner.run_stage`: how a stage's data is cut into units and where each unit runs —
and closes it (error budget, atomic publication of outputs and quarantine, manifest,
``run_finished``). :meth:`Runner.commit` merges each unit's result into the run state, checks
the error budget on running totals, lets the source acknowledge, and reports the unit. Step
events and hooks are emitted by the base, once per step, from merged counts.

Whatever ends a run, its manifest and ``run.json`` say how (:mod:`sdk.runners.closing`);
SIGTERM and SIGINT raise :class:`RunInterrupted` in the main thread while a run lasts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs
import pandas as pd

from sdk.errors import PipelineError
from sdk.io import redact
from sdk.logs import ensure_logging, get_logger, run_context
from sdk.manifest import now
from sdk.plugins import get_plugin_manager
from sdk.result import RunResult
from sdk.runners.closing import abandon_run, record_run, run_profile
from sdk.runners.findings import policy_findings
from sdk.runners.identity import LATEST, run_identity
from sdk.runners.inputs import Input
from sdk.runners.options import BASE_OPTIONS, RunnerOption, check_options
from sdk.runners.plan import plan
from sdk.runners.progress import Progress
from sdk.runners.publish import appended, publish_all
from sdk.runners.rundir import (
    RunDirectory,
    host_name,
    latest_interrupted,
    new_run_id,
    remove_temp_files,
    run_root,
)
from sdk.runners.session import RunRequest, RunSession
from sdk.runners.signals import ending, interrupt_on_signals
from sdk.runners.stage import Stage, UnitContext, UnitResult, UnitSummary
from sdk.runners.state import RunInfo, RunState

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["BASE_OPTIONS", "Runner"]

logger = get_logger("sdk.run")


class Runner:
    """Base of every runner (template method).

    A runner sets ``name``, declares its ``options`` (``BASE_OPTIONS`` plus its own) and
    implements :meth:`run_stage`. Options are checked when the runner is created: an unknown
    or ill-typed option raises ``PluginError`` listing the accepted ones. A runner instance
    holds only its options, so it can run many times, even concurrently.

    Attributes:
        name: the runner's registered name.
        options: the declared options (class attribute); ``self.config`` holds their values.
        can_resume: whether it checkpoints units so an interrupted run can be resumed.
        default_on_step_error: ``"fail"`` or ``"quarantine"``, when the option is not given.
        appends: whether it writes outputs and quarantine itself as it goes (a stream), so
            ``close`` publishes nothing, existing destinations are appended to, and the error
            budget is the runner's to enforce.
    """

    name: ClassVar[str] = ""
    options: ClassVar[tuple[RunnerOption, ...]] = BASE_OPTIONS
    can_resume: ClassVar[bool] = False
    default_on_step_error: ClassVar[Literal["fail", "quarantine"]] = "fail"
    appends: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.config: Mapping[str, Any] = check_options(self.name, type(self).options, options)

    # -- what a runner decides -------------------------------------------------------------
    def settings(self, request: RunRequest) -> dict[str, Any]:
        """Per-run settings that shape the units (e.g. chunk size): recorded in ``run.json``
        and required to match on resume. Default: none."""
        return {}

    def run_stage(self, session: RunSession, stage: Stage) -> None:
        """Run one stage: cut its inputs into units, run each, commit each, keep the outputs.

        Read inputs with ``session.whole`` (in memory) or ``session.chunks``, or earlier
        stages' outputs as the runner kept them in ``session.datasets``; run a unit with
        :func:`sdk.run_unit` (in process, in a worker, on a cluster); pass each result to
        :meth:`commit`; store what the stage produced in ``session.datasets`` (``Data`` or a
        :class:`Spilled` dataset).
        """
        raise NotImplementedError

    def acknowledge(self, session: RunSession, unit: str, result: UnitResult) -> None:
        """Called after a unit is committed, for a source to acknowledge it (default: none)."""

    # -- the template ----------------------------------------------------------------------
    def run(
        self,
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
        outputs_sort: Mapping[str, Sequence[str]] | None = None,
    ) -> RunResult:
        """Run ``pipeline`` over ``inputs``; write outputs and quarantine; return the result.

        Args:
            resume: the id of an interrupted run to continue, or ``"latest"``: the most
                recent interrupted run with the same identity (pipeline, params, inputs,
                destinations, options).
            outputs_sort: ``{dataset: [column, ...]}``: sort these datasets stably by those
                columns when they are published (written or returned).

        Raises:
            PipelineError: a missing or unknown input or output, an existing output without
                ``overwrite``, a resume that does not match the original run (or no run to
                resume), a run directory in use by another process, or an ``outputs_sort``
                naming a dataset or column the pipeline does not produce.
            DataQualityError: the error budget was exceeded (after the quarantine is written).
            StepError, SchemaViolation: a step failed.
            RunInterrupted: SIGTERM or SIGINT (the run is recorded ``interrupted``).
        """
        request = RunRequest.build(
            pipeline,
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
        if request.outputs_sort and self.appends:
            raise PipelineError(
                f"the {self.name!r} runner writes its outputs as it goes, so it cannot sort "
                f"them (outputs_sort); sort when you read them, or use local or batch"
            )
        ensure_logging()
        settings = self.settings(request)
        on_step_error = self.config["on_step_error"] or self.default_on_step_error
        identity = run_identity(request, self.name, settings, on_step_error, self.can_resume)
        if request.resume is not None and not self.can_resume:
            raise PipelineError(f"the {self.name!r} runner cannot resume runs; use --runner batch")
        root = run_root(self.config["run_dir"])
        if request.resume == LATEST:
            request = attrs.evolve(request, resume=latest_interrupted(root, identity))
        run_id = request.resume or request.run_id or new_run_id()
        with (
            interrupt_on_signals(),
            run_context(run_id=run_id, pipeline=request.pipeline.name, runner=self.name, step=None),
        ):
            if resume == LATEST:
                logger.info("resume_selected", extra={"resumed_run": run_id, "asked": LATEST})
            directory = self.open_directory(request, root, run_id, identity)
            session = self.open(request, run_id, directory, identity, settings, on_step_error)
            started = time.perf_counter()
            try:
                self.execute(session)
                result = self.close(session, started)
            except BaseException as exc:  # whatever ends the run, run.json says how
                self.abandon(session, exc, started)
                raise
            finally:
                session.progress.close()
                if session.directory is not None:
                    session.directory.release()
            session.hook.sdk_after_run(run=session.info, result=result)
            return result

    def needs_directory(self, request: RunRequest) -> bool:
        """Whether a run keeps a run directory: when it was asked for (``run_dir``), when it
        reads or writes anything outside the process (a URI input, an output, an artifact,
        the quarantine: its manifest and lineage live there), and for runners that checkpoint
        (resume). An in-memory run (objects in, results returned) of a runner that does not
        checkpoint keeps none: its manifest is on the result."""
        return bool(
            self.config["run_dir"] is not None
            or self.can_resume
            or request.outputs
            or request.quarantine
            or any(isinstance(value, str) for value in request.inputs.values())
        )

    def open_directory(
        self, request: RunRequest, root: Path, run_id: str, identity: dict[str, Any]
    ) -> RunDirectory | None:
        """Create the run's directory (holding its lock), reopen it to resume, or keep none
        (:meth:`needs_directory`); refuse existing destinations without ``overwrite``."""
        if request.resume is not None:
            return RunDirectory.reopen(root, run_id, identity)
        if not self.appends:  # a stream appends to its destinations
            request.refuse_existing()
        if not self.needs_directory(request):
            return None
        return RunDirectory.create(root, run_id, identity, resumable=self.can_resume)

    def open(
        self,
        request: RunRequest,
        run_id: str,
        directory: RunDirectory | None,
        identity: dict[str, Any],
        settings: dict[str, Any],
        on_step_error: Literal["fail", "quarantine"],
    ) -> RunSession:
        """Open the run in ``directory`` (a resumed run first removes the temporary files a
        killed run left), log ``run_started`` and ``policy_findings``, call
        ``sdk_before_run``. If that fails, ``run.json`` says how."""
        try:
            pipeline = request.pipeline
            if request.resume is not None and directory is not None:
                destinations = [*request.outputs.values(), *filter(None, [request.quarantine])]
                remove_temp_files(destinations, directory.path)
            info = RunInfo(
                run_id=run_id,
                pipeline=pipeline.name,
                runner=self.name,
                params=identity["params"],
                fingerprint=identity["fingerprint"],
                host=directory.record["host"] if directory is not None else host_name(),
            )
            given = request.frame_inputs
            frames = [v for v in given.values() if isinstance(v, pd.DataFrame)]
            total = sum(map(len, frames)) if len(frames) == len(given) else None
            session = RunSession(
                request=request,
                info=info,
                state=RunState(info, list(given)),
                directory=directory,
                inputs={k: Input(k, v) for k, v in given.items()},
                stages=plan(pipeline),
                context=UnitContext.of(
                    pipeline, run_id, on_step_error, profile=self.config.get("profile", True)
                ),
                settings=settings,
                progress=Progress(self.config["progress"], total),
                hook=get_plugin_manager().hook,
                identity=identity,
                started=directory.record["started"] if directory is not None else now(),
            )
            session.announce(identity["outputs"])
            session.policy = policy_findings(pipeline)
            session.hook.sdk_before_run(run=info)
            return session
        except BaseException as exc:
            if directory is not None:
                try:
                    directory.mark(*ending(exc))
                finally:
                    directory.release()
            raise

    def execute(self, session: RunSession) -> None:
        """Load the artifacts the pipeline takes (once), then run the plan: each stage
        through :meth:`run_stage`, then its steps' events."""
        session.artifacts.load_inputs(session.request)
        for stage in session.stages:
            logger.info(
                "stage_started",
                extra={
                    "stage": stage.number,
                    "kind": stage.kind,
                    "steps": [s.name for s in stage.steps],
                },
            )
            self.run_stage(session, stage)
            session.report_steps(stage)
            session.artifacts.check_new()  # a model exists: do its consumers fit it?
            # an input read in chunks is known whole only after its last unit: check here
            # too, so no later stage runs when the outcome is already certain
            self._enforce_budget(session, None)

    def commit(
        self,
        session: RunSession,
        stage: Stage,
        unit: str,
        result: UnitResult,
        *,
        report: bool = True,
    ) -> None:
        """Commit one unit whose rows the runner has written (or kept).

        Merges the result into the run state, then: a failed unit reports its stage's steps
        and raises its error; an error budget certain to be exceeded raises
        ``DataQualityError``; otherwise the source may acknowledge the unit, which is reported
        (``unit_committed`` at DEBUG level, ``sdk_after_unit``) unless ``report`` is false (a
        runner that reports its units itself, with ``session.report_unit``).
        """
        self._merge(session, stage, result)
        if result.error is not None:
            session.report_steps(stage, failed=result)
            raise result.error
        self._enforce_budget(session, stage)
        self.acknowledge(session, unit, result)
        if report:
            session.report_unit(UnitSummary.of(unit, stage.number, result))

    def replay(self, session: RunSession, stage: Stage, result: UnitResult) -> None:
        """Merge a unit committed before a crash (rebuilt from its checkpoint by a resumed
        run): counted and budgeted, not acknowledged or reported again."""
        session.reused += 1
        self._merge(session, stage, result)
        self._enforce_budget(session, stage)

    def close(self, session: RunSession, started: float) -> RunResult:
        """Close a finished run: budget, quarantine and outputs published, manifest."""
        state, request = session.state, session.request
        session.check_inputs_unchanged()
        if not self.appends and state.over_budget(request.max_invalid, final=True):
            raise session.budget_error()
        quarantine = state.quarantine()
        written, rows_out = (
            publish_all(session, quarantine) if not self.appends else appended(session)
        )
        outputs = session.in_memory_outputs()
        manifest = self.record(session, "succeeded", rows_out, written)
        duration = (time.perf_counter() - started) * 1000
        logger.info(
            "run_finished",
            extra={
                "status": "succeeded",
                "rows_in": state.rows_in,
                "rows_out": rows_out,
                "quarantined": state.quarantined,
                "duration_ms": round(duration, 3),
                "outputs": {k: redact(v) for k, v in written.items()},
            },
        )
        return RunResult(
            run_id=session.info.run_id,
            pipeline=request.pipeline.name,
            runner=self.name,
            status="succeeded",
            outputs=outputs,
            quarantine=quarantine,
            report=state.report,
            rows_in=state.rows_in,
            duration_ms=duration,
            written=written,
            quarantined=state.quarantined,
            metrics=dict(session.artifacts.metrics),
            artifacts=session.artifacts.records(),
            manifest=manifest,
            profile=run_profile(session),
        )

    def record(
        self,
        session: RunSession,
        status: str,
        rows_out: dict[str, int],
        written: dict[str, str],
        error: BaseException | None = None,
    ) -> dict[str, Any]:
        """The run's manifest, written where the run writes (see
        :func:`sdk.runners.closing.record_run`)."""
        return record_run(session, status, rows_out, written, error, appends=self.appends)

    def abandon(self, session: RunSession, exc: BaseException, started: float) -> None:
        """Close a run that did not succeed (see :func:`sdk.runners.closing.abandon_run`):
        interrupted, nothing is published and ``run.json`` says so; failed, the quarantine so
        far is written, then the manifest and ``sdk_on_run_error``."""
        abandon_run(session, exc, started, resumable=self.can_resume, appends=self.appends)

    # -- helpers ---------------------------------------------------------------------------
    def _merge(self, session: RunSession, stage: Stage, result: UnitResult) -> None:
        session.state.merge(result)
        session.units += 1
        if result.error is None:
            session.artifacts.accept(result.artifacts)
        session.progress.update(stage.number, result.rows_in)

    def _enforce_budget(self, session: RunSession, stage: Stage | None) -> None:
        """Fail now if the budget is certain to be exceeded, first reporting ``stage``'s steps
        (mid-stage: their events have not been reported yet)."""
        if not self.appends and session.state.over_budget(session.request.max_invalid, final=False):
            if stage is not None:
                session.report_steps(stage)
            raise session.budget_error()
