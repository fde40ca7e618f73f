"""``redis://host:port/db?stream=NAME``: Redis streams as datasets, stream sources and sinks.

As a **source** (the ``stream`` runner) the URI names a consumer group and a consumer:
``redis://127.0.0.1:6379/0?stream=orders&group=pricing&consumer=worker-1``. The group is
created if missing (from the start of the stream). On start the consumer first takes its own
pending entries (delivered before a crash, never acknowledged), then claims entries other
consumers left pending longer than ``claim_idle_ms`` (``XAUTOCLAIM``, again every
``claim_idle_ms``), then reads new ones (``XREADGROUP >``). An entry's fields are the record's
columns, values as text; an entry whose only field is ``json`` holds a JSON object.

As a **sink** each batch is appended by a server-side script (:mod:`sdk.io._redis_sink`), one
call per 2,000 rows carrying them as one JSON argument, that
runs ``XADD`` per row (``?maxlen=N`` trims the stream approximately); a missing value is left
out of the entry. When the stream runner reads a group of the same server and database, one
script per micro-batch also ``XACK``s its messages (exactly once, see
:mod:`sdk.runners.sinks`). ``read`` and ``write`` read a whole stream (``XRANGE``) and append a
whole frame. redis-py is imported lazily (``pip install 'pipeline-sdk[redis]'``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.failpoints import failpoint
from sdk.hookspecs import hookimpl
from sdk.io import Loaded, redact
from sdk.io._redis_sink import RedisAppender
from sdk.io._redis_target import RedisTarget
from sdk.io.streams import Batch
from sdk.quarantine import Sources
from sdk.validation import MALFORMED

if TYPE_CHECKING:
    import pandera.pandas as pa

    from sdk.io import IOScheme

__all__ = ["RedisAppender", "RedisScheme", "RedisSource", "RedisTarget"]


Entry = tuple[str, list[str] | None]
"""A stream entry as Redis sends it: its id and its fields flat (``[field, value, ...]``);
``None`` for an entry deleted while pending."""


def _flat(entries: Sequence[tuple[str, dict[str, str] | None]]) -> list[Entry]:
    """Entries parsed by redis-py (fields as a dict) as flat entries."""
    return [(i, None if f is None else [x for kv in f.items() for x in kv]) for i, f in entries]


def _entries(reply: Any) -> list[Entry]:
    """The entries of an unparsed ``XREADGROUP`` reply of one stream (RESP2 or RESP3)."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else (s[1] for s in reply)
    return [(entry[0], entry[1]) for entries in streams for entry in entries]


def _row(fields: list[str]) -> dict[str, Any]:
    if len(fields) == 2 and fields[0] == "json":
        try:
            value = json.loads(fields[1])
        except ValueError:
            value = None
        return value if isinstance(value, dict) else {MALFORMED: fields[1]}
    return dict(zip(fields[0::2], fields[1::2], strict=True))


def _frame(entries: Sequence[Entry]) -> pd.DataFrame:
    """One row per entry, values as text (``None`` for a field an entry lacks)."""
    fields = [f or [] for _, f in entries]
    if fields:
        names, width, n = fields[0][0::2], len(fields[0]), len(fields)
        flat = list(itertools.chain.from_iterable(fields))
        # the common case, every entry with the same fields in the same order: each column is
        # a slice of the entries' fields laid end to end (every entry as long as the first)
        if (
            names != ["json"]
            and set(map(len, fields)) == {width}
            and all(flat[2 * k :: width].count(name) == n for k, name in enumerate(names))
        ):
            columns = {name: flat[2 * k + 1 :: width] for k, name in enumerate(names)}
            return pd.DataFrame(columns, index=pd.RangeIndex(n), dtype=object)
    rows = [_row(f) for f in fields]
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    if len(frame):
        frame = frame.astype(object).where(frame.notna(), None)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _millis(entry: str) -> int:
    return int(entry.split("-", 1)[0])


class RedisSource:
    """A consumer in a consumer group: pending entries first, then claimed, then new ones."""

    def __init__(self, uri: str, claim_idle_ms: int) -> None:
        target = RedisTarget.parse_source(uri)
        self.uri, self.target = uri, target
        self.claim_idle_ms = claim_idle_ms
        self.client = target.connect()
        try:
            self.client.xgroup_create(target.stream, target.group, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise IOSchemeError(f"cannot create group on {redact(uri)}: {exc}") from None
        self._phase = "pending"
        self._pending_cursor = "0"
        self._claim_cursor = "0-0"
        self._claimed_at = 0.0
        # XREADGROUP replies unparsed: one flat list per entry, no dict per entry
        self.client.set_response_callback("XREADGROUP", lambda reply, **options: reply)

    def read(self, max_rows: int, timeout_ms: int) -> Batch:
        """Up to ``max_rows`` entries: this consumer's pending ones, then claimed, then new."""
        return self._batch(*self._fetch(max_rows, timeout_ms))

    def read_window(self, max_rows: int, latency_ms: int) -> Batch:
        """A micro-batch: up to ``max_rows`` entries, closed ``latency_ms`` after the first
        arrived; the entries of every read in the window make one frame."""
        entries, deliveries = self._fetch(max_rows, latency_ms)
        if not entries or len(entries) >= max_rows:
            return self._batch(entries, deliveries)
        deadline = time.monotonic() + latency_ms / 1000
        counts, seen = [deliveries], {entry[0] for entry in entries}
        firsts = [entries[0][0]]
        while len(entries) < max_rows and (left := deadline - time.monotonic()) > 0:
            more, times = self._fetch(max_rows - len(entries), max(int(left * 1000), 1))
            if not more:
                break
            fresh = [k for k, entry in enumerate(more) if entry[0] not in seen]  # claimed twice
            entries += [more[k] for k in fresh]
            counts.append(times[fresh])
            seen.update(entry[0] for entry in more)
            firsts += [more[k][0] for k in fresh[:1]]
        return self._batch(entries, np.concatenate(counts), firsts)

    def _batch(
        self, entries: list[Entry], deliveries: np.ndarray, firsts: list[str] | None = None
    ) -> Batch:
        """``entries`` as a micro-batch; ``firsts``: the first entry of each read (each read's
        entries come in id order, so the oldest entry is one of them; default the first)."""
        ids = [entry for entry, _ in entries]
        starts = firsts if firsts is not None else ids[:1]
        oldest = (time.time() * 1000 - min(map(_millis, starts))) if ids else None
        return Batch(
            _frame(entries),
            Sources.from_prefixed(self.target.label, ids),  # target.reference, when needed
            ids,
            deliveries,
            oldest,
        )

    def _fetch(self, max_rows: int, timeout_ms: int) -> tuple[list[Entry], np.ndarray]:
        """Entries of one read, and how many times each was delivered."""
        t, client = self.target, self.client
        every = max(self.claim_idle_ms, 1000) / 1000  # our own in-flight entries stay ours
        if self._phase == "new" and time.monotonic() - self._claimed_at > every:
            self._phase, self._claim_cursor = "claim", "0-0"
        entries: list[Entry] = []
        redelivered = False
        if self._phase == "pending":
            # this consumer's pending entries, each read once: from after the last one read
            # (reading them again would count another delivery each time)
            reply = client.xreadgroup(
                t.group, t.consumer, {t.stream: self._pending_cursor}, count=max_rows
            )
            read = _entries(reply)
            entries = [e for e in read if e[1] is not None]
            redelivered = True
            if read:
                self._pending_cursor = read[-1][0]
            if not entries:
                self._phase = "claim"
        if not entries and self._phase == "claim":
            reply = client.xautoclaim(
                t.stream,
                t.group,
                t.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=self._claim_cursor,
                count=max_rows,
            )
            self._claim_cursor = reply[0]
            entries = _flat([e for e in reply[1] if e[1] is not None])
            if entries:
                failpoint("stream.after_claim")
            redelivered = True
            if self._claim_cursor == "0-0":
                self._phase, self._claimed_at = "new", time.monotonic()
        if not entries and self._phase == "new":
            reply = client.xreadgroup(
                t.group, t.consumer, {t.stream: ">"}, count=max_rows, block=max(timeout_ms, 1)
            )
            entries = _entries(reply)
            redelivered = False
        ids = [entry for entry, _ in entries]
        deliveries = self._deliveries(ids) if redelivered else np.ones(len(ids), dtype=np.int64)
        return entries, deliveries

    def _deliveries(self, ids: list[str]) -> np.ndarray:
        """How many times each of ``ids`` was delivered (``XPENDING``)."""
        if not ids:
            return np.zeros(0, dtype=np.int64)
        t = self.target
        pending = self.client.xpending_range(
            t.stream, t.group, min=min(ids, key=_key), max=max(ids, key=_key), count=len(ids) * 4
        )
        counts = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        return np.array([counts.get(i, 1) for i in ids], dtype=np.int64)

    def ack(self, ids: Sequence[str]) -> None:
        """``XACK`` the entries (in rounds of 10,000)."""
        t = self.target
        for start in range(0, len(ids), 10_000):
            self.client.xack(t.stream, t.group, *ids[start : start + 10_000])

    def lag(self) -> int | None:
        """Entries the group has not acknowledged: not yet delivered plus pending."""
        for group in self.client.xinfo_groups(self.target.stream):
            if group["name"] == self.target.group:
                return int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return None

    def close(self) -> None:
        """Close the connection."""
        self.client.close()


def _key(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


class RedisScheme:
    """``redis://…?stream=NAME``: a Redis stream."""

    name = "redis"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` is a ``redis://`` or ``rediss://`` URI."""
        return uri.startswith(("redis://", "rediss://"))

    def read(self, uri: str) -> Loaded:
        """Every entry of the stream (``XRANGE``), values as text."""
        target = RedisTarget.parse(uri)
        client = target.connect()
        client.set_response_callback("XRANGE", lambda reply, **options: reply)  # flat fields
        try:
            entries = [(entry[0], entry[1]) for entry in client.xrange(target.stream)]
        finally:
            client.close()
        ids = [entry for entry, _ in entries]
        return Loaded(_frame(entries), Sources.from_values([target.reference(i) for i in ids]))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Append ``frame`` to the stream (entries cannot be published atomically)."""

        appender = RedisAppender(uri)
        try:
            appender.append(frame)
        finally:
            appender.close()

    def exists(self, uri: str) -> bool:
        """Whether the stream exists (a stream sink is appended to, so runs may share it)."""
        target = RedisTarget.parse(uri)
        return bool(target.connect().exists(target.stream))

    def check_source(self, uri: str) -> None:
        """Refuse a consumer URI without stream, group or consumer (no connection)."""
        RedisTarget.parse_source(uri)

    def check_appender(self, uri: str) -> None:
        """Refuse a sink URI without a stream or with a bad ``maxlen`` (no connection)."""
        RedisTarget.parse(uri)

    def open_source(self, uri: str, *, claim_idle_ms: int) -> RedisSource:
        """A consumer of the stream (``&group=G&consumer=C`` required)."""
        return RedisSource(uri, claim_idle_ms)

    def open_appender(self, uri: str, schema: type[pa.DataFrameModel] | None) -> RedisAppender:
        """An appender to the stream (created by the first ``XADD``)."""

        return RedisAppender(uri)


@hookimpl
def sdk_register_io_schemes() -> list[IOScheme]:
    """The Redis stream scheme."""
    return [RedisScheme()]
