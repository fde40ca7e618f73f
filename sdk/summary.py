"""The summary a run ends with on the command line: rows read, passed and quarantined (by
step and check), each output with its final destination, run id, duration, where to see more.

Built from the :class:`~sdk.RunResult` of a succeeded run, or from the manifest a failed run
wrote; shown to people on stdout, or logged as a ``summary`` event on stderr when stdout
carries data.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, cast

from sdk.io import redact
from sdk.logs import get_logger
from sdk.runners.rundir import run_root

if TYPE_CHECKING:
    from sdk.result import RunResult

__all__ = ["Summary", "format_summary", "manifest_summary", "result_summary"]

logger = get_logger("sdk.cli")


def _counted_once(validation: list[dict[str, Any]]) -> int:
    """Rows quarantined, each once: a dataset checked by several consumers counts with the
    largest number any of them removed (as the run state counts them)."""
    per_input: dict[str, int] = {}
    total = 0
    for row in validation:
        if row["boundary"] == "input":
            per_input[row["dataset"]] = max(per_input.get(row["dataset"], 0), row["quarantined"])
        else:
            total += int(row["quarantined"])
    return total + sum(per_input.values())


def _summary(
    head: dict[str, Any],
    validation: list[dict[str, Any]],
    rows_in: int,
    quarantined: int,
    outputs: dict[str, dict[str, Any]],
    more: str | None,
) -> dict[str, Any]:
    return {
        **head,
        "rows_in": rows_in,
        "passed": max(rows_in - quarantined, 0),
        "quarantined": quarantined,
        "quarantined_by_step": [
            {
                "step": row["step"],
                "boundary": row["boundary"],
                "dataset": row["dataset"],
                "rows": int(row["quarantined"]),
                "checks": row.get("failures") or {},
            }
            for row in validation
            if row["quarantined"]
        ],
        "outputs": outputs,
        "more": more,
    }


def result_summary(result: RunResult, more: str | None) -> dict[str, Any]:
    """What a succeeded run did, from its :class:`~sdk.RunResult`: rows read, passed and
    quarantined (by step, boundary and check), each output written with its final destination
    and rows, duration; ``more`` says how to see more (``sdk runs show RUN_ID``)."""
    validation = cast("list[dict[str, Any]]", result.report.to_dict("records"))
    rows_out = {r["dataset"]: int(r["passed"]) for r in validation if r["boundary"] == "output"}
    outputs = {
        name: {
            "uri": redact(uri),
            "rows": result.quarantined if name == "quarantine" else rows_out.get(name),
        }
        for name, uri in sorted(result.written.items(), key=lambda kv: kv[0] == "quarantine")
    }
    head = {
        "run_id": result.run_id,
        "pipeline": result.pipeline,
        "runner": result.runner,
        "status": result.status,
        "duration_ms": round(result.duration_ms, 1),
    }
    return _summary(head, validation, result.rows_in, result.quarantined, outputs, more)


def manifest_summary(manifest: dict[str, Any], more: str | None) -> dict[str, Any]:
    """The same summary from a run's ``manifest.json`` (a failed run returns no result):
    outputs not published have no destination."""
    validation = list(manifest.get("validation") or [])
    try:
        started = dt.datetime.fromisoformat(manifest["started"])
        duration = (dt.datetime.fromisoformat(manifest["finished"]) - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        duration = None
    outputs = {
        o["name"]: {"uri": o.get("uri"), "rows": o.get("rows")}
        for o in manifest.get("outputs") or []
    }
    quarantine = manifest.get("quarantine") or {}
    quarantined = _counted_once(validation)
    if quarantine.get("uri"):
        outputs["quarantine"] = {"uri": quarantine["uri"], "rows": quarantined}
    head = {
        "run_id": manifest.get("run_id"),
        "pipeline": manifest.get("pipeline"),
        "runner": manifest.get("runner"),
        "status": manifest.get("status"),
        "duration_ms": None if duration is None else round(duration * 1000, 1),
        "error": (manifest.get("error") or {}).get("type"),
    }
    rows_in = sum(i.get("rows") or 0 for i in manifest.get("inputs") or [])
    return _summary(head, validation, rows_in, quarantined, outputs, more)


def _duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary for people: a few lines, the final destinations included."""
    status = summary["status"]
    if summary.get("error"):
        status += f" ({summary['error']})"
    rows_in, quarantined = summary["rows_in"], summary["quarantined"]
    share = f" ({quarantined / rows_in:.2%})" if rows_in else ""
    lines = [
        f"Run {summary['run_id']} of {summary['pipeline']} {status} in "
        f"{_duration(summary['duration_ms'])} (runner {summary['runner']})",
        f"Rows: {rows_in:,} read, {summary['passed']:,} passed, {quarantined:,} quarantined"
        + share,
    ]
    if summary["quarantined_by_step"]:
        lines.append("Quarantined by step and check (a row may fail several checks):")
    for where in summary["quarantined_by_step"]:
        lines.append(
            f"  {where['step']}, {where['boundary']} {where['dataset']}: {where['rows']:,} rows"
        )
        checks = [
            (f"{column}: {check}", n)
            for column, by_check in where["checks"].items()
            for check, n in by_check.items()
        ]
        width = max((len(label) for label, _ in checks), default=0)
        lines += [f"    {label:<{width}}  {n:,}" for label, n in checks]
    written = {k: v for k, v in summary["outputs"].items() if v.get("uri")}
    if written:
        lines.append("Written:")
        width = max(map(len, written))
        counts = {
            k: "" if v.get("rows") is None else f"{v['rows']:,} rows" for k, v in written.items()
        }
        rows_width = max(map(len, counts.values()))
        lines += [
            f"  {name:<{width}}  {counts[name]:>{rows_width}}  -> {output['uri']}"
            for name, output in written.items()
        ]
    if not set(written) - {"quarantine"}:
        lines.append(
            "Outputs: none written (--output NAME=URI writes a dataset)"
            if summary["status"] == "succeeded"
            else f"Outputs: none published (the run {summary['status']})"
        )
    if summary.get("more"):
        lines.append(f"More: {summary['more']}")
    return "\n".join(lines)


class Summary:
    """The summary a run ends with: for people on stdout, or, when stdout carries data (an
    output or the quarantine is ``-``), a ``summary`` event in the log on stderr."""

    def __init__(self, run_dir: str | None, *, is_data_on_stdout: bool) -> None:
        self.run_dir = run_dir
        self.is_data_on_stdout = is_data_on_stdout

    def _more(self, run_id: str) -> str | None:
        if not (run_root(self.run_dir) / run_id / "manifest.json").exists():
            return None
        where = f" --run-dir {self.run_dir}" if self.run_dir else ""
        return f"sdk runs show {run_id}{where}"

    def of(self, result: RunResult) -> None:
        """Show the summary of a succeeded run."""
        self._show(result_summary(result, self._more(result.run_id)))

    def of_failure(self, run_id: str | None) -> None:
        """Show the summary of a failed run from its manifest, if it wrote one."""
        if run_id is None:
            return
        try:
            manifest = json.loads((run_root(self.run_dir) / run_id / "manifest.json").read_text())
        except (OSError, ValueError):
            return
        self._show(manifest_summary(manifest, self._more(run_id)))

    def _show(self, summary: dict[str, Any]) -> None:
        if self.is_data_on_stdout:
            logger.info("summary", extra=summary)
        else:
            print(format_summary(summary), flush=True)
