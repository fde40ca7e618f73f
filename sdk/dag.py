"""The dataset graph of a pipeline: its steps in dependency order, a cycle when there is
one, and the pipeline inputs whose names are close to a dataset a step produces."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = ["name_hints", "toposort"]

_CLOSE = 0.85
"""How alike (difflib's ratio) a pipeline input's name and a produced dataset's name must be
for the input to be taken for a misspelling: ``clean_flight`` and ``clean_flights`` are 0.96,
``weathr`` and ``weather`` 0.92, ``transactions`` and ``transactions_clean`` 0.8."""


def toposort(steps: list[Step], producers: Mapping[str, Step]) -> tuple[list[Step], list[str]]:
    """``steps`` in dependency order, and the names along a cycle (empty when there is none;
    the steps of a cycle come last, in their given order)."""
    deps = {
        s.name: {producers[d].name for d in s.input_names.values() if d in producers} for s in steps
    }
    by_name = {s.name: s for s in steps}
    order: list[Step] = []
    done: set[str] = set()
    pending = [s.name for s in steps]
    while pending:
        ready = [n for n in pending if deps[n] <= done]
        if not ready:
            return order + [by_name[n] for n in pending], _find_cycle(pending, deps)
        for n in ready:
            order.append(by_name[n])
            done.add(n)
        pending = [n for n in pending if n not in done]
    return order, []


def _find_cycle(pending: list[str], deps: dict[str, set[str]]) -> list[str]:
    node = pending[0]
    path: list[str] = []
    while node not in path:
        path.append(node)
        node = sorted(d for d in deps[node] if d in pending)[0]
    cycle = path[path.index(node) :]
    return [*cycle, node]


def name_hints(steps: list[Step], producers: Mapping[str, Step]) -> tuple[str, ...]:
    """A "did you mean" for each step input that no step produces but whose name is close to
    a dataset a step does produce: a misspelt ``run()`` parameter (or ``inputs=`` rename)
    silently becomes a pipeline input, which fails only when the run does not get it.

    A dataset made from the input itself (``clean_shuttles`` from ``shuttles``) is never the
    one meant: reading it instead would be a cycle.
    """
    hints: list[str] = []
    for step in steps:
        candidates = [d for d in producers if d not in _downstream(step, steps)]
        for param, dataset in step.input_names.items():
            if dataset in producers:
                continue
            close = difflib.get_close_matches(dataset, candidates, n=3, cutoff=_CLOSE)
            if not close:
                continue
            named = (
                f"parameter {param!r}"
                if param == dataset
                else f"parameter {param!r} (dataset {dataset!r})"
            )
            hints.append(
                f"step {step.name!r}: {named} is not produced by any step, so it becomes a "
                f"pipeline input; did you mean "
                + " or ".join(f"{c!r} (produced by {producers[c].name!r})" for c in close)
                + "?"
            )
    return tuple(hints)


def _downstream(step: Step, steps: list[Step]) -> set[str]:
    """The datasets ``step`` produces, directly or through the steps that consume them."""
    made = {step.output_name}
    grown = True
    while grown:
        grown = False
        for other in steps:
            if other.output_name not in made and made & set(other.input_names.values()):
                made.add(other.output_name)
                grown = True
    return made
