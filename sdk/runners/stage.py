"""What a unit of work takes and gives: stages, data, counts and the unit's result.

Everything here pickles (frames, sources, steps, plain counts), so a unit can run in a
worker process or a Dask task and its result travel back to the run state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
import pandas as pd

from sdk.errors import SdkError
from sdk.profile import TOP_KEPT, DatasetProfile
from sdk.quarantine import QUARANTINE_COLUMNS, Masking, empty_quarantine

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.quarantine import Sources
    from sdk.step import Step

__all__ = [
    "BoundaryCounts",
    "Data",
    "Stage",
    "StepTotals",
    "UnitContext",
    "UnitResult",
    "UnitSummary",
    "validated_name",
]

StageKind = Literal["rows", "inputs", "partition", "global"]


@attrs.define
class Data:
    """A dataset in flight: the frame and the source reference of each of its rows."""

    frame: pd.DataFrame
    sources: Sources


@attrs.frozen
class Stage:
    """Steps a runner executes together over the same units (see :func:`sdk.plan`).

    Attributes:
        kind: ``"rows"`` (consecutive row-independent steps, correct on any chunk),
            ``"inputs"`` (validation of a keyed step's inputs, before they are partitioned),
            ``"partition"`` (a ``partition_by`` step, then the rows steps fused after it; its
            inputs arrive validated, partitioned by ``key``) or ``"global"`` (one step that
            needs its whole input).
        steps: the steps, in order; each later step consumes the previous step's output.
        key: the partition key's columns (``"inputs"`` and ``"partition"`` stages): rows with
            equal values in all of them belong to the same unit. Select them with
            ``frame[list(stage.key)]``.
        number: the stage's position in the plan.
    """

    kind: StageKind
    steps: tuple[Step, ...]
    key: tuple[str, ...] | None = None
    number: int = 0

    @property
    def inputs(self) -> list[str]:
        """Datasets the stage reads from outside itself, in the first step's order.

        A ``partition`` stage reads its first step's inputs as validated by its ``inputs``
        stage, named by :func:`validated_name`.
        """
        produced = {s.output_name for s in self.steps}
        names: list[str] = []
        for index, step in enumerate(self.steps):
            for dataset in step.frame_inputs.values():
                if self.kind == "partition" and index == 0:
                    dataset = validated_name(step.name, dataset)
                if dataset not in produced and dataset not in names:
                    names.append(dataset)
        return names

    @property
    def artifacts(self) -> list[str]:
        """Artifacts the stage's steps take (the same object in every unit)."""
        return list(dict.fromkeys(d for s in self.steps for d in s.artifact_inputs.values()))

    @property
    def produces_artifact(self) -> bool:
        """Whether the stage's step returns an artifact or metrics (a ``global`` stage)."""
        return any(type(s).contract().produces is not None for s in self.steps)

    @property
    def outputs(self) -> list[str]:
        """Datasets the stage produces (an ``inputs`` stage: its inputs, validated, named by
        :func:`validated_name`)."""
        if self.kind == "inputs":
            step = self.steps[0]
            return list(dict.fromkeys(validated_name(step.name, d) for d in self.inputs))
        return [s.output_name for s in self.steps]


def validated_name(step: str, dataset: str) -> str:
    """The name of ``dataset`` as validated for ``step``'s input (``inputs`` stages)."""
    return f"{dataset}@{step}"


@attrs.frozen
class UnitContext:
    """What every unit of a run needs besides its data.

    Attributes:
        run_id: the run's id, for quarantine records and errors.
        on_step_error: ``"fail"`` (a raising step fails the unit with ``StepError``) or
            ``"quarantine"`` (the rows that make it raise are quarantined, check ``step_error``).
        skipped: ``(step, dataset)`` input validations proven redundant by the contract check.
        masking: sensitive columns, hashed in quarantine records.
        profiled: ``(step, boundary, dataset)`` boundaries whose data the unit profiles: each
            pipeline input at its first consumer's input boundary (as read, before
            validation), each dataset the pipeline produces at its output boundary (as
            validated). Empty: no profile (runner option ``profile=false``).
    """

    run_id: str
    on_step_error: Literal["fail", "quarantine"] = "fail"
    skipped: frozenset[tuple[str, str]] = frozenset()
    masking: Masking | None = None
    profiled: frozenset[tuple[str, str, str]] = frozenset()

    @classmethod
    def of(
        cls,
        pipeline: Pipeline,
        run_id: str,
        on_step_error: Literal["fail", "quarantine"],
        profile: bool = True,
    ) -> UnitContext:
        """The context of a run of ``pipeline``: its proven-redundant validations, the
        columns any of its models marks sensitive and, if ``profile``, the boundaries where
        its inputs and outputs are profiled."""
        sensitive = frozenset(
            str(name)
            for step in pipeline.order
            for model in (*type(step).contract().inputs.values(), type(step).contract().output)
            if model is not None
            for name, column in model.to_schema().columns.items()
            if ((column.metadata or {}).get("sdk") or {}).get("sensitive")
        )
        masking = None
        if sensitive:
            salt = os.environ.get("SDK_MASK_SALT") or pipeline.fingerprint()
            masking = Masking(sensitive, salt)
        skipped = frozenset(pipeline.check().skipped)
        profiled = _profiled(pipeline) if profile else frozenset()
        return cls(run_id, on_step_error, skipped, masking, profiled)


def _profiled(pipeline: Pipeline) -> frozenset[tuple[str, str, str]]:
    """Where a run of ``pipeline`` profiles its data: each input once, at its first
    consumer's input boundary; each frame a step returns, at its output boundary."""
    boundaries: set[tuple[str, str, str]] = set()
    seen: set[str] = set()
    for step in pipeline.order:
        for dataset in step.frame_inputs.values():
            if pipeline.producer(dataset) is None and dataset not in seen:
                seen.add(dataset)
                boundaries.add((step.name, "input", dataset))
        if type(step).contract().produces is None:
            boundaries.add((step.name, "output", step.output_name))
    return frozenset(boundaries)


@attrs.define
class BoundaryCounts:
    """Rows at one validation boundary: in, passed, quarantined, failures by column and check."""

    rows: int = 0
    passed: int = 0
    quarantined: int = 0
    skipped: bool = False
    failures: dict[str, dict[str, int]] = attrs.field(factory=dict)

    def add(self, other: BoundaryCounts) -> None:
        """Add ``other``'s counts to these."""
        self.rows += other.rows
        self.passed += other.passed
        self.quarantined += other.quarantined
        self.skipped = self.skipped or other.skipped
        for column, checks in other.failures.items():
            per = self.failures.setdefault(column, {})
            for check, n in checks.items():
                per[check] = per.get(check, 0) + n

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain data (log fields, checkpoints)."""
        return attrs.asdict(self)


@attrs.define
class StepTotals:
    """One step's work in a unit: rows into each input boundary, rows out, time spent."""

    rows_in: dict[str, int] = attrs.field(factory=dict)
    rows_out: int = 0
    duration_ms: float = 0.0

    def add(self, other: StepTotals) -> None:
        """Add ``other``'s totals to these."""
        for dataset, rows in other.rows_in.items():
            self.rows_in[dataset] = self.rows_in.get(dataset, 0) + rows
        self.rows_out += other.rows_out
        self.duration_ms += other.duration_ms


_NO_RECORDS = empty_quarantine()
"""The quarantine of a unit that quarantined nothing: shared (building an empty frame costs
about a millisecond, a noticeable share of a small micro-batch); never modified in place."""


@attrs.define
class UnitResult:
    """What one unit produced and recorded.

    Attributes:
        outputs: the datasets the stage produced, by name (rows that passed validation).
        artifacts: the artifacts (and metrics) the stage's step returned, by name.
        quarantine: the unit's quarantine records (``QUARANTINE_COLUMNS``).
        counts: per ``(step, boundary, dataset)``, in the order first validated.
        steps: per step name, rows in and out and the time spent.
        error: the ``StepError`` or ``SchemaViolation`` that stopped the unit, if any; what
            was recorded before it is kept.
        failed_step: the name of the step that failed.
        profiles: the profile of the unit's part of each pipeline input and output it saw
            (:mod:`sdk.profile`), by dataset; small (no values but a few top ones).
    """

    outputs: dict[str, Data] = attrs.field(factory=dict)
    artifacts: dict[str, Any] = attrs.field(factory=dict)
    quarantine: pd.DataFrame = attrs.field(factory=lambda: _NO_RECORDS)
    counts: dict[tuple[str, str, str], BoundaryCounts] = attrs.field(factory=dict)
    steps: dict[str, StepTotals] = attrs.field(factory=dict)
    error: SdkError | None = None
    failed_step: str | None = None
    profiles: dict[str, DatasetProfile] = attrs.field(factory=dict)

    @property
    def rows_in(self) -> int:
        """Rows that entered the unit (the first step's input boundaries)."""
        first = next(iter(self.steps.values()), None)
        return sum(first.rows_in.values()) if first is not None else 0

    def summary(self) -> dict[str, Any]:
        """Counts, totals and profiles as plain data: what a checkpoint keeps (no frames)."""
        return {
            "counts": [[*key, value.as_dict()] for key, value in self.counts.items()],
            "steps": {name: attrs.asdict(t) for name, t in self.steps.items()},
            "profiles": {name: p.as_dict(top=TOP_KEPT) for name, p in self.profiles.items()},
        }

    @classmethod
    def from_summary(
        cls, summary: Mapping[str, Any], quarantine: pd.DataFrame | None
    ) -> UnitResult:
        """Rebuild a committed unit's result (without its frames) from its checkpoint."""
        counts = {(s, b, d): BoundaryCounts(**values) for s, b, d, values in summary["counts"]}
        steps = {name: StepTotals(**values) for name, values in summary["steps"].items()}
        profiles = {  # absent from checkpoints written before profiles existed
            name: DatasetProfile.from_dict(p) for name, p in summary.get("profiles", {}).items()
        }
        if quarantine is None:
            quarantine = empty_quarantine()
        return cls(quarantine=quarantine, counts=counts, steps=steps, profiles=profiles)


@attrs.frozen
class UnitSummary:
    """A committed unit, as the ``unit_committed`` event and ``sdk_after_unit`` report it.

    Attributes:
        unit: the unit's id, unique within the run (e.g. ``"s00-rows-000003"``).
        stage: the stage's number in the plan.
        rows_in: rows that entered the unit.
        quarantined: quarantine records the unit wrote.
        steps: per step: ``rows_in`` (by dataset), ``rows_out``, ``quarantined`` (rows, over
            its boundaries) and ``duration_ms``.
    """

    unit: str
    stage: int
    rows_in: int
    quarantined: int
    steps: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, unit: str, stage: int, result: UnitResult) -> UnitSummary:
        """Summarise ``result``."""
        steps: dict[str, dict[str, Any]] = {}
        for name, totals in result.steps.items():
            quarantined = sum(c.quarantined for (s, _, _), c in result.counts.items() if s == name)
            steps[name] = {**attrs.asdict(totals), "quarantined": quarantined}
        return cls(unit, stage, result.rows_in, len(result.quarantine), steps)


def records_in_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Quarantine record frames as one, numbered from 0, columns in the quarantine's order;
    one frame already so is used as it is (no copy: a unit's or a run's own records)."""
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if tuple(frame.columns) != QUARANTINE_COLUMNS:
        frame = frame.loc[:, list(QUARANTINE_COLUMNS)]
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        frame = frame.reset_index(drop=True)
    return frame
