"""What makes a run the same run, and finding the interrupted run to continue.

A run's identity (:func:`run_identity`) is recorded in its ``run.json`` when it opens and
compared key by key on resume. ``resume="latest"`` (``--resume latest``) picks, among the run
directories under the run root, the most recently active interrupted run with the same identity
(:func:`latest_interrupted`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.errors import PipelineError
from sdk.io import redact
from sdk.manifest import content_hash

if TYPE_CHECKING:
    from sdk.runners.request import RunRequest

__all__ = ["LATEST", "differences", "identity_inputs", "latest_interrupted", "run_identity"]

LATEST = "latest"
"""The ``resume`` value that means: the latest interrupted run with the same identity."""

_LISTED = 5
"""Runs of the pipeline named in the error when none can be resumed."""


def identity_inputs(given: dict[str, Any], hash_frames: bool) -> list[dict[str, Any]]:
    """The inputs as ``run.json`` records them: name, redacted URI, content hash (an
    artifact given as an object has none: its type is recorded instead)."""
    records = []
    for name, value in given.items():
        if isinstance(value, str):
            records.append(
                {"name": name, "uri": redact(value), "content_hash": content_hash(value)}
            )
        elif isinstance(value, pd.DataFrame):
            # hashing a frame costs ~0.1 s per million rows: only where resume or lineage
            # needs it
            digest = content_hash(value) if hash_frames else None
            records.append({"name": name, "uri": "<DataFrame>", "content_hash": digest})
        else:
            records.append({"name": name, "uri": f"<{type(value).__name__}>", "content_hash": None})
    return records


def run_identity(
    request: RunRequest,
    runner: str,
    settings: dict[str, Any],
    on_step_error: str,
    hash_frames: bool,
) -> dict[str, Any]:
    """What makes a run the same run (``run.json``; compared on resume): pipeline, its
    fingerprint and params, inputs with content hashes, destinations (redacted), budget,
    runner and the options that shape its units."""
    pipeline = request.pipeline
    return {
        "pipeline": pipeline.name,
        "fingerprint": pipeline.fingerprint(),
        "params": {s.name: s.params.as_dict() for s in pipeline.order},
        # a produced artifact records the identity of the data it was computed from
        "inputs": identity_inputs(
            request.inputs, hash_frames=hash_frames or bool(pipeline.artifacts)
        ),
        "outputs": {k: redact(v) for k, v in request.outputs.items()},
        "quarantine": redact(request.quarantine) if request.quarantine else None,
        "max_invalid": request.max_invalid,
        "runner": runner,
        "options": {**settings, "on_step_error": on_step_error},
    }


def _differing(record: dict[str, Any], identity: dict[str, Any]) -> list[str]:
    """The keys of ``identity`` whose value ``record`` (a ``run.json``) does not hold."""
    return [
        key
        for key, value in identity.items()
        if record.get(key) != json.loads(json.dumps(value, default=str))
    ]


def differences(record: dict[str, Any], identity: dict[str, Any]) -> list[str]:
    """What differs between ``record`` (a ``run.json``) and ``identity``, described:
    ``"params differs (was …, now …)"``."""
    return [
        f"{key} differs (was {record.get(key)!r}, now {identity[key]!r})"
        for key in _differing(record, identity)
    ]


def latest_interrupted(root: Path, identity: dict[str, Any]) -> str:
    """The id of the most recently active interrupted run under ``root`` with ``identity``
    (by the latest of its start, resume and interruption times).

    A run counts as interrupted when its ``run.json`` says so, or says ``running`` while its
    process on this host is gone (killed outright).

    Raises:
        PipelineError: there is none; the message lists the pipeline's most recent runs, with
            what differs for the interrupted ones.
    """
    from sdk.runners.rundir import observed_status  # rundir imports this module

    pipeline = identity["pipeline"]
    runs: list[tuple[str, str, dict[str, Any]]] = []  # (started, run id, record)
    for path in root.glob("*/run.json") if root.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            record = dict(json.loads(path.read_text(encoding="utf-8")))
            if record.get("pipeline") == pipeline:
                # its last activity: started, resumed, or interrupted by a signal
                last = max(str(record.get(k) or "") for k in ("started", "resumed", "interrupted"))
                runs.append((last, path.parent.name, record))
    runs.sort(key=lambda r: (r[0], r[1]), reverse=True)
    for _, run_id, record in runs:
        if observed_status(record) == "interrupted" and not _differing(record, identity):
            return run_id
    listed = []
    for _, run_id, record in runs[:_LISTED]:
        status = observed_status(record)
        if status == "interrupted":
            status += f", other {', '.join(_differing(record, identity))}"
        listed.append(f"{run_id} ({status})")
    more = f" and {len(runs) - _LISTED} more" if len(runs) > _LISTED else ""
    shown = ", ".join(listed) + more if listed else f"none in {root}"
    raise PipelineError(
        f"no interrupted run of pipeline {pipeline!r} with these inputs/params to resume; "
        f"runs: {shown}. Start a new run (without --resume), or resume one by its id "
        f"(`sdk runs` lists them)"
    )
