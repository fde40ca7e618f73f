"""Lenient coercion: a column converted towards a model's dtype value by value.

pandera coerces a column whole, so one malformed value fails the column. Here each value that
cannot be converted becomes missing and is reported in a mask, so validation can quarantine
exactly the malformed rows and keep the rest (see :mod:`sdk.validation`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd
from pandera.errors import ParserError

__all__ = ["coerce_lenient", "coerce_passed", "has_dtype"]


def has_dtype(series: pd.Series, dtype: Any) -> bool:
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


def coerce_lenient(series: pd.Series, dtype: Any) -> tuple[pd.Series, np.ndarray | None]:
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


def coerce_passed(values: pd.Series, dtype: Any) -> pd.Series:
    """Convert the rows that passed to ``dtype``, which succeeds once malformed rows are gone.

    Returns ``values`` unchanged if the conversion still fails.
    """
    if values.dtype == dtype.type:
        return values
    try:
        return dtype.coerce(values)
    except (TypeError, ValueError, OverflowError, ParserError):
        return values
