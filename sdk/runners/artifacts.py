"""The artifacts of one run: loaded once, handed to every unit, checked, published.

A run's :class:`RunArtifacts` (``session.artifacts``) loads the artifacts the pipeline takes
when the run opens — verifying each file against its manifest and the model contract, once per
run, never per unit — keeps those its steps return (checking the contract as soon as a model
exists, before any row is scored), logs ``metrics``, and at the end saves the requested ones
with a manifest carrying their lineage.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sdk.artifact import contract_problems, feature_dtypes, model_features
from sdk.errors import ArtifactError, PipelineError
from sdk.io import redact
from sdk.logs import get_logger
from sdk.manifest import now

if TYPE_CHECKING:
    from sdk.io.artifacts import PreparedArtifact
    from sdk.pipeline import Pipeline
    from sdk.runners.session import RunRequest
    from sdk.runners.stage import Stage

__all__ = ["RunArtifacts", "upstream_inputs"]

logger = get_logger("sdk.run")


def upstream_inputs(pipeline: Pipeline, dataset: str) -> list[str]:
    """The pipeline inputs ``dataset`` is computed from (itself, if it is one)."""
    seen: list[str] = []
    pending = [dataset]
    while pending:
        name = pending.pop()
        producer = pipeline.producer(name)
        if producer is None:
            if name not in seen:
                seen.append(name)
            continue
        pending.extend(producer.input_names.values())
    return [name for name in pipeline.inputs if name in seen]


def _label(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class RunArtifacts:
    """Artifacts taken and produced by one run, with what the manifests record of them.

    Attributes:
        objects: every artifact available to the run's steps, by name.
        consumed: records of the artifacts the run took (uri, hash, producing run).
        produced: records of the artifacts its steps returned (type; uri and hash once saved).
        metrics: the metrics its steps returned, by output name.
    """

    def __init__(self, pipeline: Pipeline, trusted: tuple[str, ...] = ()) -> None:
        self.pipeline = pipeline
        self.trusted = trusted
        self.objects: dict[str, Any] = {}
        self.consumed: dict[str, dict[str, Any]] = {}
        self.produced: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, float | int]] = {}
        self._features: dict[str, dict[str, str]] = {}
        self._new: list[str] = []

    def given(self, stage: Stage) -> dict[str, Any]:
        """The artifacts ``stage`` takes, by name (the same objects for each of its units)."""
        return {name: self.objects[name] for name in stage.artifacts if name in self.objects}

    # -- taken -----------------------------------------------------------------------------
    def load_inputs(self, request: RunRequest) -> None:
        """Load each artifact input (a file once, or the object given), check its type and
        the model contract of the steps that take it.

        Raises:
            ArtifactError: a file is missing, tampered with, untrusted or of the wrong type.
            PipelineError: a model lacks features its consumers' input models must provide.
        """
        from sdk.io.artifacts import load_artifact

        for name in self.pipeline.inputs:
            declared = self.pipeline.artifact(name)
            if declared is None:
                continue
            value = request.inputs[name]
            trained: Mapping[str, str] | None = None
            if isinstance(value, str):
                started = time.perf_counter()
                loaded = load_artifact(value, trusted=self.trusted)
                obj, manifest = loaded.obj, loaded.manifest or {}
                trained = manifest.get("feature_dtypes")
                record = {
                    "name": name,
                    "uri": redact(value),
                    "content_hash": loaded.content_hash,
                    "bytes": loaded.bytes,
                    "type": _label(obj),
                    "produced_by_run": manifest.get("run_id"),
                    "produced_by_pipeline": manifest.get("pipeline"),
                }
                logger.info(
                    "artifact_loaded",
                    extra={
                        "input": name,
                        **{k: v for k, v in record.items() if k != "name"},
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
                if not isinstance(obj, declared.type) or (
                    declared.kind == "metrics" and not isinstance(obj, Mapping)
                ):
                    raise ArtifactError(
                        f"artifact {name!r} at {redact(value)} holds a {type(obj).__name__}, but "
                        f"the pipeline takes it as {declared.label}; pass the right file"
                    )
            else:
                obj = value
                record = {"name": name, "uri": "<object>", "type": _label(obj)}
            self.objects[name] = obj
            self.consumed[name] = record
            self._check_contract(name, obj, trained)

    # -- produced --------------------------------------------------------------------------
    def accept(self, results: Mapping[str, Any]) -> None:
        """Keep what a unit's steps returned (reported and checked by :meth:`report` and
        :meth:`check_new` once the stage's step events are out)."""
        for name, obj in results.items():
            self.objects[name] = obj
            producer = self.pipeline.producer(name)
            produces = type(producer).contract().produces if producer is not None else None
            if produces is not None and produces.kind == "metrics":
                self.metrics[name] = dict(obj)
            else:
                features = model_features(obj) or []
                self._features[name] = (
                    feature_dtypes(producer, features) if producer is not None else {}
                )
                self.produced[name] = {
                    "name": name,
                    "step": producer.name if producer is not None else None,
                    "type": _label(obj),
                    **({"features": features} if features else {}),
                }
            self._new.append(name)

    def report(self, step: str) -> None:
        """Log what ``step`` returned: ``metrics`` (output, values) or ``artifact_produced``
        (output, type, number of features); called in the step's logging context."""
        for name in self._new:
            producer = self.pipeline.producer(name)
            if producer is None or producer.name != step:
                continue
            if name in self.metrics:
                logger.info("metrics", extra={"output": name, "values": self.metrics[name]})
            else:
                record = self.produced[name]
                logger.info(
                    "artifact_produced",
                    extra={
                        "output": name,
                        "type": record["type"],
                        "features": len(record.get("features", [])),
                    },
                )

    def check_new(self) -> None:
        """Check the model contract of each artifact returned since the last call with the
        steps that take it, before any of them runs.

        Raises:
            PipelineError: a fitted model lacks features its consumers must provide, or they
                declare dtypes other than those it was fitted on.
        """
        new, self._new = self._new, []
        for name in new:
            if name not in self.metrics:
                self._check_contract(name, self.objects[name], self._features.get(name))

    def _check_contract(self, name: str, obj: Any, trained: Mapping[str, str] | None) -> None:
        problems = contract_problems(name, obj, self.pipeline.consumers(name), trained)
        if problems:
            message = problems[0] if len(problems) == 1 else "\n".join(problems)
            raise PipelineError(message, problems)

    # -- published -------------------------------------------------------------------------
    def prepare(
        self,
        name: str,
        uri: str,
        *,
        run_id: str,
        inputs: list[dict[str, Any]],
    ) -> PreparedArtifact:
        """Serialize artifact ``name`` for ``uri`` with its manifest — the producing run,
        pipeline fingerprint and params, the hashes of the inputs it was computed from, the
        features it was fitted on — writing nothing yet (see :meth:`write`).

        Raises:
            ArtifactError: the object cannot be saved in the format of ``uri``.
        """
        from sdk.io.artifacts import prepare_artifact

        pipeline = self.pipeline
        upstream = set(upstream_inputs(pipeline, name))
        trained_on = [
            {k: item.get(k) for k in ("name", "uri", "content_hash")}
            for item in inputs
            if item["name"] in upstream
        ]
        for item in trained_on:
            consumed = self.consumed.get(str(item["name"]))
            if consumed is not None:  # an artifact input: its own hash and producing run
                item.update(
                    content_hash=consumed.get("content_hash"),
                    produced_by_run=consumed.get("produced_by_run"),
                )
        producer = pipeline.producer(name)
        obj = self.objects[name]
        manifest: dict[str, Any] = {
            "manifest_version": 1,
            "kind": "metrics" if name in self.metrics else "artifact",
            "name": name,
            "run_id": run_id,
            "pipeline": pipeline.name,
            "fingerprint": pipeline.fingerprint(),
            "step": producer.name if producer is not None else None,
            "params": {s.name: s.params.as_dict() for s in pipeline.order},
            "trained_on": trained_on,
            "created": now(),
            # the file's hash differs at every save (.skops archives hold timestamps); this
            # one is equal for an equal object under the same library versions
            "object_hash": "sha256:" + hashlib.sha256(pickle.dumps(obj, protocol=5)).hexdigest(),
        }
        if name in self._features:
            manifest["features"] = list(self.produced[name].get("features", []))
            manifest["feature_dtypes"] = self._features[name]
        if self.metrics:
            manifest["metrics"] = self.metrics
        return prepare_artifact(obj, uri, manifest)

    def write(self, name: str, prepared: PreparedArtifact) -> None:
        """Write a prepared artifact and its manifest; record where (``artifact_written``)."""
        prepared.write()
        written = prepared.manifest
        uri = redact(prepared.uri)
        record = self.produced.setdefault(
            name, {"name": name, "step": written.get("step"), "type": written.get("type")}
        )
        record.update(uri=uri, content_hash=written["content_hash"], bytes=written["bytes"])
        logger.info(
            "artifact_written",
            extra={
                "output": name,
                "uri": uri,
                "content_hash": written["content_hash"],
                "bytes": written["bytes"],
            },
        )

    def records(self) -> dict[str, dict[str, Any]]:
        """The artifacts (not metrics) the steps returned, as ``RunResult.artifacts`` has them."""
        return {
            name: dict(record) for name, record in self.produced.items() if name not in self.metrics
        }

    def manifest_entry(self) -> dict[str, Any]:
        """What the run manifest records: artifacts produced and consumed, and metrics."""
        return {
            "produced": [
                {k: v for k, v in record.items() if k != "features"}
                for record in self.produced.values()
            ],
            "consumed": list(self.consumed.values()),
        }
