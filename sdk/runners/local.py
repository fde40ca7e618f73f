"""The ``local`` runner: in-process, in memory; the notebook default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from sdk.hookspecs import hookimpl
from sdk.runners.base import Input, Runner, Spilled
from sdk.runners.state import Data, RunState

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["LocalRunner"]


class LocalRunner(Runner):
    """Run every step once, over whole in-memory frames, in dependency order."""

    name = "local"

    def execute(
        self, pipeline: Pipeline, inputs: dict[str, Input], state: RunState
    ) -> dict[str, pd.DataFrame | Spilled]:
        """Load every input whole, then run each step once in dependency order."""
        data: dict[str, Data] = {name: given.load(state) for name, given in inputs.items()}
        for step in pipeline.order:
            data[step.output_name] = state.run_step(step, data)
        return {name: data[name].frame for name in pipeline.outputs}


@hookimpl
def sdk_register_runners() -> list[type[Runner]]:
    """The built-in in-process runner."""
    return [LocalRunner]
