"""Checkpoints of a dask run, so ``--resume RUN_ID`` reuses what a killed client committed.

Everything lives in the run directory, under ``dask/``:

- ``units/<unit>/<dataset>.pkl``: a unit's output parts (frame and row sources), written by
  the worker that ran it, before its result reaches the client;
- ``units/<unit>.pkl`` then ``units/<unit>.json``: the unit's result without its frames (its
  counts, quarantine records, step totals, artifacts) and, last, its marker, both written by
  the client once it has committed the unit. A unit is complete iff its marker exists and
  every file the marker names is there with the size it recorded;
- ``plan/<name>.json``: what a resumed run must decide as the first did (each input's parts
  and their rows, the buckets of each shuffle);
- ``shuffle/<plan>/<dataset>/``: the pieces of a shuffle, one file per group of parts and
  bucket, which the units of the partition stage load.

Workers must see the run directory at the same path (a shared filesystem, or one machine):
the runner checks this before the first unit (:func:`workers_see`), and without it runs
without checkpoints (a resumed run then redoes everything). Files are written to a temporary
name and renamed, so a killed process leaves none half-written.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import sdk

__all__ = ["Checkpoints", "dump", "load", "workers_see"]

logger = sdk.get_logger("sdk.run")


def dump(path: str | Path, obj: Any) -> int:
    """Pickle ``obj`` to ``path`` atomically; return the file's size."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temporary.open("wb") as handle:
            pickle.dump(obj, handle, protocol=5)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target.stat().st_size


def load(path: str | Path) -> Any:
    """What :func:`dump` wrote (our own files, in our own run directory)."""
    with Path(path).open("rb") as handle:
        return pickle.load(handle)  # written by this run's own processes


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temporary.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def workers_see(client: Any, folder: Path) -> list[str]:
    """The workers that do not see ``folder`` (a probe file the client writes there)."""
    probe = folder / f"probe-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    probe.write_text("sdk-dask", encoding="utf-8")
    try:
        seen = client.run(os.path.exists, str(probe))
    finally:
        probe.unlink(missing_ok=True)
    return sorted(worker for worker, found in seen.items() if not found)


class Checkpoints:
    """The checkpoints of one run (``folder``: ``<run dir>/dask``; ``None``: off)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @property
    def enabled(self) -> bool:
        """Whether units are checkpointed."""
        return self.folder is not None

    def unit_folder(self, unit: str) -> str | None:
        """Where the worker running ``unit`` writes its output parts (``None``: off)."""
        return None if self.folder is None else str(self.folder / "units" / unit)

    def shuffle_folder(self, plan: str, dataset: str) -> str | None:
        """Where a shuffle writes its pieces (``None``: off, the shuffle stays in memory)."""
        return None if self.folder is None else str(self.folder / "shuffle" / plan / dataset)

    def done(self, unit: str) -> tuple[sdk.UnitResult, dict[str, tuple[str, int]]] | None:
        """A completed unit's result (without frames) and its output parts (path, rows), or
        ``None`` when it is not complete (or a file it names is missing or changed, which is
        logged as ``checkpoint_damaged`` and the unit redone)."""
        if self.folder is None:
            return None
        marker = self.folder / "units" / f"{unit}.json"
        if not marker.exists():
            return None
        try:
            payload = json.loads(marker.read_text(encoding="utf-8"))
            for path, size in [(payload["summary"], payload["summary_size"])] + [
                (p, s) for p, _, s in payload["outputs"].values()
            ]:
                found = Path(path).stat().st_size
                if found != size:
                    raise ValueError(f"{path} holds {found} bytes, not {size}")
            summary = load(payload["summary"])
        except Exception as exc:  # any damage at all: redo the unit
            logger.warning(
                "checkpoint_damaged",
                extra={"unit": unit, "file": str(marker), "reason": str(exc), "redo": True},
            )
            marker.unlink(missing_ok=True)
            return None
        outputs = {name: (path, rows) for name, (path, rows, _) in payload["outputs"].items()}
        return summary, outputs

    def complete(
        self, unit: str, summary: sdk.UnitResult, outputs: dict[str, tuple[str, int]]
    ) -> None:
        """Mark ``unit`` complete: its result kept, then its marker naming its output parts
        (``outputs``: dataset -> (part file written by the worker, rows))."""
        if self.folder is None:
            return
        summary_path = self.folder / "units" / f"{unit}.pkl"
        size = dump(summary_path, summary)
        kept = {
            name: [path, rows, Path(path).stat().st_size] for name, (path, rows) in outputs.items()
        }
        _write_json(
            self.folder / "units" / f"{unit}.json",
            {"summary": str(summary_path), "summary_size": size, "outputs": kept},
        )

    def decided(self, name: str) -> dict[str, Any] | None:
        """What the run decided under ``name`` (an input's rows per part, a shuffle's
        buckets), if an earlier attempt of the run saved it: a resumed run decides the same."""
        if self.folder is None:
            return None
        path = self.folder / "plan" / f"{name}.json"
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):  # not decided yet, or damaged: decided again
            return None

    def decide(self, name: str, payload: dict[str, Any]) -> None:
        """Save what the run decided under ``name``."""
        if self.folder is not None:
            _write_json(self.folder / "plan" / f"{name}.json", payload)
