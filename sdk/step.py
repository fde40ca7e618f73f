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
from collections.abc import Mapping
from types import FrameType
from typing import Any, ClassVar

from sdk.errors import StepDefinitionError
from sdk.params import Params
from sdk.signature import Contract, resolve

__all__ = ["SCOPES", "Contract", "Step"]

SCOPES = ("rows", "global")
"""The values ``scope`` accepts; ``partition_by = "col"`` (or a list of columns) declares the
keyed scope."""


def snake_case(name: str) -> str:
    """Return ``name`` (a class name) in snake_case: ``AddFeatures`` -> ``add_features``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _rebuilt_by_value() -> bool:
    """Whether the class being created is cloudpickle's empty skeleton of a step class sent by
    value (a step defined in a notebook or ``__main__``, shipped to a worker process): its
    docstring, ``run`` and models are set on it after creation, and the class passed these
    checks where it was defined."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "_make_skeleton_class" and "cloudpickle" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def _own_doc(cls: type) -> str:
    """The docstring of ``cls`` or of a user-written base step (never ``Step``'s own)."""
    for klass in cls.__mro__:
        if klass is Step:
            return ""
        doc = (klass.__dict__.get("__doc__") or "").strip()
        if doc:
            return doc
    return ""


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
        if _rebuilt_by_value():
            return  # checked where it was defined; its body arrives after this call
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
        cls._contract = resolve(cls, strict=False)

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
        contract = cls._contract or resolve(cls, strict=True)
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
