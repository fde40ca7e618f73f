"""SQL tables read in parts by ranges of one key: what :mod:`sdk.io.sql` (SQLite, by rowid) and
:mod:`sdk.io.postgres` (by a one-column primary key) share.

A whole read of such a table is ordered by the key and its sources name each row by its key
(``tx.id=42``, ``tx.rowid=7``), not by its position, so a row's source does not depend on how the
table is cut. The plan runs one statement on the database, which numbers the keys in key order
(``row_number()``) and returns only every ``part_rows``-th key with its position, and the row
count: no row is fetched. Part ``i`` is the rows with ``lo <= key < hi``, ``lo`` the first key
of the part (none for the first part) and ``hi`` the first key of the next (none for the last);
its ``offset`` is the position of ``lo``, its ``rows`` the rows between the two.

A part read elsewhere checks what it cheaply can against the plan: its number of rows and the
table's columns; a difference is an :class:`sdk.IOSchemeError` that says to run again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.io import Part
from sdk.io._tables import frame_from_rows

__all__ = [
    "KeyRange",
    "changed",
    "foreign",
    "null_dtypes",
    "range_condition",
    "range_parts",
    "settled",
]


@attrs.frozen
class KeyRange:
    """Where a part of a SQL table is: the rows with ``lo <= key < hi`` (``None``: no bound).

    ``table`` names the table in messages; ``cast`` is the key's SQL type (PostgreSQL: keys are
    sent back cast to it; empty for SQLite). ``columns`` are the table's columns when planned;
    ``nulls`` the dtype a whole read gives a column that has values elsewhere, for a part where
    the column is all NULL (``None``: leave it as read).
    """

    table: str
    key: str
    lo: Any
    hi: Any
    columns: tuple[str, ...]
    nulls: tuple[Any, ...]
    cast: str = ""


def range_parts(
    uri: str,
    table: str,
    key: str,
    found: Sequence[tuple[Any, Any]],
    columns: Sequence[str],
    samples: Sequence[Any],
    cast: str = "",
) -> list[Part]:
    """The parts planned from ``found``: ``(key, position)`` of every part's first row, and one
    ``(None, count)`` row (the table's row count), in any order. One part, empty, for a table
    without rows."""
    total = next(int(n) for k, n in found if k is None)
    starts = sorted(((k, int(n)) for k, n in found if k is not None), key=lambda kn: kn[1])
    nulls = null_dtypes(columns, samples)
    if not starts:
        return [Part(uri, 0, 0, 0, KeyRange(table, key, None, None, tuple(columns), nulls, cast))]
    parts = []
    for index, (lo, offset) in enumerate(starts):
        hi, stop = starts[index + 1] if index + 1 < len(starts) else (None, total)
        where = KeyRange(table, key, lo if index else None, hi, tuple(columns), nulls, cast)
        parts.append(Part(uri, index, offset, stop - offset, where))
    return parts


def null_dtypes(columns: Sequence[str], samples: Sequence[Any]) -> tuple[Any, ...]:
    """For each column, the dtype of its NULLs beside a value like ``sample`` (a value of the
    column, ``None`` if it has none): what a whole read gives a part's all-NULL rows."""
    if not columns:
        return ()
    frame = frame_from_rows([tuple(samples), (None,) * len(columns)], columns)
    return tuple(
        None if sample is None else frame.iloc[:, i].dtype for i, sample in enumerate(samples)
    )


def range_condition(key: str, where: KeyRange, mark: str) -> tuple[str, list[Any]]:
    """`` WHERE key >= lo AND key < hi`` (the bounds there are) and its parameters; ``key`` is
    the quoted key, ``mark`` a parameter's placeholder (``?``, or ``CAST(%s AS type)``)."""
    terms, params = [], []
    if where.lo is not None:
        terms.append(f"{key} >= {mark}")
        params.append(where.lo)
    if where.hi is not None:
        terms.append(f"{key} < {mark}")
        params.append(where.hi)
    return (" WHERE " + " AND ".join(terms) if terms else ""), params


def settled(uri: str, part: Part, where: KeyRange, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, the rows of ``part`` (at ``where``) as read, checked against its plan; a
    column all NULL here but with values elsewhere gets the dtype a whole read gives it.

    Raises:
        IOSchemeError: the table changed since the part was planned (columns or row count).
    """
    columns = tuple(str(c) for c in frame.columns)
    if columns != where.columns:
        raise changed(uri, where, f"columns {list(columns)}, planned {list(where.columns)}")
    if part.rows is not None and len(frame) != part.rows:
        raise changed(uri, where, f"part {part.index} has {len(frame)} rows, planned {part.rows}")
    if not len(frame):
        return frame
    for i, dtype in enumerate(where.nulls):
        column = frame.iloc[:, i]
        if dtype is not None and column.dtype != dtype and bool(column.isna().all()):
            frame.isetitem(i, pd.Series([None] * len(frame), dtype=dtype).array)
    return frame


def changed(uri: str, where: KeyRange, why: str) -> IOSchemeError:
    """The error of a part whose table changed since it was planned."""
    return IOSchemeError(
        f"{uri}: table {where.table!r} changed since its parts were planned ({why}); run again"
    )


def foreign(uri: str, part: Part, planner: str) -> IOSchemeError:
    """The error of a part that the scheme reading it did not plan."""
    return IOSchemeError(f"{uri}: part {part.index} was not planned by the {planner} scheme")
