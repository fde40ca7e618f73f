"""The ``batch`` runner: chunked, out of core, bounded memory, resumable after a crash.

It executes the shared plan (:func:`sdk.plan`) deciding only how each stage's data is cut:
a ``rows`` stage runs chunk by chunk; an ``inputs`` stage validates a keyed step's inputs
chunk by chunk and hash-partitions them to Parquet spill files; its ``partition`` stage runs
per group of buckets, so every key is processed whole; a ``global`` stage loads its inputs
whole, within a memory limit. Every unit is checkpointed in the run directory before it is
committed; ``resume`` replays the completed units, so a resumed run produces exactly the
output and quarantine of an uninterrupted one.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.errors import PipelineError, ResourceLimitError
from sdk.hookspecs import hookimpl
from sdk.logs import get_logger
from sdk.runners.base import BASE_OPTIONS, Runner
from sdk.runners.chunked import BUCKETS, ChunkedWork, group_buckets
from sdk.runners.inputs import Input
from sdk.runners.options import RunnerOption
from sdk.runners.stage import Data, Stage, validated_name
from sdk.runners.unit import run_unit

if TYPE_CHECKING:
    from sdk.runners.session import RunRequest, RunSession

Frames = Callable[[], dict[str, Data]]
"""A unit's input frames, read when (and only if) the unit runs."""

__all__ = ["BatchRunner", "memory_limit_bytes"]

logger = get_logger("sdk.run")

CHUNK_BYTES = 100 * 2**20
"""The default working memory of a chunk, in bytes (rows sized from the first input)."""
WORKING_COPIES = 4
"""How many times over a chunk is held in memory at once, for sizing the default chunk."""
MAX_CHUNK_ROWS = 200_000
"""The most rows of a default chunk: narrow rows measure few bytes, but what a chunk costs
besides its values (row positions and sources, index, validation masks, quarantine
rendering) grows with its rows. A rows-only pipeline over 3M narrow rows peaked at 360 MB
with 540k-row chunks and at 300-315 MB with 200k-250k, in the same time within noise."""
MIN_CHUNK_ROWS = 10_000
"""The fewest rows of a default chunk (per-unit costs dominate below)."""


def parse_bytes(value: int | str | None) -> int | None:
    """``"2GB"``, ``"512MB"``, ``1073741824`` -> bytes."""
    if value is None or isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?i?B?)\s*", value, flags=re.IGNORECASE)
    if not match:
        raise ResourceLimitError(f"memory limit {value!r} is not a size; write e.g. 2GB or 512MB")
    unit = match.group(2).upper().rstrip("B").rstrip("I")
    return int(float(match.group(1)) * 1024 ** "_KMGT".index(unit or "_"))


def memory_limit_bytes(value: int | str | None) -> int:
    """A runner's ``memory_limit`` option in bytes: ``"2GB"``, ``"512MB"``, a number of bytes,
    or ``None`` for the default, a quarter of this machine's physical memory. The largest
    estimated input a ``global`` step may load (``batch``, and runners from plugins).

    Raises:
        ResourceLimitError: the text is not a size.
    """
    return parse_bytes(value) or _default_memory_limit()


def _default_memory_limit() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 2**30
    return int(total // 4)


def _is_stream(value: pd.DataFrame | str) -> bool:
    if not isinstance(value, str):
        return False
    if value == "-":
        return True
    try:
        mode = os.stat(value.removeprefix("file://")).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _auto_chunk_rows(inputs: Mapping[str, pd.DataFrame | str]) -> int:
    """Rows of about :data:`CHUNK_BYTES`, measured on a sample of the first input, between
    :data:`MIN_CHUNK_ROWS` and :data:`MAX_CHUNK_ROWS`: a chunk's memory is bounded whatever
    the input's size, so a rows-only pipeline runs in memory flat in its input."""
    for value in inputs.values():
        for _, frame, _ in Input("sample", value).chunks(10_000):
            if len(frame):
                per_row = max(int(frame.memory_usage(deep=True).sum()) / len(frame), 1.0)
                # a chunk is held several times over while it is validated, run and spilled
                rows = CHUNK_BYTES / (per_row * WORKING_COPIES)
                return int(min(max(rows, MIN_CHUNK_ROWS), MAX_CHUNK_ROWS))
            break
    return MAX_CHUNK_ROWS // 2


class BatchRunner(Runner):
    """Chunked, out of core and resumable; honours each step's scope.

    Options (besides ``run_dir``, ``on_step_error``, ``progress``):
        chunk_rows: rows per chunk (default: about 100 MB of working memory, sized on the
            first input's rows, at most 200,000 rows).
        memory_limit: the largest estimated size a ``global`` step may load (bytes or
            ``"2GB"``; default a quarter of physical memory).
    """

    name = "batch"
    can_resume = True
    options = (
        *BASE_OPTIONS,
        RunnerOption(
            "chunk_rows", int | None, None, "rows per chunk (default: about 100 MB of rows)"
        ),
        RunnerOption(
            "memory_limit",
            int | str | None,
            None,
            "largest estimated size a global step may load, e.g. 2GB (default: RAM / 4)",
        ),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        chunk_rows = self.config["chunk_rows"]
        if chunk_rows is not None and chunk_rows < 1:
            raise ResourceLimitError(f"chunk_rows={chunk_rows!r} must be a positive number of rows")
        self.memory_limit = memory_limit_bytes(self.config["memory_limit"])

    def settings(self, request: RunRequest) -> dict[str, Any]:
        """Chunking decides the units, so a resume must use the same.

        Raises:
            PipelineError: an input is a stream (stdin, a pipe) that cannot be read again.
        """
        streams = [name for name, value in request.frame_inputs.items() if _is_stream(value)]
        if streams:
            raise PipelineError(
                f"input(s) {', '.join(map(repr, streams))} are streams (stdin or a pipe), which "
                f"the batch runner cannot read: it reads an input more than once (to size "
                f"chunks, per stage, and again on resume). Write the stream to a file first, or "
                f"use --runner local"
            )
        chunk_rows = self.config["chunk_rows"] or _auto_chunk_rows(request.frame_inputs)
        return {"chunk_rows": chunk_rows, "buckets": BUCKETS}

    def execute(self, session: RunSession) -> None:
        """Run the plan over chunks and partitions, checkpointing every unit."""
        session.work = ChunkedWork(session)
        super().execute(session)
        session.work.count_inputs()

    def run_stage(self, session: RunSession, stage: Stage) -> None:
        """Cut the stage by its kind: chunks, spilled buckets, partitions, or everything."""
        work: ChunkedWork = session.work
        if stage.kind == "rows":
            self._rows(session, work, stage)
        elif stage.kind == "inputs":
            self._inputs(session, work, stage)
        elif stage.kind == "partition":
            self._partition(session, work, stage)
        else:
            self._global(session, work, stage)

    def _unit(
        self, session: RunSession, work: ChunkedWork, stage: Stage, unit: str, frames: Frames
    ) -> dict[str, Any]:
        """Run one unit (or replay it, when a resumed run completed it); return its files.

        ``frames`` is called only when the unit runs: a replayed unit reads nothing.
        """
        marker = work.checkpoint.done(unit)
        if marker is not None:
            self.replay(session, stage, work.restored(marker))
            return dict(marker["files"])
        result = run_unit(stage, frames(), session.context, session.artifacts.given(stage))
        files: dict[str, Any] = {}
        if result.error is None:
            files = work.persist(stage, unit, result)
        self.commit(session, stage, unit, result)
        return files

    def _parts(
        self,
        session: RunSession,
        work: ChunkedWork,
        stage: Stage,
        units: Iterable[tuple[str, Frames]],
    ) -> None:
        """Run ``units`` in order; the stage's outputs are their parts, in that order."""
        parts: dict[str, list[tuple[Any, ...]]] = {name: [] for name in stage.outputs}
        for unit, frames in units:
            files = self._unit(session, work, stage, unit, frames)
            for name in stage.outputs:
                parts[name].append(tuple(files[name]))
        for name, entries in parts.items():
            work.publish(name, entries)

    def _rows(self, session: RunSession, work: ChunkedWork, stage: Stage) -> None:
        (source,) = stage.inputs
        work.derive(stage, source)
        units = (
            (f"s{stage.number:02d}-rows-{index:06d}", _given({source: data}))
            for index, data in work.chunks(source)
        )
        self._parts(session, work, stage, units)

    def _inputs(self, session: RunSession, work: ChunkedWork, stage: Stage) -> None:
        step = stage.steps[0]
        buckets: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
        for param, dataset in step.input_names.items():
            name = validated_name(step.name, dataset)
            work.origin[name] = work.origin[dataset]
            per = buckets.setdefault(name, {})
            for index, data in work.chunks(dataset):
                unit = f"s{stage.number:02d}-spill-{param}-{index:06d}"
                files = self._unit(session, work, stage, unit, _given({dataset: data}))
                for bucket, entry in files.get("buckets", {}).items():
                    per.setdefault(int(bucket), []).append(tuple(entry))
        work.buckets[stage.number] = buckets

    def _partition(self, session: RunSession, work: ChunkedWork, stage: Stage) -> None:
        step = stage.steps[0]
        buckets = work.buckets[stage.number - 1]
        work.derive(stage, stage.inputs[0])
        models = type(step).contract().inputs
        names = {param: (validated_name(step.name, d), d) for param, d in step.input_names.items()}

        def frames(group: list[int]) -> Frames:
            return lambda: {
                name: work.load_group(name, dataset, buckets.get(name, {}), group, models[param])
                for param, (name, dataset) in names.items()
            }

        units = (
            (f"s{stage.number:02d}-part-{index:06d}", frames(group))
            for index, group in enumerate(group_buckets(buckets, work.chunk_rows))
        )
        self._parts(session, work, stage, units)

    def _global(self, session: RunSession, work: ChunkedWork, stage: Stage) -> None:
        step = stage.steps[0]
        work.derive(stage, stage.inputs[0])
        unit = f"s{stage.number:02d}-global"

        def frames() -> dict[str, Data]:
            estimate = sum(work.estimate(d) for d in stage.inputs)
            logger.info(
                "materialized",
                extra={
                    "step": step.name,
                    "estimated_bytes": estimate,
                    "memory_limit": self.memory_limit,
                },
            )
            if estimate > self.memory_limit:
                raise ResourceLimitError(
                    f"step {step.name!r} (scope global) needs its whole input in memory, "
                    f"estimated {estimate / 2**20:.0f} MB, over the memory limit of "
                    f"{self.memory_limit / 2**20:.0f} MB; declare scope = 'rows' or "
                    f"partition_by if the step allows it, or raise --memory-limit"
                )
            # validated whole, not chunk by chunk: the step is global precisely when its
            # checks (uniqueness, dataframe checks) need every row
            return {d: work.whole(d) for d in stage.inputs}

        files = self._unit(session, work, stage, unit, frames)
        if not stage.produces_artifact:  # an artifact is kept by session.artifacts
            work.publish(step.output_name, [tuple(p) for p in files["parts"]])


def _given(frames: dict[str, Data]) -> Frames:
    return lambda: frames


@hookimpl
def sdk_register_runners() -> list[type[Runner]]:
    """The built-in batch runner."""
    return [BatchRunner]
