"""The CSV reader: every physical line is the header, a row, a blank line, or a malformed row.

A file is read in blocks of bytes. A vectorised scan of each block finds its records (line ends
outside quotes), each record's first physical line and number of fields, and checks that every
quote stands where RFC 4180 puts it (opening a field, closing it, or doubled inside it). Where
it does, Arrow's CSV parser reads the well-formed records (the fast path; pandas' C parser where
they hold a quote) and each record with the wrong number of fields becomes a *malformed row*:
every column missing, the raw text in :data:`MALFORMED`, which validation quarantines as
``field_count``. Where a quote stands anywhere else, the rest of the file is read with the
standard ``csv`` module, strictly: a record it cannot parse quarantines its first line only, and
parsing starts again on the next line, so a stray quote never swallows the lines after it.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

import attrs
import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.io._csvscan import _Irregular, _is_simple, _Scan, _scan, _simple_scan
from sdk.quarantine import Sources
from sdk.validation import MALFORMED

__all__ = ["CsvReader", "Piece", "sources"]


_BLOCK = 1 << 22  # bytes scanned and parsed at a time (bounded memory; pandas is fastest so)
_SLOW_ROWS = 50_000  # records per piece on the slow path
_BOM = b"\xef\xbb\xbf"
_TEXT: Final = "str"  # pandas' dtype for text read with dtype=str


@attrs.define
class Piece:
    """Consecutive rows of a file (index 0..n-1) and the first physical line of each."""

    frame: pd.DataFrame
    lines: np.ndarray


class _Lines:
    """``path:line`` per row, for rows whose lines are not consecutive (picklable)."""

    def __init__(self, path: str, lines: np.ndarray) -> None:
        self.path, self.lines = path, lines

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [f"{self.path}:{int(n)}" for n in self.lines[pos]]


def sources(uri: str, lines: np.ndarray) -> Sources:
    """The sources of rows whose first physical lines are ``lines``."""
    n = len(lines)
    if n == 0 or int(lines[-1]) - int(lines[0]) == n - 1:
        return Sources.from_file_lines(uri, int(lines[0]) if n else 2)
    return Sources(_Lines(uri, np.asarray(lines, dtype=np.int64)))


def _decode(uri: str, data: bytes, first_line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise IOSchemeError(
            f"{uri}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def _header(uri: str, fields: list[str], line: int) -> list[str]:
    """Column names as pandas gives them (``Unnamed: i`` for an empty one), duplicates refused."""
    names = [name if name else f"Unnamed: {i}" for i, name in enumerate(fields)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise IOSchemeError(
                f"{uri}:{line}: the header names column {name!r} twice; give each column its "
                f"own name"
            )
        seen.add(name)
    return names


def _frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    """Rows of text as the fast path reads them: an empty field is missing."""
    columns = {
        name: pd.array([r[j] or None for r in rows], dtype=_TEXT) for j, name in enumerate(header)
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _with_malformed(
    header: list[str],
    good: pd.DataFrame,
    good_lines: np.ndarray,
    bad: list[str],
    bad_lines: np.ndarray,
) -> Piece:
    """Rows and malformed rows merged in file order."""
    if not bad:
        return Piece(good.reset_index(drop=True), np.asarray(good_lines, dtype=np.int64))
    missing = pd.array([None] * len(bad), dtype=_TEXT)
    malformed = pd.DataFrame({name: missing for name in header})
    malformed[MALFORMED] = pd.array(bad, dtype=_TEXT)
    if len(good):
        good = good.assign(**{MALFORMED: pd.array([None] * len(good), dtype=_TEXT)})
        both = pd.concat([good, malformed], ignore_index=True)
    else:
        both = malformed
    lines = np.concatenate([good_lines, bad_lines]).astype(np.int64)
    order = np.argsort(lines, kind="stable")
    return Piece(both.take(order).reset_index(drop=True), lines[order])


def _parse_fast(
    uri: str, data: bytes, line: int, scan: _Scan, header: list[str], first: int
) -> Piece:
    """Parse the records ``first..`` of a block (starting on ``line``): pandas for the
    well-formed ones.

    Raises:
        _Irregular: pandas read another number of rows than the scan found.
    """
    keep = ~scan.blank[first:]
    starts, ends = scan.starts[first:][keep], scan.ends[first:][keep]
    lines = scan.lines[first:][keep]
    good = scan.fields[first:][keep] == len(header)
    bad = np.flatnonzero(~good)
    stops = np.append(starts[1:], scan.consumed)  # a record's bytes, blank lines after it too
    if len(bad) == 0:
        body = data[int(starts[0]) : scan.consumed] if len(starts) else b""
    else:
        cuts = np.concatenate(([-1], bad, [len(starts)]))
        body = b"".join(
            data[int(starts[a + 1]) : int(stops[b - 1])]
            for a, b in itertools.pairwise(cuts)
            if a + 1 < b
        )
    frame = _read_pandas(uri, body, header, data, line, int(good.sum()))
    if len(frame) != int(good.sum()):
        raise _Irregular
    texts = [
        _decode(uri, data[int(starts[i]) : int(ends[i])].removesuffix(b"\r"), int(lines[i]))
        for i in bad
    ]
    return _with_malformed(header, frame, lines[good], texts, lines[bad])


def _read_arrow(body: bytes, header: list[str], rows: int) -> pd.DataFrame | None:
    """The ``rows`` records of ``body`` read by Arrow's CSV parser, seven times faster than
    pandas' as text; ``None`` (pandas reads them) where they hold a quote or a lone CR, or
    Arrow refuses them or finds another number of rows (it keeps a line of spaces)."""
    if b'"' in body or body.count(b"\r") != body.count(b"\r\n"):
        return None  # quoting rules and line ends: where the two parsers could differ
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(
                column_names=header, use_threads=False, block_size=len(body) + 1
            ),
            parse_options=pa_csv.ParseOptions(quote_char=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    if table.num_rows != rows:
        return None
    text = pd.StringDtype(na_value=np.nan)
    return table.to_pandas(types_mapper={pa.string(): text}.get)


def _read_pandas(
    uri: str, body: bytes, header: list[str], data: bytes, line: int, rows: int
) -> pd.DataFrame:
    if not body:
        return _frame(header, [])
    fast = _read_arrow(body, header, rows)
    if fast is not None:
        return fast
    try:
        return pd.read_csv(
            io.BytesIO(body),
            header=None,
            names=header,
            index_col=False,
            dtype=str,  # only an empty field is missing: "NA" (Namibia) or "null" stay text
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8",
        )
    except UnicodeDecodeError:
        _decode(uri, data, line)  # raises, naming the line
        raise
    except pd.errors.EmptyDataError:
        return _frame(header, [])
    except pd.errors.ParserError:
        raise _Irregular from None


def _split(data: bytes, first_line: int) -> Iterator[tuple[int, bytes]]:
    """Physical lines of ``data`` (line ends kept), numbered from ``first_line``."""
    parts = data.split(b"\n")
    for offset, raw in enumerate(parts[:-1]):
        yield first_line + offset, raw + b"\n"
    if parts[-1]:
        yield first_line + len(parts) - 1, parts[-1]


def _slow_records(
    uri: str, lines: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, list[str] | None, str]]:
    """Records read by the csv module: (first line, fields or ``None``, raw text).

    A record the csv module refuses (a quote where none may stand, a quote never closed, a
    field over its size limit) gives its first line as a malformed record, and parsing starts
    again on the next line. Blank lines give no record.
    """
    pending: deque[tuple[int, str]] = deque()
    buffer: list[tuple[int, str]] = []

    def feed() -> Iterator[str]:
        while True:
            if pending:
                item = pending.popleft()
            else:
                nxt = next(lines, None)
                if nxt is None:
                    return
                item = (nxt[0], _decode(uri, nxt[1], nxt[0]))
            buffer.append(item)
            yield item[1]

    while True:
        try:
            for fields in csv.reader(feed(), strict=True):
                first, raw = buffer[0][0], "".join(t for _, t in buffer)
                buffer.clear()
                if raw.strip(" \t\r\n"):
                    yield first, fields, _strip_end(raw)
            return
        except csv.Error:
            (first, text), rest = buffer[0], buffer[1:]
            buffer.clear()
            pending.extendleft(reversed(rest))
            yield first, None, _strip_end(text)


def _strip_end(raw: str) -> str:
    return raw.removesuffix("\n").removesuffix("\r")


def _slow_pieces(
    records: Iterator[tuple[int, list[str] | None, str]], header: list[str]
) -> Iterator[Piece]:
    """Pieces of the csv module's records: those with the header's number of fields are rows."""
    n = len(header)
    while True:
        rows: list[list[str]] = []
        lines: list[int] = []
        bad: list[str] = []
        bad_lines: list[int] = []
        for first, fields, raw in records:
            if fields is not None and len(fields) == n:
                rows.append(fields)
                lines.append(first)
            else:
                bad.append(raw)
                bad_lines.append(first)
            if len(rows) + len(bad) >= _SLOW_ROWS:
                break
        if not rows and not bad:
            return
        good_lines = np.asarray(lines, dtype=np.int64)
        yield _with_malformed(
            header, _frame(header, rows), good_lines, bad, np.asarray(bad_lines, dtype=np.int64)
        )


def _parse_header(uri: str, text: str, line: int) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        rows = []
    if len(rows) != 1:
        raise IOSchemeError(
            f"{uri}:{line}: the header cannot be parsed as CSV (a misplaced or unclosed quote); "
            f"fix the header line"
        )
    return _header(uri, rows[0], line)


class CsvReader:
    """One pass over a CSV file: its header, then its rows in pieces (see the module).

    Given ``handle``, ``line`` and ``header``, it reads the records of ``handle`` alone: a part
    of the file that starts on a record boundary, on physical line ``line`` (see
    :mod:`sdk.io.parts`).
    """

    def __init__(
        self,
        path: Path,
        uri: str,
        block: int | None = None,
        simple: dict[tuple[int, int], tuple[int, int, int]] | None = None,
        handle: BinaryIO | None = None,
        line: int = 1,
        header: list[str] | None = None,
    ) -> None:
        self.uri, self.block = uri, block or _BLOCK
        self.troubled = False
        """Whether some record is not a row, or the quoting needed the csv module."""
        self.simple: dict[tuple[int, int], tuple[int, int, int]] = dict(simple or {})
        """Blocks known to hold only well-formed rows on lines of their own, by (offset, size):
        their (bytes, rows, line ends). :meth:`has_trouble` finds them; a later reader of the
        same file skips their scan."""
        self._fh = path.open("rb") if handle is None else handle
        self._buf = b""
        self._offset = 0
        self._line = line
        self._eof = False
        self._slow: Iterator[Piece] | None = None
        self._pending: tuple[_Scan, int] | None = None
        self.header: list[str] = header or []
        if header is not None:
            return
        try:
            header = self._read_header()
            if header is None:
                raise IOSchemeError(
                    f"{uri}: the file is empty (no header line); a CSV input starts with a line "
                    f"of column names"
                )
        except BaseException:
            self._fh.close()
            raise
        self.header = header

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def _fill(self) -> None:
        chunk = self._fh.read(self.block)
        if not chunk:
            self._eof = True
        self._buf += chunk

    def _next_scan(self) -> _Scan:
        """The next block's complete records (reading more until one is complete)."""
        while True:
            if not self._eof and len(self._buf) < self.block:
                self._fill()
            known = self.simple.get((self._offset, len(self._buf)))
            if known is not None:
                return _simple_scan(*known, self._line, len(self.header or ()))
            scan = _scan(self._buf, self._line, self._eof)
            if scan.consumed or self._eof:
                return scan
            self._fill()  # no record ends in the block: read on

    def _advance(self, scan: _Scan) -> None:
        self._buf = self._buf[scan.consumed :]
        self._offset += scan.consumed
        self._line += scan.newlines

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """The physical lines not read yet (for the csv module)."""
        if self._buf and not self._buf.endswith(b"\n") and not self._eof:
            self._buf += self._fh.readline()  # finish the line cut by the block
        data, line = self._buf, self._line
        self._buf = b""
        yield from _split(data, line)
        line += data.count(b"\n")
        for offset, raw in enumerate(self._fh):
            yield line + offset, raw

    def _go_slow(self, header: list[str] | None) -> list[str] | None:
        self.troubled = True
        records = _slow_records(self.uri, self._lines())
        if header is None:
            first = next(records, None)
            if first is None:
                self._slow = iter(())
                return None
            if first[1] is None:
                raise IOSchemeError(
                    f"{self.uri}:{first[0]}: the header cannot be parsed as CSV (a misplaced or "
                    f"unclosed quote); fix the header line"
                )
            header = _header(self.uri, first[1], first[0])
        self._slow = _slow_pieces(records, header)
        return header

    def _rest_slow(self, header: list[str]) -> Iterator[Piece]:
        self._go_slow(header)
        yield from self._slow or ()

    def has_trouble(self) -> bool:
        """Whether some record of the rest of the file is not a row, by the scan alone.

        Reads the file to its end without parsing values: a chunked read calls it on its own
        reader to know, before the first chunk, whether rows carry :data:`MALFORMED`.
        """
        if self._slow is not None:
            return True
        n = len(self.header)
        scan, first = self._pending or (None, 0)
        while True:
            if scan is None:
                if self._eof and not self._buf:
                    return False
                try:
                    scan = self._next_scan()
                except _Irregular:
                    return True
                key = (self._offset, len(self._buf))
                if _is_simple(scan, n):
                    self.simple[key] = (scan.consumed, len(scan.starts), scan.newlines)
            if scan.open_quote or (scan.fields[first:][~scan.blank[first:]] != n).any():
                return True
            self._advance(scan)
            scan, first = None, 0

    def _read_header(self) -> list[str] | None:
        self._fill()
        if self._buf.startswith(_BOM):
            self._buf = self._buf[len(_BOM) :]
        while True:
            try:
                scan = self._next_scan()
            except _Irregular:
                return self._go_slow(None)
            found = np.flatnonzero(~scan.blank)
            if len(found):
                h = int(found[0])
                raw = self._buf[int(scan.starts[h]) : int(scan.ends[h])].removesuffix(b"\r")
                line = int(scan.lines[h])
                header = _parse_header(self.uri, _decode(self.uri, raw, line), line)
                self._pending = (scan, h + 1)
                return header
            if scan.open_quote:
                raise IOSchemeError(
                    f"{self.uri}:{self._line + scan.newlines}: the header has a quote that is "
                    f"never closed; fix the header line"
                )
            self._advance(scan)
            if self._eof and not self._buf:
                return None

    def pieces(self) -> Iterator[Piece]:
        """The rows, in pieces of consecutive records, each with its records' first lines."""
        header = self.header
        if self._slow is not None:
            yield from self._slow
            return
        first = 0
        scan: _Scan | None = None
        if self._pending is not None:
            scan, first = self._pending
            self._pending = None
        while True:
            try:
                if scan is None:
                    if self._eof and not self._buf:
                        return
                    scan = self._next_scan()
                piece = _parse_fast(self.uri, self._buf, self._line, scan, header, first)
            except _Irregular:
                yield from self._rest_slow(header)
                return
            if MALFORMED in piece.frame.columns:
                self.troubled = True
            self._advance(scan)
            yield piece
            if scan.open_quote:  # a quote never closed: the csv module reads from its line on
                yield from self._rest_slow(header)
                return
            scan, first = None, 0
