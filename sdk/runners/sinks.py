"""Where the ``stream`` runner writes each micro-batch, and what that guarantees.

* **One SQL database** (every output and the quarantine are SQLite tables of one file, or
  PostgreSQL tables of one database): a micro-batch's output rows, its quarantine records and
  the ids of the messages it consumed (table ``sdk_consumed``, keyed by source, group and
  message id) are committed in **one transaction** before the messages are acknowledged. A
  message already in ``sdk_consumed`` is acknowledged and skipped: **exactly once**, whatever
  the moment of a crash.
* **Redis streams of the source's server and database** (a Redis source, every output and the
  quarantine streams of that same Redis): a micro-batch's entries are added and its messages
  acknowledged by **one server-side script** — atomically: **exactly once**, whatever the
  moment of a crash (and one round trip fewer).
* **Anything else** (Redis streams elsewhere, JSON lines, CSV, tables of several databases):
  each destination is appended to durably, then the messages are acknowledged: **at least
  once** — a crash between the writes and the acknowledgement writes that micro-batch again.

Without outputs (a notebook), the outputs are kept in memory for the run's result.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.io import redact
from sdk.io._redis_sink import RedisAppender
from sdk.io.streams import Appender, StreamSource, check_appender, open_appender
from sdk.quarantine import QUARANTINE_COLUMNS, Sources, to_text
from sdk.runners._sql_sink import CONSUMED_TABLE, Database, TableAppender, Transaction, table_of
from sdk.runners.stage import Data

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.runners.request import RunRequest
    from sdk.runners.session import RunSession

__all__ = ["CONSUMED_TABLE", "QUARANTINE_TABLE", "Sinks", "default_quarantine", "open_sinks"]

QUARANTINE_TABLE = "sdk_quarantine"
"""The default quarantine table when the outputs are SQL tables of one database."""


def default_quarantine(
    pipeline: Pipeline, inputs: Mapping[str, Any], outputs: Mapping[str, str] | None
) -> str | None:
    """The quarantine of a stream run not given one: table ``sdk_quarantine`` when every
    output is a table of one SQL database; else the stream ``NAME:quarantine`` beside a Redis
    source; else ``<name>.quarantine.jsonl`` beside the first file output; else none (kept in
    the run's result: a notebook)."""
    databases = {Database.of(str(u)) for u in (outputs or {}).values()}
    if outputs and len(databases) == 1 and None not in databases:
        (database,) = databases
        assert database is not None
        return database.table_uri(QUARANTINE_TABLE)
    for name, value in inputs.items():
        redis = isinstance(value, str) and value.startswith(("redis://", "rediss://"))
        if pipeline.artifact(name) is None and redis:
            base, _, query = str(value).partition("?")
            stream = dict(urllib.parse.parse_qsl(query)).get("stream")
            if stream:
                return f"{base}?stream={urllib.parse.quote(stream + ':quarantine', safe=':')}"
    for uri in (outputs or {}).values():  # beside the first file output
        path = str(uri).removeprefix("file://")
        if "://" not in path and path != "-":
            target = Path(path)
            return str(target.with_name(f"{target.stem}.quarantine.jsonl"))
    return None


class Sinks:
    """The destinations of one stream run and how a micro-batch is written to them.

    Attributes:
        keeps_quarantine: whether quarantine records are written to a destination (so the
            run need not keep them in memory).
        lag: the source group's lag after the last :meth:`write` that acknowledged its
            messages (``None``: unknown, ask the source).
    """

    def __init__(
        self,
        session: RunSession,
        source: StreamSource,
        appenders: dict[str, Appender],
        transaction: Transaction | None,
    ) -> None:
        self.session = session
        self.source = source
        self.appenders = appenders
        self.transaction = transaction
        self.acker: RedisAppender | None = None  # acknowledges as it writes (same Redis)
        if RedisAppender.acknowledges(list(appenders.values()), source):
            self.acker = next(iter(appenders.values()))  # type: ignore[assignment]
        self.lag: int | None = None
        self.keeps_quarantine = session.request.quarantine is not None
        self.kept: dict[str, list[pd.DataFrame]] = {}

    @property
    def exactly_once(self) -> bool:
        """Whether micro-batches are committed with their message ids in one transaction, or
        written and acknowledged by one script (Redis streams of the source's Redis)."""
        return self.transaction is not None or self.acker is not None

    def consumed(self, ids: list[str]) -> set[str]:
        """Messages committed already (exactly-once sinks; none otherwise)."""
        return self.transaction.consumed(ids) if self.transaction is not None else set()

    def write(
        self,
        outputs: dict[str, pd.DataFrame],
        quarantine: pd.DataFrame | None,
        ids: list[str],
        read: list[str],
    ) -> bool:
        """Write one micro-batch durably (before its messages are acknowledged): the requested
        ones of ``outputs`` (every produced dataset of the micro-batch), its quarantine
        records, and — exactly-once SQL sinks — the ids it consumed. Redis streams of the
        source's Redis acknowledge ``read`` (every message of the micro-batch) in the same
        script: then it returns ``True``; else the caller acknowledges them."""
        request = self.session.request
        produced, outputs = outputs, {n: f for n, f in outputs.items() if n in request.outputs}
        records = quarantine if quarantine is not None else pd.DataFrame()
        if len(records):  # every column as text (values and rows are text already)
            if tuple(records.columns) != QUARANTINE_COLUMNS:
                records = records[list(QUARANTINE_COLUMNS)]
            block = records.to_numpy(dtype=object)
            texts = _to_texts(block) if block.size else block  # one 2-D block, one frame
            records = pd.DataFrame(texts, columns=list(QUARANTINE_COLUMNS), dtype=object)
        if self.transaction is not None:
            frames = dict(outputs)
            if request.quarantine is not None:
                frames["quarantine"] = records if len(records) else _empty_quarantine()
            self.transaction.write(frames, ids)
        else:
            parts = [(self.appenders[name], frame) for name, frame in outputs.items()]
            if request.quarantine is not None and len(records):
                parts.append((self.appenders["quarantine"], records))
            together = getattr(type(parts[0][0]), "append_together", None) if parts else None
            if self.acker is not None:
                target = self.source.target  # type: ignore[attr-defined]
                self.lag = self.acker.append_acked(parts, target, read)
            elif together is None or not together(parts):  # e.g. one script call to one Redis
                for appender, frame in parts:
                    appender.append(frame)
        if not request.outputs:  # a notebook: keep the outputs for the result
            for name, frame in produced.items():
                self.kept.setdefault(name, []).append(frame)
        return self.acker is not None

    def close(self) -> None:
        """Close every destination; outputs kept in memory become the run's datasets."""
        for appender in self.appenders.values():
            with contextlib.suppress(Exception):
                appender.close()
        if self.transaction is not None:
            self.transaction.close()
        for name, parts in self.kept.items():
            frame = pd.concat(parts, ignore_index=True)
            self.session.datasets[name] = Data(frame, Sources.from_index(frame.index))


_to_texts = np.frompyfunc(to_text, 1, 1)
""":func:`sdk.quarantine.to_text` of every element of an array (an array of objects)."""


def _source_key(source: StreamSource) -> str:
    """What identifies a source's messages in ``sdk_consumed``: a Redis stream and group
    (consumers of one group share their messages; another group consumes them again), or
    the file."""
    target = getattr(source, "target", None)
    if target is not None and getattr(target, "group", None):
        return f"{redact(target.url)}?stream={target.stream}&group={target.group}"
    return redact(source.uri)


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in QUARANTINE_COLUMNS})


def check_destinations(request: RunRequest) -> None:
    """Refuse, before a stream run starts, an output or quarantine it cannot append to: a
    table URI without ``?table=``, a file format written whole (Parquet), a bad stream URI.

    Raises:
        IOSchemeError: naming the destination and what works.
    """
    destinations = [*request.outputs.values()]
    if request.quarantine is not None:
        destinations.append(request.quarantine)
    for uri in destinations:
        if Database.of(uri) is not None:
            table_of(uri)
        else:
            check_appender(uri)


def open_sinks(session: RunSession, source: StreamSource) -> Sinks:
    """The destinations of ``session``: one transaction when every destination is a table of
    one SQL database, else one appender each."""
    request = session.request
    destinations = dict(request.outputs)
    if request.quarantine is not None:
        destinations["quarantine"] = request.quarantine
    pipeline = request.pipeline
    schemas: dict[str, Any] = {}
    for name in request.outputs:
        producer = pipeline.producer(name)
        schemas[name] = type(producer).contract().output if producer is not None else None
    databases = {Database.of(uri) for uri in destinations.values()}
    if request.outputs and len(databases) == 1 and None not in databases:
        (database,) = databases
        assert database is not None
        tables = {name: table_of(uri) for name, uri in destinations.items()}
        key = _source_key(source)
        return Sinks(session, source, {}, Transaction(database, tables, schemas, key))
    appenders: dict[str, Appender] = {}
    for name, uri in destinations.items():
        database = Database.of(uri)
        if database is not None:  # a table of its own database: appended, at least once
            table = {name: table_of(uri)}
            appenders[name] = TableAppender(
                name, Transaction(database, table, schemas, _source_key(source))
            )
        else:
            appenders[name] = open_appender(uri, schemas.get(name))
    return Sinks(session, source, appenders, None)
