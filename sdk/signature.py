"""A step's data contract, read from the signature of its ``run`` method.

The parameters annotated ``DataFrame[Model]`` are its inputs, those annotated
``Artifact[T]`` the objects it takes, the return annotation its output (a model, an artifact
or metrics). Annotations that name something not defined yet resolve later (``strict``).
"""

from __future__ import annotations

import inspect
import sys
import typing
from typing import TYPE_CHECKING, Any

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk.artifact import ArtifactType, artifact_type
from sdk.errors import StepDefinitionError

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = ["Contract", "resolve"]


class Contract:
    """The resolved data contract of a step class.

    Attributes:
        inputs: the DataFrame inputs' models, by ``run`` parameter.
        artifacts: the artifact inputs (``Artifact[T]``), by ``run`` parameter.
        output: the output's model, or ``None`` when the step returns an artifact.
        produces: what ``run`` returns when it is an artifact or metrics, else ``None``.
    """

    def __init__(
        self,
        inputs: dict[str, type[pa.DataFrameModel]],
        output: type[pa.DataFrameModel] | None,
        artifacts: dict[str, ArtifactType] | None = None,
        produces: ArtifactType | None = None,
    ):
        self.inputs = inputs
        self.output = output
        self.artifacts = artifacts or {}
        self.produces = produces

    @property
    def params(self) -> list[str]:
        """Every input parameter of ``run``: DataFrames first, then artifacts."""
        return [*self.inputs, *self.artifacts]

    @property
    def output_label(self) -> str:
        """The output as annotated: the model's name, ``Artifact[T]`` or ``Metrics``."""
        if self.produces is not None:
            return self.produces.label
        return self.output.__name__ if self.output is not None else "?"

    def input_label(self, param: str) -> str:
        """Parameter ``param`` as annotated: its model's name or ``Artifact[T]``."""
        if param in self.artifacts:
            return self.artifacts[param].label
        return self.inputs[param].__name__

    def frame_output(self) -> type[pa.DataFrameModel]:
        """The output model of a step that returns a DataFrame.

        Raises:
            TypeError: the step returns an artifact.
        """
        if self.output is None:
            raise TypeError(f"the step returns {self.output_label}, not a DataFrame")
        return self.output


def _model_of(cls: type, where: str, annotation: Any) -> type[pa.DataFrameModel]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if (
        origin is not None
        and isinstance(origin, type)
        and issubclass(origin, DataFrame)
        and args
        and isinstance(args[0], type)
        and issubclass(args[0], pa.DataFrameModel)
    ):
        return args[0]
    shown = getattr(annotation, "__name__", None) or repr(annotation)
    raise StepDefinitionError(
        f"step {cls.__name__}: {where} is annotated {shown}; annotate it as "
        f"DataFrame[Model] with `from pandera.typing import DataFrame` and a pandera "
        f"DataFrameModel, or as sdk.Artifact[T] for a fitted model or other object"
        + (" (or sdk.Metrics for a dict of numbers)" if where.startswith("the return") else "")
    )


def _artifact_of(cls: type, where: str, annotation: Any) -> ArtifactType | None:
    try:
        return artifact_type(annotation)
    except TypeError as exc:
        raise StepDefinitionError(f"step {cls.__name__}: {where}: {exc}") from None


def resolve(cls: type[Step], *, strict: bool) -> Contract | None:
    """Resolve the contract of step class ``cls``; ``None`` if a name is not defined yet and
    not ``strict``.

    Raises:
        StepDefinitionError: an annotation is not a model, an artifact or metrics, a
            partition key column is missing from an input, or (``strict``) a name is
            undefined.
    """
    run = cls.run
    module = sys.modules.get(getattr(run, "__module__", None) or cls.__module__)
    globalns = dict(vars(module)) if module else {}
    try:
        hints = typing.get_type_hints(run, globalns=globalns, localns=dict(vars(cls)))
    except NameError as exc:
        if not strict:
            return None
        raise StepDefinitionError(
            f"step {cls.__name__}: cannot resolve the annotations of run(): {exc}; define the "
            f"model before the step is instantiated, or import it in the step's module"
        ) from None
    params = list(inspect.signature(run).parameters.values())[1:]
    inputs: dict[str, type[pa.DataFrameModel]] = {}
    artifacts: dict[str, ArtifactType] = {}
    for p in params:
        where = f"run() parameter {p.name!r}"
        declared = _artifact_of(cls, where, hints.get(p.name))
        if declared is not None and declared.kind == "artifact":
            artifacts[p.name] = declared
        else:
            inputs[p.name] = _model_of(cls, where, hints.get(p.name))
    if not inputs:
        raise StepDefinitionError(
            f"step {cls.__name__}: run() takes only artifacts ({', '.join(artifacts)}); a step "
            f"needs at least one input dataset annotated DataFrame[Model]"
        )
    if "return" not in hints:
        raise StepDefinitionError(
            f"step {cls.__name__}: run() has no return annotation; declare its output as "
            f"-> DataFrame[Model]"
        )
    produces = _artifact_of(cls, "the return value of run()", hints["return"])
    output = None if produces else _model_of(cls, "the return value of run()", hints["return"])
    scope = cls.__dict__.get("scope", cls.scope)
    if produces is not None and (scope != "global" or cls.partition_by is not None):
        raise StepDefinitionError(
            f"step {cls.__name__}: run() returns {produces.label}, which is computed from "
            f"every row, but the step declares "
            f"{'partition_by' if cls.partition_by is not None else 'scope'} = "
            f"{cls.partition_by if cls.partition_by is not None else scope!r}; a step that "
            f"returns an artifact or metrics must be scope = 'global'"
        )
    for name, model in inputs.items():
        columns = model.to_schema().columns
        missing = [c for c in cls._key or () if c not in columns]
        if missing:
            what = (
                f"partition_by = {missing[0]!r} is not a column"
                if isinstance(cls.partition_by, str)
                else f"partition_by = {cls.partition_by!r}: {', '.join(map(repr, missing))} "
                f"{'is not a column' if len(missing) == 1 else 'are not columns'}"
            )
            raise StepDefinitionError(
                f"step {cls.__name__}: {what} of input {name!r} ({model.__name__} has "
                f"{', '.join(columns)}); name its columns or use scope = 'global'"
            )
    return Contract(inputs, output, artifacts, produces)
