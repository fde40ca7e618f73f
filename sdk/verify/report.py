"""What ``sdk.verify`` reports: each broken property a :class:`Violation`, all of them in a
:class:`VerifyReport` (as text, HTML in a notebook, or JSON-able data)."""

from __future__ import annotations

import html
import json
from typing import Any

import attrs
import pandas as pd

__all__ = ["PROPERTIES", "VerifyReport", "Violation"]

PROPERTIES = ("runs", "rows", "partition_by", "deterministic", "no_input_mutation")
"""The property names a :class:`Violation` may carry."""


@attrs.define(eq=False)
class Violation:
    """A property a step declares (or every step must have) that failed on sample data.

    Attributes:
        step: the step's name in the pipeline.
        property: what broke: ``"runs"`` (the step raised), ``"rows"``, ``"partition_by"``,
            ``"deterministic"`` or ``"no_input_mutation"``.
        message: what was observed, in words.
        example: a few input rows (of the step's first input) that show the problem.
        suggestion: how to fix it, e.g. the scope to declare.
    """

    step: str
    property: str
    message: str
    example: pd.DataFrame
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        """The violation as JSON-able data (the example as a list of row records)."""
        return {
            "step": self.step,
            "property": self.property,
            "message": self.message,
            "suggestion": self.suggestion,
            "example": _records(self.example),
        }


@attrs.define(eq=False)
class VerifyReport:
    """What :func:`sdk.verify.verify_pipeline` found.

    Attributes:
        pipeline: the pipeline's name.
        sample_rows: rows used of each pipeline input.
        checked: per step, the properties that were checked.
        skipped: per step not checked, why (an upstream step failed).
        violations: every violation found, in pipeline order.
        rows_out: per step checked, the rows of its validated output on the sample (a join
            that matches nothing shows 0).
        sampled_by_key: the inputs sampled together by key, as text (``"flights and weather
            by origin, time_hour (joined by 'join')"``); other inputs are sampled alone.
    """

    pipeline: str
    sample_rows: dict[str, int]
    checked: dict[str, list[str]]
    skipped: dict[str, str]
    violations: list[Violation]
    rows_out: dict[str, int] = attrs.Factory(dict)
    sampled_by_key: list[str] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        """Whether no violation was found (and no step was skipped)."""
        return not self.violations and not self.skipped

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            "pipeline": self.pipeline,
            "ok": self.ok,
            "sample_rows": dict(self.sample_rows),
            "checked": {k: list(v) for k, v in self.checked.items()},
            "skipped": dict(self.skipped),
            "violations": [v.to_dict() for v in self.violations],
            "rows_out": dict(self.rows_out),
            "sampled_by_key": list(self.sampled_by_key),
        }

    def __str__(self) -> str:
        rows = ", ".join(f"{k} {v} rows" for k, v in self.sample_rows.items())
        status = "ok" if self.ok else f"{len(self.violations)} violation(s)"
        lines = [f"verify {self.pipeline!r} on a sample ({rows}): {status}"]
        lines += [f"  sampled by key: {joint}" for joint in self.sampled_by_key]
        for name, props in self.checked.items():
            bad = sorted({v.property for v in self.violations if v.step == name})
            mark = f"FAILED {', '.join(bad)}" if bad else "ok"
            out = f" ({self.rows_out[name]} rows out)" if name in self.rows_out else ""
            lines.append(f"  {name}: checked {', '.join(props)}: {mark}{out}")
        for name, why in self.skipped.items():
            lines.append(f"  {name}: not checked: {why}")
        for v in self.violations:
            lines.append("")
            lines.append(f"step {v.step!r} breaks {v.property!r}: {v.message}")
            lines.append(f"  fix: {v.suggestion}")
            if len(v.example):
                lines.append(f"  example ({len(v.example)} input row(s)):")
                lines += [f"    {line}" for line in v.example.to_string().splitlines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        status = "ok" if self.ok else f"{len(self.violations)} violation(s)"
        parts = [f"<h4>verify {esc(self.pipeline)}: {esc(status)}</h4>", "<ul>"]
        parts += [f"<li>sampled by key: {esc(joint)}</li>" for joint in self.sampled_by_key]
        for name, props in self.checked.items():
            bad = sorted({v.property for v in self.violations if v.step == name})
            mark = f"<b>FAILED {esc(', '.join(bad))}</b>" if bad else "ok"
            out = f" ({self.rows_out[name]} rows out)" if name in self.rows_out else ""
            parts.append(f"<li>{esc(name)}: checked {esc(', '.join(props))}: {mark}{out}</li>")
        for name, why in self.skipped.items():
            parts.append(f"<li>{esc(name)}: not checked: {esc(why)}</li>")
        parts.append("</ul>")
        for v in self.violations:
            parts.append(
                f"<p><b>{esc(v.step)}</b> breaks <code>{esc(v.property)}</code>: "
                f"{esc(v.message)}<br>fix: {esc(v.suggestion)}</p>"
            )
            if len(v.example):
                parts.append(v.example.to_html())
        return "\n".join(parts)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(
        frame.reset_index(drop=True).to_json(orient="records", date_format="iso")
    )
    return result
