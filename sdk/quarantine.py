"""The quarantine: rows removed by validation, one record per (row, failed check).

Also the mapping from a frame's row positions to source references (file line, table key,
stream message id, index label), rendered only for the rows that are quarantined.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["QUARANTINE_COLUMNS", "Sources", "empty_quarantine", "to_text"]

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


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame with the documented columns (all text)."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in QUARANTINE_COLUMNS})


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


def _texts(series: pd.Series) -> np.ndarray:
    """The values of ``series`` as text (``None`` where missing), vectorised."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        out = series.to_numpy(dtype=object)
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
            lines = text.replace("\\/", "/").splitlines()
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


Renderer = Callable[[np.ndarray], list[str]]


class Sources:
    """Maps row positions of a frame to source references, lazily.

    A reader builds one for the frame it returns (``path:line``, ``path#row``, a table key);
    the runner narrows it as rows are filtered, and renders text only for quarantined rows.
    """

    def __init__(self, render: Renderer, positions: np.ndarray | None = None) -> None:
        self._render = render
        self._positions = positions

    @classmethod
    def from_index(cls, index: pd.Index) -> Sources:
        """Sources of an in-memory frame: each row's index label as text."""
        return cls(lambda pos: [str(v) for v in index[pos]])

    @classmethod
    def from_file_lines(cls, path: str, first_line: int, offset: int = 0) -> Sources:
        """Sources of a text file: ``path:line``, where row 0 is on line ``first_line``."""
        start = first_line + offset
        return cls(lambda pos: [f"{path}:{int(p) + start}" for p in pos])

    @classmethod
    def from_file_rows(cls, path: str, offset: int = 0) -> Sources:
        """Sources of a binary file: ``path#row`` (0-based row number)."""
        return cls(lambda pos: [f"{path}#{int(p) + offset}" for p in pos])

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Sources:
        """Sources given one reference per row (a table key, a message id)."""
        array = np.asarray(values, dtype=object)
        return cls(lambda pos: [str(v) for v in array[pos]])

    @classmethod
    def derived(cls, out_index: pd.Index, in_index: pd.Index, in_sources: Sources) -> Sources:
        """Sources of a step's output: the input's source where the index label is kept."""

        def render(pos: np.ndarray) -> list[str]:
            labels = out_index[pos]
            if not in_index.is_unique:
                return [str(v) for v in labels]
            found = in_index.get_indexer(labels)
            known = in_sources.render(found[found >= 0]) if (found >= 0).any() else []
            it = iter(known)
            return [next(it) if k >= 0 else str(lbl) for k, lbl in zip(found, labels, strict=True)]

        return cls(render)

    def take(self, positions: np.ndarray) -> Sources:
        """Return the sources of the rows at ``positions``."""
        base = positions if self._positions is None else self._positions[positions]
        return Sources(self._render, base)

    def render(self, positions: np.ndarray) -> list[str]:
        """Return the source references of the rows at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        base = positions if self._positions is None else self._positions[positions]
        return self._render(base)


def build_records(
    *,
    raw: pd.DataFrame,
    failures: list[tuple[np.ndarray, str | None, str]],
    sources: Sources,
    context: dict[str, str],
) -> pd.DataFrame:
    """Build quarantine records for ``failures`` (positions, column, check) in ``raw``.

    Args:
        raw: the frame as it came to the boundary (values before coercion).
        failures: per failed (column, check), the row positions that failed it.
        sources: source references of ``raw``'s rows.
        context: ``run_id``, ``step``, ``boundary``, ``dataset``.
    """
    all_pos = np.unique(np.concatenate([f[0] for f in failures]))
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
