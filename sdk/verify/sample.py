"""The sample a pipeline is verified on: each input sampled alone, or by key with the inputs
it is joined to.

Sampled alone, two inputs of a join rarely keep matching rows (1 % of flights and 1 % of
weather hours share about 1 % of their keys), so the join is barely exercised. The inputs of
a step that takes several DataFrames are instead sampled by key: key values are drawn (those
present in every input first) and every input keeps all its rows with the drawn keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.step import Step

__all__ = ["JointSample", "sample_inputs"]

_MIN_KEYS = 20
"""A key is refined with the inputs' other key-like columns when fewer than about this many
of its values would fit the sample (``partition_by = "origin"``: three airports)."""


class JointSample:
    """How inputs were sampled together: which inputs, by which key columns."""

    def __init__(self, inputs: list[str], key: list[str], step: str) -> None:
        self.inputs = inputs
        self.key = key
        self.step = step

    def __str__(self) -> str:
        return f"{' and '.join(self.inputs)} by {', '.join(self.key)} (joined by {self.step!r})"


def sample_inputs(
    pipeline: Pipeline, frames: Mapping[str, pd.DataFrame], sample_rows: int, seed: int
) -> tuple[dict[str, pd.DataFrame], list[JointSample]]:
    """At most ``sample_rows`` rows of each input frame, sampled by key where joined.

    Args:
        pipeline: the pipeline whose multi-input steps decide the joint samples.
        frames: each DataFrame input of the pipeline, whole.
        sample_rows: the most rows kept of any input.
        seed: seeds every draw.

    Returns:
        The sampled frames (rows in their original order) and the joint samples taken.
    """
    rng = np.random.default_rng(seed)
    sampled: dict[str, pd.DataFrame] = {}
    joints: list[JointSample] = []
    for step in pipeline.order:
        members = _members(pipeline, step, frames)
        if len(members) < 2 or all(len(frames[m]) <= sample_rows for m in members):
            continue
        key = _key(step, [frames[m] for m in members], sample_rows)
        if not key:
            continue
        fixed = [m for m in members if m in sampled]
        if len(fixed) == len(members):
            continue
        given = {m: sampled.get(m, frames[m]) for m in members}
        drawn = _draw(given, fixed, key, sample_rows, rng)
        sampled.update({m: drawn[m] for m in members if m not in fixed})
        joints.append(JointSample(members, key, step.name))
    for name, frame in frames.items():
        if name not in sampled:
            sampled[name] = (
                frame.sample(n=sample_rows, random_state=seed).sort_index()
                if len(frame) > sample_rows
                else frame
            )
    return sampled, joints


def _members(pipeline: Pipeline, step: Step, frames: Mapping[str, pd.DataFrame]) -> list[str]:
    """The pipeline inputs ``step``'s DataFrame inputs descend from, through steps of one
    DataFrame input (a rows step cleaning flights keeps their key columns)."""
    found: list[str] = []
    for dataset in step.frame_inputs.values():
        while dataset not in frames:
            producer = pipeline.producer(dataset)
            if producer is None or len(producer.frame_inputs) != 1:
                break
            dataset = next(iter(producer.frame_inputs.values()))
        if dataset in frames and dataset not in found:
            found.append(dataset)
    return found


def _key(step: Step, raw: list[pd.DataFrame], sample_rows: int) -> list[str]:
    """The columns to sample by: the step's key, else the columns its input models share
    that look like keys (not floats); refined with those when the key has too few values.
    Only columns every raw input has are used."""
    models = list(type(step).contract().inputs.values())
    schemas = [m.to_schema().columns for m in models]
    shared = [
        c
        for c in schemas[0]
        if all(c in s for s in schemas[1:])
        and not any("float" in str(s[c].dtype).lower() for s in schemas)
        and all(c in f.columns for f in raw)
    ]
    key = [c for c in step.key or () if all(c in f.columns for f in raw)] or shared
    if step.key and key != shared:
        values = max(len(f[key].drop_duplicates()) for f in raw)
        rows = max(len(f) for f in raw)
        if rows / max(values, 1) > sample_rows / _MIN_KEYS:
            key += [c for c in shared if c not in key]
    return key


def _draw(
    frames: Mapping[str, pd.DataFrame],
    fixed: list[str],
    key: list[str],
    budget: int,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """The rows of drawn keys of each input not in ``fixed`` (inputs already sampled, whose
    keys are the ones drawn), at most ``budget`` rows each."""
    # raw values compared as text: one input may be read from CSV, another given typed
    keys = pd.concat([f[key].astype(str) for f in frames.values()], ignore_index=True)
    numbers = keys.groupby(key, sort=False, dropna=False).ngroup().to_numpy()
    count = int(numbers.max()) + 1 if len(numbers) else 0
    bounds = np.cumsum([0, *(len(f) for f in frames.values())])
    of = {name: numbers[a:b] for name, a, b in zip(frames, bounds[:-1], bounds[1:], strict=True)}
    sizes = {name: np.bincount(n, minlength=count) for name, n in of.items()}
    if fixed:
        present = np.logical_and.reduce([sizes[m] > 0 for m in fixed])
        order = rng.permutation(np.flatnonzero(present))
    else:  # keys every input has first: those are the rows a join matches
        everywhere = np.logical_and.reduce([s > 0 for s in sizes.values()])
        order = np.concatenate(
            [
                rng.permutation(np.flatnonzero(everywhere)),
                rng.permutation(np.flatnonzero(~everywhere)),
            ]
        )
    free = [name for name in frames if name not in fixed]
    totals = dict.fromkeys(free, 0)
    chosen = np.zeros(count, dtype=bool)
    for number in order:
        if all(totals[m] + sizes[m][number] <= budget for m in free):
            chosen[number] = True
            for m in free:
                totals[m] += int(sizes[m][number])
            if max(totals.values()) >= budget:
                break
    return {m: frames[m][chosen[of[m]]] for m in free}
