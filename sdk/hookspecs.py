"""Hook specifications: every extension point of the SDK, in one module.

Plugins implement these with ``@sdk.hookimpl`` and register through the ``sdk`` entry-point
group. Spec parameters have no defaults and are passed by keyword; adding a parameter is
compatible, renaming one is breaking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import pandas as pd

    from sdk.io import IOScheme
    from sdk.result import RunResult
    from sdk.runners.base import Runner
    from sdk.runners.stage import UnitSummary
    from sdk.runners.state import RunInfo
    from sdk.step import Step

hookspec = pluggy.HookspecMarker("sdk")
hookimpl = pluggy.HookimplMarker("sdk")


@hookspec
def sdk_register_runners() -> list[type[Runner]]:
    """Return runner classes this plugin provides (each has a unique ``name``)."""
    return []


@hookspec
def sdk_register_io_schemes() -> list[IOScheme]:
    """Return I/O schemes this plugin provides (readers and writers resolved from URIs)."""
    return []


@hookspec
def sdk_before_run(run: RunInfo) -> None:
    """Called when a run starts, before any input is read."""


@hookspec
def sdk_after_run(run: RunInfo, result: RunResult) -> None:
    """Called when a run has succeeded, after its outputs are written."""


@hookspec
def sdk_on_run_error(run: RunInfo, error: Exception) -> None:
    """Called when a run fails, after the quarantine collected so far is written."""


@hookspec
def sdk_before_step(run: RunInfo, step: Step, rows_in: dict[str, int]) -> None:
    """Called once per step, when its stage is done, with the rows into each input boundary.

    Finite runners (local, batch, dask) call the step hooks once per step from the merged
    counts of all its units, in this order: before_step, on_quarantine (per boundary that
    quarantined rows), after_step — or on_step_error.
    """


@hookspec
def sdk_after_step(run: RunInfo, step: Step, rows_out: int, duration_ms: float) -> None:
    """Called once per step, when its stage is done: rows out and time over all its units."""


@hookspec
def sdk_on_step_error(run: RunInfo, step: Step, error: Exception) -> None:
    """Called when a step's ``run`` raises; ``error`` is the wrapping ``sdk.StepError``."""


@hookspec
def sdk_after_unit(run: RunInfo, summary: UnitSummary) -> None:
    """Called after each unit of work is committed (its rows and quarantine written).

    Every runner calls it for every unit: the way to observe runs that never end (a stream,
    a server), whose step hooks never fire.
    """


@hookspec
def sdk_on_quarantine(
    run: RunInfo, step: Step, boundary: str, dataset: str, records: pd.DataFrame
) -> None:
    """Called with the quarantine records of one boundary when rows were removed."""


__all__ = [
    "hookimpl",
    "hookspec",
    "sdk_after_run",
    "sdk_after_step",
    "sdk_after_unit",
    "sdk_before_run",
    "sdk_before_step",
    "sdk_on_quarantine",
    "sdk_on_run_error",
    "sdk_on_step_error",
    "sdk_register_io_schemes",
    "sdk_register_runners",
]
