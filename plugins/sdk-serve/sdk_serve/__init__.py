"""sdk-serve: the ``serve`` runner of pipeline-sdk — a pipeline behind HTTP.

Hook implementations only. The runner (:mod:`sdk_serve.runner`) imports FastAPI, uvicorn and
prometheus-client when a server starts, never when the plugin is loaded, so a ``local`` run of
a machine with this plugin installed does not pay for them.
"""

from __future__ import annotations

from typing import Any

import sdk

__version__ = "0.1.0"

__all__ = ["sdk_register_runners"]


@sdk.hookimpl
def sdk_register_runners() -> list[Any]:
    """The ``serve`` runner."""
    from sdk_serve.runner import ServeRunner

    return [ServeRunner]
