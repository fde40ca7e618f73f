"""Stream sinks in SQL: a micro-batch's rows, quarantine and consumed ids in one transaction.

Used by :mod:`sdk.runners.sinks`: one :class:`Transaction` for every destination when they
are all tables of one database (exactly once), or a :class:`TableAppender` per table otherwise
(at least once).
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.io import redact
from sdk.io._tables import Layout, model_kinds, python_values, quote

__all__ = ["CONSUMED_TABLE", "Database", "TableAppender", "Transaction", "table_of"]

CONSUMED_TABLE = "sdk_consumed"
"""The table of consumed message ids, beside exactly-once SQL outputs."""


@attrs.frozen
class Database:
    """A SQL database named by table URIs: ``sqlite:///file.db`` or ``postgresql://…``."""

    kind: str  # "sqlite" or "postgres"
    base: str  # the URI without its query

    @classmethod
    def of(cls, uri: str) -> Database | None:
        base = uri.split("?", 1)[0]
        if uri.startswith("sqlite://"):
            return cls("sqlite", base)
        if uri.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            return cls("postgres", base)
        return None

    def table_uri(self, table: str) -> str:
        return f"{self.base}?table={urllib.parse.quote(table)}"


def table_of(uri: str) -> str:
    params = dict(urllib.parse.parse_qsl(uri.partition("?")[2]))
    if not params.get("table"):
        raise IOSchemeError(f"{redact(uri)}: a stream writes tables; add ?table=NAME")
    return params["table"]


class Transaction:
    """Output tables, quarantine table and consumed ids of one database, in one transaction."""

    def __init__(
        self, database: Database, tables: dict[str, str], schemas: dict[str, Any], source: str
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


class TableAppender:
    """A SQL table appended to micro-batch by micro-batch (committed per batch), when the
    run's destinations are not all tables of one database (at least once)."""

    def __init__(self, name: str, transaction: Transaction) -> None:
        self.name, self.transaction = name, transaction

    def append(self, frame: pd.DataFrame) -> None:
        """Insert ``frame`` and commit."""
        self.transaction.write({self.name: frame}, [])

    def close(self) -> None:
        """Close the connection."""
        self.transaction.close()
