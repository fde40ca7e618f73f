"""The quarantine: rows removed by validation, one record per (row, failed check).

Each record names its row's source reference (:mod:`sdk.sources`: file line, table key,
stream message id, index label), rendered only for the rows that are quarantined.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import attrs
import numpy as np
import pandas as pd

# Sources lived here: importers of it, and pickles of older runs' sources, find them here still
from sdk.sources import Sources as Sources
from sdk.sources import _Chunked as _Chunked
from sdk.sources import _Derive as _Derive
from sdk.sources import _Lines as _Lines
from sdk.sources import _Prefixed as _Prefixed
from sdk.sources import _Rows as _Rows
from sdk.sources import _Values as _Values

__all__ = [
    "MAX_INVALID",
    "QUARANTINE_COLUMNS",
    "Masking",
    "Sources",
    "check_max_invalid",
    "empty_quarantine",
    "to_text",
]

MAX_INVALID = 0.05
"""The default error budget: the largest fraction of input rows a run may quarantine."""

QUARANTINE_COLUMNS = (
    "run_id",
    "step",
    "boundary",
    "dataset",
    "source",
    "column",
    "check",
    "value",
    "row",
)
"""The quarantine's columns, in order."""


def check_max_invalid(value: Any) -> float:
    """The error budget as a float.

    Raises:
        PipelineError: ``value`` is not a fraction between 0 and 1 (booleans are refused).
    """
    from sdk.errors import PipelineError

    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise PipelineError(f"max_invalid={value!r} must be a fraction between 0 and 1")
    return float(value)


_EMPTY = pd.DataFrame({c: pd.Series([], dtype=object) for c in QUARANTINE_COLUMNS})


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame with the documented columns (all text)."""
    return _EMPTY.copy()  # building one from scratch costs about a millisecond per run


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def to_text(value: Any) -> str | None:
    """Render a raw value as text for the quarantine; ``None`` for a missing value."""
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


_PYTHON_TEXT = frozenset(
    np.dtype(t) for t in ("float64", "bool", "int8", "int16", "int32", "int64", "uint8")
) | frozenset(np.dtype(t) for t in ("uint16", "uint32", "uint64"))


def _texts(series: pd.Series) -> np.ndarray:
    """The values of ``series`` as text (``None`` where missing), vectorised."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        out = series.to_numpy(dtype=object)
    elif series.dtype in _PYTHON_TEXT:
        # str() of the Python number is what astype(str) gives for these, at twice the speed
        out = np.full(len(series), None, dtype=object)
        present = ~missing
        out[present] = [str(v) for v in series.to_numpy()[present].tolist()]
        return out
    elif isinstance(series.dtype, np.dtype) and series.dtype.kind in "iufb":
        out = series.astype(str).to_numpy(dtype=object)
    else:
        out = np.asarray([to_text(v) for v in series.to_numpy(dtype=object)], dtype=object)
    out[missing] = None
    return out


def _jsonable(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def rows_as_json(frame: pd.DataFrame, positions: np.ndarray) -> list[str]:
    """Return the rows at ``positions`` of ``frame`` as JSON object strings (raw values).

    Vectorised through pandas' JSON writer (numbers to 15 significant digits); rows it cannot
    render fall back to the standard library.
    """
    if len(positions) == 0:
        return []
    subset = frame.iloc[positions]
    if subset.columns.is_unique:
        try:
            text = subset.set_axis([str(c) for c in subset.columns], axis=1).to_json(
                orient="records",
                lines=True,
                double_precision=15,
                date_format="iso",
                force_ascii=False,
                default_handler=str,
            )
            # pandas escapes every "/" as "\/"; undo it for readable files (still valid JSON)
            lines = (text.replace("\\/", "/") if "\\/" in text else text).splitlines()
            if len(lines) == len(positions):
                return lines
        except (TypeError, ValueError, OverflowError):
            pass
    columns = [str(c) for c in frame.columns]
    arrays = [frame.iloc[positions, i].to_numpy(dtype=object) for i in range(frame.shape[1])]
    return [
        json.dumps(dict(zip(columns, (_jsonable(a[k]) for a in arrays), strict=True)))
        for k in range(len(positions))
    ]


@attrs.frozen
class Masking:
    """Columns whose values the quarantine shows only as salted hashes.

    A column is sensitive when any model of the pipeline marks it
    ``pa.Field(metadata={"sdk": {"sensitive": True}})``. Equal values give equal hashes within
    one salt, so rows can still be matched without being read.

    Attributes:
        columns: the sensitive column names.
        salt: mixed into every hash (``SDK_MASK_SALT``, else the pipeline's fingerprint).
    """

    columns: frozenset[str]
    salt: str

    def hide(self, series: pd.Series) -> pd.Series:
        """``sha256:<16 hex>`` of each value's text; missing values stay missing."""
        hidden = [
            None
            if text is None
            else "sha256:" + hashlib.sha256((self.salt + text).encode()).hexdigest()[:16]
            for text in _texts(series)
        ]
        return pd.Series(hidden, index=series.index, dtype=object)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with its sensitive columns hidden (the same frame if it has none)."""
        present = [c for c in frame.columns if c in self.columns]
        return frame.assign(**{str(c): self.hide(frame[c]) for c in present}) if present else frame


def _distinct(groups: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct positions of ``groups`` (np.unique hashes: ten times slower)."""
    first = groups[0]
    if len(groups) == 1 and bool(np.all(first[1:] > first[:-1])):
        return first  # one failed check: its positions are sorted and distinct already
    ordered = np.sort(np.concatenate(groups))
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def build_records(
    *,
    raw: pd.DataFrame,
    failures: list[tuple[np.ndarray, str | None, str]],
    sources: Sources,
    context: dict[str, str],
    masking: Masking | None = None,
) -> pd.DataFrame:
    """Build quarantine records for ``failures`` (positions, column, check) in ``raw``.

    Args:
        raw: the frame as it came to the boundary (values before coercion).
        failures: per failed (column, check), the row positions that failed it.
        sources: source references of ``raw``'s rows.
        context: ``run_id``, ``step``, ``boundary``, ``dataset``.
        masking: sensitive columns, shown as salted hashes in ``value`` and ``row``.
    """
    all_pos = _distinct([f[0] for f in failures])
    if masking is not None and masking.columns.intersection(map(str, raw.columns)):
        # only the failing rows are hashed: positions are remapped into that subset
        raw = masking.apply(raw.iloc[all_pos])
        sources = sources.take(all_pos)
        failures = [(np.searchsorted(all_pos, p), c, k) for p, c, k in failures]
        all_pos = np.arange(len(all_pos))
    row_json = np.asarray(rows_as_json(raw, all_pos), dtype=object)
    source = np.asarray(sources.render(all_pos), dtype=object)
    positions = np.concatenate([f[0] for f in failures])
    order = np.argsort(positions, kind="stable")  # records in row order, then check order
    slot = np.searchsorted(all_pos, positions[order])
    columns = np.empty(len(positions), dtype=object)
    checks = np.empty(len(positions), dtype=object)
    values = np.empty(len(positions), dtype=object)
    start = 0
    for pos, column, check in failures:
        stop = start + len(pos)
        columns[start:stop] = column
        checks[start:stop] = check
        if column is not None and column in raw.columns:
            values[start:stop] = _texts(raw[column].iloc[pos])
        start = stop
    n = len(positions)
    data = {
        "run_id": np.full(n, context["run_id"], dtype=object),
        "step": np.full(n, context["step"], dtype=object),
        "boundary": np.full(n, context["boundary"], dtype=object),
        "dataset": np.full(n, context["dataset"], dtype=object),
        "source": source[slot],
        "column": columns[order],
        "check": checks[order],
        "value": values[order],
        "row": row_json[slot],
    }
    return pd.DataFrame(data, dtype=object)
