"""Streams: what the ``stream`` runner reads message by message and writes batch by batch.

A scheme that can be a stream's source has ``open_source(uri, claim_idle_ms=...)`` returning a
:class:`StreamSource` (read a micro-batch, acknowledge it, report the lag); one that can be a
stream's sink has ``open_appender(uri, schema)`` returning an :class:`Appender`, whose
``append`` is durable when it returns (unlike a :class:`sdk.io.Writer`, which publishes
atomically once, at the end). Capabilities are checked with ``isinstance``, as in
:mod:`sdk.io`.

This module also holds the file implementations: JSON lines (``.jsonl``, ``?follow=true`` to
tail a growing file) and standard input (``-``) as sources; JSON lines and CSV files as
appenders (flushed and ``fsync``-ed per batch).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.quarantine import Sources
from sdk.validation import MALFORMED

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "Appender",
    "Batch",
    "FileAppender",
    "FrameSource",
    "LineSource",
    "StreamSource",
    "SupportsAppend",
    "SupportsStreamSource",
    "open_appender",
    "open_source",
]


@attrs.define
class Batch:
    """A micro-batch as read from a stream.

    Attributes:
        frame: one row per message, values as text (validation coerces them).
        sources: each row's reference (e.g. ``redis://…?stream=s#1700000000000-0``).
        ids: each row's message id, to acknowledge.
        deliveries: how many times each message was delivered (``None``: not tracked).
        oldest_ms: the age of the oldest message when read (``None``: unknown).
    """

    frame: pd.DataFrame
    sources: Sources
    ids: list[str]
    deliveries: np.ndarray | None = None
    oldest_ms: float | None = None

    @staticmethod
    def concat(parts: list[Batch]) -> Batch:
        """One micro-batch of several reads (an entry read twice, e.g. claimed again, once)."""
        if len(parts) == 1:
            return parts[0]
        seen: set[str] = set()
        for index, part in enumerate(parts):
            fresh = np.array([i not in seen for i in part.ids], dtype=bool)
            seen.update(part.ids)
            if not fresh.all():
                keep = np.flatnonzero(fresh)
                parts[index] = Batch(
                    part.frame.iloc[keep].reset_index(drop=True),
                    part.sources.take(keep),
                    [part.ids[k] for k in keep],
                    None if part.deliveries is None else part.deliveries[keep],
                    part.oldest_ms,
                )
        frame = pd.concat([p.frame for p in parts], ignore_index=True)
        frame = frame.astype(object).where(frame.notna(), None)
        refs = [r for p in parts for r in p.sources.render(np.arange(len(p.ids)))]
        deliveries = (
            np.concatenate([p.deliveries for p in parts])
            if all(p.deliveries is not None for p in parts)
            else None
        )
        oldest = [p.oldest_ms for p in parts if p.oldest_ms is not None]
        return Batch(
            frame,
            Sources.from_values(refs),
            [i for p in parts for i in p.ids],
            deliveries,
            max(oldest) if oldest else None,
        )


@runtime_checkable
class StreamSource(Protocol):
    """An open stream: read micro-batches, acknowledge them once written."""

    uri: str

    def read(self, max_rows: int, timeout_ms: int) -> Batch:
        """At most ``max_rows`` messages, waiting at most ``timeout_ms`` for the first."""
        ...

    def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge messages: they are done and will not be delivered again."""
        ...

    def lag(self) -> int | None:
        """Messages not yet acknowledged by this consumer's group (``None``: unknown)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@runtime_checkable
class SupportsStreamSource(Protocol):
    """A scheme that can be a stream's source."""

    def open_source(self, uri: str, *, claim_idle_ms: int) -> StreamSource:
        """Open ``uri`` for consuming (claiming pending messages idle over ``claim_idle_ms``)."""
        ...


@runtime_checkable
class Appender(Protocol):
    """A destination appended to batch by batch; each ``append`` is durable when it returns."""

    def append(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` durably."""
        ...

    def close(self) -> None:
        """Release the destination."""
        ...


@runtime_checkable
class SupportsAppend(Protocol):
    """A scheme that can be a stream's sink."""

    def open_appender(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Appender:
        """An appender to ``uri`` (created if missing; existing rows are kept)."""
        ...


def _stream_scheme(uri: str) -> SupportsStreamSource:
    from sdk.plugins import resolve_scheme

    scheme = resolve_scheme(uri)
    if not isinstance(scheme, SupportsStreamSource):
        raise IOSchemeError(
            f"{uri!r} cannot be read as a stream (scheme {scheme.name!r}); the stream runner "
            f"reads a Redis stream (redis://host:port/db?stream=name&group=g&consumer=c), "
            f"JSON lines (.jsonl, ?follow=true to tail a file) or standard input (-)"
        )
    return scheme


def check_source(uri: str) -> None:
    """Refuse, before a run starts and without connecting, a URI that cannot be consumed as
    a stream (a scheme may check its own URIs with a ``check_source(uri)`` method).

    Raises:
        IOSchemeError: naming the URI and what to write instead.
    """
    if uri == "-" or _is_jsonl(uri):
        return
    check = getattr(_stream_scheme(uri), "check_source", None)
    if check is not None:
        check(uri)


def open_source(uri: str, *, claim_idle_ms: int) -> StreamSource:
    """Open the stream source at ``uri`` through its scheme.

    Raises:
        IOSchemeError: no scheme can consume ``uri`` as a stream.
    """
    if uri == "-" or _is_jsonl(uri):
        return LineSource(uri)
    return _stream_scheme(uri).open_source(uri, claim_idle_ms=claim_idle_ms)


def open_appender(uri: str, schema: type[pa.DataFrameModel] | None) -> Appender:
    """Open a stream sink at ``uri`` through its scheme.

    Raises:
        IOSchemeError: no scheme can append to ``uri`` batch by batch (e.g. Parquet).
    """
    if _is_line_file(uri):
        return FileAppender(uri.removeprefix("file://").split("?")[0])
    return _append_scheme(uri).open_appender(uri, schema)


def check_appender(uri: str) -> None:
    """Refuse, before a run starts and without connecting, a destination a stream cannot
    append to (a scheme may check its own URIs with a ``check_appender(uri)`` method).

    Raises:
        IOSchemeError: naming the URI and the destinations that work.
    """
    if not _is_line_file(uri):
        check = getattr(_append_scheme(uri), "check_appender", None)
        if check is not None:
            check(uri)


def _append_scheme(uri: str) -> SupportsAppend:
    from sdk.plugins import resolve_scheme

    scheme = resolve_scheme(uri)
    if not isinstance(scheme, SupportsAppend):
        raise IOSchemeError(
            f"the stream runner cannot append to {uri!r} batch by batch (scheme "
            f"{scheme.name!r}); write to a Redis stream, JSON lines or CSV, SQLite or PostgreSQL"
        )
    return scheme


def _is_line_file(uri: str) -> bool:
    path = uri.removeprefix("file://").split("?")[0]
    return "://" not in path and path.lower().endswith((".jsonl", ".ndjson", ".csv"))


def _is_jsonl(uri: str) -> bool:
    path = uri.removeprefix("file://").split("?")[0]
    return "://" not in path and path.lower().endswith((".jsonl", ".ndjson"))


class FrameSource:
    """A DataFrame read as a finite stream, micro-batch by micro-batch (a quarantine replay, a
    test): its rows keep their dtypes, and their sources are their index labels, as the
    ``local`` runner names them. Its messages' ids are row positions within the frame, which
    is named by its content hash (so an exactly-once sink skips a frame it consumed before)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        from sdk.manifest import content_hash

        self.frame = frame
        self.uri = f"<DataFrame {content_hash(frame)}>"
        self._next = 0
        self.exhausted = False

    def read(self, max_rows: int, timeout_ms: int) -> Batch:
        """The next ``max_rows`` rows (never waits)."""
        start = self._next
        part = self.frame.iloc[start : start + max_rows]
        self._next += len(part)
        self.exhausted = not len(part)
        ids = [str(p) for p in range(start, start + len(part))]
        return Batch(part.reset_index(drop=True), Sources.from_index(part.index), ids)

    def ack(self, ids: Sequence[str]) -> None:
        """Nothing to acknowledge in a frame."""

    def lag(self) -> int | None:
        """Rows not read yet."""
        return len(self.frame) - self._next

    def close(self) -> None:
        """Nothing to release."""


class LineSource:
    """JSON lines from a file (tailed with ``?follow=true``) or standard input (``-``).

    Acknowledging is a no-op: a file has no consumer group, so a restarted run reads it from
    the start again (at-least-once, with the duplicates that implies; see docs/stream.md).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        path, _, query = uri.removeprefix("file://").partition("?")
        self.follow = "follow=true" in query.lower()
        self._line = 0
        self._buffer = ""
        self._done = False
        if uri == "-":
            self._handle: IO[str] = sys.stdin
            self._label = "stdin"
        else:
            if not Path(path).exists():
                raise IOSchemeError(f"stream source {path!r} does not exist")
            self._handle = Path(path).open(encoding="utf-8")  # noqa: SIM115 - closed by close()
            self._label = path
        if uri == "-":
            os.set_blocking(sys.stdin.fileno(), True)

    def read(self, max_rows: int, timeout_ms: int) -> Batch:
        """Up to ``max_rows`` complete lines; waits up to ``timeout_ms`` when following."""
        deadline = time.monotonic() + timeout_ms / 1000
        rows: list[dict[str, Any]] = []
        refs: list[str] = []
        while len(rows) < max_rows and not self._done:
            chunk = self._handle.readline()
            if chunk:
                self._buffer += chunk
                if not chunk.endswith("\n") and self.follow:
                    continue  # a line still being written: wait for its end
                line, self._buffer = self._buffer, ""
            elif not self.follow:
                line, self._buffer = self._buffer, ""
                self._done = True
                if not line:
                    break
            elif rows or time.monotonic() >= deadline:
                break
            else:
                time.sleep(0.005)
                continue
            self._line += 1
            if line.strip():
                rows.append(_record(line))
                refs.append(f"{self._label}:{self._line}")
        frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
        if len(frame):
            frame = frame.astype(object).where(frame.notna(), None)
        frame.index = pd.RangeIndex(len(frame))
        return Batch(frame, Sources.from_values(refs), refs)

    @property
    def exhausted(self) -> bool:
        """Whether a file that is not followed has been read to its end."""
        return self._done

    def ack(self, ids: Sequence[str]) -> None:
        """Nothing to acknowledge in a file."""

    def lag(self) -> int | None:
        """Unknown for a file."""
        return None

    def close(self) -> None:
        """Close the file (standard input is left open)."""
        if self._handle is not sys.stdin:
            self._handle.close()


def _record(line: str) -> dict[str, Any]:
    """A JSON object per line; anything else is a malformed record (its text in the reader's
    malformed marker), which validation quarantines whole, as it does a malformed CSV line."""
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {MALFORMED: line.rstrip("\n")}


class FileAppender:
    """Append batches to a JSON lines or CSV file, flushed and ``fsync``-ed per batch."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._header = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", encoding="utf-8", newline="")

    def append(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` and make it durable."""
        if not len(frame):
            return
        if self.csv:
            frame.to_csv(self._handle, index=False, header=self._header)
            self._header = False
        else:
            text = frame.to_json(  # floats to 15 digits, timestamps to the nanosecond
                orient="records",
                lines=True,
                date_format="iso",
                date_unit="ns",
                double_precision=15,
                force_ascii=False,
            )
            self._handle.write(text if text.endswith("\n") else text + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self._handle.close()
