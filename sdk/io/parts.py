"""Files read in parts (:class:`sdk.io.SupportsReadParts`): planned cheaply where the run is
planned, each part read on its own by a worker, with the rows and sources of a whole read.

* **CSV**: the file is scanned for record boundaries as the reader scans it (line ends outside
  quotes, the fields of each record counted), reading bytes but parsing no value. A part is a
  byte range of whole records, ``[start, end)``, with the physical line of its first byte and
  the header; a worker reads it with the CSV reader of :mod:`sdk.io._csv` started there, so
  sources are the same physical lines, quoted newlines, blank lines and malformed rows
  (``field_count``) included. Whether rows carry :data:`sdk.validation.MALFORMED` is decided
  for the whole file, as a whole read decides it. A file whose quoting is irregular (where the
  reader falls back to the ``csv`` module from the irregular record on) is one part.
* **Parquet**: parts are whole row groups; consecutive row groups are joined while a part keeps
  at most ``part_rows`` rows, so a row group larger than that is a part of its own.

A part remembers the file's size when it was planned; reading it from a file of another size,
or finding another number of rows than planned, is an :class:`sdk.IOSchemeError`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.io import IOScheme, Loaded, Part, _csv, positioned, read_whole
from sdk.io._csv import CsvReader, Piece
from sdk.io._csv import sources as csv_sources
from sdk.io._csvscan import _Irregular, _scan
from sdk.quarantine import Sources
from sdk.validation import MALFORMED

__all__ = [
    "CsvSpan",
    "RowGroups",
    "csv_parts",
    "parquet_parts",
    "read_csv_part",
    "read_parquet_part",
]

_BOM = b"\xef\xbb\xbf"


@attrs.frozen
class CsvSpan:
    """Where a CSV part is: bytes ``[start, end)`` of whole records, ``start`` on physical line
    ``line``; the file's ``header``, whether its rows carry the malformed column, its size."""

    start: int
    end: int
    line: int
    header: tuple[str, ...]
    marked: bool
    size: int


@attrs.frozen
class RowGroups:
    """Where a Parquet part is: the indexes of its row groups, and the file's size."""

    groups: tuple[int, ...]
    size: int


def _joined(
    pieces: list[Piece], header: list[str], marked: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    """One frame of ``pieces`` (with the malformed column when ``marked``), and its lines."""
    columns = [*header, MALFORMED] if marked else header
    frames = [_with_columns(p.frame, columns) for p in pieces if len(p.frame)]
    if not frames:
        return _with_columns(pieces[0].frame if pieces else _empty(header), columns), np.zeros(
            0, dtype=np.int64
        )
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, np.concatenate([p.lines for p in pieces if len(p.frame)])


def _with_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        frame = frame.assign(**{c: pd.array([None] * len(frame), dtype="str") for c in missing})
    return frame


def _empty(header: list[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.array([], dtype="str") for name in header})


def _not_parquet(uri: str, exc: Exception) -> IOSchemeError:
    reason = " ".join(str(exc).split())  # pyarrow's messages may span lines
    return IOSchemeError(
        f"{uri}: cannot be read as Parquet ({reason}); check that it is a complete Parquet file"
    )


def _check(part_rows: int) -> None:
    if part_rows < 1:
        raise ValueError(f"part_rows must be at least 1, not {part_rows}")


def _changed(uri: str, why: str) -> IOSchemeError:
    return IOSchemeError(
        f"{uri}: changed since its parts were planned ({why}); plan the parts again"
    )


class _Window(io.RawIOBase):
    """Bytes ``start..end`` of a file, as a file of their own (what one part reads)."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        super().__init__()
        self._fh = path.open("rb", buffering=0)
        self._fh.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._left)
        if size <= 0:
            return 0
        got = self._fh.readinto(view[:size]) or 0
        self._left -= got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


class _Plan:
    """The cuts of a CSV file found by its scan: (row position, byte offset, physical line)."""

    def __init__(self, part_rows: int) -> None:
        self.part_rows = part_rows
        self.rows = 0
        self.cuts: list[tuple[int, int, int]] = []
        self.marked = False

    def add(self, records: np.ndarray, starts: np.ndarray, lines: np.ndarray, bad: bool) -> None:
        """Count the rows ``records`` (indexes into ``starts``/``lines``, file offsets)."""
        self.marked = self.marked or bad
        positions = self.rows + np.arange(len(records))
        for i in np.flatnonzero((positions % self.part_rows == 0) & (positions > 0)):
            record = int(records[i])
            self.cuts.append((int(positions[i]), int(starts[record]), int(lines[record])))
        self.rows += len(records)


def _scan_file(path: Path, n: int, part_rows: int) -> tuple[_Plan, int, int, int] | None:
    """The cuts of ``path`` every ``part_rows`` rows, the first row's byte and line, and the
    size scanned; ``None`` where the reader would leave its fast path (irregular quoting)."""
    plan = _Plan(part_rows)
    block = _csv._BLOCK
    first: tuple[int, int] | None = None  # where the rows start: (byte, line)
    with path.open("rb") as fh:
        buf = fh.read(block)
        eof = not buf
        base = len(_BOM) if buf.startswith(_BOM) else 0
        buf, line = buf[base:], 1
        while True:
            try:
                scan = _scan(buf, line, eof)
            except _Irregular:
                return None
            if not scan.consumed and not eof:
                more = fh.read(block)
                eof = not more
                buf += more
                continue
            if scan.open_quote:
                return None
            records = np.flatnonzero(~scan.blank)
            if first is None and len(records):
                end = min(int(scan.ends[records[0]]) + 1, scan.consumed)
                first = (base + end, line + buf.count(b"\n", 0, end))
                records = records[1:]
            bad = bool((scan.fields[records] != n).any())
            plan.add(records, scan.starts + base, scan.lines, bad)
            buf, base, line = buf[scan.consumed :], base + scan.consumed, line + scan.newlines
            if eof and not buf:
                break
            if not eof and len(buf) < block:
                more = fh.read(block)
                eof = not more
                buf += more
    if first is None:  # the reader found a header, so the scan does too
        raise IOSchemeError(f"{path}: no header line")
    return plan, first[0], first[1], base


def csv_parts(path: Path, uri: str, part_rows: int) -> list[Part]:
    """The parts of the CSV file ``path``: whole records, ``part_rows`` rows each (the last
    fewer; one part, empty, for a file with a header only); one part, the whole file (read
    with the scheme's ``read``), for a file whose quoting is irregular.

    Raises:
        IOSchemeError: what reading the file's header raises (empty file, duplicate names).
    """
    _check(part_rows)
    reader = CsvReader(path, uri)
    try:
        header, slow = reader.header, reader.troubled
    finally:
        reader.close()
    found = None if slow else _scan_file(path, len(header), part_rows)
    if found is None:
        return [Part(uri, 0, 0, None)]
    plan, start, line, size = found
    bounds = [(0, start, line), *plan.cuts]
    parts = []
    for index, (offset, begin, first_line) in enumerate(bounds):
        last = index + 1 == len(bounds)
        next_offset, stop = (plan.rows, size) if last else bounds[index + 1][:2]
        span = CsvSpan(begin, stop, first_line, tuple(header), plan.marked, size)
        parts.append(Part(uri, index, offset, next_offset - offset, span))
    return parts


def read_csv_part(scheme: IOScheme, part: Part, path: Path) -> Loaded:
    """The rows of a part of :func:`csv_parts`, as a whole read of ``path`` gives them.

    Raises:
        IOSchemeError: the file changed since the part was planned, or is not UTF-8.
    """
    span = part.locator
    if span is None:
        return read_whole(scheme, part.uri)
    if not isinstance(span, CsvSpan):
        raise IOSchemeError(f"{part.uri}: part {part.index} was not planned by the CSV scheme")
    size = path.stat().st_size
    if size != span.size:
        raise _changed(part.uri, f"{size} bytes, planned on {span.size}")
    handle = io.BufferedReader(_Window(path, span.start, span.end))
    reader = CsvReader(path, part.uri, handle=handle, line=span.line, header=list(span.header))
    try:
        pieces = list(reader.pieces())
    finally:
        reader.close()
    frame, lines = _joined(pieces, reader.header, span.marked)
    if part.rows is not None and len(frame) != part.rows:
        raise _changed(part.uri, f"part {part.index} has {len(frame)} rows, planned {part.rows}")
    return Loaded(positioned(frame, part.offset), csv_sources(part.uri, lines))


def parquet_parts(path: Path, uri: str, part_rows: int) -> list[Part]:
    """The parts of the Parquet file ``path``: consecutive whole row groups, at most
    ``part_rows`` rows each unless one row group has more (one empty part without any).

    Raises:
        IOSchemeError: the file is not Parquet.
    """
    import pyarrow.parquet as pq

    _check(part_rows)
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError
        raise _not_parquet(uri, exc) from None
    size = path.stat().st_size
    parts: list[Part] = []
    groups: list[int] = []
    offset = rows = 0
    for group in range(meta.num_row_groups + 1):
        more = meta.row_group(group).num_rows if group < meta.num_row_groups else None
        if groups and (more is None or rows + more > part_rows):
            parts.append(Part(uri, len(parts), offset, rows, RowGroups(tuple(groups), size)))
            offset, rows, groups = offset + rows, 0, []
        if more is not None:
            groups.append(group)
            rows += more
    return parts or [Part(uri, 0, 0, 0, RowGroups((), size))]


def read_parquet_part(scheme: IOScheme, part: Part, path: Path) -> Loaded:
    """The rows of a part of :func:`parquet_parts`; sources ``path#row`` as a whole read's.

    Raises:
        IOSchemeError: the file is not Parquet, or changed since the part was planned.
    """
    import pyarrow.parquet as pq

    where = part.locator
    if where is None or (isinstance(where, RowGroups) and not where.groups):
        return read_whole(scheme, part.uri)  # an empty file: its columns as a whole read
    if not isinstance(where, RowGroups):
        raise IOSchemeError(f"{part.uri}: part {part.index} was not planned by Parquet")
    size = path.stat().st_size
    if size != where.size:
        raise _changed(part.uri, f"{size} bytes, planned on {where.size}")
    try:
        table = pq.ParquetFile(path).read_row_groups(list(where.groups), use_pandas_metadata=True)
        frame = table.to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError
        raise _not_parquet(part.uri, exc) from None
    if part.rows is not None and len(frame) != part.rows:
        raise _changed(part.uri, f"part {part.index} has {len(frame)} rows, planned {part.rows}")
    return Loaded(positioned(frame, part.offset), Sources.from_file_rows(part.uri, part.offset))
