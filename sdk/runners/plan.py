"""The stage planner: which steps run together, which need a key, which need everything.

Every runner executes the same plan, so they all validate at the same boundaries and report
the same counts; they differ only in how they cut each stage's data into units.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from sdk.runners.stage import Stage, StageKind
from sdk.validation import checks_across_rows

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = ["needed_datasets", "plan", "step_kind"]


class _Ordered(Protocol):
    """What the planner reads of a pipeline: its steps in dependency order."""

    @property
    def order(self) -> list[Step]: ...


def _cross_row(step: Step) -> bool:
    """Whether validating the models needs more than one chunk (uniqueness, frame checks)."""
    contract = type(step).contract()
    return checks_across_rows((*contract.inputs.values(), contract.output))


def step_kind(step: Step) -> StageKind:
    """The kind of stage ``step`` needs on its own: ``rows``, ``partition`` or ``global``."""
    return _kind(step)


def _kind(step: Step) -> StageKind:
    if step.key is not None and not _cross_row(step):
        return "partition"
    if type(step).scope == "rows" and len(step.frame_inputs) == 1 and not _cross_row(step):
        return "rows"
    return "global"


def plan(pipeline: _Ordered) -> list[Stage]:
    """Cut ``pipeline`` into stages by the steps' scopes.

    - consecutive ``rows`` steps, each reading the previous one's output, form one ``rows``
      stage (correct on any chunk);
    - a ``partition_by`` step gets an ``inputs`` stage (its inputs validated chunk by chunk,
      so they can be partitioned by key) and a ``partition`` stage, which the ``rows`` steps
      reading its output join;
    - anything else, and any step whose models check across rows (uniqueness, dataframe
      checks), is a ``global`` stage of its own: it needs its whole input.

    Returns:
        The stages in execution order, numbered from 0.
    """
    groups: list[tuple[StageKind, list[Step], tuple[str, ...] | None]] = []
    for step in pipeline.order:
        kind = _kind(step)
        source = next(iter(step.frame_inputs.values()))
        previous = groups[-1] if groups else None
        # rows steps are correct on any chunk, a partition included: they follow the stage
        # that produces their input instead of re-reading it
        if (
            kind == "rows"
            and previous is not None
            and previous[0] in ("rows", "partition")
            and previous[1][-1].output_name == source
        ):
            previous[1].append(step)
            continue
        if kind == "partition":
            groups.append(("inputs", [step], step.key))
        groups.append((kind, [step], step.key if kind == "partition" else None))
    return [
        Stage(kind, tuple(steps), key, number) for number, (kind, steps, key) in enumerate(groups)
    ]


def needed_datasets(
    stages: Iterable[Stage], outputs: Iterable[str], requested: Iterable[str]
) -> set[str]:
    """Datasets a runner must keep: the requested outputs (all of ``outputs`` when none are
    requested: a notebook gets them all) and those a later stage reads."""
    needed = set(requested) or set(outputs)
    made_in: dict[str, int] = {}
    for stage in stages:
        needed.update(d for d in stage.inputs if d in made_in and made_in[d] != stage.number)
        if stage.kind != "inputs":
            made_in.update((s.output_name, stage.number) for s in stage.steps)
    return needed
