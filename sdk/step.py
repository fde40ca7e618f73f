"""The analyst's unit of work: a ``Step`` subclass with one ``run`` method.

Inputs are ``run``'s parameters annotated ``DataFrame[Model]``; the output is its return
annotation. The class is checked when it is defined; annotations that cannot be resolved yet
are resolved when the step is instantiated.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk.artifact import ArtifactType, artifact_type
from sdk.errors import StepDefinitionError
from sdk.params import Params

__all__ = ["SCOPES", "Contract", "Step"]

SCOPES = ("rows", "global")
"""The values ``scope`` accepts; ``partition_by = "col"`` (or a list of columns) declares the
keyed scope."""


def snake_case(name: str) -> str:
    """Return ``name`` (a class name) in snake_case: ``AddFeatures`` -> ``add_features``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


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


def _own_doc(cls: type) -> str:
    """The docstring of ``cls`` or of a user-written base step (never ``Step``'s own)."""
    for klass in cls.__mro__:
        if klass is Step:
            return ""
        doc = (klass.__dict__.get("__doc__") or "").strip()
        if doc:
            return doc
    return ""


def _resolve(cls: type[Step], *, strict: bool) -> Contract | None:
    """Resolve the contract of ``cls``; ``None`` if a name is not defined yet and not ``strict``."""
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


def _key_columns(cls: type, partition_by: Any) -> tuple[str, ...] | None:
    """``partition_by`` as a tuple of column names (``None`` when the step is not keyed)."""
    if partition_by is None:
        return None
    if isinstance(partition_by, str) and partition_by:
        return (partition_by,)
    if (
        isinstance(partition_by, list | tuple)
        and partition_by
        and all(isinstance(c, str) and c for c in partition_by)
    ):
        twice = sorted({c for c in partition_by if partition_by.count(c) > 1})
        if twice:
            raise StepDefinitionError(
                f"step {cls.__name__}: partition_by = {partition_by!r} names "
                f"{', '.join(map(repr, twice))} twice; name each key column once"
            )
        return tuple(partition_by)
    raise StepDefinitionError(
        f"step {cls.__name__}: partition_by = {partition_by!r}; name a column "
        f"(partition_by = 'customer_id') or several (partition_by = ['origin', 'time_hour'])"
    )


def _declared(cls: type, attr: str) -> Any:
    """``attr`` as declared by ``cls`` or its nearest user-written base step, like any class
    attribute; ``None`` when none declares it (a default the SDK filled in does not count)."""
    for klass in cls.__mro__:
        if klass is Step:
            break
        if attr in klass.__dict__ and attr not in klass.__dict__.get("_filled", ()):
            return klass.__dict__[attr]
    return None


def _check_names(cls: type[Step], params: list[str]) -> None:
    """The class-level ``name``, ``output`` and ``inputs`` a step declares are well formed."""
    for attr in ("name", "output"):
        value = _declared(cls, attr)
        if value is not None and not (isinstance(value, str) and value):
            raise StepDefinitionError(
                f"step {cls.__name__}: {attr} = {value!r}; a step's {attr} is a non-empty "
                f"string ({attr} = {snake_case(cls.__name__)!r})"
            )
    inputs = _declared(cls, "inputs")
    if inputs is None:
        return
    if not isinstance(inputs, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in inputs.items()
    ):
        raise StepDefinitionError(
            f"step {cls.__name__}: inputs = {inputs!r}; map run() parameters to dataset names "
            f"(inputs = {{{params[0]!r}: 'dataset'}})"
        )
    unknown = sorted(set(inputs) - set(params))
    if unknown:
        raise StepDefinitionError(
            f"step {cls.__name__}: inputs renames unknown parameter(s) {', '.join(unknown)}; "
            f"run() takes {', '.join(params)}"
        )


class Step:
    """Base class of every pipeline step.

    Subclass it, write a docstring and one method ``run`` whose parameters are the input
    datasets (annotated ``DataFrame[Model]``) and whose return annotation is the output.
    A parameter may also be a fitted model or other object, annotated ``sdk.Artifact[T]``
    (the same object in every unit); a ``scope = "global"`` step may return one, or
    ``sdk.Metrics`` (a dict of names to numbers). See ``docs/models.md``.

    Class attributes (inherited by subclasses like any class attribute; the arguments of
    the constructor win over them):
        name: the step's name in a pipeline (default: snake_case class name).
        output: the dataset name the result is published under (default: snake_case class name).
        inputs: ``run`` parameter -> the dataset name it consumes (default: the parameter name).
        scope: ``"rows"`` (rows independent) or ``"global"`` (the default, always correct).
        partition_by: a column, or a list of columns; rows with an equal key (equal values in
            every key column) must be processed together.
        Params: a nested ``sdk.Params`` subclass declaring typed parameters.
    """

    name: str
    output: ClassVar[str]
    inputs: ClassVar[Mapping[str, str] | None] = None
    scope: ClassVar[str] = "global"
    partition_by: ClassVar[str | list[str] | tuple[str, ...] | None] = None
    Params: ClassVar[type[Params]] = Params
    _contract: ClassVar[Contract | None] = None
    _key: ClassVar[tuple[str, ...] | None] = None
    _filled: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not _own_doc(cls):
            raise StepDefinitionError(
                f"step {cls.__name__}: missing docstring; add one sentence saying what the "
                f"step computes"
            )
        run = getattr(cls, "run", None)
        if run is None or run is Step.run or not callable(run):
            raise StepDefinitionError(
                f"step {cls.__name__}: no run() method; define "
                f"`def run(self, name: DataFrame[InModel]) -> DataFrame[OutModel]`"
            )
        params = list(inspect.signature(run).parameters.values())
        for p in params[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise StepDefinitionError(
                    f"step {cls.__name__}: run() takes "
                    f"{'*' if p.kind is p.VAR_POSITIONAL else '**'}"
                    f"{p.name}; name each input dataset as its own parameter"
                )
        if len(params) < 2:
            raise StepDefinitionError(
                f"step {cls.__name__}: run() takes no input dataset; steps do no I/O, so data "
                f"must come in through run()'s parameters annotated DataFrame[Model]"
            )
        cls._key = _key_columns(cls, cls.partition_by)
        if cls.__dict__.get("scope", cls.scope) not in SCOPES:
            raise StepDefinitionError(
                f"step {cls.__name__}: unknown scope {cls.scope!r}; use one of "
                f"{', '.join(map(repr, SCOPES))}, or partition_by = 'column' (or a list of columns)"
            )
        if cls.partition_by is not None and "scope" in cls.__dict__ and cls.scope == "rows":
            raise StepDefinitionError(
                f"step {cls.__name__}: scope = 'rows' and partition_by = {cls.partition_by!r} "
                f"contradict each other; keep one"
            )
        _check_names(cls, [p.name for p in params[1:]])
        if _declared(cls, "output") is None:  # the default is this class's own name
            cls.output = snake_case(cls.__name__)
            cls._filled = ("output",)
        else:
            cls._filled = ()
        if not (isinstance(cls.Params, type) and issubclass(cls.Params, Params)):
            raise StepDefinitionError(
                f"step {cls.__name__}: Params must subclass sdk.Params "
                f"(`class Params(sdk.Params): ...`)"
            )
        cls._contract = _resolve(cls, strict=False)

    def __init__(
        self,
        *,
        name: str | None = None,
        output: str | None = None,
        inputs: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        """Create a step instance.

        Args:
            name: the step's name in a pipeline (default: the class's ``name``, else the
                snake_case class name); it prefixes param overrides (``name.field=value``) and
                appears in logs and the quarantine.
            output: publish the result under this dataset name instead of the class's ``output``.
            inputs: map ``run`` parameter names to the dataset names they consume (over the
                class's ``inputs``, parameter by parameter).
            **params: values for the fields of the step's ``Params``.

        Raises:
            ParamsError: an unknown param or a value of the wrong type.
            StepDefinitionError: the annotations cannot be resolved, or ``inputs`` names an
                unknown parameter.
        """
        cls = type(self)
        self.name = name or _declared(cls, "name") or snake_case(cls.__name__)
        self.params: Params = cls.Params.build(self.name, params)
        contract = cls.contract()
        unknown = sorted(set(inputs or {}) - set(contract.params))
        if unknown:
            raise StepDefinitionError(
                f"step {self.name!r}: inputs= renames unknown parameter(s) {', '.join(unknown)}; "
                f"run() takes {', '.join(contract.params)}"
            )
        renamed = {**(_declared(cls, "inputs") or {}), **(inputs or {})}
        self.input_names: dict[str, str] = {p: renamed.get(p, p) for p in contract.params}
        self.output_name: str = output or cls.output
        self.log: logging.Logger = _step_logger(self.name)

    @classmethod
    def contract(cls) -> Contract:
        """Return the step's resolved contract, resolving deferred annotations now."""
        contract = cls._contract or _resolve(cls, strict=True)
        if contract is None:  # pragma: no cover - _resolve(strict=True) raises instead
            raise StepDefinitionError(f"step {cls.__name__}: contract unresolved")
        cls._contract = contract
        return contract

    @property
    def frame_inputs(self) -> dict[str, str]:
        """The DataFrame inputs: ``run`` parameter -> dataset name."""
        frames = type(self).contract().inputs
        return {p: d for p, d in self.input_names.items() if p in frames}

    @property
    def artifact_inputs(self) -> dict[str, str]:
        """The artifact inputs: ``run`` parameter -> artifact name."""
        artifacts = type(self).contract().artifacts
        return {p: d for p, d in self.input_names.items() if p in artifacts}

    @property
    def key(self) -> tuple[str, ...] | None:
        """The partitioning key's columns (``partition_by`` as a tuple), or ``None``."""
        return type(self)._key

    @property
    def scope_label(self) -> str:
        """``"rows"``, ``"global"`` or ``"partition_by=<col>[,<col>...]"``."""
        key = self.key
        return f"partition_by={','.join(key)}" if key else type(self).scope

    def with_params(self, **overrides: Any) -> Step:
        """Return a copy of this step with some params replaced (checked like the originals)."""
        values = {**self.params.as_dict(), **overrides}
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.params = type(self).Params.build(self.name, values)
        return clone

    def run(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - always overridden
        """Compute the output from the inputs; overridden by every step."""
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.as_dict().items())
        return f"{type(self).__name__}({params})"


def _step_logger(name: str) -> logging.Logger:
    from sdk.logs import get_logger

    return get_logger(f"sdk.step.{name}")
