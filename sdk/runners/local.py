"""The ``local`` runner: in-process, in memory; the notebook default."""

from __future__ import annotations

from sdk.hookspecs import hookimpl
from sdk.runners.base import Runner
from sdk.runners.session import RunSession
from sdk.runners.stage import Stage
from sdk.runners.unit import run_unit

__all__ = ["LocalRunner"]


class LocalRunner(Runner):
    """Run every stage as one unit over whole in-memory frames, in dependency order."""

    name = "local"

    def run_stage(self, session: RunSession, stage: Stage) -> None:
        """One unit: the stage's whole inputs (pipeline inputs are read once, then kept) and
        the artifacts it takes."""
        frames = {name: session.whole(name) for name in stage.inputs}
        result = run_unit(stage, frames, session.context, session.artifacts.given(stage))
        session.datasets.update(result.outputs)
        self.commit(session, stage, f"s{stage.number:02d}", result)


@hookimpl
def sdk_register_runners() -> list[type[Runner]]:
    """The built-in in-process runner."""
    return [LocalRunner]
