"""Trial runs of one step on candidate inputs, and shrinking a failing input to a small example.

Shrinking is delta debugging (ddmin) over the rows of the step's first input: blocks of rows
are dropped while the property still fails, within a fixed budget of trial runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = ["Frames", "StepRaised", "call_step", "copy_frames", "shrink"]

Frames = dict[str, pd.DataFrame]
"""A step's input frames by parameter name."""

_SHRINK_TRIES = 40
"""At most this many candidate subsets are tried when shrinking an example."""


class StepRaised(Exception):
    """A step raised (or returned a non-frame) while being verified."""


def shrink(args: Frames, primary: str, fails: Callable[[Frames], bool]) -> pd.DataFrame:
    """The smallest subset of the ``primary`` input found (ddmin) on which ``fails`` holds.

    A candidate on which the step raises does not count as failing.
    """
    current = args[primary]
    tries = 0

    def attempt(rows: pd.DataFrame) -> bool:
        nonlocal tries
        tries += 1
        try:
            return fails({**args, primary: rows})
        except StepRaised:
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


def copy_frames(args: Frames) -> Frames:
    """A deep copy of each frame, so a step run on them cannot touch the originals."""
    return {p: f.copy(deep=True) for p, f in args.items()}


def call_step(step: Step, frames: Frames, given: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run ``step`` on ``frames`` (and the artifacts ``given``, by parameter); return its
    output.

    Raises:
        StepRaised: the step raised, or returned something other than a DataFrame.
    """
    try:
        output = step.run(**frames, **(given or {}))
    except Exception as exc:
        raise StepRaised(f"raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(output, pd.DataFrame):
        raise StepRaised(f"returned {type(output).__name__}, not a DataFrame")
    return output
