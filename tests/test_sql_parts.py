"""SQL tables read in parts by key ranges (``sdk.read_parts`` / ``sdk.read_part``): joined in
order, the parts are the whole read — same rows, order, dtypes and source of every row — and a
part refuses a table that changed since it was planned.

PostgreSQL tests run against the real server named by ``SDK_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); they skip when it is unreachable, and fail then
under ``SDK_REQUIRE_SERVICES=1``. Each test uses tables of its own, dropped at the end.
"""

from __future__ import annotations

import os
import pickle
import secrets
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk.io import Loaded, Part
from sdk.io._keyranges import KeyRange
from sdk.io.sql import SqliteScheme
from sdk.plugins import resolve_scheme
from sdk.quarantine import Sources
from sdk.testing import assert_equivalent

PG_URL = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CSV = ROOT / "examples" / "fraud" / "transactions.csv"


def rendered(loaded: Loaded) -> list[str]:
    """The source of every row of ``loaded``."""
    return loaded.sources.render(np.arange(len(loaded.frame)))


def assert_parts_are_whole(uri: str, part_rows: int) -> list[Part]:
    """Plan ``uri`` in parts, read each (pickled first, as a worker gets it) and check that
    joined they are the whole read: frame, dtypes, index and sources. Return the parts."""
    whole = resolve_scheme(uri).read(uri)
    parts = sdk.read_parts(uri, part_rows)
    loaded = [sdk.read_part(pickle.loads(pickle.dumps(p))) for p in parts]
    offset = 0
    for index, (part, one) in enumerate(zip(parts, loaded, strict=True)):
        assert (part.index, part.offset, part.uri) == (index, offset, uri)
        assert part.rows in (None, len(one.frame))
        assert list(one.frame.index) == list(range(offset, offset + len(one.frame)))
        offset += len(one.frame)
    frames = [one.frame for one in loaded if len(one.frame)] or [loaded[0].frame]
    pd.testing.assert_frame_equal(pd.concat(frames), whole.frame)
    assert [s for one in loaded for s in rendered(one)] == rendered(whole)
    return parts


# --------------------------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------------------------


def sqlite_table(path: Path, ddl: str, rows: list[tuple[Any, ...]], table: str = "t") -> str:
    """Create ``table`` in the database ``path`` with ``ddl`` and ``rows``; return its URI."""
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table} ({ddl})")
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    conn.close()
    return f"sqlite:///{path}?table={table}"


def mixed_rows(keys: list[int]) -> list[tuple[Any, ...]]:
    """Rows keyed by ``keys``: a float with a run of NULLs, sparse text, an int with a NULL."""
    return [
        (k, None if i < 4 else i / 2, "x" if i % 5 == 0 else None, None if i == 6 else i)
        for i, k in enumerate(keys)
    ]


MIXED = "id INTEGER PRIMARY KEY, amount REAL, note TEXT, n INTEGER"


@pytest.mark.parametrize("part_rows", [1, 4, 1000])
def test_sqlite_parts_are_the_whole_read_across_key_gaps(tmp_path: Path, part_rows: int) -> None:
    """Rows deleted from the middle leave gaps in the key; parts still have ``part_rows`` rows,
    and a part whose column is all NULL gets the whole read's dtype."""
    uri = sqlite_table(tmp_path / "t.db", MIXED, mixed_rows([k * 3 for k in range(20)]))
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("DELETE FROM t WHERE id IN (9, 12, 15, 57)")
    conn.close()
    parts = assert_parts_are_whole(uri, part_rows)
    assert len(parts) == -(-16 // part_rows)
    assert all(isinstance(p.locator, KeyRange) for p in parts)
    assert [p.rows for p in parts[:-1]] == [part_rows] * (len(parts) - 1)


@pytest.mark.parametrize(
    ("ddl", "prefix"),
    [
        ("a INTEGER, b TEXT, c TEXT", "t.rowid="),  # no declared key: rowid sources
        ("a INTEGER, b TEXT, c TEXT, PRIMARY KEY (b, a)", "t.(b,a)="),  # composite key
        ("rowid INTEGER, b TEXT, c TEXT", "t._rowid_="),  # `rowid` taken by a column
    ],
)
def test_sqlite_tables_are_cut_by_rowid_with_their_own_sources(
    tmp_path: Path, ddl: str, prefix: str
) -> None:
    """Every rowid table is cut by rowid; sources name the key a whole read names."""
    rows = [(i, f"v{i}", None if i % 3 else "c") for i in range(10)]
    uri = sqlite_table(tmp_path / "t.db", ddl, rows)
    parts = assert_parts_are_whole(uri, 3)
    assert len(parts) == 4
    assert rendered(sdk.read_part(parts[1]))[0].startswith(prefix)


def test_sqlite_empty_table_is_one_empty_part(tmp_path: Path) -> None:
    uri = sqlite_table(tmp_path / "t.db", MIXED, [])
    (part,) = assert_parts_are_whole(uri, 5)
    assert part.rows == 0 and list(sdk.read_part(part).frame.columns) == [
        "id",
        "amount",
        "note",
        "n",
    ]


def test_sqlite_part_rows_larger_than_the_table_is_one_part(tmp_path: Path) -> None:
    uri = sqlite_table(tmp_path / "t.db", MIXED, mixed_rows(list(range(7))))
    (part,) = assert_parts_are_whole(uri, 8)
    assert (part.offset, part.rows) == (0, 7)
    assert isinstance(part.locator, KeyRange) and part.locator.lo is part.locator.hi is None


@pytest.mark.parametrize(
    "change",
    [
        "INSERT INTO t VALUES (4, 1.0, 'new', 1)",  # into the range of part 1
        "DELETE FROM t WHERE id = 0",  # from part 0, below its first key
        "ALTER TABLE t ADD COLUMN extra TEXT",
    ],
)
def test_sqlite_table_changed_since_planning_is_refused(tmp_path: Path, change: str) -> None:
    uri = sqlite_table(tmp_path / "t.db", MIXED, mixed_rows([k * 3 for k in range(6)]))
    parts = sdk.read_parts(uri, 2)
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute(change)
    conn.close()
    with pytest.raises(sdk.IOSchemeError, match=r"table 't' changed since .*; run again"):
        for part in parts[:2]:
            sdk.read_part(part)


def test_sqlite_query_view_and_without_rowid_are_one_whole_part(tmp_path: Path) -> None:
    """A query and a view have no key (positional sources); a WITHOUT ROWID table no rowid."""
    db = tmp_path / "t.db"
    uri = sqlite_table(db, MIXED, mixed_rows(list(range(9))))
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE w (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID")
        conn.executemany("INSERT INTO w VALUES (?, ?)", [(f"k{i}", i) for i in range(9)])
        conn.execute("CREATE VIEW v AS SELECT * FROM t")
    conn.close()
    base = uri.partition("?")[0]
    for other in (f"{base}?query=SELECT%20*%20FROM%20t", f"{base}?table=v", f"{base}?table=w"):
        (part,) = assert_parts_are_whole(other, 2)
        assert (part.locator, part.rows) == (None, None)


def test_sqlite_part_rows_must_be_positive(tmp_path: Path) -> None:
    uri = sqlite_table(tmp_path / "t.db", MIXED, [])
    with pytest.raises(ValueError, match="part_rows must be at least 1"):
        SqliteScheme().read_parts(uri, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.sets(st.integers(-(2**62), 2**62), max_size=25),
    part_rows=st.integers(2, 12),
)
def test_sqlite_any_keys_in_parts_are_the_whole_read(keys: set[int], part_rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        uri = sqlite_table(Path(folder) / "t.db", MIXED, mixed_rows(list(keys)))
        parts = assert_parts_are_whole(uri, part_rows)
    assert len(parts) == max(1, -(-len(keys) // part_rows))


def by_parts(uri: str, part_rows: int) -> Loaded:
    """A dask-style read: every part read on its own, the frames joined, the sources kept."""
    loaded = [sdk.read_part(p) for p in sdk.read_parts(uri, part_rows)]
    frames = [one.frame for one in loaded if len(one.frame)] or [loaded[0].frame]
    sources = [s for one in loaded for s in rendered(one)]
    return Loaded(pd.concat(frames), Sources.from_values(sources))


def test_quarantine_sources_of_a_pipeline_read_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fraud pipeline over a SQLite table read in parts quarantines the same rows under the
    same sources (``tx.rowid=N``) as over the whole read."""
    with sqlite3.connect(tmp_path / "tx.db") as conn:
        pd.read_csv(CSV, dtype=str, keep_default_na=False, nrows=600).to_sql(
            "tx", conn, index=False
        )
        conn.execute("DELETE FROM tx WHERE rowid % 7 = 3")
    conn.close()
    uri = f"sqlite:///{tmp_path / 'tx.db'}?table=tx"
    whole = fraud.run(transactions=uri, max_invalid=1.0)
    monkeypatch.setattr(SqliteScheme, "read", lambda self, uri: by_parts(uri, 83))
    parted = fraud.run(transactions=uri, max_invalid=1.0)
    assert len(whole.quarantine) and whole.quarantine["source"].str.startswith("tx.rowid=").all()
    assert list(parted.quarantine["source"]) == list(whole.quarantine["source"])
    assert_equivalent(parted, whole)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def sql(url: str, statement: str, params: tuple[Any, ...] | None = None) -> None:
    """Run one statement in autocommit mode on its own connection."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


@pytest.fixture
def pg_table(pg_url: str) -> Iterator[Callable[[str, str], str]]:
    """A factory ``(label, ddl)`` of unique tables; returns the table's URI. All dropped at the
    end."""
    prefix = f"sdk_test_{secrets.token_hex(4)}"
    made: list[str] = []

    def make(label: str, ddl: str) -> str:
        made.append(f"{prefix}_{label}")
        sql(pg_url, f"CREATE TABLE {made[-1]} ({ddl})")
        return f"{pg_url}{'&' if '?' in pg_url else '?'}table={made[-1]}"

    yield make
    for name in made:
        sql(pg_url, f"DROP TABLE IF EXISTS {name}")


def pg_insert(uri: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` into the table of ``uri``."""
    import psycopg

    url, _, table = uri.rpartition("table=")
    with psycopg.connect(url.rstrip("?&"), autocommit=True) as conn, conn.cursor() as cursor:
        marks = ", ".join(["%s"] * len(rows[0]))
        cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


PG_MIXED = "id BIGINT PRIMARY KEY, amount DOUBLE PRECISION, note TEXT, n BIGINT"


@pytest.mark.parametrize("part_rows", [5, 1000])
def test_postgres_parts_are_the_whole_read_across_key_gaps(
    pg_table: Callable[[str, str], str], part_rows: int
) -> None:
    uri = pg_table("gaps", PG_MIXED)
    pg_insert(uri, mixed_rows([k * k - 50 for k in range(14)]))
    parts = assert_parts_are_whole(uri, part_rows)
    assert len(parts) == -(-14 // part_rows)
    assert rendered(sdk.read_part(parts[0]))[0].endswith(".id=-50")


def test_postgres_text_key_in_its_collation_order(pg_table: Callable[[str, str], str]) -> None:
    """A text key is cut and compared in the column's own type and collation."""
    uri = pg_table("text", "code VARCHAR(8) PRIMARY KEY, v INTEGER")
    pg_insert(uri, [(c, i) for i, c in enumerate(["b", "B", "a", "a b", "ä", "Z", "z", "10", "9"])])
    assert_parts_are_whole(uri, 2)


def test_postgres_empty_table_is_one_empty_part(pg_table: Callable[[str, str], str]) -> None:
    (part,) = assert_parts_are_whole(pg_table("empty", PG_MIXED), 3)
    assert part.rows == 0


def test_postgres_table_changed_since_planning_is_refused(
    pg_table: Callable[[str, str], str],
) -> None:
    uri = pg_table("changed", PG_MIXED)
    pg_insert(uri, mixed_rows(list(range(0, 12, 2))))
    parts = sdk.read_parts(uri, 2)
    pg_insert(uri, mixed_rows([5]))
    sdk.read_part(parts[0])
    with pytest.raises(sdk.IOSchemeError, match=r"changed since .*3 rows, planned 2\); run again"):
        sdk.read_part(parts[1])


def test_postgres_query_and_tables_without_one_key_column_are_one_part(
    pg_table: Callable[[str, str], str],
) -> None:
    """A query, a table without a primary key and one with a composite key: one whole part."""
    keyless = pg_table("keyless", "a INTEGER, b TEXT")
    composite = pg_table("composite", "a INTEGER, b TEXT, PRIMARY KEY (a, b)")
    for uri in (keyless, composite):
        pg_insert(uri, [(i % 3, f"v{i}") for i in range(6)])
    url, _, table = keyless.rpartition("table=")
    for uri in (keyless, composite, f"{url}query=SELECT%20*%20FROM%20{table}"):
        (part,) = sdk.read_parts(uri, 2)
        assert (part.locator, part.rows) == (None, None)
