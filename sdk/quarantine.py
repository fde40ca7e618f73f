"""The quarantine: rows removed by validation, one record per (row, failed check).

Also the mapping from a frame's row positions to source references (file line, table key,
stream message id, index label), rendered only for the rows that are quarantined.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd

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
        out = np.asarray([str(v) for v in series.to_numpy().tolist()], dtype=object)
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


class _Lines:
    """``path:line`` where row 0 is on ``first``."""

    def __init__(self, path: str, first: int) -> None:
        self.path, self.first = path, first

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [f"{self.path}:{int(p) + self.first}" for p in pos]


class _Rows:
    """``path#row`` (0-based, plus ``offset``)."""

    def __init__(self, path: str, offset: int) -> None:
        self.path, self.offset = path, offset

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [f"{self.path}#{int(p) + self.offset}" for p in pos]


class _Values:
    """One stored reference per row: a table key, a message id, or an index label.

    An index is kept as it is, not as an array of objects: building that array cost about
    20 ms per million rows on every run, and only quarantined rows are ever rendered.
    """

    def __init__(self, values: np.ndarray | pd.Index) -> None:
        self.values = values

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [str(v) for v in self.values[pos].tolist()]


class _Prefixed(_Values):
    """Index labels of a produced dataset, named after it: ``model_input#17``."""

    def __init__(self, prefix: str, values: np.ndarray | pd.Index) -> None:
        super().__init__(values)
        self.prefix = prefix

    def __call__(self, pos: np.ndarray) -> list[str]:
        return [f"{self.prefix}#{v}" for v in self.values[pos].tolist()]


class _Chunked:
    """References of a dataset read in chunks: global positions dispatched to each chunk."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.chunks: list[Sources] = []

    def add(self, offset: int, sources: Sources) -> None:
        self.offsets.append(offset)
        self.chunks.append(sources)

    def __call__(self, pos: np.ndarray) -> list[str]:
        out: list[str] = [""] * len(pos)
        which = np.searchsorted(np.asarray(self.offsets), pos, side="right") - 1
        for chunk in np.unique(which):
            mask = which == chunk
            local = pos[mask] - self.offsets[int(chunk)]
            for i, text in zip(
                np.flatnonzero(mask), self.chunks[int(chunk)].render(local), strict=True
            ):
                out[i] = text
        return out


Renderer = Callable[[np.ndarray], list[str]]


class _Derive:
    """Maps a step's output rows to its input's root positions by index label (deferred)."""

    def __init__(self, sources: Sources, out_index: pd.Index, in_index: pd.Index) -> None:
        self.sources, self.out_index, self.in_index = sources, out_index, in_index

    def __call__(self) -> np.ndarray:
        if self.in_index.is_unique:
            found = self.in_index.get_indexer(self.out_index)
        else:
            found = np.full(len(self.out_index), -1, dtype=np.intp)
        base = self.sources.positions(len(self.in_index))
        if not len(base):
            return found.astype(np.int64)
        return np.where(found >= 0, base[np.maximum(found, 0)], -1).astype(np.int64)


class Sources:
    """Maps row positions of a frame to source references, rendered only when needed.

    A reader builds one for the frame it returns (``path:line``, ``path#row``, a table key);
    runners narrow it as rows are filtered (:meth:`take`) and follow rows through steps that
    keep index labels (:meth:`derived`). Internally: a root renderer, each row's position in
    the root (``-1`` where a row has no root row), and the labels used for those rows.
    Sources pickle, so chunked runners can keep them in their run directory.
    """

    def __init__(
        self,
        render: Renderer,
        positions: np.ndarray | None = None,
        labels: pd.Index | None = None,
        pending: _Derive | None = None,
    ) -> None:
        self._render = render
        self._positions = positions
        self._labels = labels
        self._pending = pending

    def _base(self) -> np.ndarray | None:
        """Positions in the root; a derived mapping is resolved here, on first need."""
        if self._pending is not None:
            self._positions, self._pending = self._pending(), None
        return self._positions

    @classmethod
    def from_index(cls, index: pd.Index) -> Sources:
        """Sources of an in-memory frame: each row's index label as text."""
        return cls(_Values(index))

    @classmethod
    def of_output(cls, dataset: str, index: pd.Index) -> Sources:
        """Sources of rows a step made from several inputs (a join): ``dataset#label``, the
        output's own index label, since no one input row is their source."""
        return cls(_Prefixed(dataset, index))

    @classmethod
    def from_file_lines(cls, path: str, first_line: int, offset: int = 0) -> Sources:
        """Sources of a text file: ``path:line``, where row 0 is on line ``first_line``."""
        return cls(_Lines(path, first_line + offset))

    @classmethod
    def from_file_rows(cls, path: str, offset: int = 0) -> Sources:
        """Sources of a binary file: ``path#row`` (0-based row number)."""
        return cls(_Rows(path, offset))

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Sources:
        """Sources given one reference per row (a table key, a message id)."""
        return cls(_Values(np.asarray(values, dtype=object)))

    @classmethod
    def chunked(cls) -> tuple[Sources, Callable[[int, Sources], None]]:
        """A root for a dataset read in chunks, and the function registering each chunk."""
        root = _Chunked()
        return cls(root), root.add

    def positions(self, n: int) -> np.ndarray:
        """Each of the ``n`` rows' position in the root (``-1``: no root row)."""
        base = self._base()
        return np.arange(n, dtype=np.int64) if base is None else base

    def rebase(self, positions: np.ndarray, labels: pd.Index) -> Sources:
        """Sources sharing this root, for rows at ``positions`` of it (``-1``: use the label)."""
        return Sources(self._render, np.asarray(positions, dtype=np.int64), labels)

    def derived(self, out_index: pd.Index, in_index: pd.Index) -> Sources:
        """Sources of a step's output: the input row's source where the index label is kept.

        The label lookup costs tens of milliseconds per million rows, so it is done only when
        a source is needed (a quarantined row, a spill), not on every step.
        """
        return Sources(self._render, None, out_index, _Derive(self, out_index, in_index))

    def take(self, positions: np.ndarray) -> Sources:
        """Return the sources of the rows at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        root = self._base()
        base = positions if root is None else root[positions]
        labels = None if self._labels is None else self._labels[positions]
        return Sources(self._render, base, labels)

    def render(self, positions: np.ndarray) -> list[str]:
        """Return the source references of the rows at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        root = self._base()
        base = positions if root is None else root[positions]
        if self._labels is None or (base >= 0).all():
            return self._render(base) if len(base) else []
        out = [str(v) for v in self._labels[positions]]
        known = np.flatnonzero(base >= 0)
        if len(known):
            for i, text in zip(known, self._render(base[known]), strict=True):
                out[i] = text
        return out


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
    all_pos = np.unique(np.concatenate([f[0] for f in failures]))
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
