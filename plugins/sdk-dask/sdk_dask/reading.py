"""How pipeline inputs reach the workers.

A file input is cut into parts by the core's I/O capability (:func:`sdk.read_parts`: CSV split
at record boundaries with their physical line numbers, Parquet by row groups; one part for a
scheme without it), planned on the client from the file's structure, and **read on the
workers** (:func:`sdk.read_part`): the data never passes through the client. A DataFrame given
in Python is cut on the client and scattered. Either way each part keeps its rows' sources, so
quarantine records name the same ``source`` as in ``local``: ``path:line`` for CSV (physical
lines, quoted newlines included), ``path#row`` for Parquet, index labels for a DataFrame.
"""

from __future__ import annotations

import functools
from typing import Any

import sdk
from sdk_dask import tasks
from sdk_dask.checkpoint import Checkpoints
from sdk_dask.data import DaskDataset
from sdk_dask.failures import gather

__all__ = ["scatter_input"]


def scatter_input(
    client: Any, session: sdk.RunSession, name: str, rows: int, checkpoints: Checkpoints
) -> DaskDataset:
    """Pipeline input ``name`` as parts of about ``rows`` rows on the workers; counted in the
    run's rows in (``input_read``) once its parts are read.

    A part whose rows are known from its plan (CSV, Parquet, a table by key ranges) is read
    by the unit that needs it, and forgotten once that unit has run (the reader checks that
    it has the planned rows). The rows of a part known only once read (JSON lines, a query)
    are saved in the run's checkpoints, so a resumed run (which reads the same unchanged file:
    its identity says so) reads it only when a unit that still has to run needs it."""
    value = session.inputs[name].value
    if isinstance(value, str):
        parts = sdk.read_parts(value, rows)
        planned = [part.rows for part in parts]
        saved = checkpoints.decided(f"input-{name}")
        if saved is not None and len(saved["sizes"]) == len(parts):
            planned = [int(n) for n in saved["sizes"]]
        if all(n is not None for n in planned):  # each part read by the unit that needs it
            sizes = [int(n) for n in planned if n is not None]
            makers: list[Any] = [functools.partial(_read, client, part) for part in parts]
            session.count_input(name, sum(sizes))
            return DaskDataset(client, makers, sizes, keep=False)
        futures = [_read(client, part) for part in parts]
        sizes = gather(client, [client.submit(tasks.rows_of, f, pure=False) for f in futures])
        checkpoints.decide(f"input-{name}", {"sizes": sizes})
        session.count_input(name, sum(sizes))
        return DaskDataset(client, futures, sizes)
    scattered: list[Any] = []
    sizes = []
    for _offset, frame, sources in session.chunks(name, rows):
        scattered.append(client.scatter(sdk.Data(frame, sources), hash=False))
        sizes.append(len(frame))
    return DaskDataset(client, scattered, sizes)


def _read(client: Any, part: sdk.Part) -> Any:
    """Part ``part`` of a file input, read on a worker."""
    return client.submit(tasks.read_part, part, pure=False)
