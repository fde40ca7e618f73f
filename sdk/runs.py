"""Runs: what ``sdk runs`` lists (as a table or JSON), shows and prunes.

Each run has a folder ``<run dir>/<run_id>/`` holding ``run.json`` (identity and status,
written when the run starts) and ``manifest.json`` (written when it ends), plus the
checkpoints of runners that can resume.

A status is ``running``, ``succeeded``, ``failed`` or ``interrupted``. A run recorded
``running`` whose process (pid on this host) is gone was killed: it is listed ``interrupted``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdk.errors import PipelineError
from sdk.runners.rundir import is_resumable, observed_status, run_root

__all__ = [
    "FINISHED",
    "list_runs",
    "parse_age",
    "prune_runs",
    "run_records",
    "runs_json",
    "show_run",
]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_records(run_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One record per run under ``run_dir``, newest first (by start), as
    ``sdk runs --format json`` prints them.

    Each record has ``run_id``, ``pipeline``, ``runner``, ``status`` (as :func:`list_runs`
    sees it: a run whose process is gone is ``interrupted``), ``started``, ``finished``
    (``null`` until it ends), ``duration`` (seconds), ``rows_in`` (rows read from the
    pipeline's inputs), ``quarantined`` (rows, each counted once), ``quarantine_rate``
    (``quarantined / rows_in``), ``path`` (the run directory) and ``report`` (its
    ``report.html``, if written). A value the run's manifest does not give (a run that has
    not ended, inputs of unknown length) is ``null``.
    """
    root = run_root(run_dir)
    records = [
        _run_record(folder.parent, _read(folder) or {})
        for folder in (sorted(root.glob("*/run.json")) if root.exists() else [])
    ]
    records.sort(key=lambda r: str(r["started"] or ""), reverse=True)
    return records


def _run_record(folder: Path, record: dict[str, Any]) -> dict[str, Any]:
    from sdk.summary import manifest_summary

    status = observed_status(record)
    manifest = None if status in ("running", "interrupted") else _read(folder / "manifest.json")
    # not ended: a manifest there is an earlier attempt's (resumed since), so none is read
    rows_in = quarantined = None
    if manifest is not None:
        counted = [i.get("rows") for i in manifest.get("inputs") or []]
        if any(isinstance(n, int) for n in counted):
            rows_in = sum(n for n in counted if isinstance(n, int))
        quarantined = int(manifest_summary(manifest, None)["quarantined"])
    times = manifest or record
    started, finished = times.get("started"), times.get("finished")
    duration = None
    if isinstance(started, str) and isinstance(finished, str):
        with contextlib.suppress(ValueError):
            elapsed = dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)
            duration = round(elapsed.total_seconds(), 3)
    report = folder / "report.html"
    return {
        "run_id": str(record.get("run_id", folder.name)),
        "pipeline": record.get("pipeline"),
        "runner": record.get("runner"),
        "status": status,
        "started": started,
        "finished": finished if status in FINISHED else None,
        "duration": duration if status in FINISHED else None,
        "rows_in": rows_in,
        "quarantined": quarantined,
        "quarantine_rate": (quarantined / rows_in if rows_in and quarantined is not None else None),
        "path": str(folder.absolute()),
        "report": str(report.absolute()) if report.is_file() else None,
    }


def runs_json(run_dir: str | Path | None = None, run_id: str | None = None) -> str:
    """:func:`run_records` as one JSON document (a list); with ``run_id``, a list of that
    run only.

    Raises:
        PipelineError: no run ``run_id``.
    """
    records = run_records(run_dir)
    if run_id is not None:
        records = [r for r in records if r["run_id"] == run_id]
        if not records:
            raise PipelineError(
                f"no run {run_id!r} in {run_root(run_dir)}; `sdk runs` lists the runs"
            )
    return json.dumps(records, indent=2)


def _rate(record: dict[str, Any]) -> str:
    rate = record["quarantine_rate"]
    return "-" if rate is None else f"{rate:.2%}"


def list_runs(run_dir: str | Path | None = None, *, metrics: bool = False) -> str:
    """A table of the runs under ``run_dir``: id, pipeline, runner, start, the share of rows
    quarantined, status; with ``metrics``, the metrics each run's steps returned instead (runs
    without any omitted)."""
    root = run_root(run_dir)
    if metrics:
        return _metrics_table(root)
    rows = []
    for folder in sorted(root.glob("*/run.json")) if root.exists() else []:
        record = _read(folder) or {}
        status = observed_status(record)
        if status == "interrupted":
            status += _after_interruption(record)
        elif status == "running" and not isinstance(record.get("pid"), int):
            status = "running or interrupted (resume with --resume)"  # an older record
        elif status == "running" and record.get("host") != os.uname().nodename:
            status = f"running on {record.get('host')} (or interrupted there)"
        rows.append(
            [
                str(record.get("run_id", folder.parent.name)),
                str(record.get("pipeline", "?")),
                str(record.get("runner", "?")),
                str(record.get("started", "?")),
                _rate(_run_record(folder.parent, record)),
                status,
            ]
        )
    if not rows:
        return f"no runs in {root}"
    rows.insert(0, ["RUN ID", "PIPELINE", "RUNNER", "STARTED", "QUARANTINED %", "STATUS"])
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    return "\n".join(
        " ".join([*(f"{v:<{w}}" for v, w in zip(row, widths, strict=False)), row[5]])
        for row in rows
    )


def _after_interruption(record: dict[str, Any]) -> str:
    """What to do about an interrupted run: resume it, restart a stream (its unacknowledged
    messages are delivered again), or nothing (a local run starts over)."""
    if record.get("runner") == "stream":
        return " (restart it: unacknowledged messages are consumed again)"
    return " (resume with --resume)" if is_resumable(record) else " (cannot be resumed)"


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


# -- sdk runs prune ----------------------------------------------------------------------------

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FINISHED = ("succeeded", "failed")
"""Statuses of runs that are over: ``sdk runs prune`` may remove them."""


def parse_age(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``12h``, ``7d`` or ``2w``.

    Raises:
        ValueError: anything else.
    """
    match = _AGE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an age; write a number and a unit: 90s, 30m, 12h, 7d, 2w"
        )
    return float(match[1]) * _UNITS[match[2]]


def _when(record: dict[str, Any], keys: tuple[str, ...], fallback: float) -> float:
    """The latest of the timestamps ``keys`` of ``record`` (epoch seconds), else ``fallback``."""
    found = []
    for key in keys:
        value = record.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                found.append(dt.datetime.fromisoformat(value).timestamp())
    return max(found, default=fallback)


def _size(folder: Path) -> int:
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(parent, name)).st_size
    return total


@contextlib.contextmanager
def _unless_in_use(folder: Path) -> Iterator[bool]:
    """Hold the run's lock for the block; yield whether it was free (no process runs it)."""
    lock = folder / "run.lock"
    if not lock.exists():
        yield True
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


def prune_runs(
    run_dir: str | Path | None = None,
    *,
    keep: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
) -> str:
    """Remove the run directories of finished runs; return what was removed and bytes freed.

    Finished: ``succeeded``, ``failed``, and ``interrupted`` runs that cannot be resumed. An
    interrupted run that can be resumed is kept, unless ``older_than`` is given and it was
    last active longer ago than that: then it is abandoned and pruned like a finished run.
    Of those, the newest ``keep`` (by start) are kept, and with ``older_than`` only the ones
    that ended longer ago than ``older_than`` seconds are removed. A running run, a run whose
    lock another process holds, and a folder without a readable ``run.json`` are never
    touched.
    """
    root = run_root(run_dir)
    candidates: list[tuple[float, float, Path, dict[str, Any]]] = []
    kept: dict[str, int] = {}
    now = time.time()
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        record = _read(folder / "run.json")
        if folder.is_symlink() or not folder.is_dir() or record is None:
            continue
        status = observed_status(record)
        mtime = (folder / "run.json").stat().st_mtime
        ended = _when(record, ("finished", "interrupted", "resumed", "started"), mtime)
        is_old = older_than is not None and now - ended > older_than
        if status == "interrupted" and is_resumable(record) and not is_old:
            kept["resumable"] = kept.get("resumable", 0) + 1
        elif status in (*FINISHED, "interrupted"):
            candidates.append((_when(record, ("started",), mtime), ended, folder, record))
        else:
            kept[status] = kept.get(status, 0) + 1
    candidates.sort(key=lambda c: c[0], reverse=True)
    lines, freed, removed = [], 0, 0
    for rank, (_, ended, folder, record) in enumerate(candidates):
        if (keep is not None and rank < keep) or (
            older_than is not None and now - ended <= older_than
        ):
            kept["recent"] = kept.get("recent", 0) + 1
            continue
        with _unless_in_use(folder) as free:
            if not free:
                kept["running"] = kept.get("running", 0) + 1
                continue
            size = _size(folder)
            if not dry_run:
                shutil.rmtree(folder)
        freed += size
        removed += 1
        lines.append(
            f"{'would remove' if dry_run else 'removed'} {folder.name:<28} "
            f"{observed_status(record):<12} {record.get('pipeline', '?'):<14} {_bytes(size)}"
        )
    kept_text = ", ".join(f"{n} {what}" for what, n in sorted(kept.items())) or "none"
    verb = "would free" if dry_run else "freed"
    lines.append(
        f"{'would remove' if dry_run else 'removed'} {removed} run{'' if removed == 1 else 's'} "
        f"from {root}, {verb} {_bytes(freed)} ({freed:,} bytes); kept: {kept_text}"
    )
    return "\n".join(lines)
