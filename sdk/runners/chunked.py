"""Out-of-core execution state of a chunked run: chunks, spills, checkpoints, row sources.

A :class:`ChunkedWork` belongs to one run (``session.work``). It reads inputs in chunks and
registers each chunk's row sources (kept in the run directory, so a resumed run renders the
same sources), spills what later stages read as Parquet parts, and writes each unit's
checkpoint: its parts, its quarantine records and, last, its marker.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.io import atomic_bytes, atomic_path
from sdk.quarantine import Sources
from sdk.runners.plan import needed_datasets
from sdk.runners.spill import (
    Checkpoint,
    PartFiles,
    estimated_bytes,
    read_buckets,
    read_part,
    write_buckets,
    write_part,
)
from sdk.runners.stage import Data, Stage, UnitResult
from sdk.validation import BoundaryCheck, compile_model, validate_frame

if TYPE_CHECKING:
    from sdk.runners.session import RunSession

__all__ = ["BUCKETS", "ChunkedWork", "group_buckets"]

BUCKETS = 32
"""Hash buckets of a ``partition_by`` spill; partitions are groups of buckets."""


class ChunkedWork:
    """The datasets, spills and checkpoints of one chunked run."""

    def __init__(self, session: RunSession) -> None:
        self.session = session
        self.inputs = session.inputs
        self.checkpoint = Checkpoint(session.path)
        self.chunk_rows = int(session.settings["chunk_rows"])
        self.roots: dict[str, tuple[Sources, Any]] = {}
        self.origin: dict[str, str] = {name: name for name in self.inputs}
        self.buckets: dict[int, dict[str, dict[int, list[tuple[Any, ...]]]]] = {}
        request = session.request
        self.needed = needed_datasets(session.stages, request.pipeline.outputs, request.outputs)
        self._registered: dict[str, int] = {}
        for name in self.inputs:
            root, register = Sources.chunked()
            self.roots[name] = (root, register)
            saved = self.checkpoint.load_sources(name)
            for offset, _, sources in saved:
                register(offset, sources)
            self._registered[name] = len(saved)

    # -- reading ---------------------------------------------------------------------------
    def chunks(self, dataset: str) -> Iterator[tuple[int, Data]]:
        """``(index, data)`` for each chunk of ``dataset``: an input (always read, to keep
        row positions) or a spilled dataset."""
        if dataset in self.inputs:
            root, register = self.roots[dataset]
            for index, (offset, frame, sources) in enumerate(
                self.session.chunks(dataset, self.chunk_rows)
            ):
                if index >= self._registered[dataset]:
                    register(offset, sources)
                    self.checkpoint.save_sources(dataset, index, offset, len(frame), sources)
                    self._registered[dataset] = index + 1
                positions = np.arange(offset, offset + len(frame), dtype=np.int64)
                yield index, Data(frame, root.rebase(positions, frame.index))
            return
        spilled = self.session.datasets[dataset]
        if not isinstance(spilled, PartFiles):  # pragma: no cover - batch spills every dataset
            raise TypeError(f"dataset {dataset!r} was not spilled")
        for index, path in enumerate(spilled.paths):
            yield index, read_part(path, spilled.root)

    def whole(self, dataset: str) -> Data:
        """Every chunk of ``dataset`` in one frame (a global stage's input)."""
        datas = [d for _, d in self.chunks(dataset)]
        root = self.root(dataset)
        frame = pd.concat([d.frame for d in datas]) if datas else pd.DataFrame()
        positions = (
            np.concatenate([d.sources.positions(len(d.frame)) for d in datas])
            if datas
            else np.zeros(0, dtype=np.int64)
        )
        return Data(frame, root.rebase(positions, frame.index))

    def count_inputs(self) -> None:
        """Count inputs a resumed run did not read whole again, from their saved chunks."""
        for name in self.inputs:
            saved = self.checkpoint.load_sources(name)
            rows = max((offset + length for offset, length, _ in saved), default=0)
            self.session.count_input(name, rows)

    def root(self, dataset: str) -> Sources:
        """The row sources of the input ``dataset`` descends from."""
        return self.roots[self.origin[dataset]][0]

    def derive(self, stage: Stage, source: str) -> None:
        """The stage's outputs descend from the same input as ``source``."""
        for step in stage.steps:
            self.origin[step.output_name] = self.origin[source]

    def estimate(self, dataset: str) -> int:
        """The in-memory size of ``dataset``, estimated before loading it."""
        spilled = self.session.datasets.get(dataset)
        if isinstance(spilled, PartFiles):
            return estimated_bytes(spilled.paths)
        value = self.inputs[dataset].value
        if isinstance(value, pd.DataFrame):
            return int(value.memory_usage(deep=True).sum())
        path = Path(value)
        return path.stat().st_size * 3 if path.is_file() else 0

    # -- units -----------------------------------------------------------------------------
    def persist(self, stage: Stage, unit: str, result: UnitResult) -> dict[str, Any]:
        """Write a unit's checkpoint: its outputs' parts, its quarantine, then its marker."""
        if stage.kind == "inputs":  # one input per unit: the chunk's dataset, validated
            (data,) = result.outputs.values()
            files: dict[str, Any] = {"buckets": self._spill(stage, unit, data)}
        elif stage.produces_artifact:
            files = {}
        elif stage.kind == "global":
            files = {"parts": self._parts(unit, stage.outputs[0], result.outputs[stage.outputs[0]])}
        else:
            files = {name: self._keep(unit, result.outputs[name], name) for name in stage.outputs}
        qpath = None
        if len(result.quarantine):
            qpath = self.checkpoint.path("quarantine", f"{unit}.parquet")
            atomic_path(qpath, lambda tmp: result.quarantine.to_parquet(tmp, index=False))
        self.checkpoint.complete(
            unit,
            {
                "files": files,
                "summary": result.summary(),
                "quarantine": str(qpath or ""),
                "artifacts": self._keep_artifacts(unit, result.artifacts),
            },
        )
        return files

    def restored(self, marker: Mapping[str, Any]) -> UnitResult:
        """The result of a unit completed before a crash, from its checkpoint."""
        quarantine = None
        if marker.get("quarantine"):
            frame = pd.read_parquet(marker["quarantine"]).astype(object)
            quarantine = frame.where(frame.notna(), None)
        result = UnitResult.from_summary(marker["summary"], quarantine)
        for name, (path, _) in marker.get("artifacts", {}).items():
            # our own checkpoint, verified against the marker's hash by Checkpoint.done
            result.artifacts[name] = pickle.loads(Path(path).read_bytes())
        return result

    def _keep_artifacts(self, unit: str, artifacts: Mapping[str, Any]) -> dict[str, list[str]]:
        """Checkpoint what an artifact step returned (pickled in the run directory, which
        only this run writes; its hash is kept in the unit's marker)."""
        files: dict[str, list[str]] = {}
        for name, obj in artifacts.items():
            path = self.checkpoint.path("artifacts", f"{unit}-{name}.pkl")
            data = pickle.dumps(obj, protocol=5)
            atomic_bytes(path, data)
            files[name] = [str(path), hashlib.sha256(data).hexdigest()]
        return files

    def _keep(self, unit: str, data: Data, name: str) -> list[Any]:
        """Spill ``data`` as dataset ``name`` if anything needs it later; ``[path, rows]``."""
        if name not in self.needed:
            return [None, len(data.frame)]
        path = self.checkpoint.path("data", name, f"{unit}.parquet")
        return [str(path), write_part(path, data)]

    def _parts(self, unit: str, name: str, data: Data) -> list[list[Any]]:
        """Spill a global step's output in parts of ``chunk_rows`` rows."""
        files = []
        for start in range(0, max(len(data.frame), 1), self.chunk_rows):
            rows = np.arange(start, min(start + self.chunk_rows, len(data.frame)))
            path = self.checkpoint.path("data", name, f"{unit}-{start:012d}.parquet")
            part = Data(data.frame.iloc[rows], data.sources.take(rows))
            files.append([str(path), write_part(path, part)])
        return files

    def _spill(self, stage: Stage, unit: str, data: Data) -> dict[str, list[Any]]:
        """Hash-partition validated rows by the stage's key into one file of buckets."""
        if not len(data.frame) or stage.key is None:
            return {}
        # a one-column key hashed as a Series, as before keys had several columns: a run
        # resumed across that upgrade keeps every key in the bucket it was spilled to
        columns = list(stage.key)
        keys = data.frame[columns[0]] if len(columns) == 1 else data.frame[columns]
        hashes = pd.util.hash_pandas_object(keys, index=False).to_numpy()
        bucket_of = (hashes % BUCKETS).astype(np.int64)
        path = self.checkpoint.path("spill", f"{unit}.parquet")
        return write_buckets(path, data, bucket_of, BUCKETS)

    def publish(self, name: str, files: list[tuple[Any, ...]]) -> None:
        """Record the parts of a produced dataset in ``session.datasets``."""
        paths = [Path(entry[0]) for entry in files if entry[0] is not None]
        rows = sum(entry[-1] for entry in files)
        self.session.datasets[name] = PartFiles(paths, rows, self.root(name))

    def load_group(
        self,
        name: str,
        dataset: str,
        per: dict[int, list[tuple[Any, ...]]],
        group: list[int],
        model: Any,
    ) -> Data:
        """The rows of buckets ``group`` of spilled ``name`` (validated ``dataset``)."""
        root = self.root(name)
        row_groups: dict[str, list[int]] = {}
        for bucket in group:
            for entry in per.get(bucket, []):
                row_groups.setdefault(str(entry[0]), []).append(int(entry[1]))
        if not row_groups:
            return self._empty(dataset, root, model)
        # one read per spill file (all its buckets of this group), one conversion to pandas
        return read_buckets([(Path(p), rgs) for p, rgs in sorted(row_groups.items())], root)

    def _empty(self, dataset: str, root: Sources, model: Any) -> Data:
        """No rows, with the columns and dtypes validation gives, for an empty partition."""
        for _, data in self.chunks(dataset):
            raw = data.frame.iloc[0:0]
            where = BoundaryCheck("-", "input", dataset)
            frame = validate_frame(raw, compile_model(model), where).frame
            return Data(frame, root.rebase(np.zeros(0, dtype=np.int64), frame.index))
        return Data(pd.DataFrame(), root)  # pragma: no cover - chunks always yields one


def group_buckets(
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
