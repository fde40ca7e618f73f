"""What a run returns: outputs, quarantine, validation report, identity and timing."""

from __future__ import annotations

import html
from typing import Any

import attrs
import pandas as pd

__all__ = ["REPORT_COLUMNS", "RunResult"]

REPORT_COLUMNS = (
    "step",
    "boundary",
    "dataset",
    "rows",
    "passed",
    "quarantined",
    "skipped",
    "failures",
)
"""Columns of :attr:`RunResult.report`, one row per validation boundary."""


@attrs.define(repr=False)
class RunResult:
    """The result of a pipeline run.

    Attributes:
        run_id: the run's id (in every log record and quarantine row).
        pipeline: the pipeline's name.
        runner: the runner that executed it.
        status: ``"succeeded"``.
        outputs: every dataset produced, by name (runners that stream to their destinations
            keep only what fits in memory; see the runner's docs).
        quarantine: the quarantine records (see ``docs/quarantine.md``).
        report: one row per validation boundary: rows in, passed, quarantined, whether the
            validation was skipped as proven redundant, and failures by column and check.
        rows_in: rows read from the pipeline's inputs.
        duration_ms: wall time of the run.
        written: the URIs written, by dataset (and ``"quarantine"``).
        quarantined: rows quarantined, each counted once.
    """

    run_id: str
    pipeline: str
    runner: str
    status: str
    outputs: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    report: pd.DataFrame
    rows_in: int
    duration_ms: float
    written: dict[str, str] = attrs.field(factory=dict)
    quarantined: int = 0

    @property
    def invalid_fraction(self) -> float:
        """Quarantined rows as a fraction of the rows read."""
        return self.quarantined / self.rows_in if self.rows_in else 0.0

    def summary(self) -> dict[str, Any]:
        """A plain dict: run id, status, rows in/out by dataset, quarantined, duration."""
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "runner": self.runner,
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_out": {k: len(v) for k, v in self.outputs.items()},
            "quarantined": self.quarantined,
            "duration_ms": round(self.duration_ms, 1),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"RunResult(run_id={s['run_id']!r}, pipeline={s['pipeline']!r}, "
            f"status={s['status']!r}, "
            f"rows_in={s['rows_in']}, rows_out={s['rows_out']}, quarantined={s['quarantined']}, "
            f"duration_ms={s['duration_ms']})"
        )

    def _repr_html_(self) -> str:
        s = self.summary()
        head = (
            f"<h4>Run {html.escape(s['run_id'])} of {html.escape(s['pipeline'])}: "
            f"{html.escape(s['status'])} in {s['duration_ms']:.0f} ms "
            f"({html.escape(s['runner'])})</h4>"
            f"<p>{s['rows_in']} rows in; out: "
            + ", ".join(f"{html.escape(k)} {v}" for k, v in s["rows_out"].items())
            + f"; {s['quarantined']} quarantined</p>"
        )
        quarantine = self.quarantine.head(20).to_html(index=False) if len(self.quarantine) else ""
        return (
            head
            + self.report.to_html(index=False)
            + (
                f"<p>Quarantine (first {min(20, len(self.quarantine))} of "
                f"{len(self.quarantine)}):</p>" + quarantine
                if quarantine
                else ""
            )
        )
