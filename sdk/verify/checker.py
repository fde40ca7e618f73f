"""The checker: each step of a pipeline run on sample data, and its declared properties tried.

See :mod:`sdk.verify` for the properties; :mod:`sdk.verify.shrink` finds the minimal examples.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.artifact import check_object
from sdk.compare import changed, differs
from sdk.errors import SdkError
from sdk.models import compile_model
from sdk.validation import BoundaryCheck, validate_frame
from sdk.verify.report import VerifyReport, Violation
from sdk.verify.shrink import Frames, StepRaised, call_step, copy_frames, shrink

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = ["StepVerifier"]

_EXAMPLE_ROWS = 5
"""A violation found without shrinking shows at most this many input rows."""
_MAX_PARTS = 8
"""Chunks (or partitions) per split; smaller inputs are split one row (or key) per chunk."""
_MAX_KEY_CANDIDATES = 4
"""Columns tried as a ``partition_by`` key when suggesting a fix for a ``rows`` step."""


def _key_numbers(args: Frames, columns: list[str]) -> dict[str, np.ndarray]:
    """For each input, the number of each row's key (its values in ``columns``), numbered in
    order of first appearance across all inputs, so equal keys get one number everywhere."""
    keys = pd.concat([f[columns] for f in args.values()], ignore_index=True)
    numbers = keys.groupby(columns, sort=False, dropna=False).ngroup().to_numpy()
    bounds = np.cumsum([0, *(len(f) for f in args.values())])
    return {p: numbers[a:b] for p, a, b in zip(args, bounds[:-1], bounds[1:], strict=True)}


def _same_metrics(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    return left.keys() == right.keys() and all(
        np.isclose(float(left[k]), float(right[k]), rtol=1e-9, equal_nan=True) for k in left
    )


class StepVerifier:
    """The checks of one step on its validated sample inputs."""

    def __init__(
        self,
        step: Step,
        rng: np.random.Generator,
        trials: int,
        seed: int,
        given: Mapping[str, Any] | None = None,
    ) -> None:
        self.step = step
        self.given = dict(given or {})
        self.rng = rng
        self.trials = trials
        self.seed = seed
        self.key = step.key
        self.contract = type(step).contract()
        self.primary = next(iter(self.contract.inputs))

    def call(self, frames: Frames) -> pd.DataFrame:
        """Run the step on ``frames`` with its artifacts (see :func:`call_step`)."""
        return call_step(self.step, frames, self.given)

    def _inputs(self, data: Frames, report: VerifyReport) -> Frames | None:
        """The step's inputs validated, by parameter; ``None`` (reported) if one fails."""
        step = self.step
        try:
            return {
                param: validate_frame(
                    data[dataset],
                    compile_model(self.contract.inputs[param]),
                    BoundaryCheck(step.name, "input", dataset),
                ).frame
                for param, dataset in step.frame_inputs.items()
            }
        except SdkError as exc:
            report.violations.append(
                self._violation("runs", f"its input failed validation: {exc}", data, "")
            )
            return None

    def verify_artifact(self, data: Frames, report: VerifyReport) -> Any:
        """Check a step that returns an artifact or metrics: it runs, returns what it
        declares, leaves its inputs alone and (metrics) gives the same values twice; return
        what it returned, or ``None``."""
        step, produces = self.step, self.contract.produces
        args = self._inputs(data, report)
        if args is None or produces is None:
            return None
        report.checked[step.name] = ["runs", "no_input_mutation"] + (
            ["deterministic"] if produces.kind == "metrics" else []
        )

        def run() -> Any:
            passed = {p: f.copy(deep=True) for p, f in args.items()}
            try:
                value = step.run(**passed, **self.given)
            except Exception as exc:
                raise StepRaised(f"raised {type(exc).__name__}: {exc}") from exc
            problem = check_object(value, produces)
            if problem is not None:
                raise StepRaised(problem)
            return value, passed

        try:
            value, passed = run()
            again = run()[0] if produces.kind == "metrics" else value
        except StepRaised as exc:
            report.violations.append(
                self._violation("runs", f"run() {exc} on the sample", args, "")
            )
            return None
        found = [self._check_mutation(args, passed)]
        if produces.kind == "metrics" and not _same_metrics(value, again):
            found.append(
                self._violation(
                    "deterministic",
                    f"two runs on the same input give different metrics: {value} vs {again}",
                    args,
                    "seed randomness from a param (random_state=self.params.seed)",
                )
            )
        report.violations += [v for v in found if v is not None]
        return value

    def verify(self, data: Frames, report: VerifyReport) -> pd.DataFrame | None:
        """Check the step on ``data`` (by dataset); return its validated output, or ``None``."""
        step = self.step
        args = self._inputs(data, report)
        if args is None:
            return None
        props = ["runs", "no_input_mutation", "deterministic"]
        if step.key is not None:
            props.append("partition_by")
        elif type(step).scope == "rows":
            props.append("rows")
        report.checked[step.name] = props
        try:
            passed = {p: f.copy(deep=True) for p, f in args.items()}
            output = self.call(passed)
        except StepRaised as exc:
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
                compile_model(self.contract.frame_output()),
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
        self.call(passed)
        return changed(args, passed)

    def _check_mutation(self, args: Frames, passed: Frames) -> Violation | None:
        what = changed(args, passed)
        if what is None:
            return None
        example = shrink(args, self.primary, lambda a: self._mutation(a) is not None)
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
        first = self.call(copy_frames(args)) if first is None else first
        for _ in range(max(1, self.trials - 1)):
            again = self.call(copy_frames(args))
            diff = differs(first, again, "first run", "second run", exact=True)
            if diff is not None:
                return diff
        return None

    def _check_determinism(self, args: Frames, output: pd.DataFrame) -> Violation | None:
        try:
            diff = self._nondeterminism(args, output)
        except StepRaised as exc:
            return self._violation("runs", f"run() {exc} when run again", args, "")
        if diff is None:
            return None
        example = shrink(args, self.primary, lambda a: self._nondeterminism(a) is not None)
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
        numbers = _key_numbers(args, list(self.key or ()))
        count = max((int(n.max()) + 1 for n in numbers.values() if len(n)), default=0)
        if count <= _MAX_PARTS:
            groups = [np.array([g]) for g in range(count)]
        else:
            assign = rng.integers(0, int(rng.integers(2, _MAX_PARTS + 1)), size=count)
            if len(set(assign.tolist())) < 2:
                assign[0] = 1 - assign[0]
            groups = [np.flatnonzero(assign == g) for g in sorted(set(assign.tolist()))]
        # rows keep their relative order: runners preserve it within a key
        return [
            {param: frame[np.isin(numbers[param], group)] for param, frame in args.items()}
            for group in groups
        ]

    def _splitdiffers(
        self,
        args: Frames,
        prop: str,
        rng: np.random.Generator,
        whole: pd.DataFrame | None = None,
    ) -> str | None:
        whole = self.call(copy_frames(args)) if whole is None else whole
        parts = self._splits(args, prop, rng)
        outputs = [self.call(copy_frames(p)) for p in parts]
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
        except StepRaised as exc:
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

        example = shrink(args, self.primary, fails)
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
            declared = type(self.step).partition_by
            fix = f"declare scope = 'global': run() uses information across values of {declared!r}"
            message = (
                f"declared partition_by = {declared!r} but the result depends on rows "
                f"with other keys: {detail}"
            )
        return Violation(self.step.name, prop, message, example, fix)

    def _detail(self, example: pd.DataFrame, args: Frames, prop: str) -> str | None:
        """The difference shown by the minimal example, split as finely as possible."""
        try:
            return self._splitdiffers(
                {**args, self.primary: example}, prop, np.random.default_rng(self.seed)
            )
        except StepRaised:
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
            probe = StepVerifier(
                self.step, np.random.default_rng(self.seed), self.trials, self.seed, self.given
            )
            probe.key = (column,)
            try:
                if all(
                    probe._splitdiffers(args, "partition_by", probe.rng) is None
                    for _ in range(self.trials)
                ):
                    return column
            except StepRaised:
                continue
        return None
