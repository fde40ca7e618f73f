"""Helpers and a pytest plugin for analysts' own tests of their steps and pipelines.

Functions: :func:`run_step` (one step through the real runner), :func:`capture_logs` (the
run's records as parsed JSON), :func:`synthetic` (valid rows drawn from a model),
:func:`assert_equivalent` (two results equal, order-insensitively). The pytest plugin adds
the fixture ``sdk_logs``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pandera.pandas as pa

from sdk.compare import canonical
from sdk.logs import SdkJsonFormatter, get_logger
from sdk.pipeline import Pipeline
from sdk.result import RunResult
from sdk.step import Step

__all__ = ["assert_equivalent", "canonical", "capture_logs", "run_step", "synthetic"]


def run_step(
    step: Step, *, runner: str = "local", max_invalid: float = 1.0, **inputs: Any
) -> RunResult:
    """Run one step as a one-step pipeline, with validation and quarantine, and return the result.

    ``max_invalid`` defaults to 1.0 so that a test can look at the quarantine of bad inputs.
    """
    return Pipeline([step], name=f"test_{step.name}").run(runner, max_invalid=max_invalid, **inputs)


class LogRecords(list[dict[str, Any]]):
    """Captured records (dicts as in the JSON lines); ``events(name)`` filters by event."""

    def events(self, name: str) -> list[dict[str, Any]]:
        """The records whose ``event`` is ``name``."""
        return [r for r in self if r.get("event") == name]


@contextlib.contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[LogRecords]:
    """Capture every SDK record logged inside the block as parsed JSON objects."""
    records = LogRecords()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SdkJsonFormatter())
    root = get_logger("sdk")
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        records.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


def synthetic(model: type[pa.DataFrameModel], n: int = 10) -> pd.DataFrame:
    """Return ``n`` rows that satisfy ``model`` (pandera's hypothesis strategies)."""
    return model.to_schema().example(size=n).reset_index(drop=True)


def assert_equivalent(left: RunResult, right: RunResult, *, check_dtype: bool = True) -> None:
    """Assert two runs produced the same output rows and quarantine (order-insensitive).

    The quarantine is compared without ``run_id`` (each run has its own).
    """
    assert set(left.outputs) == set(right.outputs), (set(left.outputs), set(right.outputs))
    for name in left.outputs:
        pd.testing.assert_frame_equal(
            canonical(left.outputs[name]), canonical(right.outputs[name]), check_dtype=check_dtype
        )
    columns = [c for c in left.quarantine.columns if c != "run_id"]
    pd.testing.assert_frame_equal(
        canonical(left.quarantine[columns]), canonical(right.quarantine[columns])
    )


try:  # the pytest plugin (entry point ``pytest11``); analysts without pytest still import this
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def sdk_logs() -> Iterator[LogRecords]:
        """The SDK records logged during the test, as parsed JSON objects."""
        with capture_logs() as records:
            yield records
