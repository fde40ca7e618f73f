"""Source references: which file line, table key, message id or index label each row came from.

A reader builds :class:`Sources` for the frame it returns; runners narrow them as rows are
filtered and follow rows through steps. A reference is rendered as text only for the rows that
are quarantined (or spilled), never for every row of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Renderer", "Sources"]


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
    def from_prefixed(cls, prefix: str, values: Sequence[Any]) -> Sources:
        """Sources ``prefix#value`` given one value per row (a stream and its message ids),
        rendered only for the rows that need it."""
        return cls(_Prefixed(prefix, np.asarray(values, dtype=object)))

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
