"""Valid rows drawn from a pandera model's dtypes and checks."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from sdk.errors import ParamsError, PipelineError
from sdk.models import compile_model
from sdk.simulate._columns import ColumnPlan, Generator, plan_column
from sdk.simulate._rules import failing

__all__ = ["synthesize"]

ROUNDS = 50
"""How many times values failing a check (or repeated in a unique column) are drawn again."""

SPOT_CHECK = 1000
"""How many values of each column are checked against the checks they satisfy by construction."""

NULL_SHARE = 0.02
"""The share of missing values in a nullable column (none in unique or generated columns)."""


def _rng(seed: int, name: str, stream: int = 0) -> np.random.Generator:
    # one generator per column, keyed by its name: a column's values depend on the seed and
    # the column alone, not on the other columns of the model
    return np.random.default_rng([seed, zlib.crc32(name.encode()), stream])


def _holds_missing(dtype: Any) -> bool:
    target = getattr(dtype, "type", None)
    if isinstance(target, np.dtype):
        return target.kind in "fmMO"
    return target is not None  # pandas' extension dtypes (Int64, boolean, str, category)


def synthesize(
    model: type[pa.DataFrameModel],
    n: int,
    *,
    seed: int = 0,
    generators: Mapping[str, Generator] | None = None,
) -> pd.DataFrame:
    """Return ``n`` rows that pass ``model``'s validation, drawn with numpy.

    Each column is drawn from its dtype and built-in checks: ranges (``ge``, ``gt``, ``le``,
    ``lt``, ``in_range``), sets (``isin``, ``eq``), text (``str_matches`` for a subset of regular
    expressions, ``str_length``, ``str_startswith``, ``str_endswith``); values failing any check
    (``ne``, ``notin``, a combination) are drawn again. Unique columns and the model's
    ``unique`` column sets hold no repeats; nullable columns that can hold a missing value get
    about 2 % of them. The same ``seed`` gives the same frame, and a column's values do not
    depend on the model's other columns (except to make a unique column set unique).

    Where the checks leave room: integers span 10,000 values (at least ``10 * n`` for a unique
    column) from the lower bound up, or from the upper one down, or from 0; floats span 1,000,
    in cents when the range is at least 1 wide; datetimes are whole seconds over six years from
    2020-01-01; text without a pattern is 3 to 10 lowercase letters; a category without declared
    levels takes one of ``level_0`` to ``level_7``.

    Args:
        model: the pandera ``DataFrameModel``.
        n: how many rows.
        seed: the random seed (a non-negative integer).
        generators: per column name, ``fn(rng, n)`` returning ``n`` values for that column,
            used instead of its checks (its values must still pass them). Give one for each
            column whose checks synthesize cannot satisfy.

    Returns:
        A frame with the model's columns, in order, of its dtypes, indexed ``0..n-1``.

    Raises:
        ParamsError: ``n`` or ``seed`` is not a non-negative integer.
        PipelineError: checks that cannot be satisfied, every one listed with its column and
            the fix: a custom check, a pattern outside the subset, an unsupported dtype, a
            dataframe-level check, a unique column with fewer possible values than ``n``,
            contradicting checks, a generator that is unknown or fails.
        StepDefinitionError: the model cannot be compiled (index fields, ``regex=True``).
    """
    for name, value in (("n", n), ("seed", seed)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
            raise ParamsError(f"synthesize: {name} must be a non-negative integer, got {value!r}")
    n, seed = int(n), int(seed)
    compiled = compile_model(model)
    label = model.__name__
    given = dict(generators or {})
    problems = []
    unknown = sorted(set(given) - set(compiled.column_names))
    if unknown:
        problems.append(
            f"generators: {', '.join(map(repr, unknown))} not a column of {label} (columns: "
            f"{', '.join(compiled.column_names)})"
        )
    problems += [
        f"generators[{k!r}] is not callable" for k, fn in given.items() if not callable(fn)
    ]
    problems += [
        f"{label}: dataframe-level check {check.label!r} cannot be satisfied column by column; "
        f"synthesize a model without it (e.g. its parent class) and adjust the rows"
        for check in compiled.frame_checks
    ]
    plans: dict[str, ColumnPlan] = {}
    for rule in compiled.columns:
        plan = plan_column(rule, n, given.get(rule.name), label)
        if isinstance(plan, list):
            problems += plan
            continue
        plans[rule.name] = plan
        if rule.unique and plan.capacity is not None and plan.capacity < n:
            problems.append(
                f"{label}.{rule.name}: unique, but its checks allow only {plan.capacity} "
                f"distinct values for n={n}; ask for fewer rows or widen the checks"
            )
    if compiled.unique and all(name in plans for name in compiled.unique):
        capacities = [plans[name].capacity for name in compiled.unique]
        if None not in capacities and int(np.prod([float(c or 0) for c in capacities])) < n:
            problems.append(
                f"{label}: the unique columns {', '.join(compiled.unique)} allow fewer than "
                f"n={n} distinct combinations; ask for fewer rows or widen the checks"
            )
    if problems:
        raise PipelineError(
            f"cannot synthesize {label}: {len(problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in problems),
            problems,
        )
    frame = pd.DataFrame(
        {name: _column(plan, _rng(seed, name), n, label) for name, plan in plans.items()},
        index=pd.RangeIndex(n),
    )
    if compiled.unique:
        frame = _unique_rows(frame, plans, list(compiled.unique), seed, label)
    return _with_missing(frame, plans, set(compiled.unique), seed)


def _column(plan: ColumnPlan, rng: np.random.Generator, n: int, model: str) -> pd.Series:
    rule = plan.rule
    try:
        dense = plan.capacity is not None and plan.capacity <= 4 * n
        if rule.unique and plan.distinct is not None and dense:
            values = plan.distinct(rng, n)
        elif rule.unique:
            return _distinct(plan, rng, n, model)
        else:
            values = plan.draw(rng, n)
    except PipelineError:
        raise
    except Exception as exc:
        if not plan.generated:
            raise
        raise PipelineError(
            f"{model}.{rule.name}: its generator failed: {type(exc).__name__}: {exc}; it is "
            f"called as fn(rng, n) and must return n values of dtype {rule.dtype}"
        ) from exc
    values = _repair(plan, rng, values.reset_index(drop=True), np.arange(n), model)
    return _spot_checked(plan, values, model)


def _spot_checked(plan: ColumnPlan, values: pd.Series, model: str) -> pd.Series:
    """Check the first rows against every check, also those the plan satisfies by
    construction (a pattern it draws from): a wrong generator shows at once."""
    bad, what = failing(plan.rule.checks, values.iloc[:SPOT_CHECK])
    if bad.any():
        raise PipelineError(
            f"{model}.{plan.rule.name}: synthesize drew a value failing {what!r} "
            f"({values.iloc[:SPOT_CHECK][bad].iloc[0]!r}); pass generators="
            f"{{{plan.rule.name!r}: fn}} with fn(rng, n) returning n valid values, and report "
            f"the pattern as a bug"
        )
    return values


def _distinct(plan: ColumnPlan, rng: np.random.Generator, n: int, model: str) -> pd.Series:
    """``n`` distinct valid values: draw more than needed, keep the first of each value."""
    capacity = plan.capacity
    if capacity is None or capacity > 1000 * n:
        wanted = n * 1.01
    else:  # the expected number of draws to see n distinct values out of ``capacity``
        wanted = min(20.0 * n, -capacity * math.log1p(-min(n / capacity, 0.999)) * 1.05)
    values = plan.draw(rng, 0)
    for _ in range(ROUNDS):
        drawn = plan.draw(rng, math.ceil(wanted) + 64)
        bad, _ = failing(plan.checks, drawn)
        values = pd.concat([values, drawn[~bad]], ignore_index=True)
        values = values[~values.duplicated().to_numpy() & values.notna().to_numpy()]
        if len(values) >= n:
            return _spot_checked(plan, values.iloc[:n].reset_index(drop=True), model)
        wanted = (n - len(values)) * 1.5
    raise PipelineError(
        f"{model}.{plan.rule.name}: after {ROUNDS} draws, fewer than n={n} distinct valid "
        f"values; ask for fewer rows or widen its checks"
    )


def _repair(
    plan: ColumnPlan, rng: np.random.Generator, values: pd.Series, suspects: np.ndarray, model: str
) -> pd.Series:
    """Draw again the values (among ``suspects``) that fail a check or repeat in a unique
    column, until none does."""
    rule = plan.rule
    what: str | None = None
    for _ in range(ROUNDS):
        bad_local, what = failing(plan.checks, values.iloc[suspects])
        bad = suspects[bad_local]
        if rule.unique:
            repeated = values.duplicated().to_numpy() & values.notna().to_numpy()
            if repeated.any():
                bad = np.union1d(bad, np.flatnonzero(repeated))
                what = what or "unique"
        if not len(bad):
            return values
        values.iloc[bad] = plan.draw(rng, len(bad)).array
        suspects = bad
    source = "its generator's values" if plan.generated else "values"
    raise PipelineError(
        f"{model}.{rule.name}: after {ROUNDS} draws, {len(bad)} of the {source} still fail "
        f"{what!r}; the column's checks may contradict each other or leave too few values; "
        f"pass generators={{{rule.name!r}: fn}} with fn(rng, n) returning n valid values"
    )


def _unique_rows(
    frame: pd.DataFrame, plans: dict[str, ColumnPlan], subset: list[str], seed: int, model: str
) -> pd.DataFrame:
    """Draw the ``subset`` columns of repeated rows again until the combinations are unique."""
    for attempt in range(ROUNDS):
        repeated = np.flatnonzero(frame.duplicated(subset=subset).to_numpy())
        if not len(repeated):
            return frame
        for name in subset:
            plan = plans[name]
            rng = _rng(seed, name, stream=2 + attempt)
            values = frame[name].copy()
            values.iloc[repeated] = plan.draw(rng, len(repeated)).array
            frame[name] = _repair(plan, rng, values, repeated, model)
    raise PipelineError(
        f"{model}: after {ROUNDS} draws, rows still repeat over the unique columns "
        f"{', '.join(subset)}; ask for fewer rows or widen their checks"
    )


def _with_missing(
    frame: pd.DataFrame, plans: dict[str, ColumnPlan], unique: set[str], seed: int
) -> pd.DataFrame:
    """Make about :data:`NULL_SHARE` of each nullable column's values missing."""
    for name, plan in plans.items():
        rule = plan.rule
        if (
            not rule.nullable
            or rule.unique
            or name in unique
            or plan.generated
            or not _holds_missing(rule.dtype)
            or not all(c.check.ignore_na for c in rule.checks)
        ):
            continue
        missing = _rng(seed, name, stream=1).random(len(frame)) < NULL_SHARE
        if missing.any():
            frame[name] = frame[name].mask(missing)
    return frame
