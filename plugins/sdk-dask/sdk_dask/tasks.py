"""What runs on the workers: units, and the small data moves between stages.

Every function here is a Dask task. They import only ``sdk``, pandas and numpy (never
``distributed``), take and return picklable values (``sdk.Data``, ``sdk.UnitResult``), and
leave the frames on the worker: the client receives a unit's result without its frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd

import sdk

__all__ = [
    "concat",
    "estimate_bytes",
    "frame_of",
    "item",
    "load_bucket",
    "load_part",
    "load_problem",
    "output_of",
    "read_part",
    "rows_of",
    "run_part",
    "split_by_key",
    "split_to_files",
    "summary_of",
    "write_part",
]


@attrs.frozen
class Labels:
    """The run context a task logs under (besides the unit id, its ``partition``)."""

    run_id: str
    pipeline: str
    runner: str = "dask"


def run_part(
    stage: sdk.Stage,
    frames: Mapping[str, sdk.Data | Sequence[sdk.Data]],
    context: sdk.UnitContext,
    artifacts: Mapping[str, Any],
    unit: str,
    labels: Labels,
    keep: str | None = None,
) -> sdk.UnitResult:
    """Run ``stage`` on one unit, on a worker, under the run's log context.

    Args:
        stage: the stage (its steps travel with it: by reference, or by value when they were
            defined in ``__main__`` or a notebook).
        frames: each input as one part, or as several parts joined here (a global stage).
        context: the run's unit context.
        artifacts: the artifacts the stage takes (broadcast once to every worker).
        unit: the unit's id, logged as ``partition``.
        labels: run id and pipeline, for the log records.
        keep: a folder of the run directory where each of the stage's outputs is
            checkpointed (``<dataset>.pkl``) when the unit did not fail, for a resumed run;
            ``None``: not kept.
    """
    joined = {
        name: value if isinstance(value, sdk.Data) else concat(list(value))
        for name, value in frames.items()
    }
    with sdk.run_context(
        run_id=labels.run_id, pipeline=labels.pipeline, runner=labels.runner, partition=unit
    ):
        result = sdk.run_unit(stage, joined, context, dict(artifacts))
    if keep is not None and result.error is None and not stage.produces_artifact:
        from sdk_dask.checkpoint import dump

        for name in stage.outputs:
            dump(f"{keep}/{name}.pkl", output_of(result, name))
    return result


def load_part(path: str) -> sdk.Data:
    """An output part a unit checkpointed (a resumed run's committed units)."""
    from sdk_dask.checkpoint import load

    data: sdk.Data = load(path)
    return data


def load_problem(payload: bytes) -> tuple[str, str] | None:
    """On a worker: load pickled steps; what stops it (``("module", name)`` for a module it
    cannot import, ``("class", message)`` for a step class it cannot rebuild), or ``None``."""
    import pickle

    try:
        pickle.loads(payload)
    except ImportError as exc:  # ModuleNotFoundError included
        return ("module", exc.name or str(exc))
    except sdk.SdkError as exc:
        return ("class", str(exc))
    return None


def summary_of(
    result: sdk.UnitResult, names: Sequence[str] = ()
) -> tuple[sdk.UnitResult, list[int]]:
    """The result without its output frames — what the client needs to commit the unit
    (counts, quarantine records, step totals, artifacts, the error) — and the rows of each
    output in ``names`` (an output the unit did not produce: 0)."""
    rows = [len(result.outputs[n].frame) if n in result.outputs else 0 for n in names]
    return attrs.evolve(result, outputs={}), rows


def output_of(result: sdk.UnitResult, name: str) -> sdk.Data:
    """One output of a unit (an empty frame when the unit failed before producing it)."""
    if name in result.outputs:
        return result.outputs[name]
    empty = pd.DataFrame()
    return sdk.Data(empty, sdk.Sources.from_index(empty.index))


def read_part(part: sdk.Part) -> sdk.Data:
    """Read one part of a pipeline input, here on the worker (see :func:`sdk.read_part`)."""
    loaded = sdk.read_part(part)
    return sdk.Data(loaded.frame, loaded.sources)


def write_part(data: sdk.Data, uri: str, index: int, staging: str) -> sdk.OutputPart:
    """Write a part of an output, here on the worker, into its staging folder."""
    return sdk.write_output_part(uri, data.frame, index, staging)


def rows_of(data: sdk.Data) -> int:
    """The rows of a part."""
    return len(data.frame)


def item(items: Sequence[sdk.Data], index: int) -> sdk.Data:
    """One of a split's buckets (run where the split is, so only that bucket moves)."""
    return items[index]


def frame_of(data: sdk.Data) -> pd.DataFrame:
    """A part's frame, without its sources (what a published output needs)."""
    return data.frame


def estimate_bytes(data: sdk.Data) -> int:
    """A part's size in memory (values included), for the ``memory_limit`` of global steps."""
    return int(data.frame.memory_usage(deep=True).sum())


def split_by_key(parts: Sequence[sdk.Data], key: Sequence[str], buckets: int) -> list[sdk.Data]:
    """``parts`` cut into ``buckets`` by a hash of the ``key`` columns, so rows with equal keys
    land in the same bucket whatever part they came from (equal dtypes hash alike).

    Each part is cut on its own, and a bucket joins its pieces of every part: a piece's source
    references point into its own part only, so a bucket pickles (moves to another worker) in
    proportion to its rows. Joining the parts first made every bucket carry the references of
    all the parts: 20 MB for a 3 MB bucket of 100,000 rows, ~50x the data moved between workers.
    """
    pieces: list[list[sdk.Data]] = [[] for _ in range(buckets)]
    for part in parts:
        if not len(part.frame):
            continue
        hashed = pd.util.hash_pandas_object(part.frame[list(key)], index=False).to_numpy()
        codes = (hashed % np.uint64(buckets)).astype(np.int64)
        order = np.argsort(codes, kind="stable")  # by bucket, in row order within each
        bounds = np.cumsum(np.bincount(codes, minlength=buckets))[:-1]
        for bucket, positions in enumerate(np.split(order, bounds)):
            if len(positions):
                pieces[bucket].append(
                    sdk.Data(part.frame.iloc[positions], part.sources.take(positions))
                )
    first = parts[0]
    empty = sdk.Data(first.frame.iloc[:0], first.sources.take(np.empty(0, dtype=np.int64)))
    return [concat(found) if found else empty for found in pieces]


def split_to_files(
    parts: Sequence[sdk.Data], key: Sequence[str], buckets: int, folder: str, group: int
) -> list[tuple[str | None, int]]:
    """``parts`` cut into ``buckets`` by a hash of ``key`` (:func:`split_by_key`), each
    non-empty piece written to ``folder`` (and group 0's bucket 0 always, so an all-empty
    shuffle still has its columns); per bucket, the piece's file (or ``None``) and rows."""
    from sdk_dask.checkpoint import dump

    written: list[tuple[str | None, int]] = []
    for bucket, piece in enumerate(split_by_key(parts, key, buckets)):
        rows = len(piece.frame)
        if rows or (bucket == 0 and group == 0):
            path = f"{folder}/g{group:05d}-b{bucket:06d}.pkl"
            dump(path, piece)
            written.append((path, rows))
        else:
            written.append((None, 0))
    return written


def load_bucket(paths: Sequence[str], columns_from: str) -> sdk.Data:
    """A bucket of a shuffle: its pieces, written by :func:`split_to_files`, joined; with no
    piece, the empty rows of the piece ``columns_from`` (the bucket's columns)."""
    from sdk_dask.checkpoint import load

    if not paths:
        piece: sdk.Data = load(columns_from)
        return sdk.Data(piece.frame.iloc[:0], piece.sources.take(np.empty(0, dtype=np.int64)))
    return concat([load(path) for path in paths])


def concat(parts: Sequence[sdk.Data]) -> sdk.Data:
    """Parts as one dataset; each row keeps its own source (parts may come from different
    chunks of an input, each with its own sources)."""
    kept = [p for p in parts if len(p.frame)] or list(parts[:1])
    if len(kept) == 1:
        return kept[0]
    root, add = sdk.Sources.chunked()
    offset = 0
    for part in kept:
        add(offset, part.sources)
        offset += len(part.frame)
    return sdk.Data(pd.concat([p.frame for p in kept]), root)
