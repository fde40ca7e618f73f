"""Deployments: what ``sdk run`` and ``sdk describe`` accept, from a file and from flags.

A target is ``module:attr`` (``examples.fraud.pipeline:pipeline``), ``path/to/file.py:attr``,
or a TOML deployment file that names the pipeline and its runner, inputs, outputs,
quarantine, params and error budget. The flags of ``sdk run`` say the same things and
override the file name by name (:func:`with_flags`).
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from sdk.env import expand_env
from sdk.errors import PipelineError
from sdk.targets import load_object

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = [
    "Deployment",
    "Flags",
    "add_flags",
    "expand_env",
    "load_deployment",
    "load_pipeline",
    "pairs",
    "with_flags",
]

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
    "outputs_sort",
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
    "outputs_sort": ((dict,), 'a table ([outputs_sort] scored = ["customer_id"])'),
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
    outputs_sort: dict[str, list[str]] = attrs.field(factory=dict)
    """Columns each output's rows are sorted by when published, by dataset."""


@attrs.frozen
class Flags:
    """What the command line of ``sdk run`` says; ``None``, empty: it says nothing of that."""

    runner: str | None = None
    inputs: dict[str, str] = attrs.field(factory=dict)
    outputs: dict[str, str] = attrs.field(factory=dict)
    """By dataset; an empty URI (``--output NAME=``): the dataset is written nowhere."""
    quarantine: str | None = None
    params: dict[str, Any] = attrs.field(factory=dict)
    max_invalid: float | None = None
    overwrite: bool | None = None
    runner_options: dict[str, Any] = attrs.field(factory=dict)
    trusted_artifacts: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: argparse.Namespace) -> Flags:
        """What the flags of :func:`add_flags` say, ``${VAR}`` expanded in URIs.

        Raises:
            PipelineError: a pair is not ``NAME=VALUE``, a variable is not set.
        """
        from sdk.io import redact
        from sdk.logs import get_logger

        inputs, outputs = pairs(args.input, "--input"), pairs(args.output, "--output")
        empty = [name for name, uri in inputs.items() if not uri]
        if empty:
            raise PipelineError(f"--input {empty[0]}= needs a URI (--input {empty[0]}=PATH)")
        given = {
            **{f"--input {k}": v for k, v in inputs.items()},
            **{f"--output {k}": v for k, v in outputs.items()},
            **({"--quarantine": args.quarantine} if args.quarantine else {}),
        }
        for flag, uri in given.items():
            if redact(uri) != uri:  # the password is in the shell history and the process list
                get_logger("sdk.cli").warning(
                    "password_on_command_line", extra={"flag": flag, "uri": redact(uri)}
                )
        options: dict[str, Any] = pairs(args.runner_option, "--runner-option")
        for alias in ("run_dir", "chunk_rows", "memory_limit"):
            if getattr(args, alias) is not None:
                options[alias] = getattr(args, alias)
        return cls(
            runner=args.runner,
            inputs={k: expand_env(v, f"--input {k}") for k, v in inputs.items()},
            outputs={k: expand_env(v, f"--output {k}") for k, v in outputs.items()},
            quarantine=expand_env(args.quarantine, "--quarantine") if args.quarantine else None,
            params=dict(pairs(args.param, "--param")),
            max_invalid=args.max_invalid,
            overwrite=args.overwrite,
            runner_options=options,
            trusted_artifacts=tuple(args.trust_artifact or ()),
        )


def pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``NAME=VALUE`` flags as a dict (a later one wins).

    Raises:
        PipelineError: one is not written ``NAME=VALUE``.
    """
    found: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PipelineError(f"{flag} {item!r} must be written NAME=VALUE")
        found[key.strip()] = value
    return found


def add_flags(run: argparse.ArgumentParser) -> None:
    """Add to ``run`` the flags that say what a deployment file says (see :class:`Flags`)."""
    run.add_argument("--runner", help="runner name (see `sdk runners`); default local")
    run.add_argument(
        "--input",
        action="append",
        metavar="NAME=URI",
        help="an input dataset (replaces the deployment file's input of that name)",
    )
    run.add_argument(
        "--output",
        action="append",
        metavar="NAME=URI",
        help="a dataset to write (replaces the deployment file's output of that name; "
        "NAME= with nothing after it writes that output nowhere)",
    )
    run.add_argument(
        "--quarantine", metavar="URI", help="where to write the quarantine (replaces the file's)"
    )
    run.add_argument(
        "--param", action="append", metavar="STEP.FIELD=VALUE", help="override a param"
    )
    run.add_argument(
        "--max-invalid", type=float, metavar="FRACTION", help="error budget for this run"
    )
    run.add_argument("--run-id", help="the run's id (default: generated)")
    run.add_argument(
        "--resume",
        metavar="RUN_ID|latest",
        help="continue an interrupted run (batch): the run RUN_ID, or `latest`, the latest "
        "interrupted run of the same pipeline, inputs and outputs",
    )
    run.add_argument(
        "--overwrite",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="replace outputs that exist (--no-overwrite: refuse, whatever the file says)",
    )
    run.add_argument(
        "--trust-artifact",
        action="append",
        metavar="PATTERN",
        help="load artifact files matching this glob with pickle (.joblib, .pkl) or with types "
        "skops does not trust by default; only for files you produced (repeatable)",
    )
    run.add_argument(
        "--runner-option",
        action="append",
        metavar="KEY=VALUE",
        help="a runner option (repeatable; `sdk runners` lists each runner's options)",
    )
    run.add_argument("--run-dir", help="alias of --runner-option run_dir=PATH")
    run.add_argument("--chunk-rows", help="alias of --runner-option chunk_rows=N (batch)")
    run.add_argument(
        "--memory-limit", help="alias of --runner-option memory_limit=SIZE (batch), e.g. 2GB"
    )


def with_flags(deployment: Deployment, flags: Flags) -> Deployment:
    """The settings of one run: the command line's over the deployment file's, name by name.

    An input, output, param or runner option given on the command line replaces the file's
    one of the same name and leaves the others as the file says; an output given without a
    URI is not written (nor sorted). The runner, quarantine, error budget and ``overwrite``
    given replace the file's; trusted artifact patterns add to the file's; ``strict`` cannot
    be turned off from the command line.
    """
    outputs = {**deployment.outputs, **flags.outputs}
    dropped = {name for name, uri in outputs.items() if not uri}
    unknown = sorted(dropped - set(deployment.outputs))
    if unknown:
        known = ", ".join(deployment.outputs) or "none"
        raise PipelineError(
            f"--output {unknown[0]}= drops an output the deployment does not write "
            f"(its outputs: {known}); give a URI to write it"
        )
    return attrs.evolve(
        deployment,
        runner=flags.runner or deployment.runner,
        inputs={**deployment.inputs, **flags.inputs},
        outputs={name: uri for name, uri in outputs.items() if name not in dropped},
        quarantine=flags.quarantine or deployment.quarantine,
        params={**deployment.params, **flags.params},
        max_invalid=deployment.max_invalid if flags.max_invalid is None else flags.max_invalid,
        overwrite=deployment.overwrite if flags.overwrite is None else flags.overwrite,
        runner_options={**deployment.runner_options, **flags.runner_options},
        trusted_artifacts=(*deployment.trusted_artifacts, *flags.trusted_artifacts),
        outputs_sort={k: v for k, v in deployment.outputs_sort.items() if k not in dropped},
    )


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


def _sort_problems(data: dict[str, Any]) -> list[str]:
    """What is wrong with ``[outputs_sort]``: each key an output of ``[outputs]``, each value
    a non-empty list of column names."""
    sort, outputs = data.get("outputs_sort"), data.get("outputs")
    if not isinstance(sort, dict) or not isinstance(outputs, dict | None):
        return []  # wrong types are reported with every key's
    problems = []
    for name, columns in sort.items():
        if name not in (outputs or {}):
            known = ", ".join(map(repr, outputs or {})) or "none"
            problems.append(
                f"outputs_sort names {name!r}, which is not in [outputs] (outputs: {known})"
            )
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) and c for c in columns)
        ):
            problems.append(
                f"outputs_sort {name!r} must be a non-empty list of column names "
                f'(e.g. {name} = ["customer_id"]), got {columns!r}'
            )
    return problems


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
    problems += _sort_problems(data)
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
        outputs_sort={k: list(v) for k, v in data.get("outputs_sort", {}).items()},
    )


def load_pipeline(target: str, base: Path | None = None) -> Pipeline:
    """Import the pipeline named by ``module:attr`` or ``path/to/file.py:attr``.

    Raises:
        PipelineError: the module cannot be imported, or the attribute is not a Pipeline.
    """
    from sdk.pipeline import Pipeline

    value = load_object(target, base)
    if not isinstance(value, Pipeline):
        found = "nothing" if value is None else type(value).__name__
        module_name, _, attr = target.rpartition(":")
        raise PipelineError(
            f"target {target!r}: {attr!r} in {module_name} is {found}, not an sdk.Pipeline"
        )
    return value
