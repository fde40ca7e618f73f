"""What a run is asked to do, checked before anything runs: :class:`RunRequest`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd

from sdk.errors import IOSchemeError, PipelineError
from sdk.io import dataset_identity, exists, redact
from sdk.plugins import resolve_scheme
from sdk.quarantine import check_max_invalid

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["RunRequest"]


@attrs.frozen
class RunRequest:
    """What a run was asked to do, checked: every problem with the names is listed at once.

    Attributes:
        pipeline: the pipeline, params applied.
        inputs: each pipeline input, a DataFrame or a URI (an artifact: a URI or the object).
        outputs: datasets to write, by name.
        quarantine: where to write the quarantine, if anywhere.
        max_invalid: this run's error budget.
        run_id: the id asked for (a new one is generated otherwise).
        resume: the id of an interrupted run to continue.
        overwrite: replace existing outputs.
        trusted_artifacts: patterns of artifact files trusted to be loaded with pickle
            (``.joblib``, ``.pkl``) or with types ``skops`` does not trust by default.
        outputs_sort: columns to sort each named dataset by when it is published (written
            or returned), stably; row order is otherwise not part of the contract.
    """

    pipeline: Pipeline
    inputs: dict[str, Any]
    outputs: dict[str, str]
    quarantine: str | None
    max_invalid: float
    run_id: str | None = None
    resume: str | None = None
    overwrite: bool = False
    trusted_artifacts: tuple[str, ...] = ()
    outputs_sort: dict[str, tuple[str, ...]] = attrs.field(factory=dict)

    @classmethod
    def build(
        cls,
        pipeline: Pipeline,
        inputs: Mapping[str, Any],
        *,
        outputs: Mapping[str, str] | None = None,
        quarantine: str | None = None,
        params: Mapping[str, Any] | None = None,
        max_invalid: float | None = None,
        run_id: str | None = None,
        resume: str | None = None,
        overwrite: bool = False,
        trusted_artifacts: Sequence[str] = (),
        outputs_sort: Mapping[str, Sequence[str]] | None = None,
    ) -> RunRequest:
        """Apply ``params`` and check names, types and the budget.

        Raises:
            PipelineError: listing every missing or unknown input or output, and every
                dataset or column of ``outputs_sort`` the pipeline does not produce.
            ParamsError: a param override that does not fit.
        """
        pipeline = pipeline.with_params(params)
        given = dict(inputs)
        outs = {k: str(v) for k, v in (outputs or {}).items()}
        artifacts = set(pipeline.artifacts)
        problems = [
            f"missing input {name!r} ({pipeline.describe_input(name)}); pass it as "
            + (f"{name}=<file or object>" if name in artifacts else f"{name}=<DataFrame or URI>")
            for name in pipeline.inputs
            if name not in given
        ]
        problems += [
            f"unknown input {name!r}; the pipeline's inputs are {', '.join(pipeline.inputs)}"
            for name in given
            if name not in pipeline.inputs
        ]
        problems += [
            f"input {name!r} is a {type(value).__name__}; pass a pandas DataFrame or a URI"
            for name, value in given.items()
            if name not in artifacts and not isinstance(value, pd.DataFrame | str | Path)
        ]
        problems += _artifact_problems(pipeline, given, outs)
        problems += [
            f"unknown output {name!r}; the pipeline produces {', '.join(pipeline.outputs)}"
            for name in outs
            if name not in pipeline.outputs
        ]
        problems += _overlaps(given, outs, quarantine)
        problems += _sort_problems(pipeline, outputs_sort or {})
        if problems:
            message = problems[0] if len(problems) == 1 else "\n".join(problems)
            raise PipelineError(message, problems)
        return cls(
            pipeline=pipeline,
            inputs={k: (str(v) if isinstance(v, str | Path) else v) for k, v in given.items()},
            outputs=outs,
            quarantine=quarantine,
            max_invalid=check_max_invalid(
                pipeline.max_invalid if max_invalid is None else max_invalid
            ),
            run_id=run_id,
            resume=resume,
            overwrite=overwrite,
            trusted_artifacts=tuple(trusted_artifacts),
            outputs_sort={k: tuple(v) for k, v in (outputs_sort or {}).items()},
        )

    @property
    def frame_inputs(self) -> dict[str, pd.DataFrame | str]:
        """The DataFrame inputs (not the artifacts): a DataFrame or a URI each."""
        artifacts = set(self.pipeline.artifacts)
        return {k: v for k, v in self.inputs.items() if k not in artifacts}

    def refuse_existing(self) -> None:
        """Raise ``PipelineError`` if a destination exists and ``overwrite`` is not set."""
        artifacts = set(self.pipeline.artifacts)
        taken = [
            uri
            for name, uri in self.outputs.items()
            if (
                os.path.exists(uri.removeprefix("file://"))
                if name in artifacts
                else exists(resolve_scheme(uri), uri)
            )
        ]
        if self.quarantine and exists(resolve_scheme(self.quarantine), self.quarantine):
            taken.append(self.quarantine)
        if taken and not self.overwrite:
            raise PipelineError(
                f"output(s) already exist: {', '.join(redact(u) for u in taken)}; pass "
                f"--overwrite (overwrite=True) to replace them, or choose another destination"
            )


def _artifact_problems(
    pipeline: Pipeline, inputs: Mapping[str, object], outputs: Mapping[str, str]
) -> list[str]:
    """Artifact inputs of the wrong type or format, artifact outputs of an unknown format."""
    from sdk.io.artifacts import artifact_format

    problems: list[str] = []
    for name in pipeline.artifacts:
        declared = pipeline.artifact(name)
        if declared is None:  # pragma: no cover - pipeline.artifacts lists declared ones
            continue
        uris = [(f"output {name!r}", outputs[name])] if name in outputs else []
        value = inputs.get(name)
        if isinstance(value, str | Path):
            uris.append((f"input {name!r}", str(value)))
        elif value is not None and not isinstance(value, declared.type):
            problems.append(
                f"input {name!r} is a {type(value).__name__}; the pipeline takes it as "
                f"{declared.label}: pass that object or the file it was saved to"
            )
        for what, uri in uris:
            try:
                fmt = artifact_format(uri)
            except IOSchemeError as exc:
                problems.append(f"{what}: {exc}")
                continue
            if fmt == "json" and not issubclass(declared.type, dict | list):
                problems.append(
                    f"{what}: {redact(uri)} is JSON, which holds metrics, dicts and lists, not "
                    f"{declared.label}; save it as .skops"
                )
    return problems


def _sort_problems(pipeline: Pipeline, outputs_sort: Mapping[str, Sequence[str]]) -> list[str]:
    """Datasets of ``outputs_sort`` the pipeline does not produce as a table, and columns
    their models do not declare."""
    problems: list[str] = []
    artifacts = set(pipeline.artifacts)
    for name, columns in outputs_sort.items():
        producer = pipeline.producer(name)
        if producer is None:
            problems.append(
                f"outputs_sort: unknown dataset {name!r}; the pipeline produces "
                f"{', '.join(pipeline.outputs)}: sort one of those (or remove {name!r})"
            )
            continue
        if name in artifacts:
            problems.append(
                f"outputs_sort: {name!r} is an artifact, not a table; remove it from outputs_sort"
            )
            continue
        if isinstance(columns, str) or not columns or not all(isinstance(c, str) for c in columns):
            problems.append(
                f"outputs_sort: {name!r} takes a non-empty list of column names, got "
                f'{columns!r}; write e.g. {name} = ["customer_id"]'
            )
            continue
        model = type(producer).contract().output
        if model is None:  # pragma: no cover - a step without an output model is an artifact's
            continue
        declared = list(model.to_schema().columns)
        unknown = [c for c in columns if c not in declared]
        if unknown:
            problems.append(
                f"outputs_sort: dataset {name!r} has no column(s) "
                f"{', '.join(map(repr, unknown))}; its model {model.__name__} declares "
                f"{', '.join(declared)}: sort by those"
            )
    return problems


def _overlaps(
    inputs: Mapping[str, object], outputs: Mapping[str, str], quarantine: str | None
) -> list[str]:
    """Destinations that would overwrite an input or each other (same file, also through a
    symlink, or same table)."""
    read = {
        dataset_identity(str(v)): name
        for name, v in inputs.items()
        if isinstance(v, str | Path) and dataset_identity(str(v)) is not None
    }
    destinations = [(f"output {k!r}", v) for k, v in outputs.items()]
    destinations += [("the quarantine", quarantine)] if quarantine else []
    problems: list[str] = []
    written: dict[tuple[str, ...], str] = {}
    for what, uri in destinations:
        identity = dataset_identity(uri)
        if identity is None:
            continue
        if identity in read:
            problems.append(
                f"{what} ({redact(uri)}) is the input {read[identity]!r}: writing it would "
                f"destroy the input; choose another destination"
            )
        elif identity in written:
            problems.append(
                f"{what} and {written[identity]} are both {redact(uri)}; give each its own "
                f"destination"
            )
        written[identity] = what
    return problems
