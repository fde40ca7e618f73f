"""What the dask runner's tests share: one real local cluster per test module, and runs on it.

Test modules import the fixture from here (``from dask_harness import dask_address``): the
plugin's tests have no ``conftest.py``, whose module name would shadow the core tests' own.
The cluster (2 worker processes, 1 thread each, no dashboard) is started once per module and
its address given to the runner as its ``address`` option, so runs do not start clusters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sdk

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
for path in (str(ROOT), str(HERE)):  # the examples (`examples.fraud`), and these modules
    if path not in sys.path:
        sys.path.append(path)


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    """The scheduler address of a local cluster of 2 worker processes, 1 thread each."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def run(
    pipeline: sdk.Pipeline, runner: str, options: dict[str, Any] | None = None, **kwargs: Any
) -> sdk.RunResult:
    """``pipeline.run`` with the runner's options (progress off), ``max_invalid`` 1.0 unless
    given, and no run directory kept unless asked for."""
    kwargs.setdefault("max_invalid", 1.0)
    return pipeline.run(runner, runner_options={"progress": False, **(options or {})}, **kwargs)


def sdk_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m sdk ARGS`` with the examples and these modules importable, JSON logs."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        "SDK_LOG_FORMAT": "json",
    }
    return subprocess.run(
        [sys.executable, "-m", "sdk", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


STEP_EVENTS = ("step_started", "validated", "step_finished")


def step_events(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The step events of a run, per step, without timings and run ids, order-insensitive
    across steps' unit order (the base emits them once per step, in plan order)."""
    dropped = {"ts", "run_id", "runner", "duration_ms", "logger", "level"}
    return [
        (
            r["step"],
            r["event"],
            json.dumps({k: v for k, v in r.items() if k not in dropped}, sort_keys=True),
        )
        for r in records
        if r["event"] in STEP_EVENTS
    ]
