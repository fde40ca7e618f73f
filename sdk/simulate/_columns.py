"""What a model's column allows, and how to draw values for it.

A :class:`~sdk.models.ColumnRule` (from :func:`sdk.models.compile_model`) is read once into a
:class:`ColumnPlan`: the value kind, the bounds of its range checks, its allowed set, the pattern
of its text, and a vectorised ``draw(rng, k)``. A check the plan cannot shape its draw by is
reported as a problem, never silently ignored; checks that only exclude values (``ne``,
``notin``) are met by drawing again (see :mod:`sdk.simulate._synthesis`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sdk.models import ColumnRule, PreparedCheck
from sdk.simulate._regex import RegexUnsupported, StringPattern
from sdk.simulate._rules import (
    SET_CHECKS,
    TEXT_CHECKS,
    UNDERSTOOD,
    bounds_of,
    describe,
    failing,
    is_builtin,
    is_date,
    kind_of,
    stats_of,
    typed,
    whole_bounds,
)

__all__ = ["ColumnPlan", "Generator", "plan_column"]

Generator = Callable[[np.random.Generator, int], Any]
"""A user's generator for one column: ``fn(rng, n)`` returns ``n`` values (array-like)."""

INT_SPAN = 10_000  # values drawn above a lower bound (or below an upper one) when one is missing
FLOAT_SPAN = 1_000.0
DATE_START = pd.Timestamp("2020-01-01")
DATE_SPAN_S = 6 * 365 * 86_400
ROUNDS_EMPTY = 20  # draws of a pattern that may be empty, until every value is not
CATEGORY_LEVELS = tuple(f"level_{i}" for i in range(8))  # a category without declared levels

_FIX = "pass generators={{{name!r}: fn}} with fn(rng, n) returning n valid values"


@attrs.define
class ColumnPlan:
    """How to draw one column's values.

    Attributes:
        rule: the compiled column.
        kind: the value kind (``int``, ``float``, ``bool``, ``datetime``, ``str``, ``category``).
        draw: ``draw(rng, k)`` returns ``k`` values as a Series of the column's dtype.
        capacity: how many distinct values ``draw`` can give (``None``: practically unlimited).
        distinct: ``distinct(rng, k)`` draws ``k`` distinct values by shuffling all of them,
            for a unique column whose capacity is not much larger than ``k``.
        generated: whether ``draw`` is the user's generator.
        built_in: checks ``draw`` satisfies by construction (a pattern it draws from), which
            need no check of every value.
    """

    rule: ColumnRule
    kind: str
    draw: Callable[[np.random.Generator, int], pd.Series]
    capacity: int | None = None
    distinct: Callable[[np.random.Generator, int], pd.Series] | None = None
    generated: bool = False
    built_in: frozenset[str] = frozenset()

    @property
    def checks(self) -> tuple[PreparedCheck, ...]:
        """The checks every drawn value is checked against."""
        return tuple(c for c in self.rule.checks if c.label not in self.built_in)


def _user_plan(rule: ColumnRule, generator: Generator) -> ColumnPlan:
    def draw(rng: np.random.Generator, k: int) -> pd.Series:
        values = generator(rng, k)
        series = typed(values, rule.dtype)
        if len(series) != k:
            raise ValueError(f"it returned {len(series)} values for n={k}")
        return series

    return ColumnPlan(rule, kind_of(rule.dtype) or "object", draw, generated=True)


def plan_column(
    rule: ColumnRule, n: int, generator: Generator | None, model: str
) -> ColumnPlan | list[str]:
    """The plan for ``rule``, or the problems that prevent one (each naming the column, the
    check and the fix)."""
    if generator is not None:
        return _user_plan(rule, generator)
    where = f"{model}.{rule.name}"
    fix = _FIX.format(name=rule.name)
    problems = []
    for prepared in rule.checks:
        check = prepared.check
        if check.groupby is not None:
            problems.append(f"{where}: check {prepared.label!r} groups rows; {fix}")
        elif not is_builtin(prepared):
            problems.append(
                f"{where}: synthesize cannot satisfy the custom check {prepared.label!r}; {fix}"
            )
        elif check.name not in UNDERSTOOD:
            problems.append(
                f"{where}: synthesize cannot generate values for check {prepared.label!r}; {fix}"
            )
    kind = kind_of(rule.dtype)
    if kind is None:
        problems.append(f"{where}: synthesize does not generate dtype {rule.dtype}; {fix}")
    if problems or kind is None:
        return problems
    try:
        return _plan(rule, kind, n)
    except _Refused as refused:
        return [f"{where}: {refused}; {fix}"]


class _Refused(Exception):
    """A column's checks cannot be generated; the message says why."""


def _allowed(rule: ColumnRule) -> list[Any] | None:
    allowed: list[Any] | None = None
    for prepared in rule.checks:
        name, stats = prepared.check.name, stats_of(prepared)
        values = None
        if name == "isin":
            values = list(stats["allowed_values"])
        elif name == "equal_to":
            values = [stats["value"]]
        if values is not None:
            allowed = values if allowed is None else [v for v in allowed if v in values]
    return allowed


def _plan(rule: ColumnRule, kind: str, n: int) -> ColumnPlan:
    allowed = _allowed(rule)
    if kind == "category":
        categories = rule.dtype.type.categories
        if categories is not None:
            allowed = [v for v in (allowed or categories) if v in list(categories)]
        elif allowed is None and not any(c.check.name in TEXT_CHECKS for c in rule.checks):
            allowed = list(CATEGORY_LEVELS)
    if allowed is not None:
        return _choice_plan(rule, kind, allowed)
    if kind == "int":
        return _int_plan(rule, n)
    if kind == "float":
        return _float_plan(rule)
    if kind == "bool":
        return ColumnPlan(
            rule, kind, lambda rng, k: typed(rng.random(k) < 0.5, rule.dtype), capacity=2
        )
    if kind == "datetime":
        return _datetime_plan(rule)
    return _text_plan(rule, kind)


def _choice_plan(rule: ColumnRule, kind: str, allowed: list[Any]) -> ColumnPlan:
    try:
        pool = typed(allowed, rule.dtype)
    except (TypeError, ValueError) as exc:
        raise _Refused(
            f"its allowed values {allowed!r} are not of dtype {rule.dtype} ({exc})"
        ) from None
    others = tuple(c for c in rule.checks if c.check.name not in SET_CHECKS)
    bad, _ = failing(others, pool)
    pool = pool[~bad & pool.notna().to_numpy()].drop_duplicates().reset_index(drop=True)
    if not len(pool):
        raise _Refused(f"none of its allowed values {allowed!r} passes its other checks")
    array = pool.array

    def draw(rng: np.random.Generator, k: int) -> pd.Series:
        return pd.Series(array.take(rng.integers(0, len(array), size=k)))

    def distinct(rng: np.random.Generator, k: int) -> pd.Series:
        return pd.Series(array.take(rng.permutation(len(array))[:k]))

    return ColumnPlan(rule, kind, draw, capacity=len(array), distinct=distinct)


def _int_plan(rule: ColumnRule, n: int) -> ColumnPlan:
    bounds = bounds_of(rule)
    info = np.iinfo(np.dtype(getattr(rule.dtype.type, "numpy_dtype", rule.dtype.type)))
    first, last = whole_bounds(bounds)
    lo = int(info.min) if first is None else first
    hi = int(info.max) if last is None else last
    lo, hi = max(lo, int(info.min)), min(hi, int(info.max))
    span = max(INT_SPAN, 10 * n) if rule.unique else INT_SPAN
    if bounds.lo is None and bounds.hi is None:
        lo, hi = max(lo, 0), min(hi, max(lo, 0) + span)
    elif bounds.hi is None:
        hi = min(hi, lo + span)
    elif bounds.lo is None:
        lo = max(lo, hi - span)
    if lo > hi:
        raise _Refused(f"no integer satisfies its range checks ({describe(bounds)})")
    wide = np.uint64 if hi > np.iinfo(np.int64).max else np.int64
    size = hi - lo + 1

    def draw(rng: np.random.Generator, k: int) -> pd.Series:
        return typed(rng.integers(lo, hi, size=k, endpoint=True, dtype=wide), rule.dtype)

    def distinct(rng: np.random.Generator, k: int) -> pd.Series:
        offsets = rng.permutation(size)[:k]
        return typed((lo + offsets.astype(wide)).astype(wide), rule.dtype)

    return ColumnPlan(rule, "int", draw, capacity=size, distinct=distinct if size < 2**62 else None)


def _float_plan(rule: ColumnRule) -> ColumnPlan:
    bounds = bounds_of(rule)
    lo = -np.inf if bounds.lo is None else float(bounds.lo)
    hi = np.inf if bounds.hi is None else float(bounds.hi)
    if bounds.lo_open:
        lo = float(np.nextafter(lo, np.inf))
    if bounds.hi_open:
        hi = float(np.nextafter(hi, -np.inf))
    if not np.isfinite(lo) and not np.isfinite(hi):
        lo, hi = 0.0, FLOAT_SPAN
    elif not np.isfinite(hi):
        hi = lo + FLOAT_SPAN
    elif not np.isfinite(lo):
        lo = hi - FLOAT_SPAN
    if lo > hi:
        raise _Refused(f"no number satisfies its range checks ({describe(bounds)})")
    cents = hi - lo >= 1  # amounts look like amounts, and survive text unchanged

    def draw(rng: np.random.Generator, k: int) -> pd.Series:
        u = rng.random(k)
        values = lo * (1 - u) + hi * u  # never overflows, unlike lo + (hi - lo) * u
        if cents:
            rounded = np.round(values, 2)
            values = np.where((rounded < lo) | (rounded > hi), values, rounded)
        return typed(np.clip(values, lo, hi), rule.dtype)

    return ColumnPlan(rule, "float", draw)


def _datetime_plan(rule: ColumnRule) -> ColumnPlan:
    bounds = bounds_of(rule)
    tz = getattr(rule.dtype.type, "tz", None)
    days = is_date(rule.dtype)

    def nanos(value: Any) -> int:
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None and tz is not None:
            stamp = stamp.tz_localize(tz)
        return int(stamp.value)

    span = DATE_SPAN_S * 10**9
    lo = nanos(DATE_START) if bounds.lo is None else nanos(bounds.lo) + int(bounds.lo_open)
    hi = lo + span if bounds.hi is None else nanos(bounds.hi) - int(bounds.hi_open)
    if bounds.lo is None and bounds.hi is not None:
        lo = hi - span
    if lo > hi:
        raise _Refused(f"no timestamp satisfies its range checks ({describe(bounds)})")
    first_s, last_s = -(-lo // 10**9), hi // 10**9  # whole seconds when the range allows

    def draw(rng: np.random.Generator, k: int) -> pd.Series:
        if first_s <= last_s:
            ns = rng.integers(first_s, last_s, size=k, endpoint=True) * 10**9
        else:
            ns = rng.integers(lo, hi, size=k, endpoint=True)
        stamps = pd.Series(pd.to_datetime(ns, unit="ns"))
        if days:  # calendar dates, as datetime.date objects
            return stamps.dt.floor("D").dt.date.astype(object)
        if tz is not None:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(tz)
        return stamps.astype(rule.dtype.type)

    return ColumnPlan(rule, "datetime", draw)


def _text_plan(rule: ColumnRule, kind: str) -> ColumnPlan:
    pattern: str | None = None
    matched: frozenset[str] = frozenset()
    prefix = suffix = ""
    length: tuple[int, int | None] | None = None
    for prepared in rule.checks:
        name, stats = prepared.check.name, stats_of(prepared)
        if name == "str_matches":
            raw = stats["pattern"]
            text = raw.pattern if isinstance(raw, re.Pattern) else str(raw)
            if isinstance(raw, re.Pattern) and raw.flags & re.VERBOSE:
                raise _Refused(f"check {prepared.label!r} uses verbose mode")
            if pattern is not None:
                raise _Refused(f"check {prepared.label!r} is a second pattern")
            pattern, matched = text, frozenset({prepared.label})
        elif name == "str_startswith":
            prefix = str(stats["string"])
        elif name == "str_endswith":
            suffix = str(stats["string"])
        elif name == "str_length":
            exact = stats.get("exact_value")
            length = (exact, exact) if exact is not None else (
                stats.get("min_value") or 0, stats.get("max_value")
            )  # fmt: skip
    if pattern is None:
        pattern = _plain_pattern(prefix, suffix, length)
    try:
        compiled = StringPattern(pattern)
    except RegexUnsupported as exc:
        raise _Refused(
            f"check str_matches({pattern!r}) uses {exc}, outside what synthesize generates "
            f"(literals, ., [classes], \\d \\w \\s, groups with |, quantifiers ? * + {{n,m}}, "
            f"anchors ^ $)"
        ) from None

    empty_allowed = compiled.shortest > 0 or compiled.width == 0

    def draw(rng: np.random.Generator, k: int) -> pd.Series:
        values = compiled.draw(rng, k)
        if not empty_allowed:
            # an empty value reads back as missing from a CSV file: draw those again
            for _ in range(ROUNDS_EMPTY):
                empty = np.flatnonzero(pc.equal(pc.binary_length(values), 0).to_numpy(False))
                if not len(empty):
                    break
                values = pc.replace_with_mask(
                    values, _mask(k, empty), compiled.draw(rng, len(empty))
                )
        return typed(values, rule.dtype)

    capacity = compiled.capacity if compiled.capacity < 2**62 else None
    return ColumnPlan(rule, kind, draw, capacity=capacity, built_in=matched)


def _mask(k: int, positions: np.ndarray) -> pa.Array:
    mask = np.zeros(k, dtype=bool)
    mask[positions] = True
    return pa.array(mask)


def _plain_pattern(prefix: str, suffix: str, length: tuple[int, int | None] | None) -> str:
    fixed = len(prefix) + len(suffix)
    lo, hi = (3, 10) if length is None else (length[0], length[1])
    lo = max(lo - fixed, 0 if length is not None else 1)
    hi = lo + 8 if hi is None else max(hi - fixed, lo)
    if length is None or length[0] == 0:
        lo = min(max(lo, 1), hi)  # an empty value reads back as missing from a CSV file
    return f"{re.escape(prefix)}[a-z]{{{lo},{hi}}}{re.escape(suffix)}"
