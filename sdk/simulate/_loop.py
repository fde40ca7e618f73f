"""The whole production loop in a notebook: a frame replayed into a real Redis stream at a
steady rate while the ``stream`` runner consumes it (see ``Pipeline.run_stream``)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.errors import DataQualityError, PipelineError
from sdk.simulate._replay import replay

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.result import RunResult

__all__ = ["run_stream"]

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def run_stream(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    *,
    rate: float | None = None,
    runner: str = "stream",
    redis: str | None = None,
    idle_timeout_s: float = 2.0,
    keep: bool = False,
    runner_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> RunResult:
    """Replay ``frame`` into a fresh Redis stream at ``rate`` rows/s while ``runner`` consumes
    it; return the run's result once the stream has been idle for ``idle_timeout_s``.

    The result's quarantine is read back from the run's quarantine stream, with each row's
    ``source`` the label of the row of ``frame`` it came from (as ``local`` names rows of a
    frame), so it compares with the ground truth of :func:`inject_faults`.

    Args:
        pipeline: a pipeline with one DataFrame input (the stream).
        frame: its rows (e.g. :func:`synthesize`, then :func:`inject_faults`).
        rate: rows per second (``None``: as fast as Redis takes them).
        runner: the runner that consumes the stream.
        redis: the server (default ``$SDK_REDIS_URL`` or ``redis://127.0.0.1:6379/0``).
        idle_timeout_s: the run ends this long after the last row was read.
        keep: keep the streams (source and ``:quarantine``) instead of deleting them after.
        runner_options: more options for the runner (``max_batch_rows``, ...).
        **kwargs: passed to ``Pipeline.run`` (artifact inputs, ``outputs``, ``max_invalid``).

    Raises:
        PipelineError: the pipeline does not take exactly one DataFrame input.
    """
    frames = [name for name in pipeline.inputs if pipeline.artifact(name) is None]
    if len(frames) != 1:
        raise PipelineError(
            f"run_stream replays one frame into one stream; {pipeline.name!r} takes "
            f"{len(frames)} DataFrame inputs ({', '.join(frames)})"
        )
    server = (redis or os.environ.get("SDK_REDIS_URL") or DEFAULT_REDIS).split("?")[0]
    stream = f"sdk-sim-{uuid.uuid4().hex[:12]}"
    target = f"{server}?stream={stream}"
    source = f"{target}&group=notebook&consumer=notebook"
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            replay(frame, target, rate=rate)
        except BaseException as exc:  # reported after the run
            failure.append(exc)

    from sdk.io.redis import RedisTarget

    client = RedisTarget.parse(target).connect()
    client.xgroup_create(stream, "notebook", id="0", mkstream=True)
    producer = threading.Thread(target=produce, name="sdk-replay", daemon=True)
    producer.start()
    try:
        given: dict[str, Any] = {frames[0]: source, **kwargs}
        given["runner_options"] = {"idle_timeout_s": idle_timeout_s, **dict(runner_options or {})}
        try:
            result = pipeline.run(runner, **given)
        except DataQualityError as exc:  # the stream is deleted: keep what it quarantined
            exc.quarantine = _quarantine(client, stream, exc.quarantine, frame.index)
            raise
        if failure:
            raise failure[0]
        result.quarantine = _quarantine(client, stream, result.quarantine, frame.index)
    finally:
        producer.join()
        if not keep:
            client.delete(stream, f"{stream}:quarantine")
        client.close()
    return result


def _quarantine(client: Any, stream: str, kept: pd.DataFrame, labels: pd.Index) -> pd.DataFrame:
    """The run's quarantine read back from its stream, each ``source`` (an entry id) replaced
    by the label of the row of ``frame`` it was replayed from, as the ``local`` runner names
    rows of an in-memory frame — so it compares with ``inject_faults``' ground truth."""
    entries = client.xrange(f"{stream}:quarantine")
    if not entries:
        return kept
    records = pd.DataFrame([fields for _, fields in entries])
    ids = [entry for entry, _ in client.xrange(stream)]
    position = {entry: labels[k] for k, entry in enumerate(ids) if k < len(labels)}
    entry_of = records["source"].str.rsplit("#", n=1).str[-1]
    records["source"] = [
        position.get(e, s) for e, s in zip(entry_of, records["source"], strict=True)
    ]
    return records.reindex(columns=kept.columns) if len(kept.columns) else records
