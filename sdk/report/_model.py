"""What the report shows, gathered from a run directory or from a :class:`~sdk.RunResult`.

A run is named by its id (looked up in the run root, as ``sdk runs`` does), by the path of its
run directory or by the path of a ``manifest.json``. Everything on the page comes from the
manifest, ``run.json``, ``profile.json`` and the quarantine; nothing is recomputed from the data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa

from sdk.errors import PipelineError
from sdk.report._quarantine import KEYS, aggregate, counts_from_validation
from sdk.runners.rundir import observed_status, run_root

if TYPE_CHECKING:
    from sdk.result import RunResult

__all__ = ["RunModel", "find_run_folder", "model_from_folder", "model_from_result"]

_UNREADABLE_SCHEMES = ("http", "https", "ftp", "s3", "gs", "gcs", "az", "abfs", "abfss")
"""Quarantine destinations the report does not read back: remote objects would need the
network (a Redis stream is read with ``XRANGE``, which consumes nothing)."""


@attrs.define
class RunModel:
    """Everything one run's page shows (see ``docs/report.md``).

    Attributes:
        manifest: the run's manifest (or what ``run.json`` says of a run that wrote none).
        record: ``run.json`` (``{}`` for a run without a run directory).
        folder: the run directory, ``None`` for an in-memory run.
        duration_ms: the run's wall time, ``None`` when unknown.
        quarantine: the aggregated quarantine (``_quarantine.aggregate``).
        quarantine_note: where the quarantine is, and whether it was read.
        quarantine_readable: whether the records themselves were read.
        profile: the run's profile (``profile.json``), ``None`` if not profiled.
    """

    manifest: dict[str, Any]
    record: dict[str, Any]
    folder: Path | None
    duration_ms: float | None
    quarantine: dict[str, Any]
    quarantine_note: str
    quarantine_readable: bool
    profile: dict[str, Any] | None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.manifest.get("run_id") or self.record.get("run_id") or "?")

    @property
    def status(self) -> str:
        """``succeeded``, ``failed``, ``running`` or ``interrupted``."""
        return str(self.manifest.get("status") or self.record.get("status") or "?")

    @property
    def validation(self) -> list[dict[str, Any]]:
        """The manifest's boundaries."""
        return list(self.manifest.get("validation") or [])

    @property
    def rows_in(self) -> int:
        """Rows read from the pipeline's inputs (artifact inputs have none)."""
        return sum(int(i.get("rows") or 0) for i in self.manifest.get("inputs") or [])

    @property
    def quarantined(self) -> int:
        """Rows quarantined, each counted once."""
        q = self.manifest.get("quarantine") or {}
        if q.get("rows") is not None:
            return int(q["rows"])
        return sum(int(v.get("quarantined") or 0) for v in self.validation)

    @property
    def params(self) -> dict[str, dict[str, Any]]:
        """Params by step."""
        steps = self.manifest.get("steps")
        if steps:
            return {str(s.get("name")): dict(s.get("params") or {}) for s in steps}
        return dict(self.record.get("params") or {})

    @property
    def by_check(self) -> dict[str, int]:
        """Quarantine records by ``"column: check"``."""
        q = self.manifest.get("quarantine") or {}
        if q.get("by_check"):
            return {str(k): int(v) for k, v in q["by_check"].items()}
        return {row["label"]: row["count"] for row in self.quarantine["counts"]}

    @property
    def error(self) -> dict[str, Any] | None:
        """``type``, ``message`` and ``step`` (``""`` when not known) of a failed run."""
        error = self.manifest.get("error") or self.record.get("error")
        if not error:
            return None
        message = str(error.get("message", ""))
        step = str(error.get("step") or "")
        if not step:
            names = [str(s.get("name")) for s in self.manifest.get("steps") or []]
            for found in re.findall(r"step '([^']+)'", message):
                if found in names or not names:
                    step = found
                    break
        return {"type": str(error.get("type", "")), "message": message, "step": step}


def find_run_folder(run: str | Path, run_dir: str | Path | None = None) -> Path:
    """The run directory of ``run``: a run id under ``run_dir`` (``$SDK_RUN_DIR``,
    ``.sdk/runs``), a run directory, or a ``manifest.json`` (its folder)."""
    path = Path(run)
    if path.is_file():
        return path.parent
    if path.is_dir() and ((path / "run.json").exists() or (path / "manifest.json").exists()):
        return path
    folder = run_root(run_dir) / str(run)
    if (folder / "run.json").exists() or (folder / "manifest.json").exists():
        return folder
    raise PipelineError(
        f"no run {str(run)!r}: neither a run directory, a manifest.json, nor a run id under "
        f"{run_root(run_dir)} (give --run-dir or set SDK_RUN_DIR)"
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _duration(manifest: dict[str, Any]) -> float | None:
    try:
        started = dt.datetime.fromisoformat(str(manifest["started"]))
        finished = dt.datetime.fromisoformat(str(manifest["finished"]))
    except (KeyError, ValueError, TypeError):
        return None
    return round((finished - started).total_seconds() * 1000, 1)


_Quarantine = tuple[pd.DataFrame, Callable[[np.ndarray], pd.DataFrame] | None]


def _own(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The records of run ``run_id`` (a destination may hold earlier runs' too), indexed by
    their positions in ``frame``."""
    frame = frame.reset_index(drop=True)
    if run_id and "run_id" in frame.columns:
        mine = (frame["run_id"] == run_id).to_numpy(dtype=bool, na_value=False)
        if not mine.all():
            frame = frame[mine]
    return frame


def _parquet(path: Path, run_id: str) -> _Quarantine:
    """A local Parquet quarantine: the columns counted are read whole, the sampled rows from
    the batches that hold them (reading millions of ``row`` texts would cost more than the
    rest of the report)."""
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    keys = pq.read_table(path, columns=[c for c in (*KEYS, "run_id") if c in names]).to_pandas()

    def rows(positions: np.ndarray) -> pd.DataFrame:
        """Read batches only up to the last position sampled (the first records of each
        check: usually the beginning of the file)."""
        parquet = pq.ParquetFile(path)
        need, seen, batches = int(positions.max()) + 1 if len(positions) else 0, 0, []
        for batch in parquet.iter_batches(batch_size=8_192):
            if seen >= need:
                break
            batches.append(batch)
            seen += batch.num_rows
        table = pa.Table.from_batches(batches, schema=parquet.schema_arrow)
        return table.take(pa.array(positions, type=pa.int64())).to_pandas()

    return _own(keys, run_id), rows


def read_quarantine(
    uri: str | None, folder: Path | None, run_id: str
) -> tuple[_Quarantine | None, str]:
    """This run's quarantine records (the counted columns, and how to fetch whole records)
    and a note of where they are; ``None`` when they cannot be read here.

    A local Parquet file is read with pyarrow, any other destination with the SDK's I/O
    scheme for it (a Redis stream with ``XRANGE``, which consumes nothing), except remote
    object stores and web addresses (no network access from a report)."""
    kept = folder / "quarantine.parquet" if folder is not None else None
    if uri:
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme in _UNREADABLE_SCHEMES:
            return None, f"published to {uri}: not read back (a remote destination)"
        try:
            path = Path(uri)
            if not scheme and path.suffix == ".parquet" and path.is_file():
                return _parquet(path, run_id), f"read from {uri}"
            from sdk.plugins import resolve_scheme

            return (_own(resolve_scheme(uri).read(uri).frame, run_id), None), f"read from {uri}"
        except Exception as exc:  # any reader's failure: the counts still come from the manifest
            reason = f"{type(exc).__name__}: {exc}"
            if kept is not None and kept.is_file() and Path(uri) != kept:
                return _parquet(kept, run_id), f"read from {kept} ({uri} unreadable: {reason})"
            return None, f"published to {uri}: not readable here ({reason})"
    if kept is not None and kept.is_file():
        return _parquet(kept, run_id), f"read from {kept}"
    return None, "no quarantine records were kept"


def _profile(folder: Path | None, manifest: dict[str, Any]) -> dict[str, Any] | None:
    candidates = []
    if manifest.get("profile"):
        candidates.append(Path(str(manifest["profile"])))
    if folder is not None:
        candidates.append(folder / "profile.json")
    for path in candidates:
        data = _read_json(path) if path.is_file() else None
        if data is not None:
            return data
    return None


def _quarantine_parts(
    manifest: dict[str, Any], read: _Quarantine | None
) -> tuple[dict[str, Any], bool]:
    if read is not None:
        return aggregate(*read), True
    aggregated = aggregate(pd.DataFrame())
    aggregated["counts"] = counts_from_validation(list(manifest.get("validation") or []))
    # the records are not readable here (a server answered them; a remote store): each
    # failure counted at its boundary is a record, whatever the manifest kept in memory
    from_counts = sum(int(c["count"]) for c in aggregated["counts"])
    kept = int((manifest.get("quarantine") or {}).get("records") or 0)
    aggregated["records"] = max(from_counts, kept)
    return aggregated, False


def model_from_folder(folder: Path) -> RunModel:
    """The model of the run whose run directory is ``folder``."""
    record = _read_json(folder / "run.json") or {}
    manifest = _read_json(folder / "manifest.json")
    if manifest is None or (record and manifest.get("run_id") not in (None, record.get("run_id"))):
        manifest = {k: v for k, v in record.items() if k not in ("pid", "resumable")}
        manifest["status"] = observed_status(record)  # a dead process's run: interrupted
        manifest["steps"] = [
            {"name": name, "params": params}
            for name, params in (record.get("params") or {}).items()
        ]
    uri = (manifest.get("quarantine") or {}).get("uri") if manifest.get("validation") else None
    frame, note = read_quarantine(
        uri, folder, str(manifest.get("run_id") or record.get("run_id") or "")
    )
    aggregated, readable = _quarantine_parts(manifest, frame)
    if not readable and not aggregated["counts"] and not aggregated["records"]:
        note = "no quarantined rows" if manifest.get("validation") else note
    return RunModel(
        manifest=manifest,
        record=record,
        folder=folder,
        duration_ms=_duration(manifest),
        quarantine=aggregated,
        quarantine_note=note,
        quarantine_readable=readable,
        profile=_profile(folder, manifest),
    )


def model_from_result(result: RunResult) -> RunModel:
    """The model of an in-memory :class:`~sdk.RunResult` (its manifest, quarantine, profile)."""
    manifest = dict(result.manifest) or {
        "run_id": result.run_id,
        "pipeline": result.pipeline,
        "runner": result.runner,
        "status": result.status,
        "validation": result.report.to_dict("records"),
        "metrics": result.metrics,
    }
    uri = (manifest.get("quarantine") or {}).get("uri")
    folder = result_folder(result)
    q = manifest.get("quarantine") or {}
    failed = int(q.get("records") or 0) or int(q.get("rows") or 0) or result.quarantined
    if len(result.quarantine) or not failed or not uri:
        aggregated = aggregate(_own(result.quarantine, result.run_id))
        readable = True
        note = (
            f"records in result.quarantine (also written to {uri})"
            if uri
            else ("records in result.quarantine")
        )
    else:  # a runner that streams the quarantine to its destination keeps no records
        read, note = read_quarantine(uri, folder, result.run_id)
        aggregated, readable = _quarantine_parts(manifest, read)
    return RunModel(
        manifest=manifest,
        record={},
        folder=folder,
        duration_ms=round(result.duration_ms, 1),
        quarantine=aggregated,
        quarantine_note=note,
        quarantine_readable=readable,
        profile=result.profile,
    )


def result_folder(result: RunResult) -> Path | None:
    """The run directory of ``result`` if it has one (``None`` for an in-memory run)."""
    uri = (result.manifest.get("quarantine") or {}).get("uri")
    candidates = [Path(str(uri)).parent] if uri and "://" not in str(uri) else []
    candidates.append(run_root() / result.run_id)
    for folder in candidates:
        record = _read_json(folder / "run.json")
        if record is not None and record.get("run_id") == result.run_id:
            return folder
    return None
