"""Row-level validation of a frame against a pandera model, with per-row isolation.

Each model is compiled once (:mod:`sdk.models`) so that a boundary costs one vectorised pass
per check; columns are coerced value by value (:mod:`sdk.coercion`). Rows that fail (missing,
malformed, out of range) are separated from the rows that pass; failures that cannot be
attributed to rows raise :class:`sdk.SchemaViolation`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from sdk._proven import Key, ProvenColumns, identity
from sdk.coercion import coerce_lenient, coerce_passed, has_dtype
from sdk.errors import SchemaViolation

# compiled models lived here; importers of these names from sdk.validation keep working
from sdk.models import ColumnRule as ColumnRule
from sdk.models import CompiledModel as CompiledModel
from sdk.models import PreparedCheck as PreparedCheck
from sdk.models import compile_model as compile_model

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "BoundaryCheck",
    "ProvenColumns",
    "Validated",
    "checks_across_rows",
    "validate_frame",
]

NOT_NULLABLE = "not_nullable"
UNIQUE = "field_uniqueness"
FIELD_COUNT = "field_count"
MALFORMED = "__sdk_malformed__"
"""A reader's column holding the raw text of a record that is not a row (quarantined)."""


@attrs.define
class Validated:
    """The result of validating one frame at one boundary.

    Attributes:
        frame: the rows that passed, coerced to the model's dtypes (original index labels).
        passed: positions of the passed rows in the input frame, or ``None`` if all passed.
        failures: per failed (column, check), the positions of the rows that failed it.
        counts: per column, per check, how many rows failed it.
        rows: rows in; ``quarantined``: distinct rows removed.
    """

    frame: pd.DataFrame
    passed: np.ndarray | None
    failures: list[tuple[np.ndarray, str | None, str]]
    counts: dict[str, dict[str, int]]
    rows: int
    quarantined: int


@attrs.frozen
class BoundaryCheck:
    """Where a validation happens: which step, which side, which dataset."""

    step: str
    boundary: str
    dataset: str


def _violation(where: BoundaryCheck, column: str | None, check: str, what: str) -> SchemaViolation:
    subject = f"column {column!r}" if column else "the dataframe"
    return SchemaViolation(
        f"step {where.step!r}, {where.boundary} {where.dataset!r}: {subject} failed {check}: "
        f"{what}",
        dataset=where.dataset,
        column=column,
        check=check,
        step=where.step,
        boundary=where.boundary,
    )


def _isolate(prepared: PreparedCheck, series: pd.Series, notna: np.ndarray) -> np.ndarray:
    """Evaluate a check that raised on the whole column, bisecting to the values that raise.

    Costs O(k log n) check calls for k offending values; those values fail the check.
    """
    ok = np.ones(len(series), dtype=bool)

    def probe(positions: np.ndarray) -> None:
        if len(positions) == 0:
            return
        try:
            output = prepared.apply(series.iloc[positions])
        except Exception:
            if len(positions) == 1:
                ok[positions[0]] = False
                return
            half = len(positions) // 2
            probe(positions[:half])
            probe(positions[half:])
            return
        if isinstance(output, pd.DataFrame):
            output = output.all(axis=1)
        if isinstance(output, pd.Series | np.ndarray) and len(output) == len(positions):
            ok[positions] = pd.Series(output).fillna(True).to_numpy(dtype=bool)
        elif not bool(np.all(output)):
            ok[positions] = False

    probe(np.flatnonzero(notna))
    return ok


def _check_mask(
    output: Any, n: int, ignore_na: bool, notna: np.ndarray | None
) -> np.ndarray | None:
    """Return the mask of failing rows from a check's output; ``None`` if not row-shaped."""
    if isinstance(output, pd.DataFrame):
        output = output.all(axis=1)
    if isinstance(output, pd.Series | np.ndarray) and len(output) == n:
        if output.dtype == np.bool_:  # the usual result: nothing missing to fill
            ok = output.to_numpy() if isinstance(output, pd.Series) else output
        else:
            ok = pd.Series(output).fillna(ignore_na).to_numpy(dtype=bool)
        fail = ~ok
        return fail & notna if (ignore_na and notna is not None) else fail
    return None


def validate_frame(
    frame: pd.DataFrame,
    compiled: CompiledModel,
    where: BoundaryCheck,
    proven: ProvenColumns | None = None,
) -> Validated:
    """Validate ``frame`` against ``compiled``; separate passing rows from failing ones.

    Columns that ``proven`` knows to be the very same arrays as columns already validated
    under rules at least as strict are not checked again.

    Raises:
        SchemaViolation: a required column is missing, an unexpected column under
            ``strict=True``, or a check whose result cannot be attributed to rows failed.
    """
    if MALFORMED in frame.columns:
        return _without_malformed(frame, compiled, where, proven)
    n = len(frame)
    present = frame.columns
    rules = [r for r in compiled.columns if r.name in present]
    missing = [r.name for r in compiled.columns if r.required and r.name not in present]
    if missing:
        raise _violation(
            where,
            missing[0],
            "column_in_dataframe",
            f"missing column(s) {', '.join(map(repr, missing))} (have "
            f"{', '.join(map(str, frame.columns))}); add them or mark them required=False",
        )
    known = compiled.known
    # as many columns as model columns found: none is extra (nor a duplicate)
    extra = [] if len(rules) == len(present) else [c for c in present if c not in known]
    if extra and compiled.strict is True:
        raise _violation(
            where,
            str(extra[0]),
            "column_in_schema",
            f"unexpected column(s) {', '.join(map(repr, extra))} in a strict model; drop them "
            f"or set strict='filter'",
        )
    failures: list[tuple[np.ndarray, str | None, str]] = []
    bad = np.zeros(n, dtype=bool)
    columns: dict[str, pd.Series] = {}
    positional = frame if not n or _numbered(frame.index) else frame.reset_index(drop=True)
    keeper = proven if proven is not None and proven.enabled else None
    seen: list[tuple[Key, ColumnRule, pd.Series]] = []  # identities, for proven.remember
    for rule in rules:
        series = positional[rule.name]  # the frame's own array, numbered from 0
        if keeper is not None:
            key = identity(series)
            if key is not None:
                seen.append((key, rule, series))
                if keeper.covers_key(key, rule):
                    continue
        if not has_dtype(series, rule.dtype):
            series, refused = coerce_lenient(series, rule.dtype)
            columns[rule.name] = series
            malformed = None
            for check, rows in refused.items():
                failures.append((np.flatnonzero(rows), rule.name, check))
                malformed = rows if malformed is None else malformed | rows
            if malformed is not None:
                bad |= malformed
        else:
            malformed = None
        notna = _notna(series)
        if not rule.nullable:
            nulls = ~notna if malformed is None else (~notna & ~malformed)
            if nulls.any():
                failures.append((np.flatnonzero(nulls), rule.name, NOT_NULLABLE))
                bad |= nulls
        if rule.unique:
            dup = series.duplicated(keep=False).to_numpy() & notna
            if dup.any():
                failures.append((np.flatnonzero(dup), rule.name, UNIQUE))
                bad |= dup
        for prepared in rule.checks:
            if not notna.any() and prepared.check.ignore_na:
                break
            try:
                output = prepared.apply(series)
            except Exception:
                # some values make the check itself raise: find them, they are row failures
                output = _isolate(prepared, series, notna)
            fail = _check_mask(output, n, prepared.check.ignore_na, notna)
            if fail is None:
                if not bool(np.all(output)):
                    raise _violation(where, rule.name, prepared.label, "not true for the column")
                continue
            if fail.any():
                failures.append((np.flatnonzero(fail), rule.name, prepared.label))
                bad |= fail
    if compiled.frame_checks or compiled.unique:
        typed = positional.assign(**columns) if columns else positional
        if compiled.unique:
            dup = typed.duplicated(subset=list(compiled.unique), keep=False).to_numpy()
            if dup.any():
                failures.append(
                    (np.flatnonzero(dup), ",".join(compiled.unique), "multiple_fields_uniqueness")
                )
                bad |= dup
        for prepared in compiled.frame_checks:
            output = prepared.apply(typed)
            fail = _check_mask(output, n, False, None)
            if fail is None:
                if not bool(np.all(output)):
                    raise _violation(where, None, prepared.label, "not true for the dataframe")
                continue
            if fail.any():
                failures.append((np.flatnonzero(fail), None, prepared.label))
                bad |= fail
    result = _assemble(frame, compiled, columns, failures, bad, extra)
    if keeper is not None and result.frame is frame and positional is frame:
        keeper.validated(frame, compiled, seen)
    return result


def _notna(series: pd.Series) -> np.ndarray:
    """The rows holding a value (what ``Series.notna`` gives, without building a Series)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iubf":
        if dtype.kind == "f":
            return ~np.isnan(series.to_numpy())
        return np.ones(len(series), dtype=bool)
    # the array's own isna: Series.notna builds a Series, ~45 µs a column at any size
    return ~np.asarray(series.array.isna(), dtype=bool)


def _numbered(index: pd.Index) -> bool:
    """Whether ``index`` is already 0, 1, 2, ... (what ``reset_index(drop=True)`` gives)."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _without_malformed(
    frame: pd.DataFrame, compiled: CompiledModel, where: BoundaryCheck, proven: ProvenColumns | None
) -> Validated:
    """Quarantine the reader's malformed records (``field_count``); validate the other rows."""
    bad = frame[MALFORMED].notna().to_numpy()
    good = np.flatnonzero(~bad)
    result = validate_frame(frame.drop(columns=MALFORMED).take(good), compiled, where, proven)
    failures = [(good[positions], column, check) for positions, column, check in result.failures]
    if bad.any():
        failures.append((np.flatnonzero(bad), None, FIELD_COUNT))
        result.counts.setdefault("<dataframe>", {})[FIELD_COUNT] = int(bad.sum())
    passed = good if result.passed is None else good[result.passed]
    quarantined = result.quarantined + int(bad.sum())
    return Validated(
        result.frame, None if quarantined == 0 else passed, failures, result.counts, len(frame),
        quarantined,
    )  # fmt: skip


def _assemble(
    frame: pd.DataFrame,
    compiled: CompiledModel,
    columns: dict[str, pd.Series],  # only the columns that were coerced
    failures: list[tuple[np.ndarray, str | None, str]],
    bad: np.ndarray,
    extra: list[Any],
) -> Validated:
    n = len(frame)
    counts: dict[str, dict[str, int]] = {}
    for positions, column, check in failures:
        per = counts.setdefault(column or "<dataframe>", {})
        per[check] = per.get(check, 0) + len(positions)
    quarantined = int(bad.sum())
    passed = None if quarantined == 0 else np.flatnonzero(~bad)
    rules = {r.name: r for r in compiled.columns}
    changed = columns
    if passed is None and not changed and not (extra and compiled.strict == "filter"):
        return Validated(frame, None, failures, counts, n, 0)
    out = frame
    if changed:  # coerced columns replace the raw ones first, so each column is taken once
        out = out.assign(**{name: s.set_axis(frame.index) for name, s in changed.items()})
    if passed is not None:
        out = out.take(passed)
    if changed:
        # once the malformed rows are gone, a column may take the model's exact dtype
        updated = {}
        for name in changed:
            current = out[name]
            values = coerce_passed(current, rules[name].dtype)
            if values is not current:
                updated[name] = values
        if updated:
            out = out.assign(**updated)
    if extra and compiled.strict == "filter":
        out = out.drop(columns=extra)
    return Validated(out, passed, failures, counts, n, quarantined)


def checks_across_rows(models: Iterable[type[pa.DataFrameModel] | None]) -> bool:
    """Whether validating any of ``models`` needs all the rows at once (a unique column, a
    unique set of columns, a dataframe-level check): such a step cannot run in pieces."""
    for model in models:
        if model is None:
            continue
        compiled = compile_model(model)
        if compiled.unique or compiled.frame_checks or any(c.unique for c in compiled.columns):
            return True
    return False
