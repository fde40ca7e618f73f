"""The ``batch`` runner: chunked, out of core, bounded memory, resumable after a crash.

The pipeline is cut into stages by scope: consecutive ``rows`` steps are fused and streamed
chunk by chunk; a ``partition_by`` step gets its inputs hash-partitioned to Parquet spill
files so every key is processed whole; a ``global`` step materialises its inputs, within a
memory limit. Every stage works in units (a chunk, a partition) checkpointed in the run
directory; ``resume`` reuses the completed units, so a resumed run produces exactly the
output and quarantine of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from sdk.errors import ResourceLimitError, SdkError
from sdk.hookspecs import hookimpl
from sdk.io import redact
from sdk.logs import get_logger, in_notebook, run_context
from sdk.quarantine import Sources
from sdk.runners.base import Input, Runner, Spilled
from sdk.runners.spill import (
    Checkpoint,
    PartFiles,
    estimated_bytes,
    read_buckets,
    read_part,
    write_buckets,
    write_part,
)
from sdk.runners.state import Data, RunState
from sdk.validation import BoundaryCheck, compile_model, validate_frame

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.step import Step

__all__ = ["BatchRunner"]

logger = get_logger("sdk.run")

CHUNK_BYTES = 100 * 2**20
"""The default working memory of a chunk, in bytes (rows sized from the first input)."""
WORKING_COPIES = 4
"""How many times over a chunk is held in memory at once, for sizing the default chunk."""
BUCKETS = 32
"""Hash buckets of a ``partition_by`` spill; partitions are groups of buckets."""


def parse_bytes(value: int | str | None) -> int | None:
    """``"2GB"``, ``"512MB"``, ``1073741824`` -> bytes."""
    if value is None or isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?i?B?)\s*", value, flags=re.IGNORECASE)
    if not match:
        raise ResourceLimitError(f"memory limit {value!r} is not a size; write e.g. 2GB or 512MB")
    unit = match.group(2).upper().rstrip("B").rstrip("I")
    return int(float(match.group(1)) * 1024 ** "_KMGT".index(unit or "_"))


def _default_memory_limit() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 2**30
    return int(total // 4)


@attrs.define
class Stage:
    """Steps executed together: ``rows`` (fused, chunked), ``partition`` or ``global``."""

    kind: str
    steps: list[Step]


def _cross_row(step: Step) -> bool:
    """Whether validating the models needs more than one chunk (uniqueness, frame checks)."""
    contract = type(step).contract()
    for model in (*contract.inputs.values(), contract.output):
        compiled = compile_model(model)
        if compiled.unique or compiled.frame_checks or any(c.unique for c in compiled.columns):
            return True
    return False


def plan(pipeline: Pipeline) -> list[Stage]:
    """Cut the pipeline into stages by the steps' scopes."""
    stages: list[Stage] = []
    for step in pipeline.order:
        single = len(step.input_names) == 1
        if step.key is not None and not _cross_row(step):
            kind = "partition"
        elif type(step).scope == "rows" and single and not _cross_row(step):
            kind = "rows"
        else:
            kind = "global"
        previous = stages[-1] if stages else None
        source = next(iter(step.input_names.values()))
        # rows steps are correct on any chunk, a partition included: they follow the stage
        # that produces their input instead of re-reading it from a spill
        if (
            kind == "rows"
            and previous is not None
            and previous.kind in ("rows", "partition")
            and previous.steps[-1].output_name == source
        ):
            previous.steps.append(step)
        else:
            stages.append(Stage(kind, [step]))
    return stages


class _Progress:
    """A tqdm bar when interactive; ``progress`` events at a bounded rate otherwise."""

    def __init__(self, enabled: bool | None, interval: float = 5.0) -> None:
        interactive = sys.stderr.isatty() or in_notebook()
        self.bar: Any = None
        if enabled if enabled is not None else interactive:
            from tqdm.auto import tqdm

            self.bar = tqdm(unit=" rows", desc="batch", leave=False)
        self.interval, self.started, self.last, self.rows = interval, time.monotonic(), 0.0, 0

    def update(self, stage: int, rows: int) -> None:
        self.rows += rows
        if self.bar is not None:
            self.bar.set_description(f"stage {stage}")
            self.bar.update(rows)
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            logger.info(
                "progress",
                extra={
                    "stage": stage,
                    "rows_done": self.rows,
                    "rows_per_s": round(self.rows / elapsed, 1),
                },
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class BatchRunner(Runner):
    """Chunked, out of core and resumable; honours each step's scope.

    Args:
        chunk_rows: rows per chunk (default: about 100 MB of the first input's rows).
        memory_limit: the largest estimated size a ``global`` step may load (bytes or
            ``"2GB"``; default a quarter of physical memory).
        progress: force the progress bar on or off (default: on a terminal or in Jupyter).
        run_dir: where run directories live (default ``$SDK_RUN_DIR`` or ``.sdk/runs``).
    """

    name = "batch"
    can_resume = True

    def __init__(
        self,
        chunk_rows: int | None = None,
        memory_limit: int | str | None = None,
        progress: bool | None = None,
        run_dir: str | Path | None = None,
    ) -> None:
        super().__init__(run_dir=run_dir)
        if chunk_rows is not None and int(chunk_rows) < 1:
            raise ResourceLimitError(f"chunk_rows={chunk_rows!r} must be a positive number of rows")
        self.chunk_rows = int(chunk_rows) if chunk_rows is not None else None
        self.memory_limit = parse_bytes(memory_limit) or _default_memory_limit()
        self.progress = progress

    def options(self) -> dict[str, Any]:
        """Chunking options: they decide the units, so a resume must use the same."""
        return {"chunk_rows": self.chunk_rows, "buckets": BUCKETS}

    def run(self, pipeline: Pipeline, inputs: Mapping[str, Any], **kwargs: Any) -> Any:
        """Run as :meth:`sdk.Runner.run`, sizing chunks first when ``chunk_rows`` is not given."""
        if self.chunk_rows is None:
            self.chunk_rows = _auto_chunk_rows(inputs)
        return super().run(pipeline, inputs, **kwargs)

    def execute(
        self, pipeline: Pipeline, inputs: dict[str, Input], state: RunState
    ) -> dict[str, pd.DataFrame | Spilled]:
        """Run the stages in order over chunks and partitions, checkpointing every unit."""
        assert state.run_path is not None  # set by Runner.run
        stages = plan(pipeline)
        work = _Work(self, pipeline, stages, inputs, state, Checkpoint(state.run_path))
        state.quiet = True
        progress = _Progress(self.progress)
        try:
            self._stages(stages, work, state, progress)
        except SdkError:
            # nothing lost: records of completed units are on disk, the failing unit's in memory
            state.restore_quarantine([*work.quarantine_parts(), state.quarantine()])
            raise
        finally:
            progress.close()
        state.restore_quarantine(work.quarantine_parts())
        work.count_inputs()
        return {name: work.datasets[name] for name in pipeline.outputs}

    def _stages(
        self, stages: list[Stage], work: _Work, state: RunState, progress: _Progress
    ) -> None:
        """Run each stage, with one step_started / validated / step_finished per step."""
        for number, stage in enumerate(stages):
            started = time.perf_counter()
            for step in stage.steps:
                with run_context(step=step.name):
                    logger.info("step_started", extra={"scope": step.scope_label, "stage": number})
            getattr(work, f"run_{stage.kind}")(number, stage, progress)
            duration = (time.perf_counter() - started) * 1000
            for step in stage.steps:
                state.log_boundaries(step)
                with run_context(step=step.name):
                    logger.info(
                        "step_finished",
                        extra={
                            "rows_out": work.datasets[step.output_name].rows,
                            "duration_ms": round(duration, 3),
                        },
                    )


def _needed(pipeline: Pipeline, stages: list[Stage], requested: set[str]) -> set[str]:
    """Datasets to keep: requested outputs (all when none are: the notebook gets them all) and
    those a later stage reads."""
    needed = set(requested) if requested else set(pipeline.outputs)
    stage_of: dict[str, int] = {}
    for number, stage in enumerate(stages):
        for step in stage.steps:
            stage_of[step.output_name] = number
        for step in stage.steps:
            for dataset in step.input_names.values():
                if dataset in stage_of and stage_of[dataset] != number:
                    needed.add(dataset)
    return needed


def _auto_chunk_rows(inputs: Mapping[str, Any]) -> int:
    """Rows of about :data:`CHUNK_BYTES`, measured on a sample of the first input."""
    for value in inputs.values():
        given = Input("sample", value if isinstance(value, pd.DataFrame) else str(value))
        for _, frame, _ in given.chunks(10_000):
            if len(frame):
                per_row = max(int(frame.memory_usage(deep=True).sum()) / len(frame), 1.0)
                # a chunk is held several times over while it is validated, run and spilled
                return int(min(max(CHUNK_BYTES / (per_row * WORKING_COPIES), 10_000), 5_000_000))
            break
    return 100_000


class _Work:
    """The state of one batch execution: datasets (inputs and spills), roots, checkpoints."""

    def __init__(
        self,
        runner: BatchRunner,
        pipeline: Pipeline,
        stages: list[Stage],
        inputs: dict[str, Input],
        state: RunState,
        checkpoint: Checkpoint,
    ) -> None:
        self.runner, self.pipeline, self.inputs = runner, pipeline, inputs
        self.state, self.checkpoint = state, checkpoint
        self.chunk_rows = int(runner.chunk_rows or 100_000)
        self.roots: dict[str, tuple[Sources, Any]] = {}
        self.origin: dict[str, str] = {name: name for name in inputs}
        self.datasets: dict[str, PartFiles] = {}
        self._quarantine: list[Path] = []
        self.needed = _needed(pipeline, stages, state.requested)
        self._registered: dict[str, int] = {}
        for name in inputs:
            root, register = Sources.chunked()
            self.roots[name] = (root, register)
            saved = checkpoint.load_sources(name)
            for offset, _, sources in saved:
                register(offset, sources)
            self._registered[name] = len(saved)

    # -- reading ---------------------------------------------------------------------------
    def chunks(self, dataset: str) -> Iterator[tuple[int, Data | None]]:
        """``(index, data)`` for each chunk of ``dataset``; ``data`` is ``None`` when the
        unit needing it is known complete (spills only; inputs are always read to keep
        positions)."""
        if dataset in self.inputs:
            root, register = self.roots[dataset]
            for index, (offset, frame, sources) in enumerate(
                self.inputs[dataset].chunks(self.chunk_rows)
            ):
                if index >= self._registered[dataset]:
                    register(offset, sources)
                    self.checkpoint.save_sources(dataset, index, offset, len(frame), sources)
                    self._registered[dataset] = index + 1
                positions = np.arange(offset, offset + len(frame), dtype=np.int64)
                yield index, Data(frame, root.rebase(positions, frame.index))
            return
        spilled = self.datasets[dataset]
        for index, path in enumerate(spilled.paths):
            yield index, read_part(path, spilled.root)

    def count_inputs(self) -> None:
        """Rows read from each input (from the saved chunk places, so resume counts once)."""
        for name, given in self.inputs.items():
            saved = self.checkpoint.load_sources(name)
            rows = max((offset + length for offset, length, _ in saved), default=0)
            self.state.rows_in += rows
            logger.info(
                "input_read",
                extra={
                    "dataset": name,
                    "rows": rows,
                    "uri": redact(given.uri) if given.uri else None,
                },
            )

    def root(self, dataset: str) -> Sources:
        return self.roots[self.origin[dataset]][0]

    # -- units -----------------------------------------------------------------------------
    def _begin(self) -> None:
        self.state.proven.clear()  # chunk arrays must not be kept alive across units

    def _complete(self, unit: str, files: dict[str, Any]) -> None:
        quarantine, counts = self.state.take_unit()
        qpath = None
        if len(quarantine):
            qpath = self.checkpoint.path("quarantine", f"{unit}.parquet")
            qpath.parent.mkdir(parents=True, exist_ok=True)
            tmp = qpath.with_name(f".{qpath.name}.tmp")
            quarantine.to_parquet(tmp, index=False)
            tmp.replace(qpath)
        self.checkpoint.complete(
            unit,
            {
                "files": files,
                "counts": counts,
                "quarantine": str(qpath) if qpath else None,
            },
        )

    def _reuse(self, unit: str) -> dict[str, Any] | None:
        marker = self.checkpoint.done(unit)
        if marker is not None:
            self.state.merge_unit(marker["counts"])
        return marker

    def quarantine_parts(self) -> list[pd.DataFrame]:
        """Every unit's quarantine records, in unit order."""
        markers = sorted(self.checkpoint.units.glob("*.json"))
        frames = []
        for marker in markers:
            path = json.loads(marker.read_text(encoding="utf-8")).get("quarantine")
            if path:
                frame = pd.read_parquet(path).astype(object)
                frames.append(frame.where(frame.notna(), None))
        return frames

    def _publish_dataset(self, name: str, files: list[tuple[Any, ...]]) -> None:
        paths = [Path(entry[0]) for entry in files if entry[0] is not None]
        self.datasets[name] = PartFiles(paths, sum(entry[-1] for entry in files), self.root(name))

    def _keep(self, unit: str, data: Data, name: str) -> list[Any]:
        """Spill ``data`` as dataset ``name`` if anything needs it later; ``[path, rows]``."""
        if name not in self.needed:
            return [None, len(data.frame)]
        path = self.checkpoint.path("data", name, f"{unit}.parquet")
        return [str(path), write_part(path, data)]

    # -- stages ----------------------------------------------------------------------------
    def run_rows(self, number: int, stage: Stage, progress: _Progress) -> None:
        first = stage.steps[0]
        source = next(iter(first.input_names.values()))
        outputs = [s.output_name for s in stage.steps]
        for step in stage.steps:
            self.origin[step.output_name] = self.origin[source]
        parts: dict[str, list[tuple[str, int]]] = {name: [] for name in outputs}
        for index, data in self.chunks(source):
            unit = f"s{number:02d}-rows-{index:06d}"
            marker = self._reuse(unit)
            if marker is None:
                self._begin()
                assert data is not None
                current = {source: data}
                files: dict[str, Any] = {}
                for step in stage.steps:
                    current[step.output_name] = self.state.run_step(step, current)
                    files[step.output_name] = self._keep(
                        unit, current[step.output_name], step.output_name
                    )
                self._complete(unit, files)
                marker = {"files": files}
                progress.update(number, len(data.frame))
            for name in outputs:
                parts[name].append(tuple(marker["files"][name]))
        for name in outputs:
            self._publish_dataset(name, parts[name])

    def run_partition(self, number: int, stage: Stage, progress: _Progress) -> None:
        step, followers = stage.steps[0], stage.steps[1:]
        key = step.key
        assert key is not None
        first = next(iter(step.input_names.values()))
        for produced in stage.steps:
            self.origin[produced.output_name] = self.origin[first]
        contract = type(step).contract()
        buckets: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
        for param, dataset in step.input_names.items():
            per = buckets.setdefault(dataset, {})
            for index, data in self.chunks(dataset):
                unit = f"s{number:02d}-spill-{param}-{index:06d}"
                marker = self._reuse(unit)
                if marker is None:
                    self._begin()
                    assert data is not None
                    with run_context(step=step.name), self.state.step_errors(step):
                        passed = self.state.validate(
                            step, "input", dataset, data, contract.inputs[param]
                        )
                    files = self._spill_buckets(passed, key, number, dataset, index)
                    self._complete(unit, {"buckets": files})
                    marker = {"files": {"buckets": files}}
                    progress.update(number, len(data.frame))
                for bucket, entry in marker["files"]["buckets"].items():
                    per.setdefault(int(bucket), []).append(tuple(entry))
        groups = _group_buckets(buckets, self.chunk_rows)
        parts: dict[str, list[tuple[Any, ...]]] = {s.output_name: [] for s in stage.steps}
        for index, group in enumerate(groups):
            unit = f"s{number:02d}-part-{index:06d}"
            marker = self._reuse(unit)
            if marker is None:
                self._begin()
                args = {
                    param: self._load_group(
                        dataset, buckets.get(dataset, {}), group, contract.inputs[param]
                    )
                    for param, dataset in step.input_names.items()
                }
                with run_context(step=step.name), self.state.step_errors(step):
                    rows_in = {d: len(args[p].frame) for p, d in step.input_names.items()}
                    self.state.hook.sdk_before_step(run=self.state.info, step=step, rows_in=rows_in)
                    started = time.perf_counter()
                    result = self.state.apply(step, args)
                    self.state.hook.sdk_after_step(
                        run=self.state.info,
                        step=step,
                        rows_out=len(result.frame),
                        duration_ms=(time.perf_counter() - started) * 1000,
                    )
                current = {step.output_name: result}
                for follower in followers:
                    current[follower.output_name] = self.state.run_step(follower, current)
                files = {name: self._keep(unit, data, name) for name, data in current.items()}
                self._complete(unit, files)
                marker = {"files": files}
            for name in parts:
                parts[name].append(tuple(marker["files"][name]))
        for name, entries in parts.items():
            self._publish_dataset(name, entries)

    def _spill_buckets(
        self, data: Data, key: str, number: int, dataset: str, index: int
    ) -> dict[str, list[Any]]:
        if not len(data.frame):
            return {}
        hashes = pd.util.hash_pandas_object(data.frame[key], index=False).to_numpy()
        bucket_of = (hashes % BUCKETS).astype(np.int64)
        path = self.checkpoint.path("spill", f"s{number:02d}", dataset, f"{index:06d}.parquet")
        return write_buckets(path, data, bucket_of, BUCKETS)

    def _load_group(
        self, dataset: str, per: dict[int, list[tuple[Any, ...]]], group: list[int], model: Any
    ) -> Data:
        root = self.root(dataset)
        row_groups: dict[str, list[int]] = {}
        for bucket in group:
            for entry in per.get(bucket, []):
                row_groups.setdefault(str(entry[0]), []).append(int(entry[1]))
        if not row_groups:
            return self._empty(dataset, root, model)
        # one read per spill file (all its buckets of this group), one conversion to pandas
        return read_buckets([(Path(p), rgs) for p, rgs in sorted(row_groups.items())], root)

    def _concat(self, dataset: str, datas: list[Data]) -> Data:
        root = self.root(dataset)
        frame = pd.concat([d.frame for d in datas]) if datas else pd.DataFrame()
        positions = (
            np.concatenate([d.sources.positions(len(d.frame)) for d in datas])
            if datas
            else np.zeros(0, dtype=np.int64)
        )
        return Data(frame, root.rebase(positions, frame.index))

    def _empty(self, dataset: str, root: Sources, model: Any) -> Data:
        """No rows, with the columns and dtypes validation gives, for an empty partition."""
        for _, data in self.chunks(dataset):
            if data is not None:
                raw = data.frame.iloc[0:0]
                where = BoundaryCheck("-", "input", dataset)
                frame = validate_frame(raw, compile_model(model), where).frame
                return Data(frame, root.rebase(np.zeros(0, dtype=np.int64), frame.index))
        return Data(pd.DataFrame(), root)  # pragma: no cover - chunks always yields one

    def run_global(self, number: int, stage: Stage, progress: _Progress) -> None:
        step = stage.steps[0]
        first = next(iter(step.input_names.values()))
        self.origin[step.output_name] = self.origin[first]
        unit = f"s{number:02d}-global"
        marker = self._reuse(unit)
        if marker is None:
            self._begin()
            estimate = sum(self._estimate(d) for d in step.input_names.values())
            logger.info(
                "materialized",
                extra={
                    "step": step.name,
                    "estimated_bytes": estimate,
                    "memory_limit": self.runner.memory_limit,
                },
            )
            if estimate > self.runner.memory_limit:
                raise ResourceLimitError(
                    f"step {step.name!r} (scope global) needs its whole input in memory, "
                    f"estimated {estimate / 2**20:.0f} MB, over the memory limit of "
                    f"{self.runner.memory_limit / 2**20:.0f} MB; declare scope = 'rows' or "
                    f"partition_by if the step allows it, or raise --memory-limit"
                )
            contract = type(step).contract()
            args: dict[str, Data] = {}
            with run_context(step=step.name), self.state.step_errors(step):
                for param, dataset in step.input_names.items():
                    # validated whole, not chunk by chunk: the step is global precisely
                    # when its checks (uniqueness, dataframe checks) need every row
                    whole = self._concat(dataset, [d for _, d in self.chunks(dataset) if d])
                    args[param] = self.state.validate(
                        step, "input", dataset, whole, contract.inputs[param]
                    )
                    progress.update(number, len(whole.frame))
                result = self.state.apply(step, args)
            files = []
            for start in range(0, max(len(result.frame), 1), self.chunk_rows):
                rows = np.arange(start, min(start + self.chunk_rows, len(result.frame)))
                path = self.checkpoint.path(
                    "data", step.output_name, f"{unit}-{start:012d}.parquet"
                )
                part = Data(result.frame.iloc[rows], result.sources.take(rows))
                files.append([str(path), write_part(path, part)])
            self._complete(unit, {"parts": files})
            marker = {"files": {"parts": files}}
        self._publish_dataset(step.output_name, [tuple(p) for p in marker["files"]["parts"]])

    def _estimate(self, dataset: str) -> int:
        if dataset in self.datasets:
            return estimated_bytes(self.datasets[dataset].paths)
        value = self.inputs[dataset].value
        if isinstance(value, pd.DataFrame):
            return int(value.memory_usage(deep=True).sum())
        path = Path(value)
        return path.stat().st_size * 3 if path.is_file() else 0


def _group_buckets(
    buckets: Mapping[str, Mapping[int, list[tuple[Any, ...]]]], chunk_rows: int
) -> list[list[int]]:
    """Consecutive buckets grouped to about ``chunk_rows`` rows each (at least one group)."""
    sizes = [
        sum(entry[-1] for per in buckets.values() for entry in per.get(b, []))
        for b in range(BUCKETS)
    ]
    groups: list[list[int]] = [[]]
    total = 0
    for bucket, size in enumerate(sizes):
        if groups[-1] and size and total + size > chunk_rows:
            groups.append([])
            total = 0
        groups[-1].append(bucket)
        total += size
    return groups


@hookimpl
def sdk_register_runners() -> list[type[Runner]]:
    """The built-in batch runner."""
    return [BatchRunner]
