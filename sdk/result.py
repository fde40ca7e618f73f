"""What a run returns: outputs, quarantine, validation report, identity and timing."""

from __future__ import annotations

import hashlib
import html
import pickle
from collections.abc import Callable
from pathlib import Path
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
            keep only what fits in memory; see the runner's docs), and every artifact its
            steps returned: the fitted object itself, or the metrics mapping.
        quarantine: the quarantine records (see ``docs/quarantine.md``).
        report: one row per validation boundary: rows in, passed, quarantined, whether the
            validation was skipped as proven redundant, and failures by column and check.
        rows_in: rows read from the pipeline's inputs.
        duration_ms: wall time of the run.
        written: the URIs written, by dataset (and ``"quarantine"``).
        quarantined: rows quarantined, each counted once.
        metrics: the metrics the steps returned, ``{output: {name: value}}``.
        artifacts: the artifacts the steps returned, by name: ``type``, the ``step`` that
            returned it, and, once saved, its ``uri``, ``content_hash`` and ``bytes``.
        manifest: the run's manifest (``docs/manifest.md``), also when no run directory was
            written: versions, steps, inputs, outputs, validation, quarantine, policy.
        profile: a profile of each input and output (per column: dtype, nulls, min/max or
            top values), as in the run directory's ``profile.json``; ``None`` if not profiled.
    """

    run_id: str
    pipeline: str
    runner: str
    status: str
    outputs: dict[str, Any]
    quarantine: pd.DataFrame
    _report: pd.DataFrame | Callable[[], pd.DataFrame] = attrs.field(alias="report")
    rows_in: int
    duration_ms: float
    written: dict[str, str] = attrs.field(factory=dict)
    quarantined: int = 0
    metrics: dict[str, dict[str, float | int]] = attrs.field(factory=dict)
    artifacts: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    manifest: dict[str, Any] = attrs.field(factory=dict)
    profile: dict[str, Any] | None = None

    @property
    def report(self) -> pd.DataFrame:
        """One row per validation boundary (built when first read: most runs never read it)."""
        if callable(self._report):
            self._report = self._report()
        return self._report

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
            "rows_out": {k: len(v) for k, v in self.outputs.items() if isinstance(v, pd.DataFrame)},
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

    def report_html(self, path: str | Path | None = None) -> Path:
        """Write this run's HTML report (``docs/report.md``) and return its path.

        Args:
            path: where to write it. By default ``report.html`` in the run's directory, or,
                for a run without one (an in-memory run in a notebook),
                ``report-<run_id>.html`` in the current folder.

        The page is built from this result (its manifest, quarantine and profile), so it
        needs no run directory; ``sdk report RUN_ID`` builds the same page from one.
        """
        from sdk.report import report_of_result
        from sdk.report._model import result_folder

        if path is None:
            folder = result_folder(self)
            path = (
                folder / "report.html" if folder is not None else Path(f"report-{self.run_id}.html")
            )
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(report_of_result(self), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        """The notebook view: identity, the pipeline graph, boundaries, quarantine counts,
        artifacts and metrics, in the report's style (the full page: :meth:`report_html`);
        a plain view when the ``report`` extra (jinja2, networkx) is not installed."""
        from sdk.report import ReportUnavailable, compact_of_result

        s = self.summary()
        extra = self._artifacts_html() + self._quarantine_head_html()
        try:
            return compact_of_result(self, rows_out=s["rows_out"], extra=extra)
        except ReportUnavailable:
            pass
        head = (
            f"<h4>Run {html.escape(s['run_id'])} of {html.escape(s['pipeline'])}: "
            f"{html.escape(s['status'])} in {s['duration_ms']:.0f} ms "
            f"({html.escape(s['runner'])})</h4>"
            f"<p>{s['rows_in']} rows in; out: "
            + ", ".join(f"{html.escape(k)} {v}" for k, v in s["rows_out"].items())
            + f"; {s['quarantined']} quarantined</p>"
        )
        note = "<p>The report view needs <code>pip install 'pipeline-sdk[report]'</code>.</p>"
        return head + self.report.to_html(index=False) + extra + note

    def _quarantine_head_html(self) -> str:
        """The first quarantine records, as the earlier notebook view showed them."""
        if not len(self.quarantine):
            return ""
        head = self.quarantine.head(20).map(
            lambda v: v if not isinstance(v, str) or len(v) <= 300 else v[:300] + "…"
        )
        return (
            f"<p>Quarantine (first {min(20, len(self.quarantine))} of "
            f"{len(self.quarantine)}):</p>" + head.to_html(index=False)
        )

    def _artifacts_html(self) -> str:
        """Artifacts (type, size, hash; unsaved ones measured pickled) and metrics."""
        rows = []
        for name, record in self.artifacts.items():
            size, digest = record.get("bytes"), record.get("content_hash")
            if size is None and name in self.outputs:
                data = pickle.dumps(self.outputs[name], protocol=5)
                size, digest = len(data), "sha256:" + hashlib.sha256(data).hexdigest()
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(record.get('type')))}</td>"
                f"<td>{_size(size)}</td><td><code>{html.escape(str(digest)[:19])}</code></td>"
                f"<td>{html.escape(str(record.get('uri') or 'in memory'))}</td></tr>"
            )
        out = ""
        if rows:
            out += (
                "<p>Artifacts:</p><table><tr><th>name</th><th>type</th><th>size</th>"
                "<th>hash</th><th>saved to</th></tr>" + "".join(rows) + "</table>"
            )
        for output, values in self.metrics.items():
            shown = ", ".join(f"{html.escape(k)} = {v:.6g}" for k, v in values.items())
            out += f"<p>Metrics {html.escape(output)}: {shown}</p>"
        return out


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size = size // 1024
    return f"{size} GB"
