"""What the server does with one request: records in, one committed unit, an answer out.

Everything here runs in the server's one worker thread (:class:`Service` submits it there), so
the run's state is only ever touched by one thread and the event loop stays free for other
connections. A request's records become one frame per input dataset (``source`` =
``request#N``, N the record's position in its array), run through the shared plan with
:func:`sdk.run_unit` — the same validation, quarantine and step-error isolation as every
runner — and are committed as one unit of the server's run. The answer holds the outputs and
the quarantine records of that request only; the run keeps counts, never the records.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import orjson
import pandas as pd

import sdk
from sdk_serve.outcome import Answer, Outcome
from sdk_serve.problems import Problem

if TYPE_CHECKING:
    from sdk_serve.metrics import Metrics
    from sdk_serve.runner import ServeRunner

__all__ = ["NOT_AN_OBJECT", "Service", "Variant"]

logger = sdk.get_logger("sdk.serve")

NOT_AN_OBJECT = "not_an_object"
"""The check of an array element that is not a JSON object (it cannot be a record)."""


@attrs.frozen
class Variant:
    """The pipeline as a request runs it: its params, stages and unit context."""

    pipeline: sdk.Pipeline
    stages: list[sdk.Stage]
    context: sdk.UnitContext


class Service:
    """The pipeline, loaded once, answering requests in one worker thread."""

    def __init__(self, runner: ServeRunner, session: sdk.RunSession) -> None:
        self.runner, self.session = runner, session
        self.config = runner.config
        request = session.request
        pipeline = request.pipeline
        self.pipeline = pipeline
        self.inputs = list(request.frame_inputs)
        artifacts = set(pipeline.artifacts)
        self.outputs = [name for name in pipeline.outputs if name not in artifacts]
        self.allowed = frozenset(self.config["allow_params"])
        self.token = os.environ.get("SDK_SERVE_TOKEN") or None
        self.variants: dict[tuple[tuple[str, str], ...], Variant] = {
            (): Variant(pipeline, session.stages, session.context)
        }
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sdk-serve")
        self.requests = 0
        self.ready: dict[str, Any] = {"status": "starting"}
        self.metrics: Metrics | None = None

    def close(self) -> None:
        """Stop the worker thread once what it was given is done."""
        self.executor.shutdown(wait=True)

    def self_test(self) -> None:
        """Before the server is ready: a synthesized valid record must come through and an
        invalid one must be quarantined (run, not committed). Sets :attr:`ready`; a model
        that cannot be synthesized (a custom check) skips the test, with the reason."""
        name = self.inputs[0]
        model = self.pipeline.input_model(name)
        try:
            valid = sdk.synthesize(model, 1, seed=0)
        except Exception as exc:  # any model synthesize cannot satisfy: no test, say why
            self.ready = {"status": "ready", "self_test": "skipped", "reason": str(exc)}
            logger.warning("self_test_skipped", extra={"reason": str(exc)})
            return
        invalid = None
        for fault in ("missing", "malformed", "out_of_range"):
            faulty, truth = sdk.inject_faults(
                valid,
                model,
                seed=0,
                missing=float(fault == "missing"),
                malformed=float(fault == "malformed"),
                out_of_range=float(fault == "out_of_range"),
            )
            if len(truth):
                invalid = faulty
                break
        problems = []
        for label, frame, expected in (("valid", valid, 0), ("invalid", invalid, 1)):
            if frame is None:
                continue
            records = json.loads(frame.to_json(orient="records", date_format="iso"))
            try:
                outcome = self.run(self.variants[()], {name: records})
            except Problem as exc:
                problems.append(f"the {label} record failed the pipeline: {exc.detail}")
                continue
            if outcome.quarantined != expected:
                problems.append(
                    f"a synthesized {label} record was "
                    + ("quarantined" if outcome.quarantined else "not quarantined")
                    + f" (record: {json.dumps(records[0], default=str)})"
                )
        if problems:
            self.ready = {"status": "failed", "self_test": "failed", "problems": problems}
            logger.error("self_test_failed", extra={"problems": problems})
        else:
            self.ready = {"status": "ready", "self_test": "passed"}
            logger.info("self_test_passed", extra={"dataset": name})

    # -- one request ---------------------------------------------------------------------------
    def handle(self, body: bytes, request_id: str, cancelled: threading.Event) -> Answer | None:
        """Parse ``body``, run it as one unit, commit it, and answer; ``None`` if the request
        was cancelled (timed out) before its unit was committed: nothing is counted then.

        Raises:
            Problem: a body that is not JSON, not of the request's shape, too many records,
                an unknown dataset or a param the deployment does not let requests set.
        """
        records, params = self.parse(body)
        variant = self.variant(params)
        outcome = self.run(variant, records)
        if cancelled.is_set():
            logger.warning("request_timed_out", extra={"committed": False})
            return None
        self.requests += 1
        unit = f"r{self.requests:08d}"
        for name in self.inputs:
            self.session.state.stream_read(name, len(records.get(name, [])))
        for stage, result in outcome.results:
            self.runner.commit(
                self.session, stage, f"{unit}-s{stage.number:02d}", result, report=False
            )
        self.session.state.forget_records()  # the answer carries them; the run keeps counts
        summary = outcome.summary(unit)
        self.session.report_unit(
            summary,
            logging.INFO,
            rows=outcome.rows_in,
            passed=outcome.rows_in - outcome.quarantined,
        )
        return outcome.answer(self.session.info.run_id, request_id)

    def parse(self, body: bytes) -> tuple[dict[str, list[Any]], dict[str, Any]]:
        """The records of each input dataset and the param overrides of a request body."""
        document = _loads(body)
        if isinstance(document, list):
            if len(self.inputs) != 1:
                raise Problem(
                    400,
                    "ambiguous-input",
                    "Several inputs",
                    f"this pipeline takes {len(self.inputs)} inputs ({', '.join(self.inputs)}); "
                    f'send {{"inputs": {{"<dataset>": [records...]}}}}',
                )
            inputs: dict[str, Any] = {self.inputs[0]: document}
            params: Any = {}
        elif isinstance(document, dict):
            unknown = sorted(set(document) - {"inputs", "params"})
            if unknown:
                raise Problem(
                    400,
                    "unknown-field",
                    "Unknown field",
                    f"unknown field(s) {', '.join(map(repr, unknown))}; a request is an array "
                    f'of records or {{"inputs": {{...}}, "params": {{...}}}}',
                )
            inputs, params = document.get("inputs", {}), document.get("params", {})
            if not isinstance(inputs, dict) or not all(
                isinstance(v, list) for v in inputs.values()
            ):
                raise Problem(
                    400,
                    "bad-inputs",
                    "Bad inputs",
                    '"inputs" must be an object of arrays of records: {"<dataset>": [...]}',
                )
            if not isinstance(params, dict):
                raise Problem(400, "bad-params", "Bad params", '"params" must be an object')
        else:
            raise Problem(
                400,
                "bad-request-shape",
                "Not a request",
                f"the body is a JSON {_json_type(document)}; send an array of records or "
                f'{{"inputs": {{"<dataset>": [records...]}}, "params": {{...}}}}',
            )
        unknown = [name for name in inputs if name not in self.inputs]
        if unknown:
            raise Problem(
                400,
                "unknown-dataset",
                "Unknown input dataset",
                f"unknown input dataset(s) {', '.join(map(repr, unknown))}; this pipeline's "
                f"inputs are {', '.join(self.inputs)}",
            )
        total = sum(len(v) for v in inputs.values())
        if total > self.config["max_records"]:
            raise Problem(
                413,
                "too-many-records",
                "Too many records",
                f"{total} records; at most {self.config['max_records']} per request "
                f"(runner option max_records): split the request",
            )
        return inputs, params

    def variant(self, params: Mapping[str, Any]) -> Variant:
        """The pipeline with a request's param overrides (allowed ones only), cached."""
        if not params:
            return self.variants[()]
        refused = sorted(k for k in params if k not in self.allowed)
        if refused:
            allowed = ", ".join(sorted(self.allowed)) or "none"
            raise Problem(
                400,
                "param-not-allowed",
                "Param not allowed",
                f"param(s) {', '.join(map(repr, refused))} cannot be set per request; the "
                f"deployment allows: {allowed} (runner option allow_params)",
            )
        key = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in params.items()))
        found = self.variants.get(key)
        if found is None:
            try:
                pipeline = self.pipeline.with_params(params)
            except sdk.ParamsError as exc:
                raise Problem(400, "bad-param", "Bad param value", str(exc)) from exc
            context = sdk.UnitContext.of(
                pipeline,
                self.session.info.run_id,
                self.session.context.on_step_error,
                profile=bool(self.session.context.profiled),  # profile=false holds here too
            )
            found = Variant(pipeline, sdk.plan(pipeline), context)
            if len(self.variants) > 256:  # bounded: a client cannot grow the cache forever
                self.variants = {(): self.variants[()]}
            self.variants[key] = found
        return found

    def run(self, variant: Variant, inputs: Mapping[str, list[Any]]) -> Outcome:
        """Run every stage on the request's records: one unit, not committed yet.

        Raises:
            Problem: a step failed the unit (``on_step_error="fail"``, or a frame-level
                violation): 500, nothing committed, the error in the log.
        """
        several = len(self.inputs) > 1
        current: dict[str, sdk.Data] = {}
        outcome = Outcome(self.outputs)
        for name in self.inputs:
            label = f"request:{name}" if several else "request"
            records = inputs.get(name, [])
            current[name] = self.frame(variant, name, label, records, outcome)
        for stage in variant.stages:
            frames = {d: current[d] for d in stage.inputs}
            result = sdk.run_unit(
                stage, frames, variant.context, self.session.artifacts.given(stage)
            )
            if result.error is not None:
                logger.error(
                    "request_failed",
                    extra={"failed_step": result.failed_step, "error": str(result.error)},
                )
                raise Problem(
                    500,
                    "step-failed",
                    "Step failed",
                    f"step {result.failed_step!r} failed on this request "
                    f"({type(result.error).__name__}); the server log has the details",
                )
            outcome.add(stage, result)
            current.update(result.outputs)
        outcome.frames = {name: current[name].frame for name in self.outputs if name in current}
        return outcome

    def frame(
        self, variant: Variant, name: str, label: str, records: list[Any], outcome: Outcome
    ) -> sdk.Data:
        """One input's records as a frame; elements that are not objects are quarantined."""
        columns = [str(c) for c in variant.pipeline.input_model(name).to_schema().columns]
        objects = [i for i, r in enumerate(records) if isinstance(r, dict)]
        if len(objects) < len(records):
            outcome.add_rejected(self.rejected(variant, name, label, records, objects))
            records = [records[i] for i in objects]
        # pd.DataFrame, not from_records: a record {} is a row (all missing), not no row
        frame = pd.DataFrame(records) if records else pd.DataFrame(columns=columns)
        absent = [c for c in columns if c not in frame.columns]
        if absent:  # a column no record has is missing in each row, quarantined row by row
            frame = frame.assign(**dict.fromkeys(absent))
        sources = sdk.Sources.from_file_rows(label).take(np.asarray(objects, dtype=np.int64))
        return sdk.Data(frame, sources)

    def rejected(
        self, variant: Variant, name: str, label: str, records: list[Any], objects: list[int]
    ) -> sdk.UnitResult:
        """The quarantine records of array elements that are not JSON objects."""
        kept = set(objects)
        positions = [i for i in range(len(records)) if i not in kept]
        step = variant.pipeline.consumers(name)[0]
        k = len(positions)
        quarantine = pd.DataFrame(
            {
                "run_id": self.session.info.run_id,
                "step": step.name,
                "boundary": "input",
                "dataset": name,
                "source": [f"{label}#{i}" for i in positions],
                "column": None,
                "check": NOT_AN_OBJECT,
                "value": [json.dumps(records[i]) for i in positions],
                "row": "{}",
            },
            columns=list(sdk.QUARANTINE_COLUMNS),
        )
        counts = sdk.BoundaryCounts(
            rows=k, passed=0, quarantined=k, failures={"<record>": {NOT_AN_OBJECT: k}}
        )
        return sdk.UnitResult(
            quarantine=quarantine,
            counts={(step.name, "input", name): counts},
            steps={step.name: sdk.StepTotals(rows_in={name: k})},
        )


_LONG_INTEGER = re.compile(rb"\d{19,}")
"""A run of digits that may be an integer orjson cannot hold exactly (beyond 64 bits)."""


def _loads(body: bytes) -> Any:
    """The request's JSON, strictly: NaN and Infinity literals are refused, nesting is at most
    1,024 deep. orjson reads integers beyond 64 bits as floats and refuses numbers beyond a
    double's range; a body that holds such a number is read by the standard library instead,
    so such a value reaches validation (and the quarantine) as it was sent."""
    try:
        if not _LONG_INTEGER.search(body):
            return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "number" not in str(exc):
            raise _malformed(exc) from None
    try:
        document = json.loads(body, parse_constant=_refuse_constant, parse_float=_float)
        json.dumps(document, ensure_ascii=False).encode()  # no lone surrogate: answerable
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and Unicode errors too
        raise _malformed(exc) from None
    return document


def _float(text: str) -> float | str:
    """A JSON number as a float; one beyond a float's range (1e400) stays text, which
    validation refuses as it refuses that text in a CSV file (not infinity)."""
    value = float(text)
    return text if math.isinf(value) else value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _malformed(exc: BaseException) -> Problem:
    reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
    return Problem(400, "malformed-json", "Malformed JSON", f"the body is not JSON: {reason}")


def _json_type(value: Any) -> str:
    return {str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )
