"""Run directories: what ``sdk runs`` lists and ``sdk runs show`` prints.

Each run has a folder ``<run dir>/<run_id>/`` holding ``run.json`` (identity and status,
written when the run starts) and ``manifest.json`` (written when it ends), plus the
checkpoints of runners that can resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdk.errors import PipelineError
from sdk.runners.rundir import run_root

__all__ = ["list_runs", "show_run"]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_runs(run_dir: str | Path | None = None) -> str:
    """A table of the runs under ``run_dir``: id, pipeline, runner, status, start, end."""
    root = run_root(run_dir)
    rows = []
    for folder in sorted(root.glob("*/run.json")) if root.exists() else []:
        record = _read(folder) or {}
        status = record.get("status", "?")
        if status == "running":
            status = "running or interrupted (resume with --resume)"
        rows.append(
            f"{record.get('run_id', folder.parent.name):<28} {record.get('pipeline', '?'):<14} "
            f"{record.get('runner', '?'):<8} {record.get('started', '?'):<30} {status}"
        )
    if not rows:
        return f"no runs in {root}"
    header = f"{'RUN ID':<28} {'PIPELINE':<14} {'RUNNER':<8} {'STARTED':<30} STATUS"
    return "\n".join([header, *rows])


def show_run(run_id: str, run_dir: str | Path | None = None) -> str:
    """The manifest of ``run_id`` as indented JSON (``run.json`` if it has not finished).

    Raises:
        PipelineError: no such run.
    """
    folder = run_root(run_dir) / run_id
    for name in ("manifest.json", "run.json"):
        data = _read(folder / name)
        if data is not None:
            return json.dumps(data, indent=2)
    raise PipelineError(f"no run {run_id!r} in {folder.parent}; `sdk runs` lists the runs")
