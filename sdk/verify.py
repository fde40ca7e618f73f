"""Dynamic checks of what steps declare: run each step on sample data and try to break it.

:func:`verify_pipeline` runs every step of a pipeline on a sample of its inputs (each step
gets the validated outputs of its producers, as in a local run) and checks that:

- a ``scope = "rows"`` step gives the same rows however its input is shuffled and chunked;
- a ``partition_by`` step gives the same rows however its input is partitioned by its key;
- every step gives the same output twice on the same input (determinism);
- no step changes its input frames in place.

A broken property becomes a :class:`Violation` naming the step, the property, a minimal example
(a few input rows, found by shrinking) and a suggested fix. See ``docs/verify.md``.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from sdk.compare import changed, differs
from sdk.errors import PipelineError, SdkError
from sdk.validation import BoundaryCheck, compile_model, validate_frame

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.step import Step

__all__ = ["PROPERTIES", "VerifyReport", "Violation", "verify_pipeline"]

PROPERTIES = ("runs", "rows", "partition_by", "deterministic", "no_input_mutation")
"""The property names a :class:`Violation` may carry."""

_SHRINK_TRIES = 40
"""At most this many candidate subsets are tried when shrinking an example."""
_EXAMPLE_ROWS = 5
"""Shrinking aims at an example of at most this many rows."""
_MAX_PARTS = 8
"""Chunks (or partitions) per split; smaller inputs are split one row (or key) per chunk."""
_MAX_KEY_CANDIDATES = 4
"""Columns tried as a ``partition_by`` key when suggesting a fix for a ``rows`` step."""

Frames = dict[str, pd.DataFrame]


@attrs.define(eq=False)
class Violation:
    """A property a step declares (or every step must have) that failed on sample data.

    Attributes:
        step: the step's name in the pipeline.
        property: what broke: ``"runs"`` (the step raised), ``"rows"``, ``"partition_by"``,
            ``"deterministic"`` or ``"no_input_mutation"``.
        message: what was observed, in words.
        example: a few input rows (of the step's first input) that show the problem.
        suggestion: how to fix it, e.g. the scope to declare.
    """

    step: str
    property: str
    message: str
    example: pd.DataFrame
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        """The violation as JSON-able data (the example as a list of row records)."""
        return {
            "step": self.step,
            "property": self.property,
            "message": self.message,
            "suggestion": self.suggestion,
            "example": _records(self.example),
        }


@attrs.define(eq=False)
class VerifyReport:
    """What :func:`verify_pipeline` found.

    Attributes:
        pipeline: the pipeline's name.
        sample_rows: rows used of each pipeline input.
        checked: per step, the properties that were checked.
        skipped: per step not checked, why (an upstream step failed).
        violations: every violation found, in pipeline order.
    """

    pipeline: str
    sample_rows: dict[str, int]
    checked: dict[str, list[str]]
    skipped: dict[str, str]
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        """Whether no violation was found (and no step was skipped)."""
        return not self.violations and not self.skipped

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            "pipeline": self.pipeline,
            "ok": self.ok,
            "sample_rows": dict(self.sample_rows),
            "checked": {k: list(v) for k, v in self.checked.items()},
            "skipped": dict(self.skipped),
            "violations": [v.to_dict() for v in self.violations],
        }

    def __str__(self) -> str:
        rows = ", ".join(f"{k} {v} rows" for k, v in self.sample_rows.items())
        status = "ok" if self.ok else f"{len(self.violations)} violation(s)"
        lines = [f"verify {self.pipeline!r} on a sample ({rows}): {status}"]
        for name, props in self.checked.items():
            bad = sorted({v.property for v in self.violations if v.step == name})
            mark = f"FAILED {', '.join(bad)}" if bad else "ok"
            lines.append(f"  {name}: checked {', '.join(props)}: {mark}")
        for name, why in self.skipped.items():
            lines.append(f"  {name}: not checked: {why}")
        for v in self.violations:
            lines.append("")
            lines.append(f"step {v.step!r} breaks {v.property!r}: {v.message}")
            lines.append(f"  fix: {v.suggestion}")
            if len(v.example):
                lines.append(f"  example ({len(v.example)} input row(s)):")
                lines += [f"    {line}" for line in v.example.to_string().splitlines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        status = "ok" if self.ok else f"{len(self.violations)} violation(s)"
        parts = [f"<h4>verify {esc(self.pipeline)}: {esc(status)}</h4>", "<ul>"]
        for name, props in self.checked.items():
            bad = sorted({v.property for v in self.violations if v.step == name})
            mark = f"<b>FAILED {esc(', '.join(bad))}</b>" if bad else "ok"
            parts.append(f"<li>{esc(name)}: checked {esc(', '.join(props))}: {mark}</li>")
        for name, why in self.skipped.items():
            parts.append(f"<li>{esc(name)}: not checked: {esc(why)}</li>")
        parts.append("</ul>")
        for v in self.violations:
            parts.append(
                f"<p><b>{esc(v.step)}</b> breaks <code>{esc(v.property)}</code>: "
                f"{esc(v.message)}<br>fix: {esc(v.suggestion)}</p>"
            )
            if len(v.example):
                parts.append(v.example.to_html())
        return "\n".join(parts)


def verify_pipeline(
    pipeline: Pipeline,
    inputs: Mapping[str, pd.DataFrame | str | Path],
    *,
    sample_rows: int = 2000,
    seed: int = 0,
    trials: int = 3,
) -> VerifyReport:
    """Run every step of ``pipeline`` on sample data and check what it declares.

    Each step runs on the validated outputs of its producers (pipeline inputs validated
    against the step's input models), as in a local run of the sample.

    Args:
        pipeline: the pipeline to verify.
        inputs: each pipeline input as a DataFrame or a URI (read through its I/O scheme).
        sample_rows: at most this many rows of each input are used (a seeded random sample).
        seed: seeds the sample, the shuffles and the splits (the same seed, the same checks).
        trials: random chunkings (or partitionings) tried per ``rows`` (``partition_by``)
            step, and repeated runs per step for the determinism check.

    Returns:
        The report; ``report.ok`` is false when a step broke a property.

    Raises:
        PipelineError: an input is missing or unknown.
    """
    missing = [d for d in pipeline.inputs if d not in inputs]
    unknown = sorted(set(inputs) - set(pipeline.inputs))
    if missing or unknown:
        raise PipelineError(
            "verify needs each pipeline input: "
            + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + ([f"unknown {', '.join(unknown)}"] if unknown else [])
            )
            + f" (inputs: {', '.join(pipeline.inputs)})"
        )
    rng = np.random.default_rng(seed)
    data: Frames = {}
    for name in pipeline.inputs:
        frame = _load(inputs[name])
        if len(frame) > sample_rows:
            frame = frame.sample(n=sample_rows, random_state=seed).sort_index()
        data[name] = frame
    report = VerifyReport(
        pipeline=pipeline.name,
        sample_rows={k: len(v) for k, v in data.items()},
        checked={},
        skipped={},
        violations=[],
    )
    with _quiet_steps():
        for step in pipeline.order:
            absent = [d for d in step.input_names.values() if d not in data]
            if absent:
                report.skipped[step.name] = (
                    f"input {', '.join(absent)} unavailable (an upstream step failed)"
                )
                continue
            output = _Verifier(step, rng, max(1, trials), seed).verify(data, report)
            if output is not None:
                data[step.output_name] = output
    return report


def _load(given: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(given, pd.DataFrame):
        return given
    from sdk.plugins import resolve_scheme

    uri = str(given)
    return resolve_scheme(uri).read(uri).frame


@contextlib.contextmanager
def _quiet_steps() -> Iterator[None]:
    """Silence steps' own INFO records: verification calls each step many times."""
    logger = logging.getLogger("sdk.step")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


class _Raised(Exception):
    """A step raised (or returned a non-frame) while being verified."""


class _Verifier:
    """The checks of one step on its validated sample inputs."""

    def __init__(self, step: Step, rng: np.random.Generator, trials: int, seed: int) -> None:
        self.step = step
        self.rng = rng
        self.trials = trials
        self.seed = seed
        self.key = step.key
        self.contract = type(step).contract()
        self.primary = next(iter(self.contract.inputs))

    def verify(self, data: Frames, report: VerifyReport) -> pd.DataFrame | None:
        """Check the step on ``data`` (by dataset); return its validated output, or ``None``."""
        step = self.step
        try:
            args = {
                param: validate_frame(
                    data[dataset],
                    compile_model(self.contract.inputs[param]),
                    BoundaryCheck(step.name, "input", dataset),
                ).frame
                for param, dataset in step.input_names.items()
            }
        except SdkError as exc:
            report.violations.append(
                self._violation("runs", f"its input failed validation: {exc}", data, "")
            )
            return None
        props = ["runs", "no_input_mutation", "deterministic"]
        if step.key is not None:
            props.append("partition_by")
        elif type(step).scope == "rows":
            props.append("rows")
        report.checked[step.name] = props
        try:
            passed = {p: f.copy(deep=True) for p, f in args.items()}
            output = _call(step, passed)
        except _Raised as exc:
            report.violations.append(
                self._violation(
                    "runs",
                    f"run() {exc} on the sample",
                    args,
                    "make run() handle its validated input (see the example rows)",
                )
            )
            return None
        found = [
            self._check_mutation(args, passed),
            self._check_determinism(args, output),
        ]
        deterministic = found[1] is None  # splits of a random step differ for no other reason
        if step.key is not None and deterministic:
            found.append(self._check_split(args, output, "partition_by"))
        elif type(step).scope == "rows" and deterministic:
            found.append(self._check_split(args, output, "rows"))
        report.violations += [v for v in found if v is not None]
        try:
            return validate_frame(
                output,
                compile_model(self.contract.output),
                BoundaryCheck(step.name, "output", step.output_name),
            ).frame
        except SdkError as exc:
            report.violations.append(
                self._violation("runs", f"its output failed validation: {exc}", args, "")
            )
            return None

    def _violation(self, prop: str, message: str, args: Mapping[str, Any], fix: str) -> Violation:
        frame = args.get(self.primary)
        if frame is None:
            frame = next(iter(args.values()), pd.DataFrame())
        example = frame.head(_EXAMPLE_ROWS).copy()
        return Violation(self.step.name, prop, message, example, fix or "fix run()")

    # --- no_input_mutation ---------------------------------------------------------------

    def _mutation(self, args: Frames) -> str | None:
        passed = {p: f.copy(deep=True) for p, f in args.items()}
        _call(self.step, passed)
        return changed(args, passed)

    def _check_mutation(self, args: Frames, passed: Frames) -> Violation | None:
        what = changed(args, passed)
        if what is None:
            return None
        example = self._shrink(args, lambda a: self._mutation(a) is not None)
        return Violation(
            self.step.name,
            "no_input_mutation",
            f"run() changed its input in place: {what}",
            example,
            "do not modify an input frame: return a new one with frame.assign(...), or work on "
            "frame.copy(); avoid inplace=True",
        )

    # --- deterministic -------------------------------------------------------------------

    def _nondeterminism(self, args: Frames, first: pd.DataFrame | None = None) -> str | None:
        first = _call(self.step, _copy(args)) if first is None else first
        for _ in range(max(1, self.trials - 1)):
            again = _call(self.step, _copy(args))
            diff = differs(first, again, "first run", "second run", exact=True)
            if diff is not None:
                return diff
        return None

    def _check_determinism(self, args: Frames, output: pd.DataFrame) -> Violation | None:
        try:
            diff = self._nondeterminism(args, output)
        except _Raised as exc:
            return self._violation("runs", f"run() {exc} when run again", args, "")
        if diff is None:
            return None
        example = self._shrink(args, lambda a: self._nondeterminism(a) is not None)
        return Violation(
            self.step.name,
            "deterministic",
            f"two runs on the same input differ: {diff}",
            example,
            "make run() a function of its inputs and params: seed randomness from a param "
            "(np.random.default_rng(self.params.seed)) and do not read the clock",
        )

    # --- rows / partition_by ---------------------------------------------------------------

    def _splits(self, args: Frames, prop: str, rng: np.random.Generator) -> list[Frames]:
        """Split ``args`` into shuffled random chunks (``rows``) or random key partitions."""
        if prop == "rows":
            frame = args[self.primary]
            shuffled = frame.iloc[rng.permutation(len(frame))]
            if len(frame) <= _MAX_PARTS:
                cuts = list(range(1, len(frame)))
            else:
                k = int(rng.integers(2, _MAX_PARTS + 1))
                cuts = sorted(rng.choice(np.arange(1, len(frame)), size=k - 1, replace=False))
            bounds = [0, *cuts, len(frame)]
            return [
                {**args, self.primary: shuffled.iloc[a:b]} for a, b in itertools.pairwise(bounds)
            ]
        key = str(self.key)
        keys = pd.unique(pd.concat([f[key] for f in args.values()], ignore_index=True))
        if len(keys) <= _MAX_PARTS:
            groups = [keys[i : i + 1] for i in range(len(keys))]
        else:
            assign = rng.integers(0, int(rng.integers(2, _MAX_PARTS + 1)), size=len(keys))
            if len(set(assign.tolist())) < 2:
                assign[0] = 1 - assign[0]
            groups = [keys[assign == g] for g in sorted(set(assign.tolist()))]
        parts = []
        for group in groups:
            part = {}
            for param, frame in args.items():
                # rows keep their relative order: runners preserve it within a key
                part[param] = frame[frame[key].isin(group)]
            parts.append(part)
        return parts

    def _splitdiffers(
        self,
        args: Frames,
        prop: str,
        rng: np.random.Generator,
        whole: pd.DataFrame | None = None,
    ) -> str | None:
        whole = _call(self.step, _copy(args)) if whole is None else whole
        parts = self._splits(args, prop, rng)
        outputs = [_call(self.step, _copy(p)) for p in parts]
        joined = pd.concat(outputs, ignore_index=True) if outputs else whole.iloc[:0]
        what = "one chunk per row" if prop == "rows" else f"{len(parts)} partitions"
        if prop == "rows" and len(parts) != len(args[self.primary]):
            what = f"{len(parts)} shuffled chunks"
        diff = differs(whole, joined, "whole input", what)
        return None if diff is None else f"whole input vs {what}: {diff}"

    def _check_split(self, args: Frames, output: pd.DataFrame, prop: str) -> Violation | None:
        if len(args[self.primary]) < 2:
            return None
        diff = None
        try:
            for _ in range(self.trials):
                diff = self._splitdiffers(args, prop, self.rng, output)
                if diff is not None:
                    break
        except _Raised as exc:
            return self._violation(
                "runs",
                f"run() {exc} on a {'chunk' if prop == 'rows' else 'partition'} of its input",
                args,
                "make run() work on any part of its input, or declare scope = 'global'",
            )
        if diff is None:
            return None

        def fails(a: Frames) -> bool:
            return self._splitdiffers(a, prop, np.random.default_rng(self.seed)) is not None

        example = self._shrink(args, fails)
        detail = self._detail(example, args, prop) or diff
        if prop == "rows":
            key = self._key_candidate(args)
            fix = (
                f"declare partition_by = {key!r} (the check passes when partitioned by it) or "
                f"scope = 'global'"
                if key
                else "declare scope = 'global' (or partition_by = 'column' if only rows with "
                "an equal key need to be processed together)"
            )
            message = f"declared scope = 'rows' but its rows depend on other rows: {detail}"
        else:
            fix = (
                f"declare scope = 'global': run() uses information across values of "
                f"{self.step.key!r}"
            )
            message = (
                f"declared partition_by = {self.step.key!r} but the result depends on rows "
                f"with other keys: {detail}"
            )
        return Violation(self.step.name, prop, message, example, fix)

    def _detail(self, example: pd.DataFrame, args: Frames, prop: str) -> str | None:
        """The difference shown by the minimal example, split as finely as possible."""
        try:
            return self._splitdiffers(
                {**args, self.primary: example}, prop, np.random.default_rng(self.seed)
            )
        except _Raised:
            return None

    def _key_candidate(self, args: Frames) -> str | None:
        """A column whose partitioning makes the step's output stable, if one is found."""
        frame = args[self.primary]
        columns = [
            str(c)
            for c in frame.columns
            if not pd.api.types.is_float_dtype(frame[c])
            and 1 < frame[c].nunique(dropna=False) < len(frame)
            and all(c in f.columns for f in args.values())
        ]
        columns.sort(key=lambda c: not c.lower().endswith("id"))
        for column in columns[:_MAX_KEY_CANDIDATES]:
            probe = _Verifier(self.step, np.random.default_rng(self.seed), self.trials, self.seed)
            probe.key = column
            try:
                if all(
                    probe._splitdiffers(args, "partition_by", probe.rng) is None
                    for _ in range(self.trials)
                ):
                    return column
            except _Raised:
                continue
        return None

    # --- shrinking -----------------------------------------------------------------------

    def _shrink(self, args: Frames, fails: Callable[[Frames], bool]) -> pd.DataFrame:
        """The smallest subset of the primary input found (ddmin) on which ``fails`` holds."""
        current = args[self.primary]
        tries = 0

        def attempt(rows: pd.DataFrame) -> bool:
            nonlocal tries
            tries += 1
            try:
                return fails({**args, self.primary: rows})
            except _Raised:
                return False

        n = 2
        while len(current) >= 2 and tries < _SHRINK_TRIES:
            blocks = np.array_split(np.arange(len(current)), min(n, len(current)))
            for block in blocks:
                keep = np.setdiff1d(np.arange(len(current)), block)
                if len(keep) and tries < _SHRINK_TRIES and attempt(current.iloc[keep]):
                    current = current.iloc[keep]
                    n = max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(len(current), 2 * n)
        return current.copy()


def _copy(args: Frames) -> Frames:
    return {p: f.copy(deep=True) for p, f in args.items()}


def _call(step: Step, frames: Frames) -> pd.DataFrame:
    try:
        output = step.run(**frames)
    except Exception as exc:
        raise _Raised(f"raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(output, pd.DataFrame):
        raise _Raised(f"returned {type(output).__name__}, not a DataFrame")
    return output


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(
        frame.reset_index(drop=True).to_json(orient="records", date_format="iso")
    )
    return result
