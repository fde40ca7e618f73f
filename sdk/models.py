"""Pandera models compiled once for fast, repeated, row-level validation.

A ``DataFrameModel`` is turned into a :class:`CompiledModel`: its columns with their dtype,
nullability, uniqueness and pandera checks, each check's pandas backend resolved once, so that
validating a frame costs one vectorised pass per check (see :mod:`sdk.validation`). Model
features the SDK cannot validate row by row are refused here, when the model is compiled.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.api.checks import Check

from sdk.errors import StepDefinitionError

__all__ = ["ColumnRule", "CompiledModel", "PreparedCheck", "compile_model"]


_PER_VALUE = frozenset(
    {"str_matches", "str_contains", "str_startswith", "str_endswith", "str_length"}
)
"""Built-in checks that judge each text value on its own, whatever the other rows."""
_PER_VALUE_MIN_ROWS = 50_000
_SAMPLE_ROWS = 8_192
_SAMPLE_MAX_DISTINCT = 2_048  # a quarter of the sample: factorising then pays off
_MEMO_MAX_ROWS = 64
"""A per-value check on at most this many text rows looks its verdicts up (small batches)."""
_MEMO_MAX_VALUES = 4_096
_COMPARISONS: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "greater_than": (operator.gt, "min_value"),
    "greater_than_or_equal_to": (operator.ge, "min_value"),
    "less_than": (operator.lt, "max_value"),
    "less_than_or_equal_to": (operator.le, "max_value"),
}
"""Built-in checks that are one comparison with a bound (pandera: ``data >= min_value``)."""


def _check_signature(prepared: PreparedCheck) -> tuple[Any, ...]:
    """What a check tests: equal signatures, same verdicts (a custom check by its function)."""
    check = prepared.check
    fn = check._check_fn
    builtin = check.is_builtin_check(getattr(fn, "__name__", ""))
    return (check.name, repr(check.statistics), str(check.error), None if builtin else id(fn))


@attrs.frozen
class PreparedCheck:
    """A pandera check with its pandas backend resolved once.

    Attributes:
        per_value: the check is a built-in that judges each text value alone (a regex, a
            prefix, a length), so on a long column that repeats few values it is evaluated
            once per distinct value and the verdicts are spread back to the rows: the same
            output; a regex over a million short codes takes two thirds of the time, over a
            million product codes (longer values) a third.
    """

    label: str
    check: Check
    backend: Any
    per_value: bool = False
    compare: tuple[Callable[[Any, Any], Any], Any] | None = None
    """A built-in comparison with a number (operator, bound): on a numeric numpy column it is
    that operator on the column's array, which is what pandas computes, without a Series."""
    signature: tuple[Any, ...] = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_check_signature, takes_self=True)
    )
    _verdicts: dict[Any, dict[str, bool]] = attrs.field(
        init=False, eq=False, repr=False, factory=dict
    )

    def apply(self, data: pd.Series | pd.DataFrame) -> Any:
        """Return the check's raw output on ``data`` (a boolean Series or array, frame or
        scalar)."""
        if self.check.groupby is not None:
            return self.check(data).check_output
        if self.compare is not None and isinstance(data, pd.Series):
            dtype = data.dtype
            if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
                op, bound = self.compare
                return op(data.to_numpy(), bound)
        if self.per_value and isinstance(data, pd.Series):
            if len(data) <= _MEMO_MAX_ROWS and isinstance(data.dtype, pd.StringDtype):
                looked_up = self._look_up(data)
                if looked_up is not None:
                    return looked_up
            if _repetitive_text(data):
                return self._per_distinct(data)
        return self.backend.apply(data)

    def _look_up(self, data: pd.Series) -> np.ndarray | None:
        """The verdicts on a few text values, each evaluated once per dtype and remembered."""
        values = data.tolist()
        if not all(type(v) is str for v in values):
            return None
        # entries are only ever added, so a concurrent reader never misses one it has seen
        known = self._verdicts.setdefault(data.dtype, {})
        new = list(dict.fromkeys(v for v in values if v not in known))
        if not new:
            return np.array([known[v] for v in values], dtype=bool)
        verdicts = self.backend.apply(pd.Series(new, dtype=data.dtype))
        if not (
            isinstance(verdicts, pd.Series)
            and len(verdicts) == len(new)
            and verdicts.dtype == np.bool_
        ):
            return None
        fresh = dict(zip(new, verdicts.tolist(), strict=True))
        if len(known) + len(fresh) <= _MEMO_MAX_VALUES:
            known.update(fresh)
        return np.array([fresh[v] if v in fresh else known[v] for v in values], dtype=bool)

    def _per_distinct(self, data: pd.Series) -> Any:
        codes, distinct = pd.factorize(data)
        # the distinct values, then one missing value for the rows coded -1
        table = distinct.take(np.append(np.arange(len(distinct)), -1), allow_fill=True)
        verdicts = self.backend.apply(pd.Series(table, dtype=data.dtype))
        if isinstance(verdicts, pd.Series) and len(verdicts) == len(table):
            spread = verdicts.array.take(np.where(codes < 0, len(distinct), codes))
            return pd.Series(spread, index=data.index, name=data.name)
        return self.backend.apply(data)


def _repetitive_text(series: pd.Series) -> bool:
    """Whether ``series`` is a long text column whose first rows repeat few values."""
    return (
        len(series) >= _PER_VALUE_MIN_ROWS
        and isinstance(series.dtype, pd.StringDtype)
        and series.iloc[:_SAMPLE_ROWS].nunique() <= _SAMPLE_MAX_DISTINCT
    )


def _dtype_name(rule: ColumnRule) -> str:
    return str(rule.dtype)


def _signatures(rule: ColumnRule) -> frozenset[tuple[Any, ...]]:
    return frozenset(c.signature for c in rule.checks)


def _names(compiled: CompiledModel) -> frozenset[str]:
    return frozenset(c.name for c in compiled.columns)


@attrs.frozen
class ColumnRule:
    """What a model requires of one column."""

    name: str
    dtype: Any
    nullable: bool
    unique: bool
    required: bool
    checks: tuple[PreparedCheck, ...]
    dtype_name: str = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_dtype_name, takes_self=True)
    )
    signatures: frozenset[tuple[Any, ...]] = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_signatures, takes_self=True)
    )
    """What the checks test (:meth:`sdk.validation.ProvenColumns.covers` compares them)."""


@attrs.frozen
class CompiledModel:
    """A pandera ``DataFrameModel`` prepared for fast repeated validation."""

    model: type[pa.DataFrameModel]
    columns: tuple[ColumnRule, ...]
    frame_checks: tuple[PreparedCheck, ...]
    strict: bool | str
    unique: tuple[str, ...]
    known: frozenset[str] = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_names, takes_self=True)
    )
    """The model's column names (a frame's other columns are extra)."""

    @property
    def column_names(self) -> list[str]:
        """The model's column names, in order."""
        return [c.name for c in self.columns]


def _prepare(check: Check, probe: pd.Series | pd.DataFrame) -> PreparedCheck:
    # pandera registers its backends and built-in check functions on a first call; a probe on
    # empty data may fail for custom checks, which is fine.
    with contextlib.suppress(Exception):
        check(probe)
    backend = check.get_backend(probe)(check)
    builtin = check.is_builtin_check(getattr(check._check_fn, "__name__", ""))
    plain = builtin and check.groupby is None and not check.element_wise
    return PreparedCheck(
        label=str(check.error or check.name),
        check=check,
        backend=backend,
        per_value=plain and check.name in _PER_VALUE,
        compare=_comparison(check) if plain else None,
    )


def _comparison(check: Check) -> tuple[Callable[[Any, Any], Any], Any] | None:
    """The operator and bound of a built-in comparison with a number (not NaN); else None."""
    if check.name not in _COMPARISONS:
        return None
    op, key = _COMPARISONS[check.name]
    bound = (check.statistics or {}).get(key)
    if isinstance(bound, int | float) and not isinstance(bound, bool) and bound == bound:
        return op, bound
    return None


@functools.cache
def compile_model(model: type[pa.DataFrameModel]) -> CompiledModel:
    """Compile ``model`` once (cached per model class).

    Raises:
        StepDefinitionError: the model has index fields or a ``regex=True`` column.
    """
    schema = model.to_schema()
    if schema.index is not None:
        raise StepDefinitionError(
            f"model {model.__name__}: index fields are not validated by the SDK; declare the "
            f"values as a column instead"
        )
    probe = pd.Series([], dtype=object)
    rules = []
    for name, column in schema.columns.items():
        if column.regex:
            raise StepDefinitionError(
                f"model {model.__name__}: column {name!r} uses regex=True, which the SDK cannot "
                f"validate row by row; declare each column by name"
            )
        rules.append(
            ColumnRule(
                name=str(name),
                dtype=column.dtype,
                nullable=bool(column.nullable),
                unique=bool(column.unique),
                required=bool(column.required),
                checks=tuple(_prepare(c, probe) for c in column.checks),
            )
        )
    frame_probe = pd.DataFrame({r.name: pd.Series([], dtype=object) for r in rules})
    unique = schema.unique
    return CompiledModel(
        model=model,
        columns=tuple(rules),
        frame_checks=tuple(_prepare(c, frame_probe) for c in schema.checks),
        strict=schema.strict,
        unique=tuple([unique] if isinstance(unique, str) else (unique or ())),
    )
