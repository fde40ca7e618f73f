"""Comparing data frames as multisets of rows: canonical order, and what differs.

Shared by :mod:`sdk.testing` (``assert_equivalent``: every runner equal to ``local``) and
:mod:`sdk.verify` (a step's declared scope checked on data).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["canonical", "changed", "differs"]

_SORT_DIGITS = 9  # floats equal to 1e-9 relative sort together before the tolerant compare


def changed(before: Mapping[str, pd.DataFrame], after: Mapping[str, pd.DataFrame]) -> str | None:
    """How the frames in ``after`` differ from their pristine copies in ``before``."""
    for param, old in before.items():
        new = after[param]
        if new.equals(old) and list(new.columns) == list(old.columns):
            continue
        added = [str(c) for c in new.columns if c not in old.columns]
        removed = [str(c) for c in old.columns if c not in new.columns]
        if added or removed:
            return f"input {param!r}: " + "; ".join(
                ([f"column(s) {', '.join(added)} added"] if added else [])
                + ([f"column(s) {', '.join(removed)} removed"] if removed else [])
            )
        if len(new) != len(old) or not new.index.equals(old.index):
            return f"input {param!r}: rows changed ({len(old)} rows before, {len(new)} after)"
        changed = [str(c) for c in old.columns if not new[c].equals(old[c])]
        return f"input {param!r}: column(s) {', '.join(changed) or '?'} changed"
    return None


def _sort_key(series: pd.Series, float_digits: int | None) -> pd.Series:
    if float_digits is not None and pd.api.types.is_float_dtype(series):
        return series.map(lambda v: "nan" if pd.isna(v) else format(float(v), f".{float_digits}g"))
    return series.astype(str)


def canonical(frame: pd.DataFrame, *, float_digits: int | None = None) -> pd.DataFrame:
    """Return ``frame`` sorted by all its columns with a fresh index (order-insensitive compare).

    Rows are ordered by each value's text; with ``float_digits``, floats are ordered by their
    first ``float_digits`` significant digits, so values that differ only in the last bits (a sum
    taken in another order) sort to the same place.
    """
    frame = frame.reset_index(drop=True)  # repeated labels must not duplicate rows
    if frame.empty:
        return frame
    keys = pd.DataFrame(
        {i: _sort_key(frame.iloc[:, i], float_digits) for i in range(frame.shape[1])}
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return frame.iloc[order].reset_index(drop=True)


def _same_values(left: pd.Series, right: pd.Series, exact: bool) -> np.ndarray:
    numeric = all(
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        for s in (left, right)
    )
    if numeric:
        a = left.to_numpy(dtype=float, na_value=np.nan)
        b = right.to_numpy(dtype=float, na_value=np.nan)
        if exact:
            return (a == b) | (np.isnan(a) & np.isnan(b))
        return np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
    result = []
    for u, v in zip(left.tolist(), right.tolist(), strict=True):
        try:
            same = bool(u == v) or bool(pd.isna(u) and pd.isna(v))
        except (TypeError, ValueError):
            same = repr(u) == repr(v)
        result.append(same)
    return np.array(result, dtype=bool)


def differs(
    left: pd.DataFrame, right: pd.DataFrame, lname: str, rname: str, *, exact: bool = False
) -> str | None:
    """How ``right`` differs from ``left`` as multisets of rows, or ``None`` if they match.

    Floats are compared with a relative tolerance of 1e-9 (summing in another order may
    change the last bits), or exactly when ``exact``.
    """
    lcols, rcols = [str(c) for c in left.columns], [str(c) for c in right.columns]
    if set(lcols) != set(rcols):
        return f"columns differ ({lname}: {', '.join(lcols)}; {rname}: {', '.join(rcols)})"
    if len(left) != len(right):
        return f"{lname} gives {len(left)} rows, {rname} {len(right)}"
    a = canonical(left, float_digits=_SORT_DIGITS)
    b = canonical(right[list(left.columns)], float_digits=_SORT_DIGITS)
    for column in a.columns:
        same = _same_values(a[column], b[column], exact)
        if not same.all():
            bad = np.flatnonzero(~same)[:3]
            shown_a, shown_b = _show(a[column].iloc[bad]), _show(b[column].iloc[bad])
            if shown_a == shown_b:  # rounding hid the difference: show every digit
                shown_a, shown_b = _show(a[column].iloc[bad], 0), _show(b[column].iloc[bad], 0)
            return f"column {str(column)!r} differs ({lname}: {shown_a}; {rname}: {shown_b})"
    return None


def _show(values: pd.Series, digits: int = 10) -> str:
    """A few values as text, floats rounded to ``digits`` significant digits (0: all)."""
    shown = [
        format(v, f".{digits}g") if digits and isinstance(v, float) else repr(v)
        for v in values.tolist()
    ]
    return f"[{', '.join(shown)}]"
