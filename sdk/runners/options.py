"""Runner options, declared by each runner and checked at the door.

A runner lists its options as :class:`RunnerOption` (name, type, default, help). Options are
checked when the runner is created (``get_runner``): an unknown name or a value of the wrong
type fails at once with a ``PluginError`` listing what the runner accepts. Text values (from
``--runner-option KEY=VALUE`` or a deployment file) are parsed into the declared type.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, get_args

import attrs
import typeguard

from sdk.errors import PluginError
from sdk.params import parse_typed, type_name

__all__ = ["BASE_OPTIONS", "RunnerOption", "check_options"]


@attrs.frozen
class RunnerOption:
    """One option a runner accepts.

    Attributes:
        name: the option's name (``chunk_rows``; on the command line
            ``--runner-option chunk_rows=1000``).
        type: its type annotation (``int | None``, ``Literal["fail", "quarantine"]``, ...).
        default: the value when not given.
        help: one line for ``sdk runners`` and the docs.
    """

    name: str
    type: Any
    default: Any
    help: str

    def describe(self) -> str:
        """``name: type = default — help``."""
        return f"{self.name}: {type_name(self.type)} = {self.default!r} — {self.help}"


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(member) for member in get_args(annotation))


def check_options(
    runner: str, declared: Sequence[RunnerOption], given: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Return every declared option's value (given or default), parsed and type-checked.

    Raises:
        PluginError: naming each unknown or ill-typed option and listing the accepted ones.
    """
    by_name = {o.name: o for o in declared}
    problems = [_unknown(name, by_name) for name in given if name not in by_name]
    values: dict[str, Any] = {}
    for option in declared:
        value = given.get(option.name, option.default)
        try:
            if isinstance(value, str) and option.type is not str:
                value = parse_typed(value, option.type)
            typeguard.check_type(value, option.type)
            if isinstance(value, bool) and not _admits_bool(option.type):
                raise TypeError("a bool is not a number here")  # typeguard: bool is an int
        except (ValueError, TypeError, typeguard.TypeCheckError):
            problems.append(
                f"option {option.name!r} expects {type_name(option.type)}, got "
                f"{type(value).__name__} ({value!r})"
            )
            continue
        values[option.name] = value
    if problems:
        accepted = "; ".join(o.describe() for o in declared)
        raise PluginError(f"runner {runner!r}: {', '.join(problems)}. Accepted options: {accepted}")
    return MappingProxyType(values)


def _unknown(name: str, known: Mapping[str, RunnerOption]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown option {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


BASE_OPTIONS = (
    RunnerOption(
        "run_dir", str | None, None, "where run directories live ($SDK_RUN_DIR or .sdk/runs)"
    ),
    RunnerOption(
        "on_step_error",
        Literal["fail", "quarantine"] | None,
        None,
        "a step that raises: fail the run, or quarantine the rows that make it raise "
        "(check step_error); default: the runner's",
    ),
    RunnerOption(
        "progress", bool | None, None, "progress bar on or off (default: on a terminal or Jupyter)"
    ),
    RunnerOption(
        "profile",
        bool,
        True,
        "profile each input and output (per column: nulls, min/max, top values) into "
        "profile.json in the run directory",
    ),
)
"""Options every runner accepts."""
