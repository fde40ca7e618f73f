"""Deployment files and pipeline targets: what ``sdk run`` and ``sdk describe`` accept.

A target is ``module:attr`` (``examples.fraud.pipeline:pipeline``), ``path/to/file.py:attr``,
or a TOML deployment file that names the pipeline and its runner, inputs, outputs,
quarantine, params and error budget.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import attrs

from sdk.env import expand_env
from sdk.errors import PipelineError
from sdk.pipeline import Pipeline
from sdk.targets import load_object

__all__ = ["Deployment", "expand_env", "load_deployment", "load_pipeline"]

_KEYS = {
    "pipeline",
    "runner",
    "inputs",
    "outputs",
    "quarantine",
    "params",
    "max_invalid",
    "strict",
    "runner_options",
    "overwrite",
    "trusted_artifacts",
}
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "pipeline": ((str,), "a string (package.module:attr or path/to/file.py:attr)"),
    "runner": ((str,), "a runner name (see `sdk runners`)"),
    "inputs": ((dict,), "a table ([inputs])"),
    "outputs": ((dict,), "a table ([outputs])"),
    "quarantine": ((str,), "a path or URI"),
    "params": ((dict,), "a table ([params])"),
    "max_invalid": ((int, float), "a number between 0 and 1 (e.g. 0.05)"),
    "strict": ((bool,), "true or false (unquoted)"),
    "overwrite": ((bool,), "true or false (unquoted)"),
    "runner_options": ((dict,), "a table ([runner_options])"),
    "trusted_artifacts": ((list,), 'a list of path patterns (e.g. ["models/*.joblib"])'),
}
"""The type of each deployment key; runner options are checked by the runner they go to."""
_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@attrs.frozen
class Deployment:
    """A deployment file, parsed: relative paths are resolved against the file's folder."""

    path: Path
    pipeline: str
    runner: str = "local"
    inputs: dict[str, str] = attrs.field(factory=dict)
    outputs: dict[str, str] = attrs.field(factory=dict)
    quarantine: str | None = None
    params: dict[str, Any] = attrs.field(factory=dict)
    max_invalid: float | None = None
    strict: bool = False
    overwrite: bool = False
    runner_options: dict[str, Any] = attrs.field(factory=dict)
    trusted_artifacts: tuple[str, ...] = ()


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # TOML booleans are bools, and bool is an int: true is not a number here
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _resolve_uri(value: Any, base: Path, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PipelineError(f"{where} must be a non-empty string (a path or URI), got {value!r}")
    value = expand_env(value, where)
    if value == "-" or _URI_SCHEME.match(value) or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def _resolve_pattern(value: Any, base: Path, where: str) -> str:
    """A path pattern, relative ones taken from the deployment file's folder."""
    if not isinstance(value, str) or not value:
        raise PipelineError(f"{where} must list non-empty path patterns, got {value!r}")
    if _URI_SCHEME.match(value) or Path(value).is_absolute():
        return value
    return os.path.normpath(base / value)


def _flatten_params(params: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            for field, v in value.items():
                flat[f"{key}.{field}"] = v
        else:
            flat[key] = value
    return flat


def load_deployment(path: str | Path) -> Deployment:
    """Read and check a deployment file.

    Raises:
        PipelineError: the file is missing, not TOML, has unknown keys or wrong types.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"deployment file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PipelineError(
            f"deployment file {str(path)!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"deployment file {str(path)!r} is not valid TOML: {exc}") from None
    problems = [
        f"unknown key {k!r} (known: {', '.join(sorted(_KEYS))})" for k in sorted(set(data) - _KEYS)
    ]
    if "pipeline" not in data:
        problems.append("missing key 'pipeline' (write pipeline = \"package.module:attr\")")
    problems += [
        f"{key!r} must be {what}, got {type(data[key]).__name__} ({data[key]!r})"
        for key, (types, what) in _TYPES.items()
        if key in data and not _is(data[key], types)
    ]
    if problems:
        raise PipelineError(f"deployment file {str(path)!r}: " + "; ".join(problems), problems)
    base = path.parent.resolve()
    return Deployment(
        path=path,
        pipeline=str(data["pipeline"]),
        runner=str(data.get("runner", "local")),
        inputs={
            k: _resolve_uri(v, base, f"input {k!r}") for k, v in data.get("inputs", {}).items()
        },
        outputs={
            k: _resolve_uri(v, base, f"output {k!r}") for k, v in data.get("outputs", {}).items()
        },
        quarantine=_resolve_uri(data["quarantine"], base, "quarantine")
        if "quarantine" in data
        else None,
        params=_flatten_params(data.get("params", {})),
        max_invalid=float(data["max_invalid"]) if "max_invalid" in data else None,
        strict=data.get("strict", False),
        overwrite=data.get("overwrite", False),
        runner_options=dict(data.get("runner_options", {})),
        trusted_artifacts=tuple(
            _resolve_pattern(p, base, "trusted_artifacts")
            for p in data.get("trusted_artifacts", [])
        ),
    )


def load_pipeline(target: str, base: Path | None = None) -> Pipeline:
    """Import the pipeline named by ``module:attr`` or ``path/to/file.py:attr``.

    Raises:
        PipelineError: the module cannot be imported, or the attribute is not a Pipeline.
    """
    value = load_object(target, base)
    if not isinstance(value, Pipeline):
        found = "nothing" if value is None else type(value).__name__
        module_name, _, attr = target.rpartition(":")
        raise PipelineError(
            f"target {target!r}: {attr!r} in {module_name} is {found}, not an sdk.Pipeline"
        )
    return value
