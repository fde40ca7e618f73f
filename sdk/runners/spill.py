"""Spill files and checkpoints of chunked runners.

A dataset kept out of memory is a list of Parquet part files; each row keeps its index label
and its position in the root of its sources (column ``__sdk_pos__``), so quarantine records
name the same source whatever the chunking. Work is done in *units* (a chunk, a partition);
a unit's files are written first and its marker last, atomically, so a unit is complete iff
its marker exists: after a crash, completed units are reused and the others redone.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from sdk.quarantine import Sources
from sdk.runners.state import Data

__all__ = ["POSITION", "Checkpoint", "PartFiles", "read_part", "write_part"]

POSITION = "__sdk_pos__"


def _replace(tmp: Path, path: Path) -> None:
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)


def write_part(path: Path, data: Data) -> int:
    """Write ``data`` (frame, index and source positions) to a Parquet part; return its rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = data.frame.copy(deep=False)
    frame[POSITION] = data.sources.positions(len(frame))
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=True)
    _replace(tmp, path)
    return len(frame)


def read_part(path: Path, root: Sources) -> Data:
    """Read a part written by :func:`write_part`; its sources point into ``root``."""
    frame = pd.read_parquet(path)
    positions = frame.pop(POSITION).to_numpy()
    return Data(frame, root.rebase(positions, frame.index))


def estimated_bytes(paths: list[Path]) -> int:
    """In-memory size estimate of parts: their uncompressed Parquet size."""
    total = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


class PartFiles:
    """A spilled dataset: Parquet parts in order, read back chunk by chunk."""

    def __init__(self, paths: list[Path], rows: int, root: Sources) -> None:
        self.paths, self.rows, self.root = paths, rows, root

    def datas(self) -> Iterator[Data]:
        """Each part as ``Data`` (frame and sources)."""
        for path in self.paths:
            yield read_part(path, self.root)

    def frames(self) -> Iterator[pd.DataFrame]:
        """Each part's rows."""
        for data in self.datas():
            yield data.frame


class Checkpoint:
    """Unit markers of a run directory: which units are complete, with what they recorded."""

    def __init__(self, run_path: Path) -> None:
        self.root = run_path
        self.units = run_path / "units"
        self.units.mkdir(parents=True, exist_ok=True)

    def path(self, *parts: str) -> Path:
        """A path inside the run directory."""
        return self.root.joinpath(*parts)

    def done(self, unit: str) -> dict[str, Any] | None:
        """The marker of a completed unit, or ``None``."""
        marker = self.units / f"{unit}.json"
        if not marker.exists():
            return None
        return dict(json.loads(marker.read_text(encoding="utf-8")))

    def complete(self, unit: str, payload: dict[str, Any]) -> None:
        """Mark ``unit`` complete (after all its files are written)."""
        marker = self.units / f"{unit}.json"
        tmp = marker.with_name(f".{marker.name}.tmp")
        tmp.write_text(json.dumps(payload, default=str), encoding="utf-8")
        _replace(tmp, marker)

    def save_sources(self, dataset: str, index: int, offset: int, sources: Sources) -> None:
        """Keep a chunk's reader sources so a resumed run can render them."""
        path = self.path("sources", dataset, f"{index:08d}.pkl")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(pickle.dumps((offset, sources)))
        _replace(tmp, path)

    def load_sources(self, dataset: str) -> list[tuple[int, Sources]]:
        """The chunk sources saved for ``dataset``, in chunk order."""
        folder = self.path("sources", dataset)
        if not folder.exists():
            return []
        return [pickle.loads(p.read_bytes()) for p in sorted(folder.glob("*.pkl"))]
