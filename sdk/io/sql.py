"""Built-in SQLite scheme (standard library ``sqlite3``).

URIs: ``sqlite:///relative/path.db?table=t`` or ``sqlite:////absolute/path.db?table=t`` (three
slashes, then the path, as in SQLAlchemy); ``?query=SELECT ...`` (URL-encoded) reads the result
of a query instead of a table.

Values are read as stored, typed: an integer column with NULLs stays Python ints and ``None``
(object dtype) rather than becoming floats; booleans come back as the 0/1 SQLite stores. A row's
source is:

* ``<table>.<pk>=<value>`` for a one-column primary key, e.g. ``tx.id=42``;
* ``<table>.(<a>,<b>)=(<value>,<value>)`` for a composite key, text values quoted as SQL
  literals, e.g. ``tx.(day,seq)=('2024-05-01',7)``;
* ``<table>.rowid=<rowid>`` for a table without a declared primary key;
* ``<table>#<position>`` for a view, ``query#<position>`` for a query (0-based).

Chunks are read one short statement each, paged by key (rowid order; primary-key order for a
``WITHOUT ROWID`` table) or, for a view or a query, by ``LIMIT``/``OFFSET``. No read lock is held
between chunks, so a writer of the same database file (an output beside its input) can commit
while a chunked read is under way; the price is that chunks are not one snapshot.

Parts (``sdk.read_parts``, read on workers) are rowid ranges, ``rowid >= lo AND rowid < hi``,
planned by one statement that numbers the rowids (:mod:`sdk.io._keyranges`): a whole read is in
rowid order and its sources are keys, so the parts joined are the whole read, sources included.
A query, a view, a ``WITHOUT ROWID`` table and a table whose rowid names are all columns are one
part, read whole.

Writes are atomic: chunks go into a staging table ``_sdk_stage_<table>_<8 hex>``, and commit
drops the old table and renames the staging table in one transaction. Each chunk is its own short
transaction, so writers of one database file do not lock each other out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.hookspecs import hookimpl
from sdk.io import IOScheme, Loaded, Part, Writer, positioned
from sdk.io._keyranges import KeyRange, changed, foreign, range_condition, range_parts, settled
from sdk.io._tables import (
    Layout,
    frame_from_rows,
    keyed_sources,
    model_kinds,
    positional_sources,
    python_values,
    query_params,
    quote,
    stage_name,
)
from sdk.quarantine import Sources

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = ["SqliteScheme"]

_SQLITE_TYPES = {
    "integer": "INTEGER",
    "float": "REAL",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMP",
    "date": "DATE",
    "decimal": "TEXT",
    "bytes": "BLOB",
    "text": "TEXT",
}
_SQLITE_TEXT_KINDS = ("timestamp", "timestamptz", "date", "decimal")
_USAGE = "sqlite:///relative/path.db?table=name or sqlite:////absolute/path.db?table=name"


@attrs.frozen
class _Target:
    path: Path
    table: str | None
    query: str | None


def _parse(uri: str, *, writing: bool = False) -> _Target:
    rest = uri[len("sqlite://") :]
    path_text, _, query_text = rest.partition("?")
    if not path_text.startswith("/") or len(path_text) < 2:
        raise IOSchemeError(f"{uri!r} is not a SQLite URI; write {_USAGE}")
    params = query_params(uri, query_text)
    unknown = sorted(set(params) - {"table", "query"})
    if unknown:
        raise IOSchemeError(f"{uri}: unknown parameter(s) {unknown}; use ?table=name or ?query=")
    table, query = params.get("table") or None, params.get("query") or None
    if writing and (table is None or query is not None):
        raise IOSchemeError(f"{uri}: cannot write without ?table=name (and no ?query=)")
    if (table is None) == (query is None):
        raise IOSchemeError(f"{uri}: give either ?table=name or ?query=SELECT... (URL-encoded)")
    return _Target(Path(unquote(path_text[1:])), table, query)


def _sqlite_values(series: pd.Series, kind: str) -> list[Any]:
    values = python_values(series, kind)
    if kind in _SQLITE_TEXT_KINDS:  # stored as ISO text (sqlite3's own adapters are deprecated)
        return [None if v is None else _iso(v) for v in values]
    return values


def _iso(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    try:
        return str(value.isoformat(sep=" "))
    except TypeError:  # a date: isoformat takes no separator
        return str(value.isoformat())


class SqliteWriter:
    """Chunks appended to a staging table; commit swaps it for the target in one transaction.

    Every chunk is its own short transaction, so other writers of the same database file (the
    quarantine beside an output) are never locked out for long.
    """

    def __init__(self, uri: str, target: _Target, declared: dict[str, str]) -> None:
        self._uri, self._table = uri, str(target.table)
        self._stage = stage_name(self._table, max_bytes=1_000)
        self._layout = Layout(uri, declared)
        self._created = False
        self._closed = False
        try:
            target.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                target.path, isolation_level=None, timeout=30, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise IOSchemeError(f"cannot open {uri}: {exc}; check the path") from exc

    def _create(self) -> None:
        columns = ", ".join(
            f"{quote(name)} {_SQLITE_TYPES[kind]}"
            for name, kind in zip(self._layout.names or [], self._layout.final_kinds(), strict=True)
        )
        if not columns:
            raise IOSchemeError(
                f"cannot write {self._uri}: the frame has no columns, and a SQLite table needs "
                f"at least one"
            )
        self._conn.execute(f"CREATE TABLE {quote(self._stage)} ({columns})")
        self._created = True

    def append(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` to the staging table."""
        if self._closed:
            raise IOSchemeError(f"cannot write {self._uri}: the writer is already closed")
        try:
            frame, kinds = self._layout.align(frame)
            if not self._created and len(frame):
                self._create()
            if len(frame):
                columns = [_sqlite_values(frame.iloc[:, i], kind) for i, kind in enumerate(kinds)]
                marks = ", ".join("?" * len(columns))
                self._conn.execute("BEGIN")
                self._conn.executemany(
                    f"INSERT INTO {quote(self._stage)} VALUES ({marks})", zip(*columns, strict=True)
                )
                self._conn.execute("COMMIT")
        except Exception as exc:
            self.abort()
            if isinstance(exc, IOSchemeError):
                raise
            raise IOSchemeError(
                f"cannot write {self._uri}: {type(exc).__name__}: {exc}; nothing was written"
            ) from exc

    def commit(self) -> None:
        """Replace the target by the staging table, in one transaction."""
        if self._closed:
            raise IOSchemeError(f"cannot commit {self._uri}: the writer is already closed")
        try:
            if not self._created:
                self._create()
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(f"DROP TABLE IF EXISTS {quote(self._table)}")
            self._conn.execute(f"ALTER TABLE {quote(self._stage)} RENAME TO {quote(self._table)}")
            self._conn.execute("COMMIT")
        except Exception as exc:
            self.abort()
            if isinstance(exc, IOSchemeError):
                raise
            raise IOSchemeError(
                f"cannot commit {self._uri}: {exc}; the previous table, if any, is unchanged"
            ) from exc
        self._closed = True
        self._conn.close()

    def abort(self) -> None:
        """Drop the staging table; the target is left as it was."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._conn.execute(f"DROP TABLE IF EXISTS {quote(self._stage)}")
        except sqlite3.Error:
            pass  # the database is unusable; the stage (if any) is only an invisible leftover
        finally:
            self._conn.close()


@attrs.frozen
class _Plan:
    """How a SQLite table or query is read in chunks.

    ``page`` are the columns to page by (``WHERE (page) > (last) ORDER BY page LIMIT n``); without
    them, chunks are paged by ``LIMIT``/``OFFSET``. ``has_rowid``: the rowid is selected as the
    first column (dropped from the frame). ``keys`` name the source key; ``label`` is the source
    prefix of positional sources.
    """

    select: str
    page: list[str] = attrs.Factory(list)
    has_rowid: bool = False
    keys: list[str] = attrs.Factory(list)
    label: str = "query"

    def statement(self, limit: int, start: int, last: tuple[Any, ...] | None) -> tuple[str, list]:
        """The SQL and parameters of the chunk after ``last`` (or at ``start``)."""
        if not self.page:
            return f"{self.select} LIMIT ? OFFSET ?", [limit, start]
        order = ", ".join(
            quote(k) if k not in ("rowid", "_rowid_", "oid") else k for k in self.page
        )
        if last is None:
            return f"{self.select} ORDER BY {order} LIMIT ?", [limit]
        marks = ", ".join("?" * len(last))
        after = f"({order}) > ({marks})" if len(last) > 1 else f"{order} > ?"
        return f"{self.select} WHERE {after} ORDER BY {order} LIMIT ?", [*last, limit]


def _loaded(plan: _Plan, table: str, frame: pd.DataFrame, start: int) -> Loaded:
    """Rows read by ``plan`` (the rowid first, if it selects it) from position ``start``, with
    their sources: by key, or positions from ``start``."""
    rowids = frame.iloc[:, 0].to_numpy(dtype=object) if plan.has_rowid else None
    if plan.has_rowid:
        frame = frame.iloc[:, 1:]
    sources: Sources
    if plan.keys == plan.page[:1] and rowids is not None:
        sources = keyed_sources(table, plan.keys, [rowids])
    elif plan.keys:
        sources = keyed_sources(
            table, plan.keys, [frame[k].to_numpy(dtype=object) for k in plan.keys]
        )
    else:
        sources = positional_sources(plan.label, start)
    return Loaded(positioned(frame, start), sources)


class SqliteScheme:
    """``sqlite:///path.db?table=t``: typed tables in an embedded database file."""

    name = "sqlite"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` starts with ``sqlite://``."""
        return uri.lower().startswith("sqlite://")

    def _connect(self, uri: str, target: _Target) -> sqlite3.Connection:
        if not target.path.is_file():
            raise IOSchemeError(
                f"input {uri!r}: database file {str(target.path)!r} does not exist; check the "
                f"path (relative to {Path.cwd()}; write {_USAGE})"
            )
        try:
            return sqlite3.connect(target.path.absolute().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise IOSchemeError(f"cannot open {uri}: {exc}") from exc

    def _plan(self, uri: str, target: _Target, conn: sqlite3.Connection) -> _Plan:
        """How to page through the table or query, and where each row's source comes from.

        Raises:
            IOSchemeError: the table does not exist (the message lists those that do).
        """
        if target.query is not None:
            query = target.query.strip().rstrip(";")
            return _Plan(f"SELECT * FROM ({query})", label="query")
        table = str(target.table)
        found = conn.execute(
            "SELECT type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name = ? COLLATE NOCASE",
            (table,),
        ).fetchone()
        if found is None:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                    "AND name NOT LIKE '\\_sdk\\_stage\\_%' ESCAPE '\\' ORDER BY name"
                )
            ]
            raise IOSchemeError(
                f"input {uri!r}: no table {table!r} in {str(target.path)!r} (tables there: "
                f"{', '.join(names) or 'none'}); fix ?table= or write the table first"
            )
        if found[0] == "view":
            return _Plan(f"SELECT * FROM {quote(table)}", label=table)
        info = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
        keys = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0]
        columns = {row[1].lower() for row in info}
        rowid = next((a for a in ("rowid", "_rowid_", "oid") if a not in columns), None)
        without_rowid = bool(keys) and "WITHOUT ROWID" in " ".join(str(found[1]).upper().split())
        if rowid is not None and not without_rowid:
            select = f"SELECT {rowid} AS {rowid}, * FROM {quote(table)}"
            return _Plan(select, page=[rowid], has_rowid=True, keys=keys or [rowid])
        if keys:  # WITHOUT ROWID: the key is unique and NOT NULL
            return _Plan(f"SELECT * FROM {quote(table)}", page=keys, keys=keys)
        return _Plan(f"SELECT * FROM {quote(table)}", label=table)  # rowid names all taken

    def _scan(self, uri: str, chunk_rows: int | None) -> Iterator[Loaded]:
        target = _parse(uri)
        conn = self._connect(uri, target)
        try:
            plan = self._plan(uri, target, conn)
            start, last = 0, None
            while True:
                cursor = conn.execute(*plan.statement(chunk_rows or -1, start, last))
                columns = [d[0] for d in cursor.description or ()]
                rows = cursor.fetchall()  # the statement ends here: no lock across chunks
                frame = frame_from_rows(rows, columns)
                if rows and plan.page:
                    indexes = [columns.index(k) for k in plan.page]
                    last = tuple(rows[-1][i] for i in indexes)
                if rows or start == 0:
                    yield _loaded(plan, str(target.table), frame, start)
                start += len(frame)
                if chunk_rows is None or len(rows) < chunk_rows:
                    break
        except sqlite3.Error as exc:
            raise IOSchemeError(f"cannot read {uri}: {exc}; fix the query or the table") from exc
        finally:
            conn.close()

    def read(self, uri: str) -> Loaded:
        """Read the whole table (or query result) with its sources."""
        (loaded,) = self._scan(uri, None)
        return loaded

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Read ``chunk_rows`` rows at a time through one cursor."""
        yield from self._scan(uri, chunk_rows)

    def read_parts(self, uri: str, part_rows: int) -> list[Part]:
        """Parts of ``part_rows`` rows by rowid ranges (see :mod:`sdk.io._keyranges`), planned
        with one statement that numbers the rowids; one part, read whole, for a query, a view,
        a ``WITHOUT ROWID`` table or one whose rowid names are all taken by columns.

        A query is not cut: its rows have no key to range over (sources are positions), and
        cutting it by ``LIMIT``/``OFFSET`` would run it once per part, each skipping the rows
        of the parts before, with no guarantee that every run orders its rows alike.

        Raises:
            ValueError: ``part_rows`` is not positive.
            IOSchemeError: the database or the table does not exist.
        """
        if part_rows < 1:
            raise ValueError(f"part_rows must be at least 1, not {part_rows}")
        target = _parse(uri)
        if target.table is None:
            return [Part(uri, 0, 0, None)]
        conn = self._connect(uri, target)
        try:
            plan = self._plan(uri, target, conn)
            if not plan.has_rowid:
                return [Part(uri, 0, 0, None)]
            key, table = plan.page[0], quote(str(target.table))
            found = conn.execute(
                f"SELECT k, n FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) - 1 "
                f"AS n FROM {table}) WHERE n % ? = 0 UNION ALL SELECT NULL, count(*) FROM {table}",
                (part_rows,),
            ).fetchall()
            cursor = conn.execute(f"SELECT * FROM {table} LIMIT 0")
            columns = [d[0] for d in cursor.description or ()]
            firsts = ", ".join(
                f"(SELECT {quote(c)} FROM {table} WHERE {quote(c)} IS NOT NULL LIMIT 1)"
                for c in columns
            )
            samples = conn.execute(f"SELECT {firsts}").fetchone() if columns else ()
        except sqlite3.Error as exc:
            raise IOSchemeError(f"cannot read {uri}: {exc}; check the table") from exc
        finally:
            conn.close()
        return range_parts(uri, str(target.table), key, found, columns, samples)

    def read_part(self, part: Part) -> Loaded:
        """The rows of a part of :meth:`read_parts`: ``rowid >= lo AND rowid < hi`` in rowid
        order, with the sources of a whole read.

        Raises:
            IOSchemeError: the table changed since the part was planned, or cannot be read.
        """
        uri, where = part.uri, part.locator
        if not isinstance(where, KeyRange):
            raise foreign(uri, part, "SQLite")
        target = _parse(uri)
        conn = self._connect(uri, target)
        try:
            plan = self._plan(uri, target, conn)
            if not plan.has_rowid or plan.page[0] != where.key:
                raise changed(uri, where, "its rowid is no longer the key")
            condition, params = range_condition(where.key, where, "?")
            cursor = conn.execute(f"{plan.select}{condition} ORDER BY {where.key}", params)
            columns = [d[0] for d in cursor.description or ()]
            frame = frame_from_rows(cursor.fetchall(), columns)
        except sqlite3.Error as exc:
            raise IOSchemeError(f"cannot read {uri}: {exc}; check the table") from exc
        finally:
            conn.close()
        loaded = _loaded(plan, str(target.table), frame, part.offset)
        frame = settled(uri, part, where, loaded.frame)
        return Loaded(frame, loaded.sources)

    def exists(self, uri: str) -> bool:
        """Whether the table exists (for a query: whether the database file exists)."""
        target = _parse(uri)
        if not target.path.is_file():
            return False
        if target.table is None:
            return True
        conn = self._connect(uri, target)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name = ? COLLATE NOCASE",
                (target.table,),
            ).fetchone()
        except sqlite3.Error as exc:
            raise IOSchemeError(f"cannot read {uri}: {exc}") from exc
        finally:
            conn.close()
        return found is not None

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic chunked writer (a staging table); ``schema`` types valueless columns."""
        return SqliteWriter(uri, _parse(uri, writing=True), model_kinds(schema))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` as the table, atomically replacing any previous one."""
        writer = self.open_writer(uri, None)
        writer.append(frame)
        writer.commit()


@hookimpl
def sdk_register_io_schemes() -> list[IOScheme]:
    """The built-in SQLite scheme."""
    return [SqliteScheme()]
