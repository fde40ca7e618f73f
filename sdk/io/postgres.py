"""Built-in PostgreSQL scheme, through SQLAlchemy 2 and psycopg 3 (the ``postgres`` extra).

URIs: ``postgresql://user[:password]@host:port/db?table=t`` (also ``postgresql+psycopg://`` and
``postgres://``); ``table`` may be ``schema.table``; ``?query=SELECT ...`` (URL-encoded) reads
the result of a query instead. Identifiers are quoted, so the table's case is kept as written.
Any other query parameter (``sslmode``, ``connect_timeout``, ...) goes to the driver.

Reads stream through a server-side cursor, in primary-key order where the table has one. A row's
source is ``<table>.<pk>=<value>`` (composite keys as in :mod:`sdk.io.sql`), ``<table>#<pos>``
for a table or view without a primary key, and ``query#<pos>`` for a query.

Parts (``sdk.read_parts``, read on workers) are ranges of a one-column primary key, ``key >= lo
AND key < hi`` in key order, planned by one statement that numbers the keys
(:mod:`sdk.io._keyranges`); the parts joined are the whole read, sources included. A query and a
table without a primary key or with a composite one are one part, read whole.

Writes stream each chunk with binary ``COPY`` into a staging table ``_sdk_stage_<table>_<hex>``
created from the frame's dtypes (int→BIGINT, float→DOUBLE PRECISION, bool→BOOLEAN,
datetime→TIMESTAMP or TIMESTAMPTZ, else TEXT; NaN and None → NULL). The whole write is one
transaction, whose commit drops the old table and renames the staging table: readers see the old
table or the new one, and a crash or a lost connection leaves neither a partial table nor a
staging table behind.

The core does not import SQLAlchemy or psycopg; this module imports them only when a
``postgresql://`` URI is used, and says how to install them when they are missing.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.hookspecs import hookimpl
from sdk.io import IOScheme, Loaded, Part, Writer, positioned, redact
from sdk.io._keyranges import KeyRange, foreign, range_condition, range_parts, settled
from sdk.io._tables import (
    Layout,
    frame_from_rows,
    keyed_sources,
    model_kinds,
    positional_sources,
    python_values,
    quote,
    stage_name,
)
from sdk.quarantine import Sources

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = ["PostgresScheme"]

_PREFIXES = ("postgresql://", "postgresql+psycopg://", "postgres://")
_SQL_TYPES = {
    "integer": "BIGINT",
    "float": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "date": "DATE",
    "decimal": "NUMERIC",
    "bytes": "BYTEA",
    "text": "TEXT",
}
_COPY_TYPES = {
    "integer": "int8",
    "float": "float8",
    "boolean": "bool",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "date": "date",
    "decimal": "numeric",
    "bytes": "bytea",
    "text": "text",
}


def _sqlalchemy() -> Any:
    try:
        import psycopg  # noqa: F401  (checked here so the message names the extra)
        import sqlalchemy
    except ImportError as exc:
        raise IOSchemeError(
            f"postgresql:// URIs need SQLAlchemy and psycopg ({exc.name} is not installed): "
            f"pip install 'pipeline-sdk[postgres]'"
        ) from None
    return sqlalchemy


@attrs.frozen
class _Target:
    """A parsed ``postgresql://`` URI: where to connect, and what to read or write."""

    uri: str
    url: Any  # sqlalchemy.engine.URL, without ``table`` and ``query``
    table: str | None
    query: str | None

    @property
    def safe(self) -> str:
        """The URI with its password hidden, for messages."""
        return _scrub(redact(self.uri), self.url.password)

    @property
    def schema(self) -> str | None:
        """The schema part of ``schema.table`` (``None``: the search path's first)."""
        return self.table.split(".", 1)[0] if self.table and "." in self.table else None

    @property
    def name(self) -> str:
        """The table's own name, without its schema."""
        return str(self.table).split(".", 1)[-1]

    def qualified(self, name: str | None = None) -> str:
        """The quoted, schema-qualified name of the table (or of ``name`` in its schema)."""
        own = quote(name or self.name)
        return f"{quote(self.schema)}.{own}" if self.schema else own

    def fail(self, doing: str, exc: BaseException, fix: str) -> IOSchemeError:
        """An error naming the (redacted) URI, the driver's message and the fix."""
        detail = getattr(exc, "orig", None) or exc
        message = " ".join(str(detail).split())
        return IOSchemeError(
            f"cannot {doing} {self.safe}: {_scrub(message, self.url.password)}; {fix}"
        )

    def engine(self) -> Any:
        """A SQLAlchemy engine without a pool (each read or writer holds one connection)."""
        sa = _sqlalchemy()
        options = dict(self.url.query)
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in options:
            connect_args["connect_timeout"] = 10
        if "application_name" not in options:
            connect_args["application_name"] = "pipeline-sdk"
        return sa.create_engine(
            self.url,
            poolclass=sa.pool.NullPool,
            pool_reset_on_return=None,  # writers roll back themselves; a lost one cannot
            connect_args=connect_args,
        )

    def connect(self) -> Any:
        """An open SQLAlchemy connection.

        Raises:
            IOSchemeError: the server cannot be reached or refuses the login.
        """
        try:
            return self.engine().connect()
        except _driver_errors() as exc:
            raise self.fail(
                "connect to",
                exc,
                "check the host, port, database, user and password, and that the server runs",
            ) from None


def _scrub(text: str, password: str | None) -> str:
    if password:
        from urllib.parse import quote as url_quote

        for form in {password, url_quote(password, safe="")}:
            text = text.replace(form, "***")
    return text


def _parse(uri: str, *, writing: bool = False) -> _Target:
    sa = _sqlalchemy()
    try:
        url = sa.engine.make_url(uri)
    except sa.exc.ArgumentError:
        raise IOSchemeError(
            f"{redact(uri)} is not a PostgreSQL URI; write "
            f"postgresql://user[:password]@host:port/database?table=name"
        ) from None
    table = url.query.get("table") or None
    query = url.query.get("query") or None
    target = _Target(
        uri,
        url.set(drivername="postgresql+psycopg").difference_update_query(["table", "query"]),
        table if isinstance(table, str) else None,
        query if isinstance(query, str) else None,
    )
    if writing and (target.table is None or target.query is not None):
        raise IOSchemeError(f"{target.safe}: cannot write without ?table=name (and no ?query=)")
    if (target.table is None) == (target.query is None):
        raise IOSchemeError(
            f"{target.safe}: give either ?table=name (or schema.name) or ?query=SELECT... "
            f"(URL-encoded)"
        )
    return target


def _primary_key(target: _Target, conn: Any) -> list[str]:
    """The table's primary-key columns, in key order.

    Raises:
        IOSchemeError: the table does not exist.
    """
    sa = _sqlalchemy()
    inspector = sa.inspect(conn)
    if not inspector.has_table(target.name, schema=target.schema):
        where = f"schema {target.schema!r}" if target.schema else "the search path"
        raise IOSchemeError(
            f"input {target.safe}: no table {target.table!r} in {where} of database "
            f"{target.url.database!r}; fix ?table= (schema.table for another schema) or write "
            f"the table first"
        )
    found = inspector.get_pk_constraint(target.name, schema=target.schema)
    return list(found.get("constrained_columns") or [])


class PostgresWriter:
    """One transaction: chunks are COPYed into a staging table, renamed onto the target on commit.

    Nothing is visible to other sessions before commit; a lost connection rolls everything
    back, staging table included.
    """

    def __init__(self, target: _Target, declared: dict[str, str]) -> None:
        self._target = target
        self._stage = stage_name(target.name)
        self._layout = Layout(target.safe, declared)
        self._kinds: list[str] | None = None
        self._closed = False
        try:
            self._proxy = target.engine().raw_connection()
        except _driver_errors() as exc:
            raise target.fail(
                "connect to",
                exc,
                "check the host, port, database, user and password, and that the server runs",
            ) from None
        self._conn: Any = self._proxy.driver_connection

    def _create(self) -> None:
        self._kinds = self._layout.final_kinds()
        columns = ", ".join(
            f"{quote(name)} {_SQL_TYPES[kind]}"
            for name, kind in zip(self._layout.names or [], self._kinds, strict=True)
        )
        with self._conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {self._target.qualified(self._stage)} ({columns})")

    def _values(self, frame: pd.DataFrame, kinds: list[str]) -> list[list[Any]]:
        """Each column's values converted to the staging table's column type."""
        columns = []
        for i, (have, want) in enumerate(zip(kinds, self._kinds or [], strict=True)):
            series = frame.iloc[:, i]
            if have not in (want, "empty") and not _convertible(series, have, want):
                raise IOSchemeError(
                    f"cannot write {self._target.safe}: column {frame.columns[i]!r} is "
                    f"{_SQL_TYPES[want]} (fixed by the first chunk) but this chunk holds "
                    f"{have} values; give the column one dtype in every chunk"
                )
            columns.append(python_values(series, want))
        return columns

    def append(self, frame: pd.DataFrame) -> None:
        """COPY ``frame`` into the staging table."""
        if self._closed:
            raise IOSchemeError(f"cannot write {self._target.safe}: the writer is already closed")
        try:
            frame, kinds = self._layout.align(frame)
            if self._kinds is None and len(frame):
                self._create()
            if len(frame):
                columns = self._values(frame, kinds)
                names = ", ".join(quote(n) for n in self._layout.names or [])
                stage = self._target.qualified(self._stage)
                with (
                    self._conn.cursor() as cursor,
                    cursor.copy(f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
                ):
                    copy.set_types([_COPY_TYPES[k] for k in self._kinds or []])
                    for row in zip(*columns, strict=True):
                        copy.write_row(row)
        except Exception as exc:
            self.abort()
            if isinstance(exc, IOSchemeError):
                raise
            raise self._target.fail(
                "write", exc, "nothing was written; the previous table, if any, is unchanged"
            ) from None

    def commit(self) -> None:
        """Drop the old table and rename the staging table onto it; commit the transaction."""
        if self._closed:
            raise IOSchemeError(
                f"cannot commit {self._target.safe}: the writer is already closed (an earlier "
                f"write failed, or it was committed or aborted); nothing more was written"
            )
        try:
            if self._kinds is None:
                self._create()
            with self._conn.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self._target.qualified()}")
                cursor.execute(
                    f"ALTER TABLE {self._target.qualified(self._stage)} "
                    f"RENAME TO {quote(self._target.name)}"
                )
            self._conn.commit()
        except Exception as exc:
            self.abort()
            raise self._target.fail(
                "commit", exc, "nothing was written; the previous table, if any, is unchanged"
            ) from None
        self._closed = True
        self._proxy.close()

    def abort(self) -> None:
        """Roll the transaction back: the staging table vanishes, the target is unchanged."""
        if self._closed:
            return
        self._closed = True
        # On a lost connection the server has rolled the transaction back already.
        with contextlib.suppress(Exception):
            self._conn.rollback()
        with contextlib.suppress(Exception):
            self._proxy.close()


def _convertible(series: pd.Series, have: str, want: str) -> bool:
    """Whether a chunk's ``have`` values fit a ``want`` column without losing anything."""
    if want == "text" or (want == "float" and have == "integer"):
        return True
    if want == "integer" and have == "float":  # an int column upcast by a missing value
        values = series.dropna()
        return bool((values == values.round()).all())
    return False


def _loaded(target: _Target, keys: list[str], frame: pd.DataFrame, start: int) -> Loaded:
    """Rows read from position ``start``, with their sources: by key, or by position."""
    sources: Sources
    if keys:
        arrays = [frame[k].to_numpy(dtype=object) for k in keys]
        sources = keyed_sources(str(target.table), keys, arrays)
    else:
        sources = positional_sources(target.table or "query", start)
    return Loaded(positioned(frame, start), sources)


def _literal_percent(name: str) -> str:
    """A quoted identifier for a statement with parameters (where ``%`` starts a placeholder)."""
    return name.replace("%", "%%")


def _key_type(target: _Target, key: str, cursor: Any) -> str:
    """The SQL type of the table's column ``key`` (``integer``, ``character varying(20)``...)."""
    cursor.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = %s",
        (target.qualified(), key),
    )
    return str(cursor.fetchone()[0])


class PostgresScheme:
    """``postgresql://…?table=t``: tables in PostgreSQL, read streamed, written with COPY."""

    name = "postgresql"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` is a ``postgresql://`` (or ``+psycopg``, or ``postgres://``) URI."""
        return uri.lower().startswith(_PREFIXES)

    def _scan(self, uri: str, chunk_rows: int | None) -> Iterator[Loaded]:
        target = _parse(uri)
        conn = target.connect()
        try:
            if target.table is not None:
                keys = _primary_key(target, conn)
                order = ", ".join(quote(k) for k in keys)
                sql = f"SELECT * FROM {target.qualified()}" + (f" ORDER BY {order}" if keys else "")
            else:
                keys, sql = [], str(target.query).strip().rstrip(";")
            raw = conn.connection.driver_connection
            with raw.cursor(name=f"sdk_read_{secrets.token_hex(4)}") as cursor:
                cursor.execute(sql)
                columns = [d.name for d in cursor.description or ()]
                start = 0
                while True:
                    rows = cursor.fetchmany(chunk_rows) if chunk_rows else cursor.fetchall()
                    if not rows and start > 0:
                        break
                    yield _loaded(target, keys, frame_from_rows(rows, columns), start)
                    start += len(rows)
                    if chunk_rows is None or len(rows) < chunk_rows:
                        break
        except _driver_errors() as exc:
            raise target.fail("read", exc, "check the table name or the query") from None
        finally:
            with contextlib.suppress(Exception):  # a lost connection is already closed
                conn.close()

    def read(self, uri: str) -> Loaded:
        """Read the whole table (or query result) with its sources."""
        (loaded,) = self._scan(uri, None)
        return loaded

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Read ``chunk_rows`` rows at a time through a server-side cursor."""
        yield from self._scan(uri, chunk_rows)

    def read_parts(self, uri: str, part_rows: int) -> list[Part]:
        """Parts of ``part_rows`` rows by ranges of the table's primary key (see
        :mod:`sdk.io._keyranges`), planned with one statement that numbers the keys (an
        index-only scan of the key's index when the table is vacuumed); one part, read whole,
        for a query or a table whose primary key is not one column.

        A query is not cut: its rows have no key to range over (sources are positions), and
        cutting it by ``LIMIT``/``OFFSET`` would run it once per part, each skipping the rows
        of the parts before, with no guarantee that every run orders its rows alike. A table
        without a primary key has no order a part could rely on (its whole read has no
        ``ORDER BY``, and its sources are positions in that read).

        Raises:
            ValueError: ``part_rows`` is not positive.
            IOSchemeError: the server cannot be reached, or the table does not exist.
        """
        if part_rows < 1:
            raise ValueError(f"part_rows must be at least 1, not {part_rows}")
        target = _parse(uri)
        if target.table is None:
            return [Part(uri, 0, 0, None)]
        conn = target.connect()
        try:
            keys = _primary_key(target, conn)
            if len(keys) != 1:
                return [Part(uri, 0, 0, None)]
            key, table = _literal_percent(quote(keys[0])), _literal_percent(target.qualified())
            with conn.connection.driver_connection.cursor() as cursor:
                cast = _key_type(target, keys[0], cursor)
                cursor.execute(
                    f"SELECT k, n FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) - 1 "
                    f"AS n FROM {table}) AS numbered WHERE n %% %s = 0 "
                    f"UNION ALL SELECT NULL, count(*) FROM {table}",
                    (part_rows,),
                )
                found = cursor.fetchall()
                cursor.execute(f"SELECT * FROM {target.qualified()} LIMIT 0")
                columns = [d.name for d in cursor.description or ()]
                firsts = ", ".join(
                    f"(SELECT {quote(c)} FROM {target.qualified()} WHERE {quote(c)} IS NOT NULL "
                    f"LIMIT 1)"
                    for c in columns
                )
                samples: Any = ()
                if columns:
                    cursor.execute(f"SELECT {firsts}")
                    samples = cursor.fetchone()
        except _driver_errors() as exc:
            raise target.fail("read", exc, "check the table name") from None
        finally:
            with contextlib.suppress(Exception):  # a lost connection is already closed
                conn.close()
        return range_parts(uri, str(target.table), keys[0], found, columns, samples, cast)

    def read_part(self, part: Part) -> Loaded:
        """The rows of a part of :meth:`read_parts`: ``key >= lo AND key < hi`` in key order,
        with the sources of a whole read.

        Raises:
            IOSchemeError: the table changed since the part was planned, or cannot be read.
        """
        where = part.locator
        target = _parse(part.uri)
        if not isinstance(where, KeyRange):
            raise foreign(target.safe, part, "PostgreSQL")
        key, table = _literal_percent(quote(where.key)), _literal_percent(target.qualified())
        condition, params = range_condition(
            key, where, f"CAST(%s AS {_literal_percent(where.cast)})"
        )
        conn = target.connect()
        try:
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute(f"SELECT * FROM {table}{condition} ORDER BY {key}", params)
                columns = [d.name for d in cursor.description or ()]
                frame = frame_from_rows(cursor.fetchall(), columns)
        except _driver_errors() as exc:
            raise target.fail("read", exc, "check the table; if it changed, run again") from None
        finally:
            with contextlib.suppress(Exception):  # a lost connection is already closed
                conn.close()
        loaded = _loaded(target, [where.key], frame, part.offset)
        return Loaded(settled(target.safe, part, where, loaded.frame), loaded.sources)

    def exists(self, uri: str) -> bool:
        """Whether the table exists (for a query: whether the database can be reached)."""
        target = _parse(uri)
        conn = target.connect()
        try:
            if target.table is None:
                return True
            sa = _sqlalchemy()
            return bool(sa.inspect(conn).has_table(target.name, schema=target.schema))
        except _driver_errors() as exc:
            raise target.fail("read", exc, "check the table name") from None
        finally:
            conn.close()

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic chunked writer (one transaction); ``schema`` types valueless columns."""
        return PostgresWriter(_parse(uri, writing=True), model_kinds(schema))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` as the table, atomically replacing any previous one."""
        writer = self.open_writer(uri, None)
        writer.append(frame)
        writer.commit()


def _driver_errors() -> tuple[type[Exception], ...]:
    """The exceptions SQLAlchemy and psycopg raise for database and connection failures."""
    import psycopg

    return (_sqlalchemy().exc.DBAPIError, psycopg.Error)


@hookimpl
def sdk_register_io_schemes() -> list[IOScheme]:
    """The built-in PostgreSQL scheme (its drivers are imported only when it is used)."""
    return [PostgresScheme()]
