"""The ``stream`` runner: micro-batches from a stream, written, then acknowledged.

It reads a stream (a Redis consumer group, JSON lines, standard input) in micro-batches — at
most ``max_batch_rows`` rows, closed ``max_latency_ms`` after its first message — and runs each
through the shared plan as one unit per stage, on the runner core: the same validation,
quarantine, step events and artifacts (loaded once, the same object for every micro-batch) as
``local`` and ``batch``. Each micro-batch's outputs and quarantine records are written durably
(see :mod:`sdk.runners.sinks`) *before* its messages are acknowledged: at-least-once, and
exactly-once when every destination is one SQL database, or a Redis stream of the source's
Redis (written and acknowledged by one script).

Bad data never stops the stream: invalid rows are quarantined; a step that raises has its
offending rows quarantined (``on_step_error="quarantine"`` by default here); a message
delivered more than ``max_deliveries`` times is quarantined with check ``max_deliveries``. The
error budget ``max_invalid`` applies to the last ``invalid_window`` rows: exceeded, the runner
stops with ``DataQualityError`` once what it wrote is acknowledged. SIGTERM or SIGINT finish
the current micro-batch, write and acknowledge it, and end the run ``succeeded``.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.errors import DataQualityError, PipelineError
from sdk.failpoints import failpoint
from sdk.hookspecs import hookimpl
from sdk.io import redact
from sdk.io.streams import Batch, FrameSource, StreamSource, check_source, open_source
from sdk.logs import get_logger
from sdk.quarantine import build_records
from sdk.runners.base import BASE_OPTIONS, Runner
from sdk.runners.options import RunnerOption
from sdk.runners.plan import step_kind
from sdk.runners.signals import stop_on_signals
from sdk.runners.sinks import Sinks, check_destinations, default_quarantine, open_sinks
from sdk.runners.stage import BoundaryCounts, Data, Stage, StepTotals, UnitResult, UnitSummary
from sdk.runners.unit import run_unit

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.result import RunResult
    from sdk.runners.request import RunRequest
    from sdk.runners.session import RunSession
    from sdk.step import Step

__all__ = ["StreamRunner"]

logger = get_logger("sdk.run")

MAX_DELIVERIES = "max_deliveries"
"""The check name of messages quarantined for being delivered too many times."""


class StreamRunner(Runner):
    """Micro-batches from a stream (Redis, JSON lines, stdin): written, then acknowledged.

    Options (besides ``run_dir``, ``on_step_error`` — default ``quarantine`` here — and
    ``progress``):
        max_batch_rows: rows per micro-batch at most (default 1,000).
        max_latency_ms: a micro-batch closes this long after its first message (default 100).
        idle_timeout_s: end the run after this long with nothing to read (default: never).
        claim_idle_ms: claim messages other consumers left pending this long (default 60,000).
        max_deliveries: quarantine a message delivered more often than this (default 5).
        invalid_window: the error budget applies to this many latest rows (default 10,000).
    """

    name = "stream"
    appends = True
    default_on_step_error = "quarantine"
    options = (
        *BASE_OPTIONS,
        RunnerOption("max_batch_rows", int, 1000, "rows per micro-batch at most"),
        RunnerOption("max_latency_ms", int, 100, "close a micro-batch this long after its first"),
        RunnerOption(
            "idle_timeout_s", float | None, None, "end after this long idle (default: never)"
        ),
        RunnerOption("claim_idle_ms", int, 60_000, "claim others' messages pending this long"),
        RunnerOption("max_deliveries", int, 5, "quarantine a message delivered more often"),
        RunnerOption("invalid_window", int, 10_000, "rows the error budget applies to"),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for key in ("max_batch_rows", "max_deliveries", "invalid_window"):
            if self.config[key] < 1:
                raise PipelineError(f"runner option {key}={self.config[key]} must be at least 1")

    def run(self, pipeline: Pipeline, inputs: Mapping[str, Any], **kwargs: Any) -> RunResult:
        """Run ``pipeline`` on its stream; the quarantine defaults to a destination beside
        the source or the outputs (see :func:`sdk.runners.sinks.default_quarantine`)."""
        if kwargs.get("quarantine") is None:
            kwargs["quarantine"] = default_quarantine(pipeline, inputs, kwargs.get("outputs"))
        return super().run(pipeline, inputs, **kwargs)

    def settings(self, request: RunRequest) -> dict[str, Any]:
        """Refuse what a stream cannot run: a step that needs more than its rows, or more
        than one input read as a stream."""
        whole = [s for s in request.pipeline.order if step_kind(s) != "rows"]
        if whole:
            problems = [_why_not_rows(step) for step in whole]
            raise PipelineError(
                "the stream runner runs each micro-batch on its own, so every step must be "
                "correct on any subset of rows: "
                + "; ".join(problems)
                + ". Run this pipeline with --runner batch",
                problems,
            )
        frames = list(request.frame_inputs)
        if len(frames) != 1:
            raise PipelineError(
                f"the stream runner reads one stream; this pipeline takes {len(frames)} "
                f"DataFrame inputs ({', '.join(frames)}); join them upstream or use "
                f"--runner batch"
            )
        (given,) = request.frame_inputs.values()
        if isinstance(given, str):  # refused before the run opens, not as a failed run
            check_source(given)
        check_destinations(request)
        return {k: self.config[k] for k in ("max_batch_rows", "max_latency_ms", "invalid_window")}

    def run_stage(self, session: RunSession, stage: Stage) -> None:  # pragma: no cover
        """Unused: :meth:`execute` runs every stage on each micro-batch."""
        raise NotImplementedError

    def execute(self, session: RunSession) -> None:
        """Consume the stream until it ends, idles out, is stopped, or the budget breaks."""
        session.artifacts.load_inputs(session.request)
        session.snapshots.clear()  # a stream grows while it is read: that is no change
        (name,) = session.inputs
        given = session.inputs[name].value
        if isinstance(given, pd.DataFrame):  # a finite stream: replays, tests
            source: StreamSource = FrameSource(given)
        else:
            source = open_source(given, claim_idle_ms=self.config["claim_idle_ms"])
        uri = source.uri
        sinks = open_sinks(session, source)
        consumer = _Consumer(self, session, name, source, sinks)
        logger.info(
            "stream_started",
            extra={
                "source": redact(uri),
                "exactly_once": sinks.exactly_once,
                **self.config,
                "on_step_error": session.context.on_step_error,
            },
        )
        if not session.request.outputs and not isinstance(given, pd.DataFrame):
            logger.warning(  # fine in a notebook; a process reading forever would only grow
                "stream_outputs_in_memory",
                extra={"reason": "no output destination given: outputs are kept in memory"},
            )
        # what exists now (modules, the pipeline, artifacts) lives as long as the run: kept out
        # of the collector's full passes, which would walk it again and again (~50 ms each)
        gc.freeze()
        try:
            with stop_on_signals() as stopping:
                consumer.consume(stopping)
        except DataQualityError:
            self._report(session)
            raise
        finally:
            gc.unfreeze()
            with contextlib.suppress(Exception):
                source.close()
            sinks.close()
        self._report(session)

    def _report(self, session: RunSession) -> None:
        """The step events of the whole run, once, from merged totals (never per batch)."""
        for stage in session.stages:
            session.report_steps(stage)


def _why_not_rows(step: Step) -> str:
    if step.key is None and type(step).scope == "rows":
        return (
            f"step {step.name!r} is scope rows but its models check across rows (unique or "
            f"dataframe-level checks), which needs every row"
        )
    return (
        f"step {step.name!r} has scope {step.scope_label}: it needs rows from more than one "
        f"micro-batch"
    )


class _Consumer:
    """The loop of one stream run: read, run, write, acknowledge, budget."""

    def __init__(
        self,
        runner: StreamRunner,
        session: RunSession,
        name: str,
        source: StreamSource,
        sinks: Sinks,
    ) -> None:
        self.runner, self.session, self.name = runner, session, name
        self.source, self.sinks = source, sinks
        self.config = runner.config
        self.window: collections.deque[tuple[int, int]] = collections.deque()
        self.batches = 0
        model = session.request.pipeline.input_model(name)
        self.columns = [str(c) for c in model.to_schema().columns]

    def consume(self, stopping: threading.Event) -> None:
        idle_since = time.monotonic()
        timeout = self.config["idle_timeout_s"]
        while not stopping.is_set():
            batch = self.read()
            if not batch.ids:
                if getattr(self.source, "exhausted", False):
                    return
                if timeout is not None and time.monotonic() - idle_since >= timeout:
                    logger.info("stream_idle", extra={"idle_s": timeout})
                    return
                continue
            self.process(batch)
            idle_since = time.monotonic()

    def read(self) -> Batch:
        """One micro-batch: up to ``max_batch_rows``, closed ``max_latency_ms`` after the
        first message arrived."""
        limit, latency = self.config["max_batch_rows"], self.config["max_latency_ms"]
        window = getattr(self.source, "read_window", None)
        if window is not None:  # the source gathers the window itself: one frame
            return window(limit, latency)
        first = self.source.read(limit, latency)
        if not first.ids or len(first.ids) >= limit:
            return first
        parts = [first]
        deadline = time.monotonic() + latency / 1000
        while (rows := sum(len(p.ids) for p in parts)) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self.source.read(limit - rows, max(int(left * 1000), 1))
            if not more.ids:
                break
            parts.append(more)
        return Batch.concat(parts)

    def process(self, batch: Batch) -> None:
        failpoint("stream.after_read")
        session, runner = self.session, self.runner
        self.batches += 1
        unit = f"b{self.batches:08d}"
        ids = list(batch.ids)
        done = self.sinks.consumed(ids)
        keep = (
            np.array([i not in done for i in ids], dtype=bool) if done else np.ones(len(ids), bool)
        )
        poison = np.zeros(len(ids), dtype=bool)
        if batch.deliveries is not None:
            poison = keep & (batch.deliveries > self.config["max_deliveries"])
        run = keep & ~poison
        session.state.stream_read(self.name, int(keep.sum()))
        results: list[UnitResult] = []
        if poison.any():
            results.append(self.poisoned(batch, np.flatnonzero(poison)))
        positions = np.flatnonzero(run)
        frame = batch.frame.iloc[positions].reset_index(drop=True)
        # messages carry only the fields they have: a column no message of this micro-batch
        # has is missing in every row (quarantined row by row), not a frame-level failure
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            frame = frame.assign(**dict.fromkeys(absent))
        current: dict[str, Data] = {self.name: Data(frame, batch.sources.take(positions))}
        for stage in session.stages:
            frames = {d: current[d] for d in stage.inputs}
            result = run_unit(stage, frames, session.context, session.artifacts.given(stage))
            runner.commit(session, stage, f"{unit}-s{stage.number:02d}", result, report=False)
            current.update(result.outputs)
            results.append(result)
        pipeline = session.request.pipeline
        outputs = {name: current[name].frame for name in pipeline.outputs if name in current}
        quarantine = [r.quarantine for r in results if len(r.quarantine)]
        records = pd.concat(quarantine, ignore_index=True) if quarantine else None
        kept = [i for i, k in zip(ids, keep, strict=True) if k] if done else ids
        acked = self.sinks.write(outputs, records, kept, ids)  # same Redis: acked with it
        failpoint("stream.after_write")
        if not acked:
            self.source.ack(ids)
        if self.sinks.keeps_quarantine:
            session.state.forget_records()
        rows = int(keep.sum())
        quarantined = sum(c.quarantined for r in results for c in r.counts.values())
        self.report(unit, results, batch, rows, quarantined)
        self.enforce_budget(rows, quarantined)

    def poisoned(self, batch: Batch, positions: np.ndarray) -> UnitResult:
        """Quarantine messages delivered more than ``max_deliveries`` times, unprocessed."""
        step = self.session.request.pipeline.order[0]
        frame = batch.frame.iloc[positions].reset_index(drop=True)
        records = build_records(
            raw=frame,
            failures=[(np.arange(len(frame), dtype=np.int64), None, MAX_DELIVERIES)],
            sources=batch.sources.take(positions),
            context={
                "run_id": self.session.info.run_id,
                "step": step.name,
                "boundary": "input",
                "dataset": self.name,
            },
            masking=self.session.context.masking,
        )
        assert batch.deliveries is not None
        records["value"] = [f"delivered {int(n)} times" for n in batch.deliveries[positions]]
        k = len(frame)
        counts = BoundaryCounts(
            rows=k, passed=0, quarantined=k, failures={"<message>": {MAX_DELIVERIES: k}}
        )
        result = UnitResult(
            quarantine=records,
            counts={(step.name, "input", self.name): counts},
            steps={step.name: StepTotals(rows_in={self.name: k})},
        )
        self.session.state.merge(result)
        return result

    def report(
        self, unit: str, results: list[UnitResult], batch: Batch, rows: int, quarantined: int
    ) -> None:
        """``unit_committed`` for the micro-batch: rows, passed, quarantined, lag, latency."""
        steps: dict[str, dict[str, Any]] = {}
        for result in results:
            summary = UnitSummary.of(unit, 0, result)
            for step, values in summary.steps.items():
                steps.setdefault(step, {}).update(values)
        latency = None
        if batch.oldest_ms is not None:
            latency = round(batch.oldest_ms, 3)
        self.session.report_unit(
            UnitSummary(unit, 0, rows, quarantined, steps),
            logging.INFO,
            rows=rows,
            passed=rows - quarantined,
            lag=self.source.lag() if self.sinks.lag is None else self.sinks.lag,
            latency_ms=latency,
        )

    def enforce_budget(self, rows: int, quarantined: int) -> None:
        """Fail once the last ``invalid_window`` rows hold too many quarantined ones."""
        self.window.append((rows, quarantined))
        window = self.config["invalid_window"]
        while len(self.window) > 1 and sum(r for r, _ in self.window) - self.window[0][0] >= window:
            self.window.popleft()
        total = sum(r for r, _ in self.window)
        bad = sum(q for _, q in self.window)
        limit = self.session.request.max_invalid
        if total and bad / total > limit:
            raise DataQualityError(
                f"run {self.session.info.run_id}: {bad} of the last {total} rows "
                f"({bad / total:.2%}) were quarantined, over the error budget "
                f"max_invalid={limit:g} (over a window of {window} rows); the stream stopped "
                f"after acknowledging what it wrote. Inspect the quarantine at "
                f"{redact(self.session.request.quarantine or '-')} or raise max_invalid",
                run_id=self.session.info.run_id,
                invalid=bad,
                total=total,
                max_invalid=limit,
                quarantine=self.session.state.quarantine(),
            )


@hookimpl
def sdk_register_runners() -> list[type[Runner]]:
    """The built-in stream runner."""
    return [StreamRunner]
