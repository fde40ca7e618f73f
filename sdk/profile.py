"""Profiles: what each pipeline input and output held, computed cheaply while a run runs.

:func:`profile_frame` describes one frame (one unit's share of a dataset): per column its
dtype, non-null count, nulls, min and max (numbers, datetimes, timedeltas) and most frequent
values (text, categorical and bool columns). Profiles of the parts of a dataset merge
(:meth:`DatasetProfile.merge`) into the dataset's profile, in any order: counts add, min and
max compare, top values add by value. What a run writes is :func:`profile_document`, the
``profile.json`` of its run directory (``docs/manifest.md``, "Profiles").

Cheap on purpose (measured in ``docs/performance.md``): vectorised numpy/pyarrow reductions,
one pass per statistic; text min/max are not computed (a sort order of strings costs as much
as validating them); top values are counted on a sample of at most :data:`SAMPLE_ROWS` rows
of a part (``"sampled": true``, counts scaled to the part), and each part keeps only its
:data:`TOP_KEPT` most frequent values, so merged top values are approximate.
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "PROFILE_VERSION",
    "SAMPLE_ROWS",
    "TOP_KEPT",
    "TOP_SHOWN",
    "ColumnProfile",
    "DatasetProfile",
    "ProfileCache",
    "merge_profiles",
    "profile_document",
    "profile_frame",
]

PROFILE_VERSION = 1
"""The version of ``profile.json``'s format."""
TOP_SHOWN = 5
"""Top values a profile shows per column."""
TOP_KEPT = 20
"""Top values each part keeps for merging (a value frequent overall but outside every part's
20 most frequent is missed or undercounted: merged top values are approximate)."""
SAMPLE_ROWS = 100_000
"""Rows of a part whose values are counted for its top values; a larger part is sampled in
:data:`_BLOCKS` evenly spaced contiguous blocks and its counts scaled to the part."""
TEXT_CHARS = 200
"""Longest text kept for a value (longer ones are cut, ending in ``…``)."""
_BLOCKS = 10
_SMALL = 2_000  # values counted with a Counter rather than a factorization

Role = Literal["input", "output"]


@attrs.define
class ColumnProfile:
    """One column's profile.

    Attributes:
        dtype: the column's dtype as pandas names it (``int64``, ``str``, ``category``...);
            parts of different dtypes join them with ``" | "``.
        count: non-null values.
        nulls: null values (``None``, ``NaN``, ``NaT``, ``pd.NA``).
        min: the smallest value (numbers, datetimes, timedeltas), else ``None``.
        max: the largest value, likewise.
        top: the most frequent values (text, categorical, bool) as text, with their counts,
            most frequent first, at most :data:`TOP_KEPT`; ``None`` for other columns.
        sampled: whether ``top`` was counted on a sample of some part (counts are estimates).
    """

    dtype: str
    count: int = 0
    nulls: int = 0
    min: Any = None
    max: Any = None
    top: dict[str, int] | None = None
    sampled: bool = False

    def merge(self, other: ColumnProfile) -> None:
        """Add ``other`` (the same column in another part) to this profile."""
        if other.dtype != self.dtype:
            self.dtype = " | ".join(sorted({*self.dtype.split(" | "), *other.dtype.split(" | ")}))
        # a part with values but no min/max (text) leaves the whole column's extremes unknown:
        # numbers of one part beside text of another would give a min that is not the data's
        unknown = (self.count and self.min is None) or (other.count and other.min is None)
        self.count += other.count
        self.nulls += other.nulls
        if unknown:
            self.min = self.max = None
        else:
            self.min = _extreme(self.min, other.min, min)
            self.max = _extreme(self.max, other.max, max)
        if other.top is not None:
            top = dict(self.top or {})
            for value, n in other.top.items():
                top[value] = top.get(value, 0) + n
            self.top = _most(top, TOP_KEPT)
        self.sampled = self.sampled or other.sampled

    def as_dict(self, top: int = TOP_SHOWN) -> dict[str, Any]:
        """The profile as JSON-safe data, with at most ``top`` top values."""
        out: dict[str, Any] = {
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "min": _json(self.min),
            "max": _json(self.max),
            "top": None if self.top is None else [[v, n] for v, n in _most(self.top, top).items()],
        }
        if self.sampled:
            out["sampled"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Rebuild a profile from :meth:`as_dict` (a checkpoint's summary)."""
        top = data.get("top")
        return cls(
            dtype=str(data["dtype"]),
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            min=_unjson(data.get("min"), str(data["dtype"])),
            max=_unjson(data.get("max"), str(data["dtype"])),
            top=None if top is None else {str(v): int(n) for v, n in top},
            sampled=bool(data.get("sampled", False)),
        )


@attrs.define
class DatasetProfile:
    """A dataset's profile: its rows and each column's :class:`ColumnProfile`.

    Attributes:
        role: ``"input"`` (a pipeline input, as read: before validation) or ``"output"`` (a
            dataset the pipeline produces, as validated).
        rows: rows profiled.
        columns: per column name (as text), in the frame's order.
    """

    role: Role
    rows: int = 0
    columns: dict[str, ColumnProfile] = attrs.field(factory=dict)

    def merge(self, other: DatasetProfile) -> None:
        """Add ``other`` (another part of the same dataset) to this profile; a column only one
        part has counts that part's rows only."""
        self.rows += other.rows
        for name, column in other.columns.items():
            mine = self.columns.get(name)
            if mine is None:
                top = None if column.top is None else dict(column.top)
                self.columns[name] = attrs.evolve(column, top=top)
            else:
                mine.merge(column)

    def as_dict(self, top: int = TOP_SHOWN) -> dict[str, Any]:
        """The profile as JSON-safe data (``profile.json``'s entry of one dataset)."""
        return {
            "role": self.role,
            "rows": self.rows,
            "columns": {name: c.as_dict(top) for name, c in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        """Rebuild a profile from :meth:`as_dict`."""
        role: Role = "output" if data["role"] == "output" else "input"
        columns = {str(k): ColumnProfile.from_dict(v) for k, v in data["columns"].items()}
        return cls(role, int(data["rows"]), columns)


class ProfileCache:
    """Column profiles by the array they describe: a column that is the very array of one
    already profiled (validation and ``assign`` keep arrays, copy-on-write) is not profiled
    again, within a unit or across the units of a process. It holds weak references to the
    arrays' owners, so it keeps nothing alive, and an entry whose owner is gone (its address
    may be reused) is never matched."""

    def __init__(self, size: int = 256) -> None:
        self._seen: dict[tuple[Any, ...], tuple[weakref.ref[Any], ColumnProfile]] = {}
        self._size = size

    def get(self, key: tuple[Any, ...] | None) -> ColumnProfile | None:
        """The profile of the array ``key`` names, if profiled and still alive."""
        found = self._seen.get(key) if key is not None else None
        if found is None or found[0]() is None:
            return None
        return _copy(found[1])

    def put(self, key: tuple[Any, ...] | None, owner: Any, profile: ColumnProfile) -> None:
        """Remember ``profile`` as that of the array ``key`` names, owned by ``owner``."""
        if key is None or owner is None:
            return
        try:
            ref = weakref.ref(owner)
        except TypeError:  # not weakly referenceable: not cached
            return
        if len(self._seen) >= self._size:
            self._seen = {k: v for k, v in self._seen.items() if v[0]() is not None}
            if len(self._seen) >= self._size:
                self._seen.clear()
        self._seen[key] = (ref, _copy(profile))


_CACHE = ProfileCache()
"""The process's cache (its units' columns are profiled once however many stages see them)."""


def _copy(profile: ColumnProfile) -> ColumnProfile:
    return attrs.evolve(profile, top=None if profile.top is None else dict(profile.top))


def profile_frame(
    frame: pd.DataFrame, role: Role, cache: ProfileCache | None = _CACHE
) -> DatasetProfile:
    """Profile ``frame`` (one part of a dataset) for the given ``role``; columns found in
    ``cache`` (the process's, by default; ``None``: none) are not profiled again."""
    columns: dict[str, ColumnProfile] = {}
    for name, series in frame.items():
        key, owner = _array_key(series) if cache is not None else (None, None)
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = _profile_column(series)
            if cache is not None:
                cache.put(key, owner, found)
        columns[str(name)] = found
    return DatasetProfile(role, len(frame), columns)


def merge_profiles(into: dict[str, DatasetProfile], more: Mapping[str, DatasetProfile]) -> None:
    """Merge each profile of ``more`` into ``into`` (by dataset name); ``into`` owns what it
    holds (a profile added is copied, so later merges never change ``more``'s)."""
    for name, profile in more.items():
        mine = into.get(name)
        if mine is None:
            mine = into[name] = DatasetProfile(profile.role)
        mine.merge(profile)


def profile_document(profiles: Mapping[str, DatasetProfile]) -> dict[str, Any]:
    """``profile.json``: ``{"profile_version": 1, "datasets": {name: profile}}``, inputs
    first."""
    ordered = sorted(profiles.items(), key=lambda item: item[1].role != "input")
    return {
        "profile_version": PROFILE_VERSION,
        "datasets": {name: p.as_dict() for name, p in ordered},
    }


# -- one column ------------------------------------------------------------------------------


def _profile_column(series: pd.Series) -> ColumnProfile:
    dtype = series.dtype
    n = len(series)
    column = ColumnProfile(str(dtype))
    if isinstance(dtype, np.dtype):
        values = series.to_numpy()
        if dtype.kind in "iu":
            column.count = n
            if n:
                column.min, column.max = values.min().item(), values.max().item()
            return column
        if dtype.kind == "f":
            return _floats(column, values)
        if dtype.kind == "b":
            true = int(np.count_nonzero(values))
            column.count = n
            column.top = _most({"True": true, "False": n - true}, TOP_KEPT, drop_zero=True)
            return column
        if dtype.kind in "mM":
            nulls = int(np.count_nonzero(np.isnat(values)))
            column.count, column.nulls = n - nulls, nulls
            if nulls < n:
                column.min, column.max = series.min(), series.max()
            return column
        # object: text, mixed values
        nulls = int(series.isna().sum())
        column.count, column.nulls = n - nulls, nulls
        column.top, column.sampled = _top(series, n - nulls)
        return column
    if isinstance(dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        counts = np.bincount(codes.astype(np.int64) + 1, minlength=len(dtype.categories) + 1)
        column.nulls = int(counts[0])
        column.count = n - column.nulls
        top = {_text(c): int(k) for c, k in zip(dtype.categories, counts[1:], strict=True)}
        column.top = _most(top, TOP_KEPT, drop_zero=True)
        return column
    nulls = _null_count(series)
    column.count, column.nulls = n - nulls, nulls
    kind = getattr(dtype, "kind", "O")
    if kind in "iufmM" and column.count:
        column.min, column.max = _plain(series.min()), _plain(series.max())
        if isinstance(column.min, float) and math.isnan(column.min):  # NaN beside pd.NA
            column.min = column.max = None
    elif kind == "b" and column.count:
        true = int(series.sum())
        column.top = _most({"True": true, "False": column.count - true}, TOP_KEPT, True)
    elif kind not in "iufmMb":
        column.top, column.sampled = _top(series, column.count)
    return column


def _floats(column: ColumnProfile, values: np.ndarray) -> ColumnProfile:
    n = len(values)
    if not n:
        return column
    low = values.min()
    if not np.isnan(low):  # min propagates NaN: a number means there is none
        column.count, column.min, column.max = n, low.item(), values.max().item()
        return column
    nulls = int(np.count_nonzero(np.isnan(values)))
    column.count, column.nulls = n - nulls, nulls
    if nulls < n:
        column.min, column.max = np.fmin.reduce(values).item(), np.fmax.reduce(values).item()
    return column


def _null_count(series: pd.Series) -> int:
    """Nulls of an extension array: Arrow's own count where there is one (free)."""
    data = getattr(series.array, "_pa_array", None)
    if data is not None and not pd.api.types.is_float_dtype(series.dtype):
        return int(data.null_count)  # Arrow floats may hold NaN as a value: count with pandas
    return int(series.isna().sum())


def _top(series: pd.Series, count: int) -> tuple[dict[str, int], bool]:
    """The most frequent values of a text column, on a sample of at most SAMPLE_ROWS rows
    (evenly spaced contiguous blocks), counts scaled to the non-null values of the part."""
    if not count:
        return {}, False
    n = len(series)
    sampled = n > SAMPLE_ROWS
    spans = [(0, n)]
    if sampled:
        size = SAMPLE_ROWS // _BLOCKS
        spans = [(int(a), size) for a in np.linspace(0, n - size, _BLOCKS).astype(np.int64)]
    data = getattr(series.array, "_pa_array", None)
    if isinstance(data, pa.ChunkedArray):
        values, counts, seen = _arrow_counts(data, spans)
    else:
        values, counts, seen = _object_counts(series, spans)
    scale = count / seen if sampled and seen else 1.0
    top: dict[str, int] = {}
    for position in np.argsort(-counts, kind="stable")[: TOP_KEPT * 2]:
        text = _text(values[position])
        top[text] = top.get(text, 0) + round(int(counts[position]) * scale)
    return _most(top, TOP_KEPT), sampled


def _arrow_counts(
    data: pa.ChunkedArray, spans: list[tuple[int, int]]
) -> tuple[list[Any], np.ndarray, int]:
    """Distinct non-null values of Arrow data's ``spans`` (start, length), their counts and
    the non-null values seen (Arrow's hash count: no copy of the values)."""
    if len(spans) > 1:
        parts = [chunk for a, size in spans for chunk in data.slice(a, size).chunks]
        data = pa.chunked_array(parts, type=data.type)
    counted = pc.value_counts(data.drop_null())
    values = counted.field(0).to_pylist()
    counts = counted.field(1).to_numpy(zero_copy_only=False).astype(np.int64)
    return values, counts, len(data) - data.null_count


def _object_counts(
    series: pd.Series, spans: list[tuple[int, int]]
) -> tuple[list[Any], np.ndarray, int]:
    """Distinct non-null values of ``spans`` of a column, their counts and the non-null
    values seen: a ``Counter`` for a few values (pandas' value_counts costs ~0.5 ms even on
    ten), a factorization for many."""
    parts = [series.iloc[a : a + size].to_numpy(dtype=object) for a, size in spans]
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    try:
        if len(values) > _SMALL:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            kept = codes[codes >= 0]
            return list(uniques), np.bincount(kept, minlength=len(uniques)), len(kept)
        found = Counter(v for v in values.tolist() if not _is_null(v))
    except TypeError:  # unhashable values (lists, dicts): counted by their text
        found = Counter(_text(v) for v in values.tolist() if not _is_null(v))
    return list(found), np.fromiter(found.values(), np.int64, len(found)), found.total()


def _is_null(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    return value is None or value is pd.NA or value is pd.NaT


def _array_key(series: pd.Series) -> tuple[tuple[Any, ...] | None, Any]:
    """What identifies a column's values, and the object that owns them: a numpy array's
    buffer, shape, strides and dtype (owned by the array at the root of its views), an
    Arrow-backed column's Arrow array, or another extension array object itself."""
    if isinstance(series.dtype, np.dtype):
        values = series.to_numpy()
        if values.dtype.kind == "O":
            return None, None  # an object array's values may change in place: not cached
        owner = values
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        interface = values.__array_interface__
        key = ("np", interface["data"][0], values.shape, values.strides, values.dtype.str)
        return key, owner
    array = series.array
    data = getattr(array, "_pa_array", None)  # Arrow data outlives its pandas wrappers
    owner = data if isinstance(data, pa.ChunkedArray) else array
    return ("ea", id(owner), len(array), str(series.dtype)), owner


# -- values ----------------------------------------------------------------------------------


def _most(counts: Mapping[str, int], k: int, drop_zero: bool = False) -> dict[str, int]:
    """The ``k`` largest counts, most frequent first, ties by value (a stable order)."""
    items: Iterable[tuple[str, int]] = counts.items()
    if drop_zero:
        items = [(v, n) for v, n in items if n]
    return dict(sorted(items, key=lambda item: (-item[1], item[0]))[:k])


def _extreme(a: Any, b: Any, pick: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    try:
        return pick(a, b)
    except TypeError:  # parts of different types (a dtype changed between parts)
        return None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value (Timestamps kept for comparing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json(value: Any) -> Any:
    """A min/max as JSON: numbers as they are (infinities as ``"inf"``/``"-inf"``), datetimes
    in ISO 8601, anything else as text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    return _text(str(value))


def _unjson(value: Any, dtype: str) -> Any:
    """Inverse of :func:`_json` for a column of ``dtype``."""
    if value is None:
        return None
    if value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, str) and ("datetime" in dtype or "timestamp" in dtype):
        return pd.Timestamp(value)
    if isinstance(value, str) and ("timedelta" in dtype or "duration" in dtype):
        return pd.Timedelta(value)
    return value
