"""What a compiled column allows: its value kind, its range, its checks' arguments.

Helpers shared by :mod:`sdk.simulate._columns` (drawing valid values) and
:mod:`sdk.simulate._faults` (writing values just outside what is allowed).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa

from sdk.models import ColumnRule, PreparedCheck

__all__ = [
    "EXCLUDING_CHECKS",
    "RANGE_CHECKS",
    "SET_CHECKS",
    "TEXT_CHECKS",
    "UNDERSTOOD",
    "Bounds",
    "bounds_of",
    "describe",
    "failing",
    "is_builtin",
    "kind_of",
    "stats_of",
    "typed",
    "value_kind",
    "whole_bounds",
]

RANGE_CHECKS = frozenset(
    {"greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to", "in_range"}
)
SET_CHECKS = frozenset({"equal_to", "isin"})
TEXT_CHECKS = frozenset({"str_matches", "str_length", "str_startswith", "str_endswith"})
EXCLUDING_CHECKS = frozenset({"not_equal_to", "notin"})
UNDERSTOOD = RANGE_CHECKS | SET_CHECKS | TEXT_CHECKS | EXCLUDING_CHECKS


@attrs.define
class Bounds:
    """The tightest range a column's range checks allow (``None``: unbounded)."""

    lo: Any = None
    lo_open: bool = False
    hi: Any = None
    hi_open: bool = False

    def add_lo(self, value: Any, is_open: bool) -> None:
        """Tighten the lower bound."""
        if self.lo is None or value > self.lo or (value == self.lo and is_open):
            self.lo, self.lo_open = value, is_open

    def add_hi(self, value: Any, is_open: bool) -> None:
        """Tighten the upper bound."""
        if self.hi is None or value < self.hi or (value == self.hi and is_open):
            self.hi, self.hi_open = value, is_open


def is_builtin(prepared: PreparedCheck) -> bool:
    """Whether the check is one of pandera's built-in checks."""
    check = prepared.check
    return bool(check.is_builtin_check(getattr(check._check_fn, "__name__", "")))


def stats_of(prepared: PreparedCheck) -> dict[str, Any]:
    """The arguments of a built-in check (``min_value``, ``allowed_values``, ``pattern``...)."""
    return dict(prepared.check.statistics or {})


def bounds_of(rule: ColumnRule) -> Bounds:
    """The range a column's built-in range and equality checks allow."""
    bounds = Bounds()
    for prepared in rule.checks:
        name, stats = prepared.check.name, stats_of(prepared)
        if not is_builtin(prepared) or name not in RANGE_CHECKS:
            continue
        if name in ("greater_than", "greater_than_or_equal_to"):
            bounds.add_lo(stats["min_value"], name == "greater_than")
        elif name in ("less_than", "less_than_or_equal_to"):
            bounds.add_hi(stats["max_value"], name == "less_than")
        else:
            bounds.add_lo(stats["min_value"], not stats.get("include_min", True))
            bounds.add_hi(stats["max_value"], not stats.get("include_max", True))
    return bounds


def whole_bounds(bounds: Bounds) -> tuple[int | None, int | None]:
    """The smallest and the largest whole number ``bounds`` allow (``None``: unbounded)."""
    lo = hi = None
    if bounds.lo is not None:
        floor = math.floor(bounds.lo)
        lo = floor + 1 if bounds.lo_open or floor != bounds.lo else floor
    if bounds.hi is not None:
        ceil = math.ceil(bounds.hi)
        hi = ceil - 1 if bounds.hi_open or ceil != bounds.hi else ceil
    return lo, hi


def kind_of(dtype: Any) -> str | None:
    """The value kind of a pandera dtype: int, float, bool, datetime, str or category (a
    ``pa.Date`` column, stored as objects, is a datetime of whole days: see :func:`is_date`)."""
    if dtype is None:
        return "str"
    return "datetime" if is_date(dtype) else value_kind(dtype.type)


def is_date(dtype: Any) -> bool:
    """Whether a pandera dtype is a calendar date (``pa.Date``, ``datetime.date``): values are
    ``datetime.date`` objects, not timestamps (pandera's ``Timestamp`` subclasses ``Date``)."""
    from pandera import dtypes

    return isinstance(dtype, dtypes.Date) and not isinstance(dtype, dtypes.Timestamp)


def value_kind(target: Any) -> str | None:
    """The value kind of a pandas or numpy dtype (``None``: another kind)."""
    if isinstance(target, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(target):
        return "bool"
    if pd.api.types.is_integer_dtype(target):
        return "int"
    if pd.api.types.is_float_dtype(target):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(target):
        return "datetime"
    if pd.api.types.is_string_dtype(target):
        return "str"
    return None


def typed(values: Any, dtype: Any) -> pd.Series:
    """``values`` as a Series of the column's dtype (``None``: as they are)."""
    if dtype is None:
        return pd.Series(values)
    target = dtype.type
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True).astype(target)
    if isinstance(target, pd.CategoricalDtype) and isinstance(values, pa.Array):
        encoded = values.dictionary_encode()  # pandas would factorize in Python, slowly
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        categories = pd.Index(encoded.dictionary.to_pylist())
        return pd.Series(pd.Categorical.from_codes(codes, categories=categories)).astype(target)
    try:
        return pd.Series(pd.array(values, dtype=target))
    except (TypeError, ValueError):
        return pd.Series(values).astype(target)


def failing(checks: tuple[PreparedCheck, ...], values: pd.Series) -> tuple[np.ndarray, str | None]:
    """The rows of ``values`` failing any of ``checks`` (missing values pass when the check
    ignores them), and the label of the first check that failed."""
    bad = np.zeros(len(values), dtype=bool)
    first: str | None = None
    notna = values.notna().to_numpy()
    for prepared in checks:
        try:
            output = prepared.apply(values)
        except Exception:  # a check that raises on these values: none of them is valid
            output = np.zeros(len(values), dtype=bool)
        if isinstance(output, pd.DataFrame):
            output = output.all(axis=1)
        if isinstance(output, pd.Series | np.ndarray) and len(output) == len(values):
            ok = pd.Series(output).fillna(prepared.check.ignore_na).to_numpy(dtype=bool)
        else:
            ok = np.full(len(values), bool(np.all(output)))
        fail = ~ok & (notna if prepared.check.ignore_na else True)
        if fail.any():
            bad |= fail
            first = first or prepared.label
    return bad, first


def describe(bounds: Bounds) -> str:
    """The range as text: ``>= 0 and < 5``."""
    parts = []
    if bounds.lo is not None:
        parts.append(f"{'>' if bounds.lo_open else '>='} {bounds.lo}")
    if bounds.hi is not None:
        parts.append(f"{'<' if bounds.hi_open else '<='} {bounds.hi}")
    return " and ".join(parts)
