"""How failures on the cluster become SDK errors that say what happened and what to do."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sdk
from sdk_dask import tasks

__all__ = ["check_code", "cluster_errors", "gather"]


def check_code(client: Any, stages: Sequence[sdk.Stage]) -> None:
    """Make sure every worker can load the pipeline's steps, before any unit is sent.

    A task whose code a worker cannot import fails while the worker reads the task, which
    breaks that worker's connection to the scheduler rather than failing the task; so the
    steps are sent once as bytes and loaded inside a function that reports what is missing.

    Raises:
        PipelineError: naming the module a worker cannot import and how to ship code, or
            the step class it cannot rebuild.
    """
    import cloudpickle

    payload = cloudpickle.dumps([stage.steps for stage in stages])
    problems = sorted({p for p in client.run(tasks.load_problem, payload).values() if p})
    modules = [name for kind, name in problems if kind == "module"]
    if modules:
        module = modules[0]
        raise sdk.PipelineError(
            f"a Dask worker cannot import module {module!r}, which holds a step of the "
            f"pipeline (or what it uses): install the same environment on the workers as on "
            f"the client (the pipeline's package included), or ship the module with "
            f"client.upload_file('{module.replace('.', '/')}.py')"
        )
    if problems:
        raise sdk.PipelineError(
            f"a Dask worker cannot rebuild a step class sent by value (a step defined in "
            f"__main__ or a notebook): {problems[0][1]}. Check that the workers run the same "
            f"Python and library versions as the client, or move the steps into a module the "
            f"workers can import (same environment, or client.upload_file)"
        )


def gather(client: Any, futures: list[Any]) -> list[Any]:
    """Gather small results (see :func:`cluster_errors` for what a lost worker raises)."""
    with cluster_errors():
        return list(client.gather(futures))


LOST = frozenset({"FutureCancelledError", "CancelledError", "CommClosedError", "StreamClosedError"})
"""Dask's errors for work or connections lost with a worker (matched by name: distributed's
exception classes move between its modules)."""


@contextmanager
def cluster_errors() -> Iterator[None]:
    """Turn the cluster's failures into a ``PipelineError`` that says what happened.

    Raises:
        PipelineError: a unit killed its workers until Dask gave up (``KilledWorker``: the
            scheduler's ``allowed-failures``), or a worker (or the connection to one) was lost
            with parts Dask cannot recompute: those of a DataFrame input scattered from the
            client. (What Dask can recompute — parts read from files, units' results, shuffle
            pieces — is recomputed, and no error reaches here.)
    """
    try:
        yield
    except sdk.SdkError:
        raise
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "KilledWorker":
            raise sdk.PipelineError(
                f"a unit killed the Dask workers that ran it, retried until Dask gave up "
                f"(the scheduler's distributed.scheduler.allowed-failures; {exc}); nothing was "
                f"published. Check the workers' memory and logs"
            ) from exc
        if kind in LOST:
            raise sdk.PipelineError(
                f"the run lost a Dask worker or its connection to one ({kind}: {exc}) with "
                f"parts Dask cannot recompute: a DataFrame input given in Python is scattered "
                f"from the client (file inputs are read again on the workers); nothing was "
                f"published. Run again, or give the input as a file (CSV, Parquet)"
            ) from exc
        raise
