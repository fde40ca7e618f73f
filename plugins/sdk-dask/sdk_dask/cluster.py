"""The run's connection to Dask: a client on a given scheduler or on a local cluster, the SDK's
log level on every worker, and the workers' ``sdk`` records forwarded to the client.

Workers' records reach the client through ``Client.forward_logging("sdk")``: each record is
sent as an event to the scheduler, then to the client, where the ``sdk`` logger handles it like
its own, so the SDK's handler prints one stream of JSON lines. Events travel asynchronously;
:meth:`Cluster.flush_logs` waits until every worker's records sent so far have arrived, so a
stage's worker records come before its step events and none is lost when the run ends.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from distributed import Client, LocalCluster, WorkerPlugin

import sdk

__all__ = ["Cluster", "SdkLogLevel", "connect", "open_cluster", "worker_addresses"]

logger = sdk.get_logger("sdk.dask")

BARRIER = "sdk.dask.barrier"
"""The logger of the records that mark the end of a worker's records so far (never shown)."""
FORWARDED = "forwarded-log-record"
"""The prefix of the topic ``Client.forward_logging`` sends records on (``distributed.client``)."""
FLUSH_SECONDS = 10.0
"""How long the client waits for the workers' records before going on without them."""

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class _Jsonable(logging.Filter):
    """Make a record's data fields plain JSON values before the record is forwarded: the
    forwarding sends msgpack, which refuses numpy scalars, sets and other objects a step's
    ``self.log`` may carry, and a step must not fail on Dask for what it may log locally."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and not isinstance(value, str | int | float | bool | None):
                setattr(record, name, json.loads(json.dumps(value, default=_plain)))
        return True


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


class SdkLogLevel(WorkerPlugin):
    """Sets the ``sdk`` logger's level on a worker (so records at the client's level are
    handled there, hence forwarded) and makes forwarded records' fields plain JSON values.

    Register it after ``client.forward_logging("sdk")``: a worker sets plugins up in the
    order they were registered, so the forwarding handler exists when this one looks for it.
    """

    def __init__(self, level: int) -> None:
        self.level = level
        self.guard = _Jsonable()

    def setup(self, worker: Any) -> None:
        """Set the level; guard the forwarding handler(s) of the ``sdk`` logger."""
        root = logging.getLogger("sdk")
        root.setLevel(self.level)
        for handler in root.handlers:
            if type(handler).__name__ == "_ForwardingLogHandler":
                handler.addFilter(self.guard)

    def teardown(self, worker: Any) -> None:
        """Remove the guard."""
        for handler in logging.getLogger("sdk").handlers:
            handler.removeFilter(self.guard)


def _mark(token: str) -> None:
    """On a worker: log the barrier record (after every record this worker sent so far)."""
    barrier = logging.getLogger(BARRIER)
    barrier.setLevel(logging.CRITICAL)
    barrier.critical("barrier", extra={"token": token})


class _Arrivals(logging.Filter):
    """On the client: notes each barrier record and drops it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, set[str]] = {}
        self.changed = threading.Condition()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.changed:
            token = str(getattr(record, "token", ""))
            self.seen.setdefault(token, set()).add(str(getattr(record, "worker", "")))
            self.changed.notify_all()
        return False


_ARRIVALS = _Arrivals()
"""One for the process: the first filter that drops a record hides it from the next ones, so
runs at once in one process share it (their tokens differ)."""


class Cluster:
    """The client of one run, and the local cluster it started, if any."""

    def __init__(self, client: Client, local: LocalCluster | None) -> None:
        self.client = client
        self.local = local
        logging.getLogger(BARRIER).addFilter(_ARRIVALS)  # once per process (idempotent)

    def flush_logs(self) -> None:
        """Wait until the records every worker sent so far have reached the client."""
        token = uuid.uuid4().hex
        try:
            answered = self.client.run(_mark, token)
        except Exception:  # a worker that cannot answer cannot send records either
            return
        with _ARRIVALS.changed:
            _ARRIVALS.changed.wait_for(
                lambda: len(_ARRIVALS.seen.get(token, ())) >= len(answered),
                timeout=FLUSH_SECONDS,
            )
            _ARRIVALS.seen.pop(token, None)

    def close(self) -> None:
        """Flush the logs, then close the client (and the local cluster)."""
        try:
            self.flush_logs()
        finally:
            self.client.close()
            if self.local is not None:
                self.local.close()


@contextmanager
def connect(config: Mapping[str, Any], run_id: str) -> Iterator[Cluster]:
    """A client on ``config["address"]``, or on a new local cluster of ``n_workers`` worker
    processes (one thread each, no dashboard), closed when the block ends; with the SDK's log
    level set on the workers and their ``sdk`` records forwarded to this process."""
    cluster = open_cluster(config, run_id)
    try:
        yield cluster
    finally:
        cluster.close()


def worker_addresses(client: Client) -> list[str]:
    """The addresses of the cluster's workers (all of them, whatever the distributed version:
    ``scheduler_info`` lists only the first few by default in recent ones)."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before n_workers
        info = client.scheduler_info()
    return list(info.get("workers", {}))


def _handler(run_id: str) -> Callable[[tuple[float, dict[str, Any]]], None]:
    """Handles the forwarded records of run ``run_id`` (and those logged outside any run) as
    ``forward_logging``'s own handler does: every client forwarding ``sdk`` from a shared
    cluster receives every worker's records, so another run's are left out."""

    def handle(event: tuple[float, dict[str, Any]]) -> None:
        _, fields = event
        if fields.get("run_id") not in (None, run_id):
            return
        record = logging.makeLogRecord(fields)
        logging.getLogger(record.name).handle(record)

    return handle


def open_cluster(config: Mapping[str, Any], run_id: str) -> Cluster:
    """Open run ``run_id``'s client (see :func:`connect`); the caller closes it."""
    local = None
    if config["address"]:
        try:
            client = Client(config["address"])
        except OSError as exc:  # refused, unreachable, timed out
            raise sdk.PipelineError(
                f"cannot connect to the Dask scheduler at {config['address']!r} ({exc}); start "
                f"one (`dask scheduler`, then `dask worker ADDRESS`) or check the address, or "
                f"leave the runner option address out to start a local cluster"
            ) from exc
    else:
        local = LocalCluster(
            n_workers=config["n_workers"],
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(local)
    try:
        level = logging.getLogger("sdk").getEffectiveLevel()
        client.forward_logging("sdk", level=level)
        client.subscribe_topic(f"{FORWARDED}-forward-logging-sdk", _handler(run_id))
        client.register_plugin(SdkLogLevel(level), name="sdk-log-level")
        workers = worker_addresses(client)
        logger.info(
            "dask_connected",
            extra={
                "scheduler": client.scheduler.address if client.scheduler else None,
                "workers": len(workers),
                "local_cluster": local is not None,
            },
        )
    except BaseException:
        client.close()
        if local is not None:
            local.close()
        raise
    return Cluster(client, local)
