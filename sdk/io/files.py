"""Built-in file schemes: CSV, Parquet, JSON lines, and ``-`` (stdin/stdout JSON lines).

Text formats are read as text, so validation coerces the values and the quarantine shows
exactly what was in the file. In CSV only an empty field is a missing value; every other
value (``NA``, ``null``, ``n/a`` included) stays the text it was.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.hookspecs import hookimpl
from sdk.io import IOScheme, Loaded, Part, StagedFile, Writer, atomic_path, positioned
from sdk.io._csv import CsvReader, Piece
from sdk.io._csv import sources as csv_sources
from sdk.io.folders import ParquetFolderScheme
from sdk.io.parts import (
    _joined,
    _not_parquet,
    csv_parts,
    parquet_parts,
    read_csv_part,
    read_parquet_part,
)
from sdk.quarantine import Sources
from sdk.validation import MALFORMED

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = ["CsvScheme", "JsonLinesScheme", "ParquetScheme", "StdioScheme", "csv_rows", "jsonl_rows"]


def _path(uri: str) -> Path:
    path = uri.removeprefix("file://")
    return Path(path)


def _existing(uri: str) -> Path:
    path = _path(uri)
    if not path.exists():
        raise IOSchemeError(
            f"input {uri!r} does not exist; check the path (relative to {Path.cwd()})"
        )
    if path.is_dir():
        raise IOSchemeError(f"input {uri!r} is a directory, not a file; give the file's path")
    return path


def _rechunked(
    pieces: Iterator[Piece], header: list[str], marked: bool, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Frames of exactly ``chunk_rows`` rows (the last one fewer, at least one) from ``pieces``."""
    held: list[Piece] = []
    size = 0
    yielded = False
    for piece in itertools.chain(pieces, [None]):
        if piece is not None:
            if not len(piece.frame):
                continue
            held.append(piece)
            size += len(piece.frame)
        while held and (size >= chunk_rows or piece is None):
            frame, lines = _joined(held, header, marked)
            take = min(chunk_rows, len(frame))
            yield frame.iloc[:take].reset_index(drop=True), lines[:take]
            yielded = True
            rest = frame.iloc[take:].reset_index(drop=True)
            held = [Piece(rest, lines[take:])] if len(rest) else []
            size = len(rest)
    if not yielded:
        yield _joined([], header, marked)


def _parse_lines(text: io.TextIOBase | Any, origin: str) -> tuple[pd.DataFrame, list[int]]:
    return _parse_numbered(enumerate(text, start=1), origin)


def _utf8_lines(handle: BinaryIO, origin: str) -> Iterator[tuple[int, str]]:
    """The numbered lines of a binary file, decoded; a line that is not UTF-8 is refused."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IOSchemeError(
                f"{origin}:{number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the "
                f"file as UTF-8"
            ) from None


def _parse_numbered(
    numbered: Iterable[tuple[int, str]], origin: str
) -> tuple[pd.DataFrame, list[int]]:
    records: list[Any] = []
    lines: list[int] = []
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IOSchemeError(
                f"{origin}:{number}: not valid JSON ({exc.msg}); fix the line"
            ) from None
        if not isinstance(record, dict):
            raise IOSchemeError(
                f"{origin}:{number}: is {type(record).__name__}, not a JSON object; write one "
                f"object per line"
            )
        records.append(record)
        lines.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for column in frame.columns:  # keep values as written: no int->float upcasting by NaN
        if frame[column].isna().any() and frame[column].dtype != object:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame, lines


class FileWriter:
    """Chunks appended to a temporary file beside the target, renamed into place on commit."""

    def __init__(
        self,
        uri: str,
        append: Callable[[Any, pd.DataFrame, bool], None],
        close: Callable[[Any], None] | None = None,
        binary: bool = False,
        columns: list[str] | None = None,
    ) -> None:
        self._target = _path(uri)
        self._columns = columns or []  # an empty dataset is still written with its header
        self._append, self._close = append, close
        self._first = True
        self._closed = False
        mode, encoding = ("wb", None) if binary else ("w", "utf-8")
        try:
            self._staged = StagedFile(self._target)
        except OSError as exc:
            raise IOSchemeError(
                f"cannot write {str(self._target)!r}: {exc}; check the folder and its permissions"
            ) from exc
        try:
            self._handle: Any = self._staged.path.open(
                mode, encoding=encoding, newline=None if binary else ""
            )
        except BaseException:
            self._staged.discard()
            raise

    def append(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` to the temporary file."""
        if self._closed:
            raise IOSchemeError(
                f"cannot write {str(self._target)!r}: the writer is already closed (committed, "
                f"aborted, or an earlier chunk failed)"
            )
        try:
            self._append(self._handle, frame, self._first)
        except Exception as exc:
            self.abort()
            raise IOSchemeError(
                f"cannot write {str(self._target)!r}: {type(exc).__name__}: {exc}; the previous "
                f"file, if any, is unchanged"
            ) from exc
        self._first = False

    def commit(self) -> None:
        """Close the temporary file and rename it onto the target."""
        if self._closed:
            raise IOSchemeError(
                f"cannot commit {str(self._target)!r}: the writer is already closed (committed, "
                f"aborted, or an earlier chunk failed)"
            )
        try:
            if self._first:  # nothing appended: still publish a valid (empty) file
                self._append(self._handle, pd.DataFrame(columns=self._columns), True)
            if self._close is not None:
                self._close(self._handle)
            self._handle.close()
            self._staged.publish()
        except BaseException as exc:
            self.abort()
            if not isinstance(exc, Exception):
                raise
            raise IOSchemeError(
                f"cannot commit {str(self._target)!r}: {type(exc).__name__}: {exc}; the previous "
                f"file, if any, is unchanged"
            ) from exc
        self._closed = True

    def abort(self) -> None:
        """Remove the temporary file; the target is untouched."""
        if self._closed:
            return
        self._closed = True
        # Finish the format's writer too (a Parquet footer), so it does not write into a
        # closed handle when collected; what it writes goes away with the temporary.
        with contextlib.suppress(Exception):
            if self._close is not None:
                self._close(self._handle)
        with contextlib.suppress(OSError):  # a handle that failed mid-write may not flush
            self._handle.close()
        self._staged.discard()


def _csv_table(frame: pd.DataFrame) -> Any:
    """``frame`` as an Arrow table for the CSV writer; ``None`` where Arrow cannot type a
    (mixed-type object) column and pandas writes it."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _csv_write(handle: BinaryIO, frame: pd.DataFrame, table: Any, header: bool) -> None:
    import pyarrow.csv as pacsv

    if table is None:
        handle.write(frame.to_csv(index=False, header=header).encode("utf-8"))
        return
    options = pacsv.WriteOptions(include_header=header, quoting_style="needed")
    pacsv.write_csv(table, handle, write_options=options)


def _csv_append(handle: BinaryIO, frame: pd.DataFrame, first: bool) -> None:
    # pyarrow's writer is ~10x faster than DataFrame.to_csv; mixed-type object columns that
    # Arrow cannot type fall back to pandas.
    _csv_write(handle, frame, _csv_table(frame), first)


def csv_rows(handle: BinaryIO, frame: pd.DataFrame) -> bytes:
    """Write the rows of ``frame`` to ``handle`` without a header, as the CSV writer writes a
    later chunk; return the header it would have written had ``frame`` been the first chunk
    (the same writer, Arrow or pandas, decides both)."""
    table = _csv_table(frame)
    _csv_write(handle, frame, table, False)
    header = io.BytesIO()
    _csv_write(header, frame.iloc[:0], None if table is None else table.slice(0, 0), True)
    return header.getvalue()


def jsonl_rows(handle: TextIO, frame: pd.DataFrame) -> None:
    """Write the rows of ``frame`` to ``handle`` as the JSON-lines writer writes a chunk."""
    _jsonl_append(handle, frame, False)


def _jsonl_append(handle: TextIO, frame: pd.DataFrame, first: bool) -> None:
    _write_jsonl(frame, handle)


class _ParquetState:
    def __init__(self) -> None:
        self.writer: Any = None
        self.schema: Any = None


def _parquet_writer(uri: str) -> FileWriter:
    import pyarrow as pa
    import pyarrow.parquet as pq

    state = _ParquetState()

    def append(handle: Any, frame: pd.DataFrame, first: bool) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if state.writer is None:
            state.schema = table.schema
            state.writer = pq.ParquetWriter(handle, state.schema)
        elif not table.schema.equals(state.schema):
            table = table.cast(state.schema)
        state.writer.write_table(table)

    def close(handle: Any) -> None:
        if state.writer is not None:
            state.writer.close()

    return FileWriter(uri, append, close, binary=True)


class CsvScheme:
    """``*.csv``: read as text (empty field = missing), written without the index."""

    name = "csv"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` ends in ``.csv``."""
        return uri.lower().endswith(".csv")

    def read(self, uri: str) -> Loaded:
        """Read every column as text; sources are ``path:line``, the first line of each record.

        A record with another number of fields than the header (or one the csv rules cannot
        parse) is a row whose only value is its raw text, in the column
        :data:`sdk.validation.MALFORMED`; validation quarantines it (``field_count``).

        Raises:
            IOSchemeError: the file is missing, a directory, not UTF-8, or its header names a
                column twice.
        """
        reader = CsvReader(_existing(uri), uri)
        try:
            pieces = list(reader.pieces())
        finally:
            reader.close()
        marked = reader.troubled or any(MALFORMED in p.frame.columns for p in pieces)
        frame, lines = _joined(pieces, reader.header, marked)
        return Loaded(frame, csv_sources(uri, lines))

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Read ``chunk_rows`` rows at a time, as text, with the rows and sources of ``read``."""
        path = _existing(uri)
        probe = CsvReader(path, uri)
        try:  # chunks carry the malformed column if any chunk needs it, as ``read``'s frame
            marked = probe.has_trouble()
        finally:
            probe.close()
        reader = CsvReader(path, uri, simple=probe.simple)
        try:
            start = 0
            for frame, lines in _rechunked(reader.pieces(), reader.header, marked, chunk_rows):
                yield Loaded(positioned(frame, start), csv_sources(uri, lines))
                start += len(frame)
        finally:
            reader.close()

    def read_parts(self, uri: str, part_rows: int) -> list[Part]:
        """Parts of ``part_rows`` records, split at record boundaries (see
        :mod:`sdk.io.parts`); one part for a file whose quoting is irregular."""
        return csv_parts(_existing(uri), uri, part_rows)

    def read_part(self, part: Part) -> Loaded:
        """The rows and sources of one part, as :meth:`read` gives them."""
        return read_csv_part(self, part, _existing(part.uri))

    def exists(self, uri: str) -> bool:
        """Whether the file exists."""
        return _path(uri).exists()

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic chunked CSV writer; ``schema`` gives the header of an empty dataset (a CSV
        file without a header line cannot be read back)."""
        columns = list(schema.to_schema().columns) if schema is not None else None
        return FileWriter(uri, _csv_append, binary=True, columns=columns)

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as CSV."""
        writer = self.open_writer(uri, None)
        writer.append(frame)
        writer.commit()


class ParquetScheme:
    """``*.parquet``: typed columnar files (pyarrow)."""

    name = "parquet"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` ends in ``.parquet`` or ``.pq``."""
        return uri.lower().endswith((".parquet", ".pq"))

    def read(self, uri: str) -> Loaded:
        """Read the file; sources are ``path#row`` (0-based)."""
        path = _existing(uri)
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise _not_parquet(uri, exc) from None
        return Loaded(frame.reset_index(drop=True), Sources.from_file_rows(uri))

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Read ``chunk_rows`` rows at a time (record batches)."""
        import pyarrow.parquet as pq

        path = _existing(uri)
        start = 0
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                yield Loaded(positioned(frame, start), Sources.from_file_rows(uri, start))
                start += len(frame)
        except Exception as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError
            raise _not_parquet(uri, exc) from None
        if start == 0:
            yield self.read(uri)

    def read_parts(self, uri: str, part_rows: int) -> list[Part]:
        """Parts of whole row groups, at least ``part_rows`` rows each (see
        :mod:`sdk.io.parts`)."""
        return parquet_parts(_existing(uri), uri, part_rows)

    def read_part(self, part: Part) -> Loaded:
        """The rows of one part's row groups; sources ``path#row`` as :meth:`read` gives."""
        return read_parquet_part(self, part, _existing(part.uri))

    def exists(self, uri: str) -> bool:
        """Whether the file exists."""
        return _path(uri).exists()

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic chunked Parquet writer, one row group per chunk.

        The first chunk fixes the column types (``schema`` is not used); later chunks are cast
        to them.
        """
        return _parquet_writer(uri)

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as Parquet."""
        atomic_path(_path(uri), lambda tmp: frame.to_parquet(tmp, index=False))


class JsonLinesScheme:
    """``*.jsonl`` / ``*.ndjson``: one JSON object per line, values kept as written."""

    name = "jsonl"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` ends in ``.jsonl`` or ``.ndjson``."""
        return uri.lower().endswith((".jsonl", ".ndjson"))

    def read(self, uri: str) -> Loaded:
        """Read one object per line; sources are ``path:line``."""
        path = _existing(uri)
        with path.open("rb") as fh:
            frame, lines = _parse_numbered(_utf8_lines(fh, uri), uri)
        return Loaded(frame, Sources.from_values([f"{uri}:{n}" for n in lines]))

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Read ``chunk_rows`` objects at a time."""
        path = _existing(uri)
        start = 0
        with path.open("rb") as fh:
            numbered = ((n, line) for n, line in _utf8_lines(fh, uri) if line.strip())
            while True:
                block = list(itertools.islice(numbered, chunk_rows))
                if not block and start > 0:
                    break
                frame, lines = _parse_numbered(block, uri)
                sources = Sources.from_values([f"{uri}:{n}" for n in lines])
                yield Loaded(positioned(frame, start), sources)
                start += len(frame)
                if len(block) < chunk_rows:
                    break

    def exists(self, uri: str) -> bool:
        """Whether the file exists."""
        return _path(uri).exists()

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic chunked JSON-lines writer (``schema`` is not used: values carry types)."""
        return FileWriter(uri, _jsonl_append)

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as JSON lines."""
        atomic_path(_path(uri), lambda tmp: _write_jsonl(frame, tmp))


def _write_jsonl(frame: pd.DataFrame, target: Any) -> None:
    if frame.empty:
        Path(target).write_text("") if not hasattr(target, "write") else None
        return
    text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    if hasattr(target, "write"):
        target.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(target).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


class StdioScheme:
    """``-``: JSON lines from standard input, or to standard output."""

    name = "stdio"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` is ``-``."""
        return uri == "-"

    def read(self, uri: str) -> Loaded:
        """Read JSON lines from stdin; sources are ``stdin:line``."""
        frame, lines = _parse_lines(sys.stdin, "stdin")
        return Loaded(frame, Sources.from_values([f"stdin:{n}" for n in lines]))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write JSON lines to stdout."""
        _write_jsonl(frame, sys.stdout)
        sys.stdout.flush()


@hookimpl
def sdk_register_io_schemes() -> list[IOScheme]:
    """The built-in file schemes."""
    return [CsvScheme(), ParquetScheme(), ParquetFolderScheme(), JsonLinesScheme(), StdioScheme()]
