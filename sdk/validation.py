"""Row-level validation of a frame against a pandera model, with per-row isolation.

Each model is compiled once: its columns, dtypes and pandera checks are prepared so that a
boundary costs one vectorised pass per check. Rows that fail (missing, malformed, out of
range) are separated from the rows that pass; failures that cannot be attributed to rows
raise :class:`sdk.SchemaViolation`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.api.checks import Check
from pandera.errors import ParserError

from sdk.errors import SchemaViolation, StepDefinitionError

__all__ = [
    "BoundaryCheck",
    "CompiledModel",
    "ProvenColumns",
    "Validated",
    "compile_model",
    "validate_frame",
]

NOT_NULLABLE = "not_nullable"
UNIQUE = "field_uniqueness"


@attrs.frozen
class PreparedCheck:
    """A pandera check with its pandas backend resolved once."""

    label: str
    check: Check
    backend: Any

    def apply(self, data: pd.Series | pd.DataFrame) -> Any:
        """Return the check's raw output on ``data`` (a boolean Series, frame or scalar)."""
        if self.check.groupby is not None:
            return self.check(data).check_output
        return self.backend.apply(data)


@attrs.frozen
class ColumnRule:
    """What a model requires of one column."""

    name: str
    dtype: Any
    nullable: bool
    unique: bool
    required: bool
    checks: tuple[PreparedCheck, ...]


@attrs.frozen
class CompiledModel:
    """A pandera ``DataFrameModel`` prepared for fast repeated validation."""

    model: type[pa.DataFrameModel]
    columns: tuple[ColumnRule, ...]
    frame_checks: tuple[PreparedCheck, ...]
    strict: bool | str
    unique: tuple[str, ...]

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
    return PreparedCheck(label=str(check.error or check.name), check=check, backend=backend)


@functools.cache
def compile_model(model: type[pa.DataFrameModel]) -> CompiledModel:
    """Compile ``model`` once (cached per model class)."""
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


def _matches(series: pd.Series, dtype: Any) -> bool:
    """Whether ``series`` already has exactly the model's dtype (no coercion needed)."""
    if dtype is None:
        return True
    try:
        return bool(series.dtype == dtype.type)
    except TypeError:
        return False


_BOOL_TEXT = {
    "true": True,
    "false": False,
    "t": True,
    "f": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
}


def _parse_numbers(series: pd.Series, target: Any) -> pd.Series:
    """Text to numbers; unparsable values become missing (the caller marks them malformed)."""
    arrow = getattr(series.array, "__arrow_array__", None)
    if arrow is not None and pd.api.types.is_string_dtype(series.dtype):
        # Arrow's strict parser is fast on clean columns (it accepts a subset of what
        # to_numeric does); any value it refuses sends the column to the per-value path
        import pyarrow as pa
        import pyarrow.compute as pc

        values = arrow()
        is_float = pd.api.types.is_float_dtype(target)
        # Arrow's integer parser also reads hexadecimal ("0x1F"), which to_numeric refuses
        if is_float or not pc.any(pc.match_substring(values, "x", ignore_case=True)).as_py():
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                parsed = pc.cast(values, pa.float64() if is_float else pa.int64())
                return pd.Series(
                    parsed.to_numpy(zero_copy_only=False), index=series.index, name=series.name
                )
    return pd.to_numeric(series, errors="coerce")


def _not_integral(numbers: pd.Series, target: np.dtype) -> np.ndarray:
    """Rows whose number is not a whole number that fits ``target`` (overflow included)."""
    info = np.iinfo(target)
    kind = numbers.dtype.kind if isinstance(numbers.dtype, np.dtype) else "f"
    if kind in "iu":
        values = numbers.to_numpy()
        if values.dtype.kind == "u":
            return values > np.uint64(info.max)
        if np.iinfo(values.dtype).min >= info.min and np.iinfo(values.dtype).max <= info.max:
            return np.zeros(len(values), dtype=bool)
        return (values < info.min) | (values > info.max)
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        fractional = np.isfinite(values) & (np.floor(values) != values)
        # float(info.max) rounds up to 2**63 for int64: anything at or above it overflows
        out_of_range = (values < float(info.min)) | (values >= float(info.max) + 1.0)
    return fractional | np.isinf(values) | out_of_range


def _lenient(series: pd.Series, dtype: Any) -> tuple[pd.Series, np.ndarray | None]:
    """Coerce ``series`` towards ``dtype`` value by value.

    Returns the coerced series (missing where a value could not be coerced) and a mask of
    malformed rows (``None`` when none are).
    """
    target = dtype.type
    notna = series.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series):
            numbers = series
        else:
            numbers = _parse_numbers(series, target)
            if pd.api.types.is_bool_dtype(numbers.dtype):
                numbers = numbers.astype("float64")
        bad = notna & numbers.isna().to_numpy()
        if pd.api.types.is_integer_dtype(target):
            bad |= _not_integral(numbers, np.dtype(getattr(target, "numpy_dtype", target)))
            numbers = numbers.mask(bad) if bad.any() else numbers
            if pd.api.types.is_float_dtype(numbers.dtype) or numbers.isna().any():
                numbers = (
                    numbers.astype("Int64") if numbers.isna().any() else numbers.astype(target)
                )
        elif bad.any():
            numbers = numbers.mask(bad)
        try:
            coerced = dtype.coerce(numbers) if not numbers.isna().any() else numbers
        except (TypeError, ValueError, OverflowError):
            coerced = numbers
        return coerced, (bad if bad.any() else None)
    if pd.api.types.is_bool_dtype(target) and not pd.api.types.is_bool_dtype(series.dtype):
        mapped = series.map(
            lambda v: _BOOL_TEXT.get(str(v).strip().lower()) if v is not None else None,
            na_action="ignore",
        )
        bad = notna & mapped.isna().to_numpy()
        coerced = mapped.astype("boolean")
        if not coerced.isna().any():
            coerced = coerced.astype(bool)
        return coerced, (bad if bad.any() else None)
    try:
        return dtype.try_coerce(series), None
    except ParserError as exc:
        cases = exc.failure_cases
        positions = np.asarray(cases.get("index", []), dtype=np.int64)
        bad = np.zeros(len(series), dtype=bool)
        bad[positions] = True
        if not bad.any():
            bad = notna.copy()
        try:
            coerced = dtype.try_coerce(series.mask(bad))
        except ParserError:
            coerced = series.mask(bad)
        return coerced, bad


def _signature(check: Check) -> tuple[Any, ...]:
    fn = check._check_fn
    builtin = check.is_builtin_check(getattr(fn, "__name__", ""))
    return (check.name, repr(check.statistics), str(check.error), None if builtin else id(fn))


def _identity(series: pd.Series) -> tuple[Any, ...] | None:
    """Where a column's data lives: equal identities mean the very same array."""
    values = series.array
    if isinstance(series.dtype, np.dtype):
        array = series.to_numpy(copy=False)
        info = array.__array_interface__
        return ("numpy", info["data"][0], info["shape"], info["strides"], array.dtype.str)
    if hasattr(values, "__arrow_array__"):
        chunked = values.__arrow_array__()
        chunks = getattr(chunked, "chunks", [chunked])
        buffers = tuple(
            (b.address, b.size) if b is not None else None for c in chunks for b in c.buffers()
        )
        return ("arrow", buffers, tuple(c.offset for c in chunks), len(series), str(series.dtype))
    return None


class ProvenColumns:
    """Columns already validated in this run, recognised by the identity of their arrays.

    Copy-on-write (pandas >= 3) guarantees that an array validated once cannot change in
    place, so a step's output column that *is* a validated input column needs no re-check
    under rules that are no stricter. Without copy-on-write nothing is ever proven.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[Any, ...], tuple[ColumnRule, pd.Series]] = {}
        self.enabled = _copy_on_write()

    def remember(self, frame: pd.DataFrame, compiled: CompiledModel) -> None:
        """Record the columns of a frame that passed validation against ``compiled``."""
        if not self.enabled:
            return
        for rule in compiled.columns:
            if rule.name in frame.columns:
                series = frame[rule.name]
                key = _identity(series)
                if key is not None:
                    # holding the series keeps its memory from being reused by another array
                    self._seen[key] = (rule, series)

    def covers(self, series: pd.Series, rule: ColumnRule) -> bool:
        """Whether ``series`` is a column already validated under rules implying ``rule``."""
        if not self._seen:
            return False
        key = _identity(series)
        entry = self._seen.get(key) if key is not None else None
        if entry is None:
            return False
        done = entry[0]
        return (
            str(done.dtype) == str(rule.dtype)
            and (rule.nullable or not done.nullable)
            and (done.unique or not rule.unique)
            and {_signature(c.check) for c in rule.checks}
            <= {_signature(c.check) for c in done.checks}
        )

    def clear(self) -> None:
        """Forget everything (chunked runners call this between chunks)."""
        self._seen.clear()


def _copy_on_write() -> bool:
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return bool(pd.get_option("mode.copy_on_write") is True)


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
    n = len(frame)
    missing = [r.name for r in compiled.columns if r.required and r.name not in frame.columns]
    if missing:
        raise _violation(
            where,
            missing[0],
            "column_in_dataframe",
            f"missing column(s) {', '.join(map(repr, missing))} (have "
            f"{', '.join(map(str, frame.columns))}); add them or mark them required=False",
        )
    known = set(compiled.column_names)
    extra = [c for c in frame.columns if c not in known]
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
    positional = frame.reset_index(drop=True) if n else frame
    for rule in compiled.columns:
        if rule.name not in frame.columns:
            continue
        series = positional[rule.name]
        if proven is not None and proven.covers(frame[rule.name], rule):
            continue
        if not _matches(series, rule.dtype):
            series, malformed = _lenient(series, rule.dtype)
            columns[rule.name] = series
            if malformed is not None:
                failures.append(
                    (np.flatnonzero(malformed), rule.name, f"coerce_dtype('{rule.dtype}')")
                )
                bad |= malformed
        else:
            malformed = None
        notna = series.notna().to_numpy()
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
    return _assemble(frame, compiled, columns, failures, bad, extra)


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
    out = frame if passed is None else frame.take(passed)
    if changed:
        updates = {}
        for name, series in changed.items():
            values = series if passed is None else series.take(passed)
            values = _final_dtype(values, rules[name].dtype)
            updates[name] = values.set_axis(out.index)
        out = out.assign(**updates)
    if extra and compiled.strict == "filter":
        out = out.drop(columns=extra)
    return Validated(out, passed, failures, counts, n, quarantined)


def _final_dtype(values: pd.Series, dtype: Any) -> pd.Series:
    if values.dtype == dtype.type:
        return values
    try:
        return dtype.coerce(values)
    except (TypeError, ValueError, OverflowError, ParserError):
        return values
