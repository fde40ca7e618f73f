"""Verification of a whole pipeline: each step run on sample data, in order.

See :mod:`sdk.verify` for the properties; :class:`StepVerifier` checks one step.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.errors import PipelineError
from sdk.verify.checker import StepVerifier
from sdk.verify.report import VerifyReport
from sdk.verify.sample import sample_inputs
from sdk.verify.shrink import Frames

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["verify_pipeline"]


def verify_pipeline(
    pipeline: Pipeline,
    inputs: Mapping[str, Any],
    *,
    sample_rows: int = 2000,
    seed: int = 0,
    trials: int = 3,
    trusted: tuple[str, ...] = (),
) -> VerifyReport:
    """Run every step of ``pipeline`` on sample data and check what it declares.

    Each step runs on the validated outputs of its producers (pipeline inputs validated
    against the step's input models), as in a local run of the sample.

    Args:
        pipeline: the pipeline to verify.
        inputs: each pipeline input as a DataFrame or a URI (read through its I/O scheme).
        sample_rows: at most this many rows of each input are used (a seeded random sample;
            the inputs of a step that takes several DataFrames are sampled by key together,
            so their rows match, see :mod:`sdk.verify.sample`).
        seed: seeds the sample, the shuffles and the splits (the same seed, the same checks).
        trials: random chunkings (or partitionings) tried per ``rows`` (``partition_by``)
            step, and repeated runs per step for the determinism check.
        trusted: patterns of artifact files trusted to be loaded (see ``Pipeline.run``).

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
    whole: Frames = {}
    artifacts: dict[str, Any] = {}
    for name in pipeline.inputs:
        if pipeline.artifact(name) is not None:
            given = inputs[name]
            artifacts[name] = (
                _load_artifact(str(given), trusted) if isinstance(given, str | Path) else given
            )
            continue
        whole[name] = _load(inputs[name])
    data, joints = sample_inputs(pipeline, whole, sample_rows, seed)
    report = VerifyReport(
        pipeline=pipeline.name,
        sample_rows={k: len(v) for k, v in data.items()},
        checked={},
        skipped={},
        violations=[],
        sampled_by_key=[str(j) for j in joints],
    )
    with _quiet_steps():
        for step in pipeline.order:
            absent = [d for d in step.input_names.values() if d not in data and d not in artifacts]
            if absent:
                report.skipped[step.name] = (
                    f"input {', '.join(absent)} unavailable (an upstream step failed)"
                )
                continue
            given = {p: artifacts[d] for p, d in step.artifact_inputs.items()}
            verifier = StepVerifier(step, rng, max(1, trials), seed, given)
            if type(step).contract().produces is not None:
                produced = verifier.verify_artifact(data, report)
                if produced is not None:
                    artifacts[step.output_name] = produced
                continue
            output = verifier.verify(data, report)
            if output is not None:
                data[step.output_name] = output
                report.rows_out[step.name] = len(output)
    return report


def _load_artifact(uri: str, trusted: tuple[str, ...]) -> Any:
    from sdk.io.artifacts import load_artifact

    return load_artifact(uri, trusted=trusted).obj


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
