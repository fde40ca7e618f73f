"""Lenient coercion: a column converted towards a model's dtype value by value.

pandera coerces a column whole, so one malformed value fails the column. Here each value that
cannot be converted becomes missing and is reported under the check it failed, so validation can
quarantine exactly those rows and keep the rest (see :mod:`sdk.validation`).

Whatever the other values of a column, a value is read the same way (so chunks of a file give
the rows of the whole file): integers exactly, never through float; text spelling NaN is
``not_a_number``, not missing (only an empty field is missing); a number beyond its dtype's
range is malformed, never clamped or rounded to infinity; datetimes are ISO 8601 unless the
dtype's ``to_datetime_kwargs`` say otherwise. docs/quarantine.md states the rules.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandera.engines import pandas_engine
from pandera.errors import ParserError

__all__ = ["NOT_A_NUMBER", "coerce_lenient", "coerce_passed", "has_dtype"]

NOT_A_NUMBER = "not_a_number"
"""The check of a text value spelling NaN in a numeric column."""

_NAN = re.compile(r"\s*[+-]?nan\s*", re.IGNORECASE)
_INFINITY = re.compile(r"\s*[+-]?inf(inity)?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
# at most 18 digits always fit int64; a zero fraction ("12.0") is still an integer
_PLAIN_INT = r"^[+-]?[0-9]{1,18}(\.0*)?$"
_PLAIN_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# an ISO 8601 time followed by Z or an offset (a date alone, "2024-01-02", has neither)
_ISO_OFFSET = r"(?i)[T ][0-9].*(?:z|[+-][0-9]{2}(?::?[0-9]{2})?)$"


def has_dtype(series: pd.Series, dtype: Any) -> bool:
    """Whether ``series`` already has exactly the model's dtype (no coercion needed)."""
    if dtype is None:
        return True
    try:
        same = bool(series.dtype == dtype.type)
    except TypeError:
        return False
    if same and isinstance(dtype, pandas_engine.Date):  # objects: dates, or text beside them?
        return pd.api.types.infer_dtype(series, skipna=True) in ("date", "empty")
    return same


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


def _text(series: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array; ``None`` unless all text."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        values = pa.array(series.array)
    elif series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
        "string",
        "empty",
    ):
        values = pa.array(series.to_numpy(), type=pa.string(), from_pandas=True)
    else:
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values


def _matching(text: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(text, pattern), False).to_numpy(
        zero_copy_only=False
    )


def _spells(values: list[Any], pattern: re.Pattern[str]) -> np.ndarray:
    return np.array([isinstance(v, str) and bool(pattern.fullmatch(v)) for v in values], bool)


def _exact_integer(value: Any) -> int | None:
    """The integer ``value`` stands for exactly, or ``None`` if it is not a whole number."""
    if isinstance(value, bool | int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if np.isfinite(value) and float(value).is_integer() else None
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value.strip()):
            return None
        value = Decimal(value.strip())
    if isinstance(value, Decimal):
        with contextlib.suppress(InvalidOperation):
            if value.is_finite() and value.adjusted() < 40 and value == value.to_integral_value():
                return int(value)
    return None


def _parse_integers(
    series: pd.Series, target: np.dtype
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Text or Python objects to exact integers: (values, malformed rows, NaN-text rows)."""
    n = len(series)
    notna = series.notna().to_numpy()
    info = np.iinfo(target)
    plain = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    text = _text(series)
    if text is not None:
        # Arrow's parser is exact and fast on plain digits; it also reads hexadecimal, which is
        # not a number here, but only as a leading "0x"/"0X" ("+0x1F" or " 0x1F" fail the cast):
        # a prefix test costs a third of a search through each value
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            cast = pc.cast(text, pa.int64())
            if not any(pc.any(pc.starts_with(text, prefix)).as_py() for prefix in ("0x", "0X")):
                plain = pc.fill_null(cast, 0).to_numpy()
                done = notna.copy()
        if not done.any():
            text = pc.utf8_trim_whitespace(text)
            done = _matching(text, _PLAIN_INT)
            if done.any():
                digits = pc.replace_substring_regex(pc.filter(text, done), r"^\+|\.0*$", "")
                plain[done] = pc.cast(digits, pa.int64()).to_numpy()
        rest = np.flatnonzero(notna & ~done)
        raw = text.take(pa.array(rest, type=pa.int64())).to_pylist() if len(rest) else []
    else:
        rest = np.flatnonzero(notna)
        raw = series.to_numpy(dtype=object)[rest].tolist()
    bad = np.zeros(n, dtype=bool)
    if target == np.uint64:
        bad |= done & (plain < 0)
    elif target != np.int64:
        bad |= done & ((plain < info.min) | (plain > info.max))
    # a copy either way (Arrow's array is read-only, and values are written below)
    values = np.where(bad, 0, plain).astype(target) if bad.any() else plain.astype(target)
    nan_text = np.zeros(n, dtype=bool)
    for position, value in zip(rest, raw, strict=True):
        number = _exact_integer(value)
        if number is not None and info.min <= number <= info.max:
            values[position] = number
        elif isinstance(value, str) and _NAN.fullmatch(value):
            nan_text[position] = True
        else:
            bad[position] = True
    ok = notna & ~bad & ~nan_text
    if ok.all():
        # values is this function's own array: the Series need not copy it again
        return pd.Series(values, index=series.index, name=series.name, copy=False), bad, nan_text
    array = pd.arrays.IntegerArray(values, ~ok)
    return pd.Series(array, index=series.index, name=series.name), bad, nan_text


def _parse_floats(series: pd.Series, target: Any) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Text or Python objects to floats: (values, malformed rows, NaN-text rows)."""
    notna = series.notna().to_numpy()
    text = _text(series)
    if text is not None:
        try:
            parsed = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # one odd value: Arrow for the plain ones, pandas for the rest (few)
            text = pc.utf8_trim_whitespace(text)
            parsed = np.full(len(series), np.nan)
            plain = _matching(text, _PLAIN_FLOAT)
            parsed[plain] = pc.cast(pc.filter(text, plain), pa.float64()).to_numpy()
            rest = np.flatnonzero(notna & ~plain)
            odd = pd.Series(text.take(pa.array(rest, type=pa.int64())).to_pylist(), dtype=object)
            parsed[rest] = pd.to_numeric(odd, errors="coerce").to_numpy(dtype="float64")
    else:
        try:
            numbers = pd.to_numeric(series, errors="coerce")
        except OverflowError:  # a Python int beyond any float (10**400): that value is refused
            numbers = series.map(_float_or_nan, na_action="ignore")
        parsed = numbers.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    unread = np.flatnonzero(notna & np.isnan(parsed))
    nan_text = np.zeros(len(series), dtype=bool)
    bad = np.zeros(len(series), dtype=bool)
    if len(unread):
        spelled = _spells(series.iloc[unread].tolist(), _NAN)
        nan_text[unread[spelled]] = True
        bad[unread[~spelled]] = True
    with np.errstate(over="ignore"):
        typed = parsed.astype(np.dtype(getattr(target, "numpy_dtype", target)))
    infinite = np.flatnonzero(np.isinf(typed))
    if len(infinite):
        # "inf" is a float value; "1e400" is a finite number the dtype cannot hold
        raw = series.iloc[infinite].tolist()
        overflow = ~_spells(raw, _INFINITY) & np.array([isinstance(v, str) for v in raw], bool)
        bad[infinite[overflow]] = True
    refused = bad | nan_text
    if refused.any():
        typed = np.where(refused, np.nan, typed).astype(typed.dtype)
    return pd.Series(typed, index=series.index, name=series.name, copy=False), bad, nan_text


def _has_offset(text: pd.Series, kwargs: dict[str, Any], *, by_pattern: bool) -> np.ndarray:
    """Rows whose text carries a UTC offset or Z (ISO text by pattern, else value by value)."""
    if by_pattern and kwargs.get("format") == "ISO8601":
        return text.str.strip().str.contains(_ISO_OFFSET, regex=True).fillna(False).to_numpy(bool)
    parsed = [pd.to_datetime(v, errors="coerce", **kwargs) for v in text.tolist()]
    return np.array([getattr(v, "tzinfo", None) is not None for v in parsed], dtype=bool)


def _float_or_nan(value: Any) -> float:
    """One value as a float, NaN where it is none (not a number, or beyond a float's range)."""
    try:
        return float(pd.to_numeric(value))
    except (ValueError, TypeError, OverflowError):
        return np.nan


def _parse_datetimes(series: pd.Series, dtype: Any) -> tuple[pd.Series, np.ndarray]:
    """Text (ISO 8601 unless the dtype says otherwise) to datetimes: (values, malformed rows).

    An offset in a naive column is malformed (converting it would pick a zone silently); in a
    zoned column, offsets are converted and naive values taken as wall-clock times there.
    """
    notna = series.notna().to_numpy()
    kwargs = {"format": "ISO8601", **dtype.to_datetime_kwargs}
    kind = pd.api.types.infer_dtype(series, skipna=True)
    bad = np.zeros(len(series), dtype=bool)
    if kind not in ("string", "empty", "datetime", "datetime64", "date"):
        usable = series.map(
            lambda v: isinstance(v, str | datetime.date | np.datetime64), na_action="ignore"
        )
        bad = notna & ~usable.fillna(False).to_numpy(bool)
        series = series.mask(bad)
    if kind in ("string", "empty") and not isinstance(series.dtype, pd.StringDtype):
        series = series.astype("str")
    try:
        parsed = pd.to_datetime(series, errors="coerce", **kwargs)
        aware = np.full(len(series), parsed.dt.tz is not None)
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    except (ValueError, TypeError):
        # naive and zoned values, or several offsets, in one column: parse each kind apart
        text = series.astype(object).where(notna, "")
        aware = _has_offset(text, kwargs, by_pattern=True)
        try:
            naive = pd.to_datetime(series.mask(aware), errors="coerce", **kwargs)
        except (ValueError, TypeError):
            aware = _has_offset(text, kwargs, by_pattern=False)
            naive = pd.to_datetime(series.mask(aware), errors="coerce", **kwargs)
        zoned = pd.to_datetime(series.where(aware), errors="coerce", **{**kwargs, "utc": True})
        parsed = naive.where(~aware, zoned.dt.tz_localize(None))
    unit: Any = np.datetime_data(np.dtype(f"M8[{getattr(dtype, 'unit', 'ns')}]"))[0]
    try:
        parsed = parsed.dt.as_unit(unit)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        lo = pd.Timestamp(np.datetime64(np.iinfo(np.int64).min + 1, unit))
        hi = pd.Timestamp(np.datetime64(np.iinfo(np.int64).max, unit))
        inside = parsed.map(lambda v: lo <= v <= hi, na_action="ignore").fillna(False)
        parsed = parsed.where(inside.to_numpy(bool)).dt.as_unit(unit)
    tz = getattr(dtype, "tz", None)
    if tz is None:
        parsed = parsed.mask(aware)
    else:
        local = parsed.mask(aware).dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        parsed = local.where(~aware, parsed.dt.tz_localize("UTC").dt.tz_convert(tz))
    bad |= notna & parsed.isna().to_numpy()
    return parsed, bad


def coerce_lenient(series: pd.Series, dtype: Any) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Coerce ``series`` towards ``dtype`` value by value.

    Returns the coerced series (missing where a value was refused) and, per check name
    (``coerce_dtype('<dtype>')``, ``not_a_number``), the mask of the rows refused; empty when
    none were.
    """
    target = dtype.type
    if _widens(series.dtype, target):
        # every value fits: nothing can be refused
        return series.astype(target), {}
    malformed = f"coerce_dtype('{dtype}')"
    notna = series.notna().to_numpy()

    def refused(bad: np.ndarray, nan_text: np.ndarray | None = None) -> dict[str, np.ndarray]:
        out = {malformed: bad} if bad.any() else {}
        if nan_text is not None and nan_text.any():
            out[NOT_A_NUMBER] = nan_text
        return out

    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        is_int = pd.api.types.is_integer_dtype(target)
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series):
            numbers, bad, nan_text = series, notna & series.isna().to_numpy(), None
            if is_int:
                bad = bad | _not_integral(numbers, np.dtype(getattr(target, "numpy_dtype", target)))
                numbers = numbers.mask(bad) if bad.any() else numbers
                if pd.api.types.is_float_dtype(numbers.dtype) or numbers.isna().any():
                    numbers = (
                        numbers.astype("Int64") if numbers.isna().any() else numbers.astype(target)
                    )
        elif is_int:
            numbers, bad, nan_text = _parse_integers(
                series, np.dtype(getattr(target, "numpy_dtype", target))
            )
        else:
            numbers, bad, nan_text = _parse_floats(series, target)
        try:
            if numbers.dtype == target:  # already the model's dtype: coercing would copy it
                coerced = numbers
            else:
                coerced = dtype.coerce(numbers) if not numbers.isna().any() else numbers
        except (TypeError, ValueError, OverflowError):
            coerced = numbers
        return coerced, refused(bad, nan_text)
    if pd.api.types.is_bool_dtype(target) and not pd.api.types.is_bool_dtype(series.dtype):
        mapped = series.map(
            lambda v: _BOOL_TEXT.get(str(v).strip().lower()) if v is not None else None,
            na_action="ignore",
        )
        bad = notna & mapped.isna().to_numpy()
        coerced = mapped.astype("boolean")
        if not coerced.isna().any():
            coerced = coerced.astype(bool)
        return coerced, refused(bad)
    if isinstance(dtype, pandas_engine.DateTime) and (
        series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
    ):
        coerced, bad = _parse_datetimes(series, dtype)
        return coerced, refused(bad)
    if isinstance(dtype, pandas_engine.Date) and (
        series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
    ):
        # text and date objects alike (pandera's own coercion let text through beside dates)
        parsed, bad = _parse_datetimes(series, dtype)
        dates = pd.Series(parsed.dt.date, index=series.index, name=series.name, dtype=object)
        return dates.where(parsed.notna().to_numpy(), None), refused(bad)
    try:
        return dtype.try_coerce(series), {}
    except ParserError as exc:
        cases = exc.failure_cases
        bad = np.zeros(len(series), dtype=bool)
        if cases is not None and "index" in cases:
            bad[np.asarray(cases["index"], dtype=np.int64)] = True
        if not bad.any():
            bad = notna.copy()
        try:
            coerced = dtype.try_coerce(series.mask(bad))
        except ParserError:
            # never hand a step a column of the wrong type: refuse every value
            bad = notna.copy()
            coerced = series.mask(bad)
        return coerced, refused(bad)


def _widens(source: Any, target: Any) -> bool:
    """Whether ``source`` and ``target`` are numpy integer dtypes and every value of
    ``source`` is one of ``target`` (int32 to int64, uint8 to int16)."""
    return (
        isinstance(source, np.dtype)
        and isinstance(target, np.dtype)
        and source.kind in "iu"
        and target.kind in "iu"
        and np.can_cast(source, target, "safe")
    )


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
