"""Typed, frozen step parameters.

A step declares ``class Params(sdk.Params)`` with annotated fields and defaults; the class
becomes a frozen attrs class whose values are checked with typeguard at construction.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import attrs
import typeguard

from sdk.errors import ParamsError

__all__ = ["Params", "parse_param_value", "parse_typed", "type_name"]


def type_name(annotation: Any) -> str:
    """A readable name of a type annotation (``int``, ``int | None``)."""
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    if get_origin(annotation) in (Union, types.UnionType):
        return " | ".join(type_name(member) for member in get_args(annotation))
    return str(annotation).replace("typing.", "")


class Params:
    """Base of a step's parameters: subclass it inside a ``Step`` as ``class Params(Params)``.

    Each annotated field with a default becomes a frozen attribute; values are checked
    against their annotations when the params are built.
    """

    __sdk_owner__: ClassVar[str] = "step"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # slots=False modifies the class in place, so the nested name keeps pointing at it.
        attrs.define(frozen=True, slots=False, kw_only=True)(cls)

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Return the resolved annotation of every field, by name."""
        if not attrs.has(cls):
            return {}
        hints = typing.get_type_hints(cls)
        return {f.name: hints.get(f.name, Any) for f in attrs.fields(cls)}

    @classmethod
    def build(cls, owner: str, values: dict[str, Any]) -> Params:
        """Build params for step ``owner`` from ``values``, checking names and types.

        Raises:
            ParamsError: an unknown name, a missing required value, or a value of the wrong type.
        """
        types_ = cls.field_types()
        unknown = sorted(set(values) - set(types_))
        if unknown:
            known = ", ".join(sorted(types_)) or "none"
            raise ParamsError(
                f"step {owner!r}: unknown param(s) {', '.join(map(repr, unknown))}; "
                f"known params: {known}"
            )
        for name, value in values.items():
            _check_value(owner, name, value, types_[name])
        values = dict(values)
        for field in attrs.fields(cls) if attrs.has(cls) else ():
            # a mutable default (a list) is copied so no two steps share, or can alter, one
            if field.name not in values and isinstance(field.default, list | dict | set):
                values[field.name] = copy.deepcopy(field.default)
        try:
            return cls(**values)
        except TypeError as exc:  # a required field without a value
            raise ParamsError(f"step {owner!r}: {exc}; pass it as {owner}(name=value)") from None

    def as_dict(self) -> dict[str, Any]:
        """Return the params as a plain dict."""
        return attrs.asdict(self) if attrs.has(type(self)) else {}  # type: ignore[arg-type]


def _check_value(owner: str, name: str, value: Any, annotation: Any) -> None:
    try:
        typeguard.check_type(value, annotation, collection_check_strategy=_ALL_ITEMS)
    except typeguard.TypeCheckError:
        raise ParamsError(
            f"step {owner!r}: param {name!r} expects {type_name(annotation)}, "
            f"got {type(value).__name__} ({value!r})"
        ) from None


_ALL_ITEMS = typeguard.CollectionCheckStrategy.ALL_ITEMS

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_param_value(owner: str, name: str, text: str, annotation: Any) -> Any:
    """Parse ``text`` (from the command line or a deployment file) into ``annotation``.

    Supports ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``list[...]`` (JSON or
    comma separated) and optionals (``none``/``null`` or an empty string for ``None``).

    Raises:
        ParamsError: naming the step, the param, the expected type and the text given.
    """
    try:
        return parse_typed(text, annotation)
    except (ValueError, TypeError, typeguard.TypeCheckError):
        raise ParamsError(
            f"step {owner!r}: param {name!r} expects {type_name(annotation)}, "
            f"got {text!r} which cannot be read as one"
        ) from None


def parse_typed(text: Any, annotation: Any) -> Any:
    """Parse ``text`` into ``annotation`` (see :func:`parse_param_value`); typed values
    (from TOML) are checked instead.

    Raises:
        ValueError, TypeError, typeguard.TypeCheckError: the text cannot be read as one.
    """
    if not isinstance(text, str):
        # values from TOML are already typed
        typeguard.check_type(text, annotation, collection_check_strategy=_ALL_ITEMS)
        return text
    origin = get_origin(annotation)
    if annotation is Any:
        return text
    if origin in (Union, types.UnionType):
        members = get_args(annotation)
        if type(None) in members and text.strip().lower() in {"", "none", "null"}:
            return None
        for member in members:
            if member is type(None):
                continue
            try:
                return parse_typed(text, member)
            except (ValueError, TypeError):
                continue
        raise ValueError(text)
    if origin is Literal:
        for option in get_args(annotation):
            if str(option) == text:
                return option
        raise ValueError(text)
    if origin in (list, tuple, set, frozenset):
        (item,) = get_args(annotation)[:1] or (Any,)
        stripped = text.strip()
        items = (
            json.loads(stripped)
            if stripped.startswith("[")
            else [part.strip() for part in stripped.split(",") if part.strip()]
        )
        return origin(parse_typed(v if isinstance(v, str) else json.dumps(v), item) for v in items)
    if annotation is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(text)
    if annotation is int:
        return int(text.strip())
    if annotation is float:
        return float(text.strip())
    if annotation is str:
        return text
    raise TypeError(f"cannot parse into {annotation!r}")
