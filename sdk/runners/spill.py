"""Spill files and checkpoints of chunked runners.

A dataset kept out of memory is a list of Parquet part files; each row keeps its index label
and its position in the root of its sources (column ``__sdk_pos__``), so quarantine records
name the same source whatever the chunking. Work is done in *units* (a chunk, a partition);
a unit's files are written first and its marker last, atomically, so a unit is complete iff
its marker exists: after a crash, completed units are reused and the others redone. Every
file is written through :func:`sdk.io.atomic_path` (temp file + rename: a kill -9 is
survived; without fsync a crash of the machine may lose the newest units, which are redone).

A marker is trusted only if the files it names are there and readable (Parquet footer, row
groups and row counts as recorded): a unit whose files were deleted, truncated or damaged since
is redone, with a ``checkpoint_damaged`` warning naming the file, and gives the same rows again.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sdk.io import atomic_bytes, atomic_path, atomic_text
from sdk.logs import get_logger
from sdk.quarantine import Sources
from sdk.runners.stage import Data

__all__ = [
    "POSITION",
    "Checkpoint",
    "PartFiles",
    "read_buckets",
    "read_part",
    "write_buckets",
    "write_part",
]

POSITION = "__sdk_pos__"

logger = get_logger("sdk.run")


def _table(data: Data) -> pa.Table:
    frame = data.frame.copy(deep=False)
    frame[POSITION] = data.sources.positions(len(frame))
    return pa.Table.from_pandas(frame, preserve_index=True)


def write_buckets(path: Path, data: Data, bucket_of: np.ndarray, buckets: int) -> dict[str, Any]:
    """Write ``data`` grouped by bucket into one Parquet file, one row group per bucket.

    Returns:
        ``{bucket: [path, row group, rows]}`` for every non-empty bucket.
    """
    order = np.argsort(bucket_of, kind="stable")  # stable: each bucket keeps the row order
    bounds = np.searchsorted(bucket_of[order], np.arange(buckets + 1))
    table = _table(data).take(pa.array(order))  # one conversion, then zero-copy slices
    entries: dict[str, Any] = {}

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(
            tmp, table.schema, compression="lz4", use_dictionary=False, write_statistics=False
        ) as writer:
            for bucket in range(buckets):
                start, stop = int(bounds[bucket]), int(bounds[bucket + 1])
                if stop == start:
                    continue
                writer.write_table(table.slice(start, stop - start), row_group_size=stop - start)
                entries[str(bucket)] = [str(path), len(entries), stop - start]

    atomic_path(path, write)
    return entries


def read_buckets(files: list[tuple[Path, list[int]]], root: Sources) -> Data:
    """Read row groups (buckets) written by :func:`write_buckets` from several files at once."""
    tables = [pq.ParquetFile(path).read_row_groups(groups) for path, groups in files]
    if all(t.schema.equals(tables[0].schema, check_metadata=True) for t in tables):
        frame = pa.concat_tables(tables).to_pandas()
    else:  # chunks typed differently (e.g. a nullable column with no missing value in one)
        frame = pd.concat([t.to_pandas() for t in tables])
    positions = frame.pop(POSITION).to_numpy()
    return Data(frame, root.rebase(positions, frame.index))


def write_part(path: Path, data: Data) -> int:
    """Write ``data`` (frame, index and source positions) to a Parquet part; return its rows."""
    table = _table(data)
    # spills are written once and read once: favour speed over size
    atomic_path(
        path,
        lambda tmp: pq.write_table(
            table, tmp, compression="lz4", use_dictionary=False, write_statistics=False
        ),
    )
    return len(data.frame)


def read_part(path: Path, root: Sources) -> Data:
    """Read a part written by :func:`write_part`; its sources point into ``root``."""
    frame = pq.read_table(path).to_pandas()
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
        """The marker of a completed unit, or ``None`` (also when the marker or one of its
        files is damaged: the marker is then removed, so the unit is redone)."""
        marker = self.units / f"{unit}.json"
        if not marker.exists():
            return None
        try:
            payload = dict(json.loads(marker.read_text(encoding="utf-8")))
            problem = _damaged(payload)
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            problem = (marker, f"{type(exc).__name__}: {exc}")
        if problem is None:
            return payload
        logger.warning(
            "checkpoint_damaged",
            extra={"unit": unit, "file": str(problem[0]), "reason": problem[1], "redo": True},
        )
        marker.unlink(missing_ok=True)
        return None

    def complete(self, unit: str, payload: dict[str, Any]) -> None:
        """Mark ``unit`` complete (after all its files are written)."""
        atomic_text(self.units / f"{unit}.json", json.dumps(payload, default=str))

    def save_sources(
        self, dataset: str, index: int, offset: int, length: int, sources: Sources
    ) -> None:
        """Keep a chunk's reader sources (and place) so a resumed run can render them."""
        path = self.path("sources", dataset, f"{index:08d}.pkl")
        atomic_bytes(path, pickle.dumps((offset, length, sources)))

    def load_sources(self, dataset: str) -> list[tuple[int, int, Sources]]:
        """``(offset, length, sources)`` of each chunk saved for ``dataset``, in order.

        Chunks from the first missing or unreadable record on are dropped (and saved again
        when their chunks are read)."""
        folder = self.path("sources", dataset)
        if not folder.exists():
            return []
        saved: list[tuple[int, int, Sources]] = []
        paths = sorted(folder.glob("*.pkl"))
        for index, path in enumerate(paths):
            problem = None if path.name == f"{index:08d}.pkl" else "missing before it"
            if problem is None:
                try:
                    offset, length, sources = pickle.loads(path.read_bytes())
                except Exception as exc:  # any damage at all: read the chunk again
                    problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                logger.warning(
                    "checkpoint_damaged",
                    extra={"unit": None, "file": str(path), "reason": problem, "redo": True},
                )
                for stale in paths[index:]:
                    stale.unlink(missing_ok=True)
                break
            saved.append((offset, length, sources))
        return saved


def _damaged(marker: dict[str, Any]) -> tuple[Path, str] | None:
    """The first file of a unit's marker that is missing or does not hold what it recorded."""
    expected: list[tuple[str, int | None, int]] = []  # (path, row group or None, rows)
    for value in marker["files"].values():
        if isinstance(value, dict):  # buckets: {bucket: [path, row group, rows]}
            expected += [(str(p), int(g), int(n)) for p, g, n in value.values()]
        elif value and isinstance(value[0], list):  # parts: [[path, rows], ...]
            expected += [(str(p), None, int(n)) for p, n in value]
        elif value and value[0] is not None:  # one part: [path, rows]
            expected.append((str(value[0]), None, int(value[1])))
    if marker.get("quarantine"):
        expected.append((str(marker["quarantine"]), None, -1))
    for name, digest in marker.get("artifacts", {}).values():  # [path, sha256]
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            return Path(name), "missing"
        if hashlib.sha256(data).hexdigest() != digest:
            return Path(name), "changed after it was written"
    for name, group, rows in expected:
        path = Path(name)
        try:
            meta = pq.ParquetFile(path).metadata
        except FileNotFoundError:
            return path, "missing"
        except (OSError, pa.ArrowException) as exc:
            return path, f"unreadable: {exc}"
        if group is not None:
            if group >= meta.num_row_groups or meta.row_group(group).num_rows != rows:
                return path, f"row group {group} does not hold {rows} rows"
        elif rows >= 0 and meta.num_rows != rows:
            return path, f"holds {meta.num_rows} rows, not {rows}"
    return None
