"""The scan of a CSV block: its records, their first lines and fields, and its quotes.

Vectorised over the block's bytes (see :mod:`sdk.io._csv`): record ends are the line ends
outside quotes, fields are counted by the commas outside quotes, and every quote must stand
where RFC 4180 puts it, else the block is :class:`_Irregular` and read with the csv module.
"""

from __future__ import annotations

import attrs
import numpy as np

_QUOTE, _COMMA, _LF, _CR, _SPACE, _TAB = 34, 44, 10, 13, 32, 9


class _Irregular(Exception):
    """A block whose quoting pandas and the scan might read differently: use the csv module."""


@attrs.define
class _Scan:
    """The complete records of a block of bytes."""

    starts: np.ndarray  # byte offset of each record
    ends: np.ndarray  # byte offset of its line end (or of the end of the data)
    lines: np.ndarray  # physical line of its first byte
    fields: np.ndarray  # number of fields
    blank: np.ndarray  # only spaces, tabs and line ends: not a row
    consumed: int  # bytes of the block that the records cover
    newlines: int  # physical line ends within those bytes
    open_quote: bool  # the file ends inside a quote: its last record is not in the scan


def _scan(data: bytes, first_line: int, final: bool) -> _Scan:
    """Find the records of ``data`` (starting on a record boundary).

    Raises:
        _Irregular: a quote stands where RFC 4180 does not put one, or a lone carriage return.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    size = len(arr)
    lf = np.flatnonzero(arr == _LF)
    commas = np.flatnonzero(arr == _COMMA)
    quotes = np.flatnonzero(arr == _QUOTE)
    ends = lf
    if len(quotes):
        ends = lf[_outside(lf, quotes, size)]
        commas = commas[_outside(commas, quotes, size)]
    quoted_line_ends = len(ends) != len(lf)
    open_quote = False
    if final and size and (len(ends) == 0 or ends[-1] != size - 1):
        if len(quotes) & 1:
            open_quote = True  # a quote never closed: the last record is left to the csv module
            consumed = int(ends[-1]) + 1 if len(ends) else 0
        else:
            ends = np.append(ends, size)  # the last record has no line end
            consumed = size
    else:
        consumed = int(ends[-1]) + 1 if len(ends) else 0
    cr = np.flatnonzero(arr[:consumed] == _CR)
    if len(cr) and ((cr + 1 >= size) | (arr[np.minimum(cr + 1, size - 1)] != _LF)).any():
        raise _Irregular
    if len(quotes):
        _check_quotes(arr, quotes[quotes < consumed], size)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    if not quoted_line_ends:
        lines = first_line + np.arange(len(ends), dtype=np.int64)  # no quoted line ends
    else:
        lines = first_line + np.searchsorted(lf, starts)
    fields = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    blank = np.zeros(len(ends), dtype=bool)
    maybe = np.flatnonzero(fields == 1)  # a blank line has no comma
    if len(maybe):
        spaces = np.flatnonzero((arr == _SPACE) | (arr == _TAB) | (arr == _CR))
        stops = np.minimum(ends[maybe], size)
        n_spaces = np.searchsorted(spaces, stops) - np.searchsorted(spaces, starts[maybe])
        blank[maybe] = n_spaces == stops - starts[maybe]
    newlines = int(np.searchsorted(lf, consumed))
    return _Scan(starts, ends, lines, fields, blank, consumed, newlines, open_quote)


def _outside(positions: np.ndarray, quotes: np.ndarray, size: int) -> np.ndarray:
    """Which of the sorted ``positions`` lie outside quotes (between a pair's two quotes).

    Quotes are few next to the positions: each pair's span is located by binary search.
    """
    opens, closes = quotes[0::2], quotes[1::2]
    if len(closes) < len(opens):
        closes = np.append(closes, size)
    lo = np.searchsorted(positions, opens)
    lengths = np.searchsorted(positions, closes) - lo
    keep = np.ones(len(positions), dtype=bool)
    total = int(lengths.sum())
    if total:
        offsets = np.cumsum(lengths) - lengths
        keep[np.arange(total) - np.repeat(offsets - lo, lengths)] = False
    return keep


def _check_quotes(arr: np.ndarray, quotes: np.ndarray, size: int) -> None:
    """Raise :class:`_Irregular` unless each quote opens a field, closes one, or is doubled."""
    k = np.arange(len(quotes))
    opening = quotes[k % 2 == 0]
    before = arr[np.maximum(opening - 1, 0)]
    prev_quote = np.concatenate(([-2], quotes[:-1]))[k % 2 == 0]
    ok_open = (opening == 0) | (before == _COMMA) | (before == _LF) | (prev_quote == opening - 1)
    closing = quotes[k % 2 == 1]
    after = arr[np.minimum(closing + 1, size - 1)]
    next_quote = np.concatenate((quotes[1:], [-2]))[k % 2 == 1]
    ok_close = (
        (closing + 1 >= size)
        | (after == _COMMA)
        | (after == _LF)
        | (after == _CR)
        | (next_quote == closing + 1)
    )
    if not (ok_open.all() and ok_close.all()):
        raise _Irregular


def _is_simple(scan: _Scan, n: int) -> bool:
    """Whether every record of ``scan`` is a well-formed row on a line of its own."""
    count = len(scan.starts)
    return (
        count > 0
        and not scan.open_quote
        and scan.newlines in (count, count - 1)
        and bool((scan.fields == n).all())
        and not scan.blank.any()
    )


def _simple_scan(consumed: int, count: int, newlines: int, line: int, n: int) -> _Scan:
    """The scan of a block :func:`_is_simple` found simple, without scanning it again."""
    zeros = np.zeros(count, dtype=np.int64)
    lines = line + np.arange(count, dtype=np.int64)
    fields = np.full(count, n)
    return _Scan(zeros, zeros, lines, fields, zeros.astype(bool), consumed, newlines, False)
