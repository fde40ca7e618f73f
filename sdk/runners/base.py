"""The runner template: everything every runner does alike, once.

``Runner.run`` resolves params, checks names and destinations, prepares the run directory
(for resume), sets the run context and calls the subclass's ``execute``, which only decides
how data is split and where work runs (calling :class:`RunState` for each unit of work).
Then it writes the quarantine, enforces the error budget, publishes the outputs atomically
and writes the manifest.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs
import pandas as pd

from sdk.errors import DataQualityError, IOSchemeError, PipelineError, SdkError
from sdk.io import exists, iter_chunks, open_writer, redact
from sdk.logs import ensure_logging, get_logger, run_context
from sdk.manifest import build_manifest, content_hash, now, write_json
from sdk.plugins import resolve_scheme
from sdk.quarantine import Sources
from sdk.result import RunResult
from sdk.runners.state import Data, RunInfo, RunState

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["Input", "Runner", "Spilled", "new_run_id"]

logger = get_logger("sdk.run")

DEFAULT_RUN_DIR = ".sdk/runs"


def new_run_id() -> str:
    """Return a new run id: UTC time to the second plus a random suffix (sortable, unique)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def run_root(run_dir: str | Path | None = None) -> Path:
    """The folder holding run directories: ``run_dir``, ``$SDK_RUN_DIR`` or ``.sdk/runs``."""
    return Path(run_dir or os.environ.get("SDK_RUN_DIR") or DEFAULT_RUN_DIR)


class Spilled(Protocol):
    """A produced dataset kept out of memory (e.g. part files): iterable in chunks."""

    rows: int

    def frames(self) -> Iterator[pd.DataFrame]:
        """The dataset's rows, chunk by chunk."""
        ...


@attrs.define
class Input:
    """A pipeline input as given: a DataFrame or a URI; read whole or in chunks."""

    name: str
    value: pd.DataFrame | str

    @property
    def uri(self) -> str | None:
        """The URI, or ``None`` for an in-memory frame."""
        return None if isinstance(self.value, pd.DataFrame) else self.value

    def load(self, state: RunState) -> Data:
        """Read the whole input (counted in the run's rows in; logs ``input_read``)."""
        if isinstance(self.value, pd.DataFrame):
            frame, sources = self.value, Sources.from_index(self.value.index)
        else:
            loaded = resolve_scheme(self.value).read(self.value)
            frame, sources = loaded.frame, loaded.sources
        state.add_rows_in(len(frame))
        logger.info(
            "input_read",
            extra={
                "dataset": self.name,
                "rows": len(frame),
                "uri": redact(self.uri) if self.uri else None,
            },
        )
        return Data(frame, sources)

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame, Sources]]:
        """Yield ``(offset, frame, sources)`` chunks of at most ``chunk_rows`` rows.

        ``offset`` is the position of the chunk's first row in the whole input; ``sources``
        renders the chunk's own rows (positions ``0..len-1``). At least one (maybe empty)
        chunk is yielded.
        """
        if isinstance(self.value, pd.DataFrame):
            n = len(self.value)
            for start in range(0, max(n, 1), chunk_rows):
                frame = self.value.iloc[start : start + chunk_rows]
                yield start, frame, Sources.from_index(frame.index)
            return
        start = 0
        for loaded in iter_chunks(resolve_scheme(self.value), self.value, chunk_rows):
            yield start, loaded.frame, loaded.sources
            start += len(loaded.frame)


class Runner:
    """Base of every runner (template method).

    Subclasses set ``name`` and implement :meth:`execute`; their constructor keyword
    arguments are the runner's options (``runner_options`` in ``Pipeline.run``,
    ``[runner_options]`` in a deployment file).

    Args:
        run_dir: where run directories live (default ``$SDK_RUN_DIR`` or ``.sdk/runs``).
    """

    name: ClassVar[str] = ""
    can_resume: ClassVar[bool] = False

    def __init__(self, run_dir: str | Path | None = None) -> None:
        self.run_root = run_root(run_dir)

    def options(self) -> dict[str, Any]:
        """The options that shape this runner's work (recorded; must match on resume)."""
        return {}

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
        resume: str | None = None,
        overwrite: bool = False,
    ) -> RunResult:
        """Run ``pipeline`` over ``inputs``; write outputs and quarantine; return the result.

        Raises:
            PipelineError: a missing or unknown input or output, an existing output without
                ``overwrite``, or a resume that does not match the original run.
            DataQualityError: the error budget was exceeded (after the quarantine is written).
            StepError, SchemaViolation: a step failed.
        """
        pipeline = pipeline.with_params(params)
        outputs = {k: str(v) for k, v in (outputs or {}).items()}
        budget = pipeline.max_invalid if max_invalid is None else float(max_invalid)
        if not 0 <= budget <= 1:
            raise PipelineError(f"max_invalid={budget!r} must be a fraction between 0 and 1")
        given = {k: (v if isinstance(v, pd.DataFrame) else str(v)) for k, v in inputs.items()}
        self._check_names(pipeline, given, outputs)
        ensure_logging()
        record = self._prepare(
            pipeline, given, outputs, quarantine, budget, run_id, resume, overwrite
        )
        info = RunInfo(
            run_id=record["run_id"],
            pipeline=pipeline.name,
            runner=self.name,
            params={s.name: s.params.as_dict() for s in pipeline.order},
            fingerprint=pipeline.fingerprint(),
            host=record["host"],
        )
        run_path = self.run_root / info.run_id
        state = RunState(pipeline, info)
        started = time.perf_counter()
        with run_context(run_id=info.run_id, pipeline=info.pipeline, runner=self.name, step=None):
            logger.info(
                "run_started",
                extra={
                    "inputs": {
                        k: (v if isinstance(v, str) else "<DataFrame>") for k, v in given.items()
                    },
                    "outputs": {k: redact(v) for k, v in outputs.items()},
                    "params": info.params,
                    "fingerprint": info.fingerprint,
                    "max_invalid": budget,
                    "resumed": resume is not None,
                    "run_dir": str(run_path),
                },
            )
            state.hook.sdk_before_run(run=info)
            ins = {name: Input(name, value) for name, value in given.items()}
            try:
                state.run_path, state.resuming = run_path, resume is not None
                state.requested = set(outputs)
                produced = self.execute(pipeline, ins, state)
                result = self._finish(
                    pipeline, state, produced, outputs, quarantine, budget, started, record
                )
            except SdkError as exc:
                self._fail(pipeline, state, exc, quarantine, started, record)
                raise
            state.hook.sdk_after_run(run=info, result=result)
            return result

    def _prepare(
        self,
        pipeline: Pipeline,
        given: Mapping[str, pd.DataFrame | str],
        outputs: Mapping[str, str],
        quarantine: str | None,
        budget: float,
        run_id: str | None,
        resume: str | None,
        overwrite: bool,
    ) -> dict[str, Any]:
        """Check destinations and resume; write ``run.json`` in the run directory."""
        inputs = [
            {
                "name": k,
                "uri": redact(v) if isinstance(v, str) else "<DataFrame>",
                # hashing a frame costs ~0.1 s per million rows: only where resume needs it
                "content_hash": (
                    content_hash(v) if self.can_resume or not isinstance(v, pd.DataFrame) else None
                ),
            }
            for k, v in given.items()
        ]
        identity: dict[str, Any] = {
            "pipeline": pipeline.name,
            "fingerprint": pipeline.fingerprint(),
            "params": {s.name: s.params.as_dict() for s in pipeline.order},
            "inputs": inputs,
            "outputs": {k: redact(v) for k, v in outputs.items()},
            "quarantine": redact(quarantine) if quarantine else None,
            "max_invalid": budget,
            "runner": self.name,
            "options": self.options(),
        }
        if resume is not None:
            return self._resume_record(resume, identity)
        destinations = [*outputs.values(), *([quarantine] if quarantine else [])]
        taken = [uri for uri in destinations if exists(resolve_scheme(uri), uri)]
        if taken and not overwrite:
            raise PipelineError(
                f"output(s) already exist: {', '.join(redact(u) for u in taken)}; pass "
                f"--overwrite (overwrite=True) to replace them, or choose another destination"
            )
        record = {
            "run_id": run_id or new_run_id(),
            "status": "running",
            "started": now(),
            "host": os.uname().nodename,
            **identity,
        }
        path = self.run_root / record["run_id"]
        if (path / "run.json").exists():
            import json
            import shutil

            previous = json.loads((path / "run.json").read_text(encoding="utf-8"))
            if previous.get("status") == "running" and previous.get("runner") != "local":
                raise PipelineError(
                    f"run {record['run_id']!r} in {self.run_root} was interrupted; resume it "
                    f"with --resume {record['run_id']} or choose another run id"
                )
            shutil.rmtree(path)  # a finished run's id is reused: start afresh
        write_json(path / "run.json", record)
        return record

    def _resume_record(self, run_id: str, identity: dict[str, Any]) -> dict[str, Any]:
        if not self.can_resume:
            raise PipelineError(f"the {self.name!r} runner cannot resume runs; use --runner batch")
        path = self.run_root / run_id / "run.json"
        if not path.exists():
            raise PipelineError(
                f"cannot resume run {run_id!r}: no run directory at {path.parent}; `sdk runs` "
                f"lists the runs there (or pass --run-dir)"
            )
        import json

        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") == "succeeded":
            raise PipelineError(f"run {run_id!r} already succeeded; nothing to resume")
        differences = [
            f"{key} differs (was {record.get(key)!r}, now {value!r})"
            for key, value in identity.items()
            if record.get(key) != json.loads(json.dumps(value, default=str))
        ]
        if differences:
            raise PipelineError(
                f"cannot resume run {run_id!r}: the run is not the same: "
                + "; ".join(differences)
                + ". Start a new run instead (without --resume).",
                differences,
            )
        record["status"] = "running"
        record["resumed"] = now()
        write_json(path, record)
        return record

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
            f"input {name!r} is a {type(value).__name__}; pass a pandas DataFrame or a URI"
            for name, value in inputs.items()
            if not isinstance(value, pd.DataFrame | str | Path)
        ]
        problems += [
            f"unknown output {name!r}; the pipeline produces {', '.join(pipeline.outputs)}"
            for name in outputs
            if name not in pipeline.outputs
        ]
        if problems:
            message = problems[0] if len(problems) == 1 else "\n".join(problems)
            raise PipelineError(message, problems)

    def execute(
        self, pipeline: Pipeline, inputs: dict[str, Input], state: RunState
    ) -> dict[str, pd.DataFrame | Spilled]:
        """Run every step: the one method a runner implements.

        It decides how data is split and where work runs, reading ``inputs`` (whole with
        ``Input.load`` or in chunks with ``Input.chunks``) and calling ``state.run_step`` (or
        ``state.validate_inputs`` / ``state.apply``) for each unit of work. ``state.run_path``
        is the run directory for checkpoints; ``state.resuming`` says whether to resume.

        Returns:
            The produced datasets by name: frames, or spilled datasets read chunk by chunk.
        """
        raise NotImplementedError

    def _publish(self, name: str, value: pd.DataFrame | Spilled, uri: str) -> int:
        scheme = resolve_scheme(uri)
        writer = open_writer(scheme, uri)
        rows = 0
        try:
            for frame in [value] if isinstance(value, pd.DataFrame) else value.frames():
                writer.write(frame)
                rows += len(frame)
            writer.commit()
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, SdkError) or not isinstance(exc, Exception):
                raise
            raise IOSchemeError(f"cannot write {name!r} to {redact(uri)}: {exc}") from exc
        return rows

    def _finish(
        self,
        pipeline: Pipeline,
        state: RunState,
        produced: dict[str, pd.DataFrame | Spilled],
        outputs: Mapping[str, str],
        quarantine_uri: str | None,
        budget: float,
        started: float,
        record: dict[str, Any],
    ) -> RunResult:
        quarantine = state.quarantine()
        written: dict[str, str] = {}
        if quarantine_uri:
            self._publish("quarantine", quarantine, quarantine_uri)
            written["quarantine"] = quarantine_uri
        invalid = state.quarantined
        fraction = invalid / state.rows_in if state.rows_in else 0.0
        if fraction > budget:
            raise DataQualityError(
                f"run {state.info.run_id}: {invalid} of {state.rows_in} rows ({fraction:.2%}) were "
                f"quarantined, over the error budget max_invalid={budget:g}; inspect the quarantine"
                + (f" at {redact(quarantine_uri)}" if quarantine_uri else "")
                + " or raise max_invalid for this run",
                run_id=state.info.run_id,
                invalid=invalid,
                total=state.rows_in,
                max_invalid=budget,
                quarantine=quarantine,
            )
        rows_out: dict[str, int] = {}
        for name, uri in outputs.items():
            rows_out[name] = self._publish(name, produced[name], uri)
            written[name] = uri
        frames = {
            name: value if isinstance(value, pd.DataFrame) else _collect(value)
            for name, value in produced.items()
            if isinstance(value, pd.DataFrame) or not outputs
        }
        for name, value in produced.items():
            rows_out.setdefault(name, len(value) if isinstance(value, pd.DataFrame) else value.rows)
        duration = (time.perf_counter() - started) * 1000
        result = RunResult(
            run_id=state.info.run_id,
            pipeline=pipeline.name,
            runner=self.name,
            status="succeeded",
            outputs=frames,
            quarantine=quarantine,
            report=state.report(),
            rows_in=state.rows_in,
            duration_ms=duration,
            written=written,
            quarantined=invalid,
        )
        self._write_manifest(
            pipeline,
            state,
            record,
            "succeeded",
            quarantine,
            quarantine_uri,
            rows_out,
            written,
            None,
        )
        logger.info(
            "run_finished",
            extra={
                "status": "succeeded",
                "rows_in": state.rows_in,
                "rows_out": rows_out,
                "quarantined": invalid,
                "duration_ms": round(duration, 3),
                "outputs": {k: redact(v) for k, v in written.items()},
            },
        )
        return result

    def _write_manifest(
        self,
        pipeline: Pipeline,
        state: RunState,
        record: dict[str, Any],
        status: str,
        quarantine: pd.DataFrame,
        quarantine_uri: str | None,
        rows_out: dict[str, int],
        written: dict[str, str],
        error: SdkError | None,
    ) -> None:
        report = state.report()
        inputs = []
        for item in record["inputs"]:
            rows = report[(report["boundary"] == "input") & (report["dataset"] == item["name"])]
            inputs.append({**item, "rows": int(rows["rows"].iloc[0]) if len(rows) else None})
        manifest = build_manifest(
            pipeline=pipeline,
            run_id=state.info.run_id,
            runner=self.name,
            status=status,
            started=record["started"],
            inputs=inputs,
            outputs=[
                {
                    "name": name,
                    "uri": redact(written[name]) if name in written else None,
                    "rows": rows,
                }
                for name, rows in rows_out.items()
            ],
            report=report,
            quarantine=quarantine,
            quarantine_uri=redact(quarantine_uri) if quarantine_uri else None,
            error=None if error is None else {"type": type(error).__name__, "message": str(error)},
            options={"max_invalid": record["max_invalid"], **record.get("options", {})},
        )
        run_path = self.run_root / state.info.run_id
        write_json(run_path / "manifest.json", manifest)
        write_json(run_path / "run.json", {**record, "status": status, "finished": now()})
        folders = {
            Path(uri).resolve().parent
            for uri in written.values()
            if "://" not in uri and uri != "-"
        }
        for folder in folders:
            write_json(folder / "manifest.json", manifest)

    def _fail(
        self,
        pipeline: Pipeline,
        state: RunState,
        exc: SdkError,
        quarantine_uri: str | None,
        started: float,
        record: dict[str, Any],
    ) -> None:
        quarantine = state.quarantine()
        if quarantine_uri and not isinstance(exc, DataQualityError):
            try:  # nothing lost: what was quarantined before the failure is kept
                self._publish("quarantine", quarantine, quarantine_uri)
            except SdkError:
                logger.warning("quarantine_not_written", extra={"uri": redact(quarantine_uri)})
        duration = (time.perf_counter() - started) * 1000
        try:
            self._write_manifest(
                pipeline,
                state,
                record,
                "failed",
                quarantine,
                quarantine_uri,
                {},
                {"quarantine": quarantine_uri} if quarantine_uri else {},
                exc,
            )
        except OSError:
            logger.warning("manifest_not_written", extra={"run_dir": str(self.run_root)})
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


def _collect(value: Spilled) -> pd.DataFrame:
    parts = list(value.frames())
    return pd.concat(parts) if parts else pd.DataFrame()
