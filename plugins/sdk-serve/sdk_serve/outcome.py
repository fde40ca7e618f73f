"""What one request's unit produced, and the answer it makes: outputs and quarantine as JSON.

The answer is 200 with the outputs of the records that came through and the quarantine
records of those that did not, or 422 with the same shape when none came through (every record
quarantined, or none sent). Floats keep 15 significant digits; a quarantine record's ``row``
is the record as it was received, a JSON object.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
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
        records = _quarantine_json(pd.concat(quarantine, ignore_index=True)) if quarantine else "[]"
        outputs = ",".join(
            f"{json.dumps(name)}:{_records_json(self.frames.get(name))}" for name in self.outputs
        )
        body = (
            f'{{"run_id":{json.dumps(run_id)},"request_id":{json.dumps(request_id)},'
            f'"outputs":{{{outputs}}},"quarantine":{records}}}'
        )
        rows_in, quarantined = self.rows_in, self.quarantined
        status = 422 if rows_in == 0 or quarantined >= rows_in else 200
        rows_out = sum(len(f) for f in self.frames.values())
        return Answer(status, body.encode(), rows_in, rows_out, quarantined, self.checks())


def _records_json(frame: pd.DataFrame | None) -> str:
    if frame is None or not len(frame):
        return "[]"
    return frame.to_json(orient="records", date_format="iso", double_precision=15)


def _quarantine_json(frame: pd.DataFrame) -> str:
    records = frame.to_dict(orient="records")
    for record in records:
        record["row"] = json.loads(record["row"]) if isinstance(record["row"], str) else {}
        for key, value in record.items():
            if isinstance(value, float) and value != value:  # NaN: a missing text
                record[key] = None
    return json.dumps(records, default=str, separators=(",", ":"))


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _add(a.get(k), b.get(k)) for k in {*a, *b}}
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    return b
