"""Columns already validated in a run, recognised by the identity of their arrays.

:class:`ProvenColumns` lets a boundary skip a column that *is* (the very same array as) a column
validated earlier under rules at least as strict (see :func:`sdk.validation.validate_frame`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sdk.models import ColumnRule, CompiledModel

__all__ = ["ProvenColumns", "identity"]

Key = tuple[Any, ...]
_Validated = tuple[pd.DataFrame, CompiledModel, list[tuple[Key, ColumnRule, pd.Series]]]


def identity(series: pd.Series) -> Key | None:
    """Where a column's data lives: equal identities mean the very same array."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        array = series.to_numpy(copy=False)
        info = array.__array_interface__
        return ("numpy", info["data"][0], info["shape"], info["strides"], array.dtype.str)
    values = series.array
    if hasattr(values, "__arrow_array__"):
        chunked = values.__arrow_array__()
        chunks = getattr(chunked, "chunks", [chunked])
        buffers = tuple(
            (b.address, b.size) if b is not None else None for c in chunks for b in c.buffers()
        )
        return ("arrow", buffers, tuple(c.offset for c in chunks), len(series), str(dtype))
    return None


class ProvenColumns:
    """Columns already validated in this run, recognised by the identity of their arrays.

    Copy-on-write (pandas >= 3) guarantees that an array validated once cannot change in
    place, so a step's output column that *is* a validated input column needs no re-check
    under rules that are no stricter. Without copy-on-write nothing is ever proven.
    """

    def __init__(self) -> None:
        self._seen: dict[Key, tuple[ColumnRule, pd.Series]] = {}
        # the frame validate_frame returned last, with the identities of its model's columns:
        # remembering that very frame then needs no column taken again
        self._last: _Validated | None = None
        self.enabled = _copy_on_write()

    def remember(self, frame: pd.DataFrame, compiled: CompiledModel) -> None:
        """Record the columns of a frame that passed validation against ``compiled``."""
        if not self.enabled:
            return
        last = self._last
        if last is not None and last[0] is frame and last[1] is compiled:
            for key, rule, series in last[2]:
                self._seen[key] = (rule, series)
            return
        for rule in compiled.columns:
            if rule.name in frame.columns:
                series = frame[rule.name]
                found = identity(series)
                if found is not None:
                    # holding the series keeps its memory from being reused by another array
                    self._seen[found] = (rule, series)

    def covers(self, series: pd.Series, rule: ColumnRule) -> bool:
        """Whether ``series`` is a column already validated under rules implying ``rule``."""
        if not self._seen:
            return False
        return self.covers_key(identity(series), rule)

    def covers_key(self, key: Key | None, rule: ColumnRule) -> bool:
        """Whether the column of identity ``key`` was validated under rules implying ``rule``."""
        entry = self._seen.get(key) if key is not None else None
        if entry is None:
            return False
        done = entry[0]
        return (
            done.dtype_name == rule.dtype_name
            and (rule.nullable or not done.nullable)
            and (done.unique or not rule.unique)
            and rule.signatures <= done.signatures
        )

    def validated(
        self,
        frame: pd.DataFrame,
        compiled: CompiledModel,
        columns: list[tuple[Key, ColumnRule, pd.Series]],
    ) -> None:
        """Note that ``frame`` passed ``compiled`` as it is, its model's columns being
        ``columns`` (identity, rule, series): :meth:`remember` of it then reuses them."""
        self._last = (frame, compiled, columns)

    def clear(self) -> None:
        """Forget everything (chunked runners call this between chunks)."""
        self._seen.clear()
        self._last = None


def _copy_on_write() -> bool:
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return bool(pd.get_option("mode.copy_on_write") is True)
