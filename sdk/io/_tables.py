"""What the SQL schemes share: identifiers, typed frames from rows, sources, column kinds.

Private to :mod:`sdk.io.sql` (SQLite) and :mod:`sdk.io.postgres`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import attrs
import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.quarantine import Sources, to_text

if TYPE_CHECKING:
    import pandera.pandas as pa

STAGE_PREFIX = "_sdk_stage_"
"""Prefix of the staging tables that writers fill before commit."""


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (case kept, any character allowed)."""
    return '"' + name.replace('"', '""') + '"'


def stage_name(table: str, max_bytes: int = 63) -> str:
    """A fresh staging-table name for ``table``, at most ``max_bytes`` bytes long."""
    suffix = "_" + secrets.token_hex(4)
    room = max_bytes - len(STAGE_PREFIX) - len(suffix)
    base = table
    while len(base.encode()) > room:
        base = base[:-1]
    return STAGE_PREFIX + base + suffix


def query_params(uri: str, text: str) -> dict[str, str]:
    """The query string ``text`` of ``uri`` as a dict (last value wins)."""
    try:
        parsed = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise IOSchemeError(f"{uri}: malformed query string {text!r}") from None
    return {key: values[-1] for key, values in parsed.items()}


def frame_from_rows(rows: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    """A frame of ``rows`` with the values' own types (integers with NULLs stay integers)."""
    if not rows:
        return pd.DataFrame(np.empty((0, len(columns)), dtype=object), columns=list(columns))
    frame = pd.DataFrame.from_records(rows, columns=list(columns), coerce_float=False)
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        if column.dtype.kind == "f" and column.hasnans:  # maybe ints upcast by a NULL
            raw = pd.Series([row[i] for row in rows], dtype=object)
            if pd.api.types.infer_dtype(raw, skipna=True) == "integer":
                frame.isetitem(i, raw.where(raw.notna(), None).to_numpy())
    return frame


def _literal(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(to_text(value))


class _Key:
    """``<table>.<key>=<value>`` for each position (a picklable renderer)."""

    def __init__(self, prefix: str, values: np.ndarray) -> None:
        self.prefix, self.values = prefix, values

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [self.prefix + (to_text(v) or "NULL") for v in self.values[pos]]


class _CompositeKey:
    """``<table>.(a,b)=(1,'x')`` for each position (a picklable renderer)."""

    def __init__(self, prefix: str, keys: Sequence[np.ndarray]) -> None:
        self.prefix, self.keys = prefix, list(keys)

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [self.prefix + "(" + ",".join(_literal(k[p]) for k in self.keys) + ")" for p in pos]


class _Position:
    """``<label>#<position>`` (a picklable renderer)."""

    def __init__(self, label: str, offset: int) -> None:
        self.label, self.offset = label, offset

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [f"{self.label}#{int(p) + self.offset}" for p in pos]


def keyed_sources(table: str, names: Sequence[str], keys: Sequence[np.ndarray]) -> Sources:
    """Sources ``<table>.<key>=<value>`` (or ``<table>.(a,b)=(1,'x')`` for a composite key).

    Renderers are module-level classes, not closures: chunked runners pickle sources into
    their checkpoints.
    """
    if len(names) == 1:
        return Sources(_Key(f"{table}.{names[0]}=", keys[0]))
    return Sources(_CompositeKey(f"{table}.({','.join(names)})=", keys))


def positional_sources(label: str, offset: int) -> Sources:
    """Sources ``<label>#<position>`` (0-based, counted from the first row read)."""
    return Sources(_Position(label, offset))


def column_kind(series: pd.Series) -> str:
    """The SQL kind of a column's values.

    One of ``integer``, ``float``, ``boolean``, ``timestamp``, ``timestamptz``, ``date``,
    ``decimal``, ``bytes``, ``text``, or ``empty`` for an object column with no values.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp"
    if pd.api.types.is_string_dtype(dtype) and dtype is not np.dtype(object):
        return "text"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("datetime", "datetime64"):
        first = series.dropna().iloc[0]
        return "timestamptz" if getattr(first, "tzinfo", None) is not None else "timestamp"
    return _INFERRED_KINDS.get(inferred, "text")


_INFERRED_KINDS = {
    "integer": "integer",
    "floating": "float",
    "mixed-integer-float": "float",
    "boolean": "boolean",
    "date": "date",
    "decimal": "decimal",
    "bytes": "bytes",
    "string": "text",
    "empty": "empty",
}


def _pydatetime(value: Any) -> Any:
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "integer": int,
    "float": float,
    "boolean": bool,
    "text": str,
    "timestamp": _pydatetime,
    "timestamptz": _pydatetime,
}


def python_values(series: pd.Series, kind: str) -> list[Any]:
    """The values of ``series`` as plain Python objects of ``kind``; missing ones as ``None``."""
    values = series.to_numpy(dtype=object, copy=True)
    values[series.isna().to_numpy()] = None
    own = series.dtype.kind if isinstance(series.dtype, np.dtype) else ""
    if (own, kind) in (("i", "integer"), ("u", "integer"), ("f", "float"), ("b", "boolean")):
        return values.tolist()  # numpy already gave Python ints, floats and bools
    if kind == "text" and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return values.tolist()
    convert = _CONVERTERS.get(kind)
    if convert is None:
        return values.tolist()
    return [None if v is None else convert(v) for v in values]


def model_kinds(schema: type[pa.DataFrameModel] | None) -> dict[str, str]:
    """The SQL kind of each column whose type ``schema`` declares (none without a schema).

    Columns typed ``object`` (or not typed) and regex-named columns are left out.
    """
    if schema is None:
        return {}
    kinds: dict[str, str] = {}
    for name, column in schema.to_schema().columns.items():
        if column.regex or column.dtype is None:
            continue
        try:
            kind = column_kind(pd.Series([], dtype=column.dtype.type))
        except (TypeError, ValueError):  # a type pandas cannot hold
            continue
        if kind != "empty":
            kinds[str(name)] = kind
    return kinds


@attrs.define
class Layout:
    """The columns of a table being written, fixed by the first chunk.

    A column's kind is the first one seen with values, so an empty first chunk (all rows of
    the first input chunk quarantined) does not fix every column to text. A column no chunk
    has values for gets the kind its model declares (``declared``), else text.
    """

    where: str
    declared: dict[str, str] = attrs.Factory(dict)
    names: list[str] | None = None
    kinds: list[str] = attrs.Factory(list)

    def align(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """``frame`` with its columns in the table's order, and the kind of each column.

        Raises:
            IOSchemeError: duplicate column names, or columns unlike the first chunk's.
        """
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise IOSchemeError(
                f"cannot write {self.where}: duplicate column names {duplicated}; rename them"
            )
        frame = frame.set_axis(names, axis=1)
        if self.names is None:
            self.names = names
        elif names != self.names:
            missing = [n for n in self.names if n not in names]
            extra = [n for n in names if n not in self.names]
            if missing or extra:
                raise IOSchemeError(
                    f"cannot write {self.where}: a chunk's columns differ from the first "
                    f"chunk's (missing {missing}, extra {extra}); give every chunk the same "
                    f"columns"
                )
            frame = frame[self.names]
        kinds = [column_kind(frame.iloc[:, i]) for i in range(frame.shape[1])]
        if not self.kinds:
            self.kinds = list(kinds)
        else:
            self.kinds = [
                old if old != "empty" else new for old, new in zip(self.kinds, kinds, strict=True)
            ]
        return frame, kinds

    def final_kinds(self) -> list[str]:
        """The kinds to create the table with (a column never seen with values: as declared)."""
        return [
            self.declared.get(name, "text") if kind == "empty" else kind
            for name, kind in zip(self.names or [], self.kinds, strict=True)
        ]
