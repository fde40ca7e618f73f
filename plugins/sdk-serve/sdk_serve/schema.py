"""JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of one record (row) of a pandera model.

The schema is the *contract*, the intended types and checks, not every form the server takes
(a coercing model also takes ``"12.5"`` for a float; records breaking the schema are quarantined,
not rejected). What JSON Schema cannot state is listed in descriptions, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import dtypes
from pandera.api.checks import Check
from pandera.errors import SchemaError, SchemaErrors

import sdk

__all__ = ["example_records", "record_schema"]

_ECMA_SPECIAL = frozenset("\\^$.|?*+()[]{}/")
"""Characters escaped in a literal pattern: the syntax characters of ECMA-262 and Python."""
_BOUNDS = {
    "greater_than_or_equal_to": ("min_value", "minimum"),
    "greater_than": ("min_value", "exclusiveMinimum"),
    "less_than_or_equal_to": ("max_value", "maximum"),
    "less_than": ("max_value", "exclusiveMaximum"),
}
"""Comparison checks: the statistic holding the bound, the JSON Schema keyword."""
_NUMPY_PLAIN = (np.number, np.bool_, np.str_)
"""numpy scalars whose ``item()`` is a JSON value (not datetime64: its ``item()`` is an int)."""


class _Inexpressible(Exception):
    """A check (or a value of it) that JSON Schema cannot state."""


def record_schema(model: type[pa.DataFrameModel]) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one record of ``model``.

    A property per column: the type of its dtype (int -> ``integer``, float, decimal ->
    ``number``, bool -> ``boolean``, text, object -> ``string``, datetime, date -> ``string`` of
    format ``date-time``, ``date``, category with levels -> ``enum``; other dtypes, e.g.
    timedelta, unconstrained), ``null`` if nullable, built-in checks as keywords; custom checks
    and unstatable built-ins are listed in its description, as are unique columns and
    dataframe-level checks in the record's. Required non-nullable columns are ``required``;
    extra keys are allowed; index fields are not part of a record.

    Args:
        model: the pandera ``DataFrameModel`` of the records.

    Returns:
        The schema, a JSON-serialisable dict.
    """
    schema = model.to_schema()
    properties: dict[str, Any] = {}
    patterns: dict[str, Any] = {}
    required: list[str] = []
    across: list[str] = []
    for name, column in schema.columns.items():
        prop = _column_schema(column)
        if column.regex:
            patterns[_anchored(str(name))] = prop
            continue
        properties[str(name)] = prop
        if column.required and not column.nullable:
            required.append(str(name))
        if column.unique:
            across.append(f"{name} is unique")
    if schema.unique:
        unique = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        across.append(f"unique together: {', '.join(map(str, unique))}")
    across += [f"dataframe check: {_label(check)}" for check in schema.checks]
    notes = [_first_paragraph(model.__doc__), "Across records: " + "; ".join(across) + "."]
    result: dict[str, Any] = {"type": "object", "title": model.__name__}
    if text := "\n\n".join(note for note in notes[: 2 if across else 1] if note):
        result["description"] = text
    result["properties"] = properties
    if patterns:
        result["patternProperties"] = patterns
    result |= {"required": required, "additionalProperties": True}
    return result


def example_records(
    model: type[pa.DataFrameModel], n: int = 2, seed: int = 0
) -> list[dict[str, Any]]:
    """Return ``n`` valid, JSON-serialisable records of ``model``.

    Rows of :func:`sdk.simulate.synthesize`, validated; missing values become ``None``, numpy
    scalars Python ones, datetimes ISO 8601 text (naive ones with ``Z``), dates ``YYYY-MM-DD``.

    Args:
        model: the pandera ``DataFrameModel`` of the records.
        n: how many records.
        seed: the random seed of the synthesis.

    Returns:
        The records, or ``[]`` when ``synthesize`` cannot satisfy the model (a custom or
        dataframe-level check, an unsupported pattern or dtype) or its rows fail validation.
    """
    try:
        frame = model.validate(sdk.synthesize(model, n, seed=seed))
    except (sdk.PipelineError, sdk.StepDefinitionError, SchemaError, SchemaErrors):
        return []
    return [
        {str(key): _json_value(value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _column_schema(column: Any) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    dtype = column.dtype
    unexpressed: list[str] = []
    levels = getattr(dtype, "categories", None)
    if isinstance(dtype, dtypes.Category) and levels is not None:
        try:
            prop["enum"] = _with_null([_plain(c) for c in levels], column.nullable)
        except _Inexpressible:
            unexpressed.append(f"categories {list(levels)!r}")
    elif (kind := _json_type(dtype)) is not None:
        prop["type"] = [kind[0], "null"] if column.nullable else kind[0]
        prop |= {"format": kind[1]} if kind[1] else {}
        prop |= {"minimum": 0} if dtypes.is_uint(dtype) else {}
    for check in column.checks:
        try:
            _add(prop, _check_keywords(check, column.nullable))
        except _Inexpressible:
            unexpressed.append(_label(check))
    _allow_infinity(prop)
    if column.title:
        prop["title"] = column.title
    notes = [column.description] if column.description else []
    if unexpressed:
        notes.append("also checked: " + ", ".join(unexpressed))
    if notes:
        prop["description"] = "; ".join(notes)
    return prop


def _allow_infinity(prop: dict[str, Any]) -> None:
    """A float column the checks leave unbounded takes infinities, which JSON writes as the
    text ``"inf"``/``"-inf"`` (the server reads and answers them so): ``pattern`` applies to
    that text only, ``minimum``/``maximum`` to numbers only."""
    kinds = prop.get("type")
    if "number" not in (kinds if isinstance(kinds, list) else [kinds]):
        return
    up = "maximum" not in prop and "exclusiveMaximum" not in prop
    down = "minimum" not in prop and "exclusiveMinimum" not in prop
    if not (up or down) or "enum" in prop or "const" in prop:
        return
    prop["type"] = [*(kinds if isinstance(kinds, list) else [kinds]), "string"]
    prop["pattern"] = "^-?inf$" if up and down else ("^inf$" if up else "^-inf$")


def _json_type(dtype: Any) -> tuple[str, str | None] | None:
    if isinstance(dtype, dtypes.Date):  # pandera's Timestamp (datetime) subclasses Date
        return "string", "date-time" if dtypes.is_datetime(dtype) else "date"
    if dtypes.is_bool(dtype):
        return "boolean", None
    if dtypes.is_int(dtype):
        return "integer", None
    if dtypes.is_float(dtype) or isinstance(dtype, dtypes.Decimal):
        return "number", None
    if dtypes.is_string(dtype) or str(dtype) == "object":
        return "string", None
    return None


def _check_keywords(check: Check, nullable: bool) -> dict[str, Any]:
    """The JSON Schema keywords of one built-in check; raise ``_Inexpressible`` otherwise."""
    name, stats = check.name, check.statistics or {}
    if name in _BOUNDS:
        key, keyword = _BOUNDS[name]
        return {keyword: _number(stats[key])}
    if name == "in_range":
        lower = "minimum" if stats.get("include_min", True) else "exclusiveMinimum"
        upper = "maximum" if stats.get("include_max", True) else "exclusiveMaximum"
        return {lower: _number(stats["min_value"]), upper: _number(stats["max_value"])}
    if name in ("isin", "equal_to"):
        values = stats["allowed_values"] if name == "isin" else [stats["value"]]
        plain = [_plain(v) for v in values]
        if name == "equal_to" and not nullable:
            return {"const": plain[0]}
        return {"enum": _with_null(plain, nullable)}
    if name in ("notin", "not_equal_to"):
        values = stats["forbidden_values"] if name == "notin" else [stats["value"]]
        return {"not": {"enum": [_plain(v) for v in values]}}
    if name in ("str_matches", "str_contains"):
        pattern = stats["pattern"]
        if isinstance(pattern, re.Pattern):
            if pattern.flags & ~re.UNICODE:
                raise _Inexpressible
            pattern = pattern.pattern
        return {"pattern": _anchored(pattern) if name == "str_matches" else str(pattern)}
    if name == "str_startswith":
        return {"pattern": "^" + _escape(stats["string"])}
    if name == "str_endswith":
        return {"pattern": _escape(stats["string"]) + "$"}
    if name == "str_length":
        exact, low, high = stats.get("exact_value"), stats.get("min_value"), stats.get("max_value")
        low, high = (exact, exact) if exact is not None else (low, high)
        bounds = {"minLength": low, "maxLength": high}
        return {k: int(v) for k, v in bounds.items() if v is not None}
    raise _Inexpressible


def _add(prop: dict[str, Any], keywords: dict[str, Any]) -> None:
    """Merge keywords into a property: the tighter bound wins, others stack in ``allOf``."""
    for key, value in keywords.items():
        if key not in prop:
            prop[key] = value
        elif key in ("minimum", "exclusiveMinimum"):
            prop[key] = max(prop[key], value)
        elif key in ("maximum", "exclusiveMaximum"):
            prop[key] = min(prop[key], value)
        elif prop[key] != value:
            prop.setdefault("allOf", []).append({key: value})


def _with_null(values: list[Any], nullable: bool) -> list[Any]:
    return [*values, None] if nullable and None not in values else values


def _number(value: Any) -> int | float:
    """A bound as a JSON number; a bound of another kind (a date, text) is inexpressible."""
    value = value.item() if isinstance(value, _NUMPY_PLAIN) else value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Inexpressible
    return value


def _plain(value: Any) -> Any:
    """A value of a check as JSON (text, number, boolean); other kinds are inexpressible."""
    value = value.item() if isinstance(value, _NUMPY_PLAIN) else value
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _Inexpressible


def _json_value(value: Any) -> Any:
    """A value of a synthesized frame as JSON: missing -> None, timestamps -> ISO text."""
    if value is None or (np.ndim(value) == 0 and bool(pd.isna(value))):
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    value = value.item() if isinstance(value, _NUMPY_PLAIN) else value
    if isinstance(value, dt.datetime):  # pd.Timestamp too; naive times are read back as UTC
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, dt.date | pd.Timedelta):
        return value.isoformat()
    return value if isinstance(value, str | bool | int | float) else str(value)


def _anchored(pattern: str) -> str:
    """pandera matches a pattern at the start of the text (``re.match``); JSON Schema searches."""
    return pattern if pattern.startswith("^") else f"^(?:{pattern})"


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _ECMA_SPECIAL else c for c in str(text))


def _label(check: Check) -> str:
    name = str(check.name)
    if not check.statistics:
        return name
    args = ", ".join(f"{k}={v!r}" for k, v in check.statistics.items() if v is not None)
    return f"{name}({args})"


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").strip()
    return " ".join(text.split("\n\n")[0].split()) if text else ""
