"""What makes a run the same run, and finding the interrupted run to continue.

A run's identity (:func:`run_identity`) is recorded in its ``run.json`` when it opens and
compared key by key on resume; ``resume="latest"`` (``--resume latest``) looks for the most
recently active interrupted run with the same identity
(:func:`sdk.runners.rundir.latest_interrupted`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.io import redact
from sdk.manifest import content_hash

if TYPE_CHECKING:
    from sdk.runners.request import RunRequest

__all__ = ["LATEST", "differences", "differing", "identity_inputs", "run_identity"]

LATEST = "latest"
"""The ``resume`` value that means: the latest interrupted run with the same identity."""


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


def differing(record: dict[str, Any], identity: dict[str, Any]) -> list[str]:
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
        for key in differing(record, identity)
    ]
