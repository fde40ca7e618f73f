"""What one request's unit produced, and the answer it makes: outputs and quarantine as JSON.

The answer is 200 with the outputs of the records that came through and the quarantine
records of those that did not, or 422 with the same shape when none came through (every record
quarantined, or none sent). Floats keep 15 significant digits; a quarantine record's ``row``
is the record as it was received, a JSON object.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import Any

import attrs
import numpy as np
import orjson
import pandas as pd

import sdk

__all__ = ["Answer", "Outcome"]


@attrs.frozen
class Answer:
    """The answer to one request: status, JSON body, and what the metrics count."""

    status: int
    body: bytes
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    checks: dict[tuple[str, str], int] = attrs.field(factory=dict)


class Outcome:
    """A request's unit, run but not committed: its results and what the answer says."""

    def __init__(self, outputs: list[str]) -> None:
        self.outputs = outputs
        self.results: list[tuple[sdk.Stage, sdk.UnitResult]] = []
        self.rejected: list[sdk.UnitResult] = []
        self.frames: dict[str, pd.DataFrame] = {}

    def add(self, stage: sdk.Stage, result: sdk.UnitResult) -> None:
        if not self.results and self.rejected:  # counted with the first stage's unit
            for extra in self.rejected:
                self.results.append((stage, extra))
        self.results.append((stage, result))

    def add_rejected(self, result: sdk.UnitResult) -> None:
        self.rejected.append(result)

    @property
    def rows_in(self) -> int:
        return sum(r.rows_in for _, r in self.results)

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for _, r in self.results for c in r.counts.values())

    def summary(self, unit: str) -> sdk.UnitSummary:
        steps: dict[str, dict[str, Any]] = {}
        for _, result in self.results:
            for step, values in sdk.UnitSummary.of(unit, 0, result).steps.items():
                merged = steps.setdefault(step, {})
                for key, value in values.items():
                    merged[key] = _add(merged.get(key), value)
        return sdk.UnitSummary(unit, 0, self.rows_in, self.quarantined, steps)

    def checks(self) -> dict[tuple[str, str], int]:
        """Quarantined rows by (step, check), for the metrics."""
        out: dict[tuple[str, str], int] = {}
        for _, result in self.results:
            for (step, _, _), counts in result.counts.items():
                for checks in counts.failures.values():
                    for check, n in checks.items():
                        out[(step, check)] = out.get((step, check), 0) + n
        return out

    def answer(self, run_id: str, request_id: str) -> Answer:
        """200 with outputs and quarantine; 422 (same shape) when no record came through."""
        quarantine = [r.quarantine for _, r in self.results if len(r.quarantine)]
        records = _records(pd.concat(quarantine, ignore_index=True)) if quarantine else []
        rows = [record["row"] if isinstance(record["row"], str) else "{}" for record in records]
        for record, row in zip(records, rows, strict=True):  # JSON text already: embedded
            record["row"] = orjson.Fragment(row)
        document = {
            "run_id": run_id,
            "request_id": request_id,
            "outputs": {name: _records(self.frames.get(name)) for name in self.outputs},
            "quarantine": records,
        }
        try:
            body = orjson.dumps(document, default=_jsonable, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # an integer beyond 64 bits (passed through from the request)
            for record, row in zip(records, rows, strict=True):
                record["row"] = json.loads(row)
            body = json.dumps(
                _finite(document), default=_jsonable, allow_nan=False, separators=(",", ":")
            ).encode()
        rows_in, quarantined = self.rows_in, self.quarantined
        status = 422 if rows_in == 0 or quarantined >= rows_in else 200
        rows_out = sum(len(f) for f in self.frames.values())
        return Answer(status, body, rows_in, rows_out, quarantined, self.checks())


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A frame's rows as dicts of Python values, column by column (no per-cell pandas)."""
    if frame is None or not len(frame):
        return []
    columns = [str(c) for c in frame.columns]
    values = [_values(frame.iloc[:, i]) for i in range(len(columns))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _values(column: pd.Series) -> list[Any]:
    """A column's values; infinities as the text ``"inf"``/``"-inf"`` (JSON has no number for
    them: the convention of the quarantine's rows and the JSON lines sink), NaN as null."""
    values = column.tolist()
    if pd.api.types.is_float_dtype(column.dtype):
        infinite = np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
        for i in np.flatnonzero(infinite):
            values[i] = "inf" if values[i] > 0 else "-inf"
    return values


def _finite(value: Any) -> Any:
    """``value`` with NaN as None and infinities as text, all the way down (what orjson does
    itself, for the standard library's writer)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    """What ``orjson`` does not know: missing markers, timestamps, decimals, numpy values.
    Floats are written exactly (shortest round-trip form); NaN as null."""
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | pd.Timedelta | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _add(a.get(k), b.get(k)) for k in {*a, *b}}
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    return b
