"""sdk-dask: the ``dask`` runner of pipeline-sdk — a pipeline on a Dask distributed cluster.

Hook implementations only. The runner (:mod:`sdk_dask.runner`) imports ``distributed`` when a
run starts, never when the plugin is loaded, so listing runners or a ``local`` run on a
machine with this plugin installed does not pay for Dask.
"""

from __future__ import annotations

from typing import Any

import sdk

__version__ = "0.1.0"

__all__ = ["sdk_register_runners"]


@sdk.hookimpl
def sdk_register_runners() -> list[Any]:
    """The ``dask`` runner."""
    from sdk_dask.runner import DaskRunner

    return [DaskRunner]
