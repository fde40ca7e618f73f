"""Run directories: what ``sdk runs`` lists and ``sdk runs show`` prints.

Each run has a folder ``<run dir>/<run_id>/`` holding ``run.json`` (identity and status,
written when the run starts) and ``manifest.json`` (written when it ends), plus the
checkpoints of runners that can resume.

A status is ``running``, ``succeeded``, ``failed`` or ``interrupted``. A run recorded
``running`` whose process (pid on this host) is gone was killed: it is listed ``interrupted``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sdk.errors import PipelineError
from sdk.runners.rundir import is_resumable, observed_status, run_root

__all__ = ["list_runs", "show_run"]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_runs(run_dir: str | Path | None = None, *, metrics: bool = False) -> str:
    """A table of the runs under ``run_dir``: id, pipeline, runner, start, status; with
    ``metrics``, the metrics each run's steps returned instead (runs without any omitted)."""
    root = run_root(run_dir)
    if metrics:
        return _metrics_table(root)
    rows = []
    for folder in sorted(root.glob("*/run.json")) if root.exists() else []:
        record = _read(folder) or {}
        status = observed_status(record)
        if status == "interrupted":
            resumable = is_resumable(record)
            status += " (resume with --resume)" if resumable else " (cannot be resumed)"
        elif status == "running" and not isinstance(record.get("pid"), int):
            status = "running or interrupted (resume with --resume)"  # an older record
        elif status == "running" and record.get("host") != os.uname().nodename:
            status = f"running on {record.get('host')} (or interrupted there)"
        rows.append(
            f"{record.get('run_id', folder.parent.name):<28} {record.get('pipeline', '?'):<14} "
            f"{record.get('runner', '?'):<8} {record.get('started', '?'):<30} {status}"
        )
    if not rows:
        return f"no runs in {root}"
    header = f"{'RUN ID':<28} {'PIPELINE':<14} {'RUNNER':<8} {'STARTED':<30} STATUS"
    return "\n".join([header, *rows])


def _metrics_table(root: Path) -> str:
    """One line per run that returned metrics: id, pipeline, ``output.name=value`` pairs."""
    rows = []
    for folder in sorted(root.glob("*/manifest.json")) if root.exists() else []:
        manifest = _read(folder) or {}
        values = manifest.get("metrics") or {}
        shown = "  ".join(
            f"{output}.{name}={value:.6g}"
            for output, named in values.items()
            for name, value in named.items()
        )
        if shown:
            rows.append(
                f"{manifest.get('run_id', folder.parent.name):<28} "
                f"{manifest.get('pipeline', '?'):<14} {shown}"
            )
    if not rows:
        return f"no runs with metrics in {root}"
    return "\n".join([f"{'RUN ID':<28} {'PIPELINE':<14} METRICS", *rows])


def show_run(run_id: str, run_dir: str | Path | None = None) -> str:
    """The manifest of ``run_id`` as indented JSON (``run.json``, with the status as
    :func:`list_runs` sees it, if it has not ended).

    Raises:
        PipelineError: no such run.
    """
    folder = run_root(run_dir) / run_id
    record = _read(folder / "run.json")
    if record is not None and record.get("status") in ("running", "interrupted"):
        # not ended: a manifest there is an earlier attempt's (resumed since)
        return json.dumps({**record, "status": observed_status(record)}, indent=2)
    for data in (_read(folder / "manifest.json"), record):
        if data is not None:
            return json.dumps(data, indent=2)
    raise PipelineError(f"no run {run_id!r} in {folder.parent}; `sdk runs` lists the runs")
