"""Values just outside what a column's checks allow, each one checked to fail them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sdk.models import ColumnRule
from sdk.simulate._rules import (
    bounds_of,
    failing,
    is_builtin,
    kind_of,
    stats_of,
    typed,
    whole_bounds,
)

__all__ = ["outside"]


def outside(
    rule: ColumnRule, valid: pd.Series, rng: np.random.Generator
) -> tuple[np.ndarray, list[Any]]:
    """For each valid value of ``rule``'s column, a value failing one of its checks.

    Candidates are near misses: a range's bound itself (``gt``) or one step beyond it (``ge``),
    a neighbour of an ``isin`` set, an excluded value (``ne``, ``notin``), and for text the
    value with its case swapped, a character more or less, a ``~`` before or after it, its
    first character or itself twice (for length checks). Each
    row gets one of the candidates that fail, drawn at random.

    Returns:
        ``(found, values)``: which rows got a failing value, and the values (``None`` where
        none was found).
    """
    kind = kind_of(rule.dtype)
    k = len(valid)
    if kind == "str":
        candidates = _text_candidates(rule, valid.reset_index(drop=True))
    elif kind == "bool":
        candidates = [list(~valid.to_numpy(dtype=bool))]
    else:
        candidates = [[c] * k for c in _near_misses(rule, kind or "")]
    if not candidates or not k:
        return np.zeros(k, dtype=bool), [None] * k
    fails = np.column_stack([_fails(rule, kind or "", values) for values in candidates])
    score = np.where(fails, rng.random(fails.shape), -1.0)
    choice = score.argmax(axis=1)
    found: np.ndarray = np.asarray(fails.any(axis=1), dtype=bool)
    values = [candidates[c][i] if found[i] else None for i, c in enumerate(choice)]
    return found, values


def _fails(rule: ColumnRule, kind: str, values: list[Any]) -> np.ndarray:
    """Which of ``values`` fail a check of the column (or cannot even be of its dtype)."""
    present = np.array(
        [v is not None and not (isinstance(v, str) and v == "") for v in values], dtype=bool
    )
    if kind == "int":
        info = np.iinfo(np.dtype(getattr(rule.dtype.type, "numpy_dtype", rule.dtype.type)))
        beyond = np.array(
            [v is not None and not info.min <= int(v) <= info.max for v in values], dtype=bool
        )
        if beyond.any():  # unreadable as the dtype: quarantined as malformed, still detected
            inside = ~beyond
            out = beyond.copy()
            kept = [v for v, b in zip(values, beyond, strict=True) if not b]
            out[inside] = _fails(rule, kind, kept)
            return out & present
    try:
        series = typed([v if v is not None else pd.NA for v in values], rule.dtype)
    except (TypeError, ValueError, OverflowError):
        return np.zeros(len(values), dtype=bool)
    bad, _ = failing(rule.checks, series)
    return bad & present


def _step(value: Any, kind: str) -> Any:
    if kind == "datetime":
        return pd.Timedelta(days=1)
    if kind == "int":
        return 1
    return max(abs(float(value)) * 1e-6, 0.01)  # one cent, or a millionth of a large bound


def _near_misses(rule: ColumnRule, kind: str) -> list[Any]:
    """Scalar values just outside the column's ranges and sets."""
    bounds = bounds_of(rule)
    if kind == "datetime":
        bounds.lo = None if bounds.lo is None else _stamp(bounds.lo, rule)
        bounds.hi = None if bounds.hi is None else _stamp(bounds.hi, rule)
    misses: list[Any] = []
    if kind == "int":
        lo, hi = whole_bounds(bounds)
        misses += [b for b in (None if lo is None else lo - 1, None if hi is None else hi + 1)]
    else:
        if bounds.lo is not None:
            lo = bounds.lo
            misses.append(lo if bounds.lo_open else lo - _step(lo, kind))
        if bounds.hi is not None:
            hi = bounds.hi
            misses.append(hi if bounds.hi_open else hi + _step(hi, kind))
    for prepared in rule.checks:
        if not is_builtin(prepared):
            continue
        name, stats = prepared.check.name, stats_of(prepared)
        if name == "isin" and stats["allowed_values"]:
            allowed = sorted(stats["allowed_values"])
            misses += [allowed[-1] + _step(allowed[-1], kind), allowed[0] - _step(allowed[0], kind)]
        elif name == "equal_to":
            misses.append(stats["value"] + _step(stats["value"], kind))
        elif name == "not_equal_to":
            misses.append(stats["value"])
        elif name == "notin":
            misses += list(stats["forbidden_values"])[:3]
    if kind == "float":
        misses = [float(m) for m in misses]
    return [m for m in misses if m is not None]


def _stamp(value: Any, rule: ColumnRule) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    zone = getattr(rule.dtype.type, "tz", None)
    if zone is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(zone)
    return stamp


def _text_candidates(rule: ColumnRule, valid: pd.Series) -> list[list[Any]]:
    """Per row: the valid text with its case swapped, one character more or less, a ``~``
    before or after it, its first character alone, or twice over."""
    text = valid.astype(object).where(valid.notna(), "").astype(str)
    k = len(text)
    shorter = [t[:-1] if len(t) > 1 else None for t in text]
    candidates: list[list[Any]] = [
        [t.swapcase() for t in text],
        [t + t[-1:] for t in text],
        shorter,
        ["~" + t for t in text],
        [t + "~" for t in text],
        [t[:1] or None for t in text],  # far too short or too long, for length checks
        [t + t + "~" for t in text],
    ]
    for prepared in rule.checks:
        name, stats = prepared.check.name, stats_of(prepared)
        if not is_builtin(prepared):
            continue
        if name == "not_equal_to":
            candidates.append([str(stats["value"])] * k)
        elif name == "notin":
            candidates += [[str(v)] * k for v in list(stats["forbidden_values"])[:3]]
    return candidates
