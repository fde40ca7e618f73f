"""How pipeline inputs reach the workers (this version: read on the client, then scattered).

Everything about reading an input for the ``dask`` runner is in :func:`scatter_input`, so
that worker-side reading (Parquet row groups, CSV split at record boundaries, SQL key
ranges) can later replace it without touching the runner.
"""

from __future__ import annotations

from typing import Any

import sdk
from sdk_dask.data import DaskDataset

__all__ = ["scatter_input"]


def scatter_input(client: Any, session: sdk.RunSession, name: str, rows: int) -> DaskDataset:
    """Read pipeline input ``name`` on the client in chunks of ``rows`` rows and scatter each
    chunk to a worker as one part.

    Each part keeps its rows' sources as the SDK's reader gives them, so quarantine records
    name the same ``source`` as in ``local``: ``path:line`` for CSV (physical lines, quoted
    newlines included), ``path#row`` for Parquet, index labels for a DataFrame. The input is
    counted in the run's rows in (``input_read``) once it has been read whole.
    """
    parts: list[Any] = []
    sizes: list[int] = []
    for _offset, frame, sources in session.chunks(name, rows):
        parts.append(client.scatter(sdk.Data(frame, sources), hash=False))
        sizes.append(len(frame))
    return DaskDataset(client, parts, sizes)
