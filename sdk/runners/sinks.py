"""Where the ``stream`` runner writes each micro-batch, and what that guarantees.

* **One SQL database** (every output and the quarantine are SQLite tables of one file, or
  PostgreSQL tables of one database): a micro-batch's output rows, its quarantine records and
  the ids of the messages it consumed (table ``sdk_consumed``, keyed by source, group and
  message id) are committed in **one transaction** before the messages are acknowledged. A
  message already in ``sdk_consumed`` is acknowledged and skipped: **exactly once**, whatever
  the moment of a crash.
* **Anything else** (Redis streams, JSON lines, CSV, tables of several databases): each
  destination is appended to durably, then the messages are acknowledged: **at least once** —
  a crash between the writes and the acknowledgement writes that micro-batch again.

Without outputs (a notebook), the outputs are kept in memory for the run's result.
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.io import redact
from sdk.io._tables import Layout, model_kinds, python_values, quote
from sdk.io.streams import Appender, StreamSource, check_appender, open_appender
from sdk.quarantine import QUARANTINE_COLUMNS, Sources
from sdk.runners.stage import Data

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline
    from sdk.runners.request import RunRequest
    from sdk.runners.session import RunSession

__all__ = ["CONSUMED_TABLE", "QUARANTINE_TABLE", "Sinks", "default_quarantine", "open_sinks"]

CONSUMED_TABLE = "sdk_consumed"
"""The table of consumed message ids, beside exactly-once SQL outputs."""
QUARANTINE_TABLE = "sdk_quarantine"
"""The default quarantine table when the outputs are SQL tables of one database."""


@attrs.frozen
class _Database:
    """A SQL database named by table URIs: ``sqlite:///file.db`` or ``postgresql://…``."""

    kind: str  # "sqlite" or "postgres"
    base: str  # the URI without its query

    @classmethod
    def of(cls, uri: str) -> _Database | None:
        base = uri.split("?", 1)[0]
        if uri.startswith("sqlite://"):
            return cls("sqlite", base)
        if uri.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            return cls("postgres", base)
        return None

    def table_uri(self, table: str) -> str:
        return f"{self.base}?table={urllib.parse.quote(table)}"


def _table(uri: str) -> str:
    params = dict(urllib.parse.parse_qsl(uri.partition("?")[2]))
    if not params.get("table"):
        raise IOSchemeError(f"{redact(uri)}: a stream writes tables; add ?table=NAME")
    return params["table"]


def default_quarantine(
    pipeline: Pipeline, inputs: Mapping[str, Any], outputs: Mapping[str, str] | None
) -> str | None:
    """The quarantine of a stream run not given one: table ``sdk_quarantine`` when every
    output is a table of one SQL database; else the stream ``NAME:quarantine`` beside a Redis
    source; else ``<name>.quarantine.jsonl`` beside the first file output; else none (kept in
    the run's result: a notebook)."""
    databases = {_Database.of(str(u)) for u in (outputs or {}).values()}
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


class _Transaction:
    """Output tables, quarantine table and consumed ids of one database, in one transaction."""

    def __init__(
        self, database: _Database, tables: dict[str, str], schemas: dict[str, Any], source: str
    ) -> None:
        self.database, self.tables, self.source = database, tables, source
        self.layouts = {
            name: Layout(redact(database.table_uri(t)), model_kinds(schemas.get(name)))
            for name, t in tables.items()
        }
        self.created: set[str] = set()
        if database.kind == "sqlite":
            path = Path(urllib.parse.unquote(database.base[len("sqlite:///") :]))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.conn: Any = sqlite3.connect(path, isolation_level=None, timeout=30)
            except (OSError, sqlite3.Error) as exc:
                raise IOSchemeError(
                    f"cannot open {redact(database.base)}: {exc}; check the path"
                ) from None
            self.mark = "?"
        else:
            from sdk.io.postgres import _parse

            target = _parse(database.table_uri("x"), writing=True)
            self._proxy = target.engine().raw_connection()
            self.conn = self._proxy.driver_connection
            self.mark = "%s"
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {quote(CONSUMED_TABLE)} (source TEXT NOT NULL, "
            f"message_id TEXT NOT NULL, PRIMARY KEY (source, message_id))"
        )
        self._commit()

    def _execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> Any:
        if self.database.kind == "sqlite":
            if rows is None:
                return self.conn.execute(sql)
            return self.conn.executemany(sql, rows)
        with self.conn.cursor() as cursor:
            if rows is None:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else None
            cursor.executemany(sql, rows)
            return None

    def _commit(self) -> None:
        if self.database.kind == "postgres":
            self.conn.commit()

    def consumed(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` a committed micro-batch consumed already."""
        found: set[str] = set()
        if self.database.kind == "postgres":  # one array parameter: a plan that uses the key
            with self.conn.cursor() as cursor:
                cursor.execute(
                    f"SELECT message_id FROM {quote(CONSUMED_TABLE)} WHERE source = %s "
                    f"AND message_id = ANY(%s)",
                    [self.source, ids],
                )
                found.update(str(r[0]) for r in cursor.fetchall())
            self._commit()
            return found
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join([self.mark] * len(part))
            sql = (
                f"SELECT message_id FROM {quote(CONSUMED_TABLE)} WHERE source = {self.mark} "
                f"AND message_id IN ({marks})"
            )
            if self.database.kind == "sqlite":
                rows = self.conn.execute(sql, [self.source, *part]).fetchall()
            else:
                with self.conn.cursor() as cursor:
                    cursor.execute(sql, [self.source, *part])
                    rows = cursor.fetchall()
            found.update(str(r[0]) for r in rows)
        self._commit()
        return found

    def write(self, frames: dict[str, pd.DataFrame], ids: list[str]) -> None:
        """Insert every frame into its table and the ids into ``sdk_consumed``; commit."""
        types = _column_types(self.database.kind)
        try:
            if self.database.kind == "sqlite":
                self.conn.execute("BEGIN IMMEDIATE")
            for name, frame in frames.items():
                layout = self.layouts[name]
                aligned, _ = layout.align(frame)
                table = quote(self.tables[name])
                if name not in self.created and layout.names:
                    columns = ", ".join(
                        f"{quote(c)} {types[k]}"
                        for c, k in zip(layout.names, layout.final_kinds(), strict=True)
                    )
                    self._execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
                    self.created.add(name)
                if len(aligned):
                    values = [
                        _value(aligned.iloc[:, i], k, self.database.kind)
                        for i, k in enumerate(layout.final_kinds())
                    ]
                    marks = ", ".join([self.mark] * aligned.shape[1])
                    names = ", ".join(quote(c) for c in layout.names or [])
                    self._execute(
                        f"INSERT INTO {table} ({names}) VALUES ({marks})",
                        list(zip(*values, strict=True)),
                    )
            if ids:
                self._execute(
                    f"INSERT INTO {quote(CONSUMED_TABLE)} (source, message_id) VALUES "
                    f"({self.mark}, {self.mark})",
                    [(self.source, i) for i in ids],
                )
            if self.database.kind == "sqlite":
                self.conn.execute("COMMIT")
            else:
                self.conn.commit()
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.conn.rollback() if self.database.kind == "postgres" else self.conn.execute(
                    "ROLLBACK"
                )
            raise IOSchemeError(
                f"cannot write the micro-batch to {redact(self.database.base)}: "
                f"{type(exc).__name__}: {exc}; nothing of it was committed or acknowledged"
            ) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            (self._proxy if self.database.kind == "postgres" else self.conn).close()


def _column_types(dialect: str) -> dict[str, str]:
    """The SQL type of each column kind, as the batch writers of the dialect create them."""
    if dialect == "sqlite":
        from sdk.io.sql import _SQLITE_TYPES

        return _SQLITE_TYPES
    from sdk.io.postgres import _SQL_TYPES

    return _SQL_TYPES


def _value(series: pd.Series, kind: str, dialect: str) -> list[Any]:
    if dialect == "sqlite":
        from sdk.io.sql import _sqlite_values

        return _sqlite_values(series, kind)
    return python_values(series, kind)


class Sinks:
    """The destinations of one stream run and how a micro-batch is written to them.

    Attributes:
        keeps_quarantine: whether quarantine records are written to a destination (so the
            run need not keep them in memory).
    """

    def __init__(
        self,
        session: RunSession,
        source: StreamSource,
        appenders: dict[str, Appender],
        transaction: _Transaction | None,
    ) -> None:
        self.session = session
        self.source = source
        self.appenders = appenders
        self.transaction = transaction
        self.keeps_quarantine = session.request.quarantine is not None
        self.kept: dict[str, list[pd.DataFrame]] = {}

    @property
    def exactly_once(self) -> bool:
        """Whether micro-batches are committed with their message ids in one transaction."""
        return self.transaction is not None

    def consumed(self, ids: list[str]) -> set[str]:
        """Messages committed already (exactly-once sinks; none otherwise)."""
        return self.transaction.consumed(ids) if self.transaction is not None else set()

    def write(
        self, outputs: dict[str, pd.DataFrame], quarantine: pd.DataFrame | None, ids: list[str]
    ) -> None:
        """Write one micro-batch durably (before its messages are acknowledged): the requested
        ones of ``outputs`` (every produced dataset of the micro-batch), its quarantine
        records, and — exactly-once sinks — the ids it consumed."""
        request = self.session.request
        produced, outputs = outputs, {n: f for n, f in outputs.items() if n in request.outputs}
        records = quarantine if quarantine is not None else pd.DataFrame()
        if len(records):  # every column as text (values and rows are text already)
            records = pd.DataFrame(
                {c: _text(records[c].tolist()) for c in QUARANTINE_COLUMNS}, dtype=object
            )
        if self.transaction is not None:
            frames = dict(outputs)
            if request.quarantine is not None:
                frames["quarantine"] = records if len(records) else _empty_quarantine()
            self.transaction.write(frames, ids)
        else:
            for name, frame in outputs.items():
                self.appenders[name].append(frame)
            if request.quarantine is not None and len(records):
                self.appenders["quarantine"].append(records)
        if not request.outputs:  # a notebook: keep the outputs for the result
            for name, frame in produced.items():
                self.kept.setdefault(name, []).append(frame)

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


def _text(values: list[Any]) -> list[str | None]:
    """``values`` as text, missing ones (``None``, NaN) as ``None``."""
    return [None if v is None or v != v else str(v) for v in values]


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
        if _Database.of(uri) is not None:
            _table(uri)
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
    databases = {_Database.of(uri) for uri in destinations.values()}
    if request.outputs and len(databases) == 1 and None not in databases:
        (database,) = databases
        assert database is not None
        tables = {name: _table(uri) for name, uri in destinations.items()}
        key = _source_key(source)
        return Sinks(session, source, {}, _Transaction(database, tables, schemas, key))
    appenders: dict[str, Appender] = {}
    for name, uri in destinations.items():
        database = _Database.of(uri)
        if database is not None:  # a table of its own database: appended, at least once
            table = {name: _table(uri)}
            appenders[name] = _TableAppender(
                name, _Transaction(database, table, schemas, _source_key(source))
            )
        else:
            appenders[name] = open_appender(uri, schemas.get(name))
    return Sinks(session, source, appenders, None)


class _TableAppender:
    """A SQL table appended to micro-batch by micro-batch (committed per batch), when the
    run's destinations are not all tables of one database (at least once)."""

    def __init__(self, name: str, transaction: _Transaction) -> None:
        self.name, self.transaction = name, transaction

    def append(self, frame: pd.DataFrame) -> None:
        """Insert ``frame`` and commit."""
        self.transaction.write({self.name: frame}, [])

    def close(self) -> None:
        """Close the connection."""
        self.transaction.close()
