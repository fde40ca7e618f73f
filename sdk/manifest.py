"""The run manifest: what an operator reads first when a production run looks wrong.

Every run returns its manifest on :attr:`sdk.RunResult.manifest`; a run with a run directory
writes it there as ``manifest.json``, and as ``<file>.manifest.json`` beside each file output
it published.
Fields are documented in ``docs/manifest.md``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import platform
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.fingerprint import source_hash

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = [
    "MANIFEST_VERSION",
    "add_run_totals",
    "build_manifest",
    "content_hash",
    "now",
    "write_json",
]

MANIFEST_VERSION = 1
_PACKAGES = (
    "pipeline-sdk",
    "pandas",
    "pandera",
    "numpy",
    "pyarrow",
    "python-json-logger",
    "pluggy",
)


def now() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def content_hash(value: pd.DataFrame | str | Path) -> str | None:
    """``sha256:<hex>`` of a file's bytes or of a frame's values; ``None`` for other URIs."""
    if isinstance(value, pd.DataFrame):
        hashed = pd.util.hash_pandas_object(value, index=True).to_numpy()
        digest = hashlib.sha256(hashed.tobytes())
        digest.update(repr([str(c) for c in value.columns]).encode())
        return "sha256:" + digest.hexdigest()
    path = Path(str(value).removeprefix("file://"))
    if str(value) == "-" or "://" in str(value) or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@functools.cache
def _versions() -> dict[str, str | None]:
    # installed versions do not change while a process runs, and reading them parses each
    # distribution's metadata (~0.7 ms each): once per process
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(
    *,
    pipeline: Pipeline,
    run_id: str,
    runner: str,
    status: str,
    started: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    validation: list[dict[str, Any]],
    quarantine: pd.DataFrame,
    quarantine_uri: str | None,
    error: dict[str, str] | None,
    options: dict[str, Any],
    artifacts: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest of one run (see ``docs/manifest.md`` for every field).

    ``validation`` has one record per boundary (step, boundary, dataset, rows, passed,
    quarantined, skipped, failures), as the run's report has rows."""
    by_check: dict[str, int] = {}
    records = len(quarantine)
    if len(quarantine):
        sizes: dict[Any, int] = (
            quarantine.groupby(["column", "check"], dropna=False).size().to_dict()
        )
        for key, n in sizes.items():
            column, check = key
            label = column if isinstance(column, str) else "<dataframe>"
            by_check[f"{label}: {check}"] = int(n)
    else:  # records not kept in memory (a stream wrote them as it went, a server answered
        # them): the failures counted at each boundary are the same records, one per check
        for boundary in validation:
            for column, checks in (boundary.get("failures") or {}).items():
                label = "<dataframe>" if column in ("<step>", "<dataframe>") else str(column)
                for check, n in (checks or {}).items():
                    key = f"{label}: {check}"
                    by_check[key] = by_check.get(key, 0) + int(n)
        records = sum(by_check.values())
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "pipeline": pipeline.name,
        "fingerprint": pipeline.fingerprint(),
        "runner": runner,
        "options": options,
        "status": status,
        "host": socket.gethostname(),
        "started": started,
        "finished": now(),
        "versions": dict(_versions()),
        "steps": [
            {
                "name": step.name,
                "class": f"{type(step).__module__}.{type(step).__qualname__}",
                "source_hash": "sha256:" + source_hash(type(step)),
                "scope": step.scope_label,
                "params": step.params.as_dict(),
                "inputs": dict(step.input_names),
                "output": step.output_name,
                "duration_ms": None,
            }
            for step in pipeline.order
        ],
        "inputs": inputs,
        "outputs": outputs,
        "validation": json.loads(json.dumps(validation, default=_plain)),
        "quarantine": {
            "uri": quarantine_uri,
            "records": records,
            "rows": int(sum(v["quarantined"] for v in validation)),
            "by_check": by_check,
        },
        "artifacts": artifacts or {"produced": [], "consumed": []},
        "metrics": metrics or {},
        "policy": policy,
        "profile": None,
        "error": error,
    }


def add_run_totals(
    manifest: dict[str, Any], durations: Mapping[str, float], profile: str | None
) -> None:
    """Fill in what only the closing run knows: each step's ``duration_ms`` (its time summed
    over units, rounded to the microsecond; ``None`` for a step that never ran) and the path
    of the run's ``profile.json`` (``None`` when none was written)."""
    for step in manifest["steps"]:
        duration = durations.get(step["name"])
        step["duration_ms"] = None if duration is None else round(duration, 3)
    manifest["profile"] = profile


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (JSON of counts)."""
    return value.item() if hasattr(value, "item") else str(value)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`sdk.io.atomic_path`)."""
    from sdk.io import atomic_text

    atomic_text(path, json.dumps(data, indent=2, default=str) + "\n")
