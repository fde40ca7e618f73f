"""Artifacts: what a step may take or return besides a DataFrame.

``Artifact[T]`` annotates a fitted model or any other non-tabular object (a dict, an array);
``Metrics`` annotates a mapping of names to numbers. A step returning either sees its whole
input (``scope = "global"``); a step taking an artifact gets the same object in every unit.
The runner persists and loads them (see :mod:`sdk.io.artifacts`); this module holds the
types, the checks of returned objects, and the *model contract*: the columns a fitted model
was trained on must be provided by the steps that feed it.
"""

from __future__ import annotations

import numbers
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import pandera.pandas as pa

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = [
    "Artifact",
    "ArtifactType",
    "Metrics",
    "artifact_type",
    "check_metrics",
    "check_object",
    "contract_problems",
    "model_features",
    "type_label",
]

T = TypeVar("T")


class Artifact(Generic[T]):
    """Annotation of a non-tabular input or output of a step: ``Artifact[LinearRegression]``.

    A step that returns an artifact must declare ``scope = "global"`` (it sees every row);
    a step that takes one receives the same object in every unit (chunk, micro-batch,
    request, partition). Runners save and load artifacts through files named like datasets
    (``--output regressor=models/regressor.skops``); steps still do no I/O.
    """


class Metrics(dict[str, float]):
    """Annotation of a step's output that is a mapping of names to numbers (``-> Metrics``).

    Return a plain ``dict``; it is checked (string keys, numeric values), logged as a
    ``metrics`` event, stored in the run manifest and in ``RunResult.metrics``.
    """


class ArtifactType:
    """What an ``Artifact[T]`` or ``Metrics`` annotation declares.

    Attributes:
        kind: ``"artifact"`` or ``"metrics"``.
        type: the class ``T`` objects must be instances of (``object`` for ``Artifact[Any]``).
    """

    def __init__(self, kind: str, type_: type) -> None:
        self.kind = kind
        self.type = type_

    @property
    def label(self) -> str:
        """How the annotation reads: ``Artifact[LinearRegression]`` or ``Metrics``."""
        if self.kind == "metrics":
            return "Metrics"
        return f"Artifact[{type_label(self.type)}]"

    def accepts(self, other: ArtifactType) -> bool:
        """Whether what ``other`` declares is acceptable where this is declared."""
        if self.type is object:
            return True
        return isinstance(other.type, type) and issubclass(other.type, self.type)

    def __repr__(self) -> str:
        return self.label


def type_label(cls: Any) -> str:
    """A class's short name (``LinearRegression``), or its repr."""
    return getattr(cls, "__name__", None) or repr(cls)


def artifact_type(annotation: Any) -> ArtifactType | None:
    """The artifact an annotation declares, or ``None`` if it declares none."""
    if annotation is Metrics:
        return ArtifactType("metrics", dict)
    if typing.get_origin(annotation) is not Artifact:
        return None
    (arg,) = typing.get_args(annotation)
    if arg is Any:
        return ArtifactType("artifact", object)
    cls = typing.get_origin(arg) or arg  # Artifact[dict[str, float]] checks dict
    if not isinstance(cls, type):
        raise TypeError(f"Artifact[{arg!r}]: the argument must be a class, e.g. Artifact[dict]")
    return ArtifactType("artifact", cls)


def check_object(value: Any, declared: ArtifactType) -> str | None:
    """Why ``value`` does not match ``declared`` (``None`` when it does)."""
    if declared.kind == "metrics":
        return check_metrics(value)
    if not isinstance(value, declared.type):
        return f"returned {type(value).__name__}, not {declared.label}"
    return None


def check_metrics(value: Any) -> str | None:
    """Why ``value`` is not a mapping of names to numbers (``None`` when it is)."""
    if not isinstance(value, Mapping):
        return f"returned {type(value).__name__}, not Metrics (a dict of names to numbers)"
    bad = [
        f"{k!r}: {type(v).__name__}"
        for k, v in value.items()
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, numbers.Real)
    ]
    if bad:
        return f"returned Metrics whose values are not numbers with string names ({', '.join(bad)})"
    return None


def plain_metrics(value: Mapping[str, Any]) -> dict[str, float | int]:
    """Metrics as plain Python numbers (numpy scalars converted), in the step's order."""
    return {
        str(k): (int(v) if isinstance(v, numbers.Integral) else float(v)) for k, v in value.items()
    }


def model_features(obj: Any) -> list[str] | None:
    """The feature names a fitted model records (scikit-learn's ``feature_names_in_``)."""
    names = getattr(obj, "feature_names_in_", None)
    if names is None:
        return None
    try:
        return [str(n) for n in np.asarray(names).tolist()]
    except TypeError:  # pragma: no cover - an object with an unusual attribute
        return None


def feature_dtypes(step: Step, features: list[str]) -> dict[str, str]:
    """The declared dtypes of ``features`` in the frame inputs of ``step`` (a training step):
    what its model was fitted on, as far as the models say."""
    dtypes: dict[str, str] = {}
    for model in type(step).contract().inputs.values():
        columns = model.to_schema().columns
        for feature in features:
            column = columns.get(feature)
            if column is not None and column.dtype is not None and feature not in dtypes:
                dtypes[feature] = str(column.dtype)
    return dtypes


def _kind(dtype: str) -> str:
    """Broad dtype family: numeric (int, float, bool), or the dtype itself."""
    lowered = dtype.lower()
    if lowered.startswith(("int", "uint", "float", "bool")) or lowered in {"number"}:
        return "numeric"
    return lowered


def _shown(dtype: str) -> str:
    """A dtype as the analyst wrote it: ``str`` for pandas' string dtypes."""
    return "str" if dtype.lower().startswith(("string", "str")) else dtype


def contract_problems(
    name: str,
    obj: Any,
    consumers: list[Step],
    trained: Mapping[str, str] | None,
) -> list[str]:
    """Where the steps taking artifact ``name`` do not provide what the model was fitted on.

    Args:
        name: the artifact's dataset name.
        obj: the fitted object; checked only if it records ``feature_names_in_``.
        consumers: the steps that take it.
        trained: declared dtype per feature at training (``None``: names only).

    Returns:
        One message per consuming step that lacks features or declares an incompatible
        dtype for one, naming the columns and the fix.
    """
    features = model_features(obj)
    if not features:
        return []
    problems: list[str] = []
    for step in consumers:
        contract = type(step).contract()
        columns: dict[str, pa.Column] = {}
        models = []
        for param, model in contract.inputs.items():
            models.append(f"{param} ({model.__name__})")
            for column_name, column in model.to_schema().columns.items():
                columns.setdefault(str(column_name), column)
        where = f"step {step.name!r} input {' / '.join(models)}"
        missing = [f for f in features if f not in columns]
        if missing:
            problems.append(
                f"artifact {name!r} ({type(obj).__name__}) was fitted on {len(features)} "
                f"feature(s) {', '.join(features)}; {where} lacks {', '.join(missing)}. Add "
                f"the column(s) to the input model, or retrain the model on the columns it has"
            )
            continue
        clashes = []
        for feature, dtype in (trained or {}).items():
            column = columns.get(feature)
            declared = None if column is None or column.dtype is None else str(column.dtype)
            if declared is not None and _kind(declared) != _kind(dtype):
                clashes.append(
                    f"{feature} (fitted on {_shown(dtype)}, declared {_shown(declared)})"
                )
        if clashes:
            problems.append(
                f"artifact {name!r} ({type(obj).__name__}): {where} declares dtypes that do not "
                f"match what the model was fitted on: {', '.join(clashes)}; declare the "
                f"training dtype in the input model"
            )
    return problems
