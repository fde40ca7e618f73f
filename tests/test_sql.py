"""SQL I/O schemes: SQLite (``sqlite:///path.db?table=t``) and PostgreSQL (``postgresql://…``).

PostgreSQL tests run against the real server named by ``SDK_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); they skip when it is unreachable, and fail then
under ``SDK_REQUIRE_SERVICES=1``. Each test uses tables of its own, dropped at the end.
"""

import json
import math
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdk
from examples.fraud.pipeline import pipeline
from sdk.io import exists, iter_chunks, open_writer, redact
from sdk.io.postgres import PostgresScheme
from sdk.io.sql import SqliteScheme
from sdk.plugins import resolve_scheme
from sdk.quarantine import QUARANTINE_COLUMNS

PG_URL = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TRANSACTIONS = ROOT / "examples" / "fraud" / "transactions.csv"


class Sample(pa.DataFrameModel):
    """The rows of :func:`sample` as a model: what a writer may be told about them."""

    id: int
    maybe: int = pa.Field(nullable=True)
    amount: float = pa.Field(nullable=True)
    label: str = pa.Field(nullable=True)


def sample(n: int = 25) -> pd.DataFrame:
    """A typed frame: int, int with NULLs, float with NaN, text with NULLs and awkward text."""
    rng = np.random.default_rng(7)
    texts = ["US", "a,b", 'say "hi"', "two\nlines", "tab\there", "ünïcødé 🚀", "", None]
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64) * 10,
            "maybe": pd.Series([i if i % 3 else None for i in range(n)], dtype=object),
            "amount": [math.nan if i % 5 == 4 else float(v) for i, v in enumerate(rng.random(n))],
            "label": pd.Series([texts[i % len(texts)] for i in range(n)], dtype=object),
        }
    )


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """``got`` holds ``want``'s values, column by column (missing values compared as missing)."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for column in want.columns:
        for a, b in zip(got[column].tolist(), want[column].tolist(), strict=True):
            assert (pd.isna(a) and pd.isna(b)) or a == b, (column, a, b)


def fraud_text_rows() -> pd.DataFrame:
    """The bundled transactions as stored text (empty field = NULL), keyed by sparse ids."""
    raw = pd.read_csv(TRANSACTIONS, dtype=str, keep_default_na=False, na_values=[""])
    raw.insert(0, "id", 1000 + 3 * np.arange(len(raw)))
    return raw


def check_fraud_run(
    tx: pd.DataFrame, scored: pd.DataFrame, quarantine: pd.DataFrame, table: str
) -> None:
    """Rows are conserved, sources are table keys of the right rows, checks as from the CSV."""
    quarantine = quarantine.astype(object).where(quarantine.notna(), None)
    assert len(scored) + quarantine["source"].nunique() == len(tx)
    assert list(quarantine.columns) == list(QUARANTINE_COLUMNS)
    by_id = tx.set_index("id")
    for record in quarantine.itertuples(index=False):
        match = re.fullmatch(rf"{re.escape(table)}\.id=(\d+)", record.source)
        assert match, record.source
        original = by_id.loc[int(match.group(1))]
        row = json.loads(record.row)
        assert row["id"] == int(match.group(1))
        for column in ("customer_id", "amount", "country"):
            stored = original[column]
            assert row[column] == (None if pd.isna(stored) else stored)
        if record.value is not None:
            assert original[record.column] == record.value
    assert not set(scored["id"]) & {int(s.split("=")[1]) for s in quarantine["source"]}
    expected = pipeline.run(
        transactions=pd.read_csv(TRANSACTIONS, dtype=str, keep_default_na=False, na_values=[""]),
        max_invalid=1.0,
    )
    assert len(scored) == len(expected.outputs["scored"])
    assert Counter(zip(quarantine["column"], quarantine["check"], strict=True)) == Counter(
        zip(expected.quarantine["column"], expected.quarantine["check"], strict=True)
    )


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("sqlite:///out/data.db?table=tx", "sqlite"),
        ("sqlite:////tmp/data.db?table=tx", "sqlite"),
        ("postgresql://u:p@db:5432/prod?table=tx", "postgresql"),
        ("postgresql+psycopg://u@db/prod?table=s.tx", "postgresql"),
        ("postgres://u@db/prod?table=tx", "postgresql"),
    ],
)
def test_resolve_scheme_by_uri_prefix(uri: str, name: str):
    """resolve_scheme picks the SQL schemes from the URI's scheme, and they are IOSchemes."""
    scheme = resolve_scheme(uri)
    assert scheme.name == name
    assert isinstance(scheme, sdk.IOScheme)


def test_core_does_not_import_database_drivers():
    """Importing sdk and building the plugin manager imports neither SQLAlchemy nor psycopg."""
    code = (
        "import sys, sdk\n"
        "from sdk.plugins import get_plugin_manager, resolve_scheme\n"
        "get_plugin_manager(); resolve_scheme('postgresql://h/db?table=t')\n"
        "print(sorted(m for m in ('sqlalchemy', 'psycopg') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    """Without SQLAlchemy, a postgresql:// URI raises IOSchemeError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(sdk.IOSchemeError, match=r"pip install 'pipeline-sdk\[postgres\]'"):
        PostgresScheme().read("postgresql://u@127.0.0.1:1/db?table=t")


# --------------------------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------------------------


def sqlite_uri(path: Path, table: str = "t") -> str:
    """A sqlite:// URI for an absolute path (four slashes)."""
    return f"sqlite:///{path}?table={table}"


def sqlite_tables(path: Path) -> list[str]:
    """The names of the tables in the database at ``path``."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [r[0] for r in rows]


@pytest.mark.parametrize("chunk_rows", [1, 7, 25, 1000])
def test_sqlite_round_trip_in_chunks(tmp_path: Path, chunk_rows: int):
    """Chunks written then read in chunks of 1, 7, n, >n give back the same typed rows."""
    frame = sample(25)
    uri = sqlite_uri(tmp_path / "data.db")
    scheme = SqliteScheme()
    writer = scheme.open_writer(uri, None)
    for start in range(0, len(frame), 10):
        writer.append(frame.iloc[start : start + 10])
    writer.commit()

    chunks = list(scheme.read_chunks(uri, chunk_rows))
    assert len(chunks) == math.ceil(25 / chunk_rows)
    starts = [c.frame.index[0] for c in chunks]
    assert starts == list(range(0, 25, chunk_rows))
    for chunk in chunks:
        assert isinstance(chunk.frame.index, pd.RangeIndex)
    got = pd.concat([c.frame for c in chunks])
    assert got.index.equals(pd.RangeIndex(25))
    assert_same_rows(got, frame)
    assert got["maybe"].tolist()[:4] == [None, 1, 2, None]  # ints with NULLs stay ints


def test_sqlite_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`sqlite:///out/data.db` (three slashes) is out/data.db under the working directory."""
    monkeypatch.chdir(tmp_path)
    SqliteScheme().write(sample(3), "sqlite:///out/data.db?table=t")
    assert sqlite_tables(tmp_path / "out" / "data.db") == ["t"]
    assert len(SqliteScheme().read("sqlite:///out/data.db?table=t").frame) == 3


def test_sqlite_sources_by_primary_key(tmp_path: Path):
    """A table with a primary key gives sources `<table>.<pk>=<value>`, in key order."""
    path = tmp_path / "keys.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tx (id INTEGER PRIMARY KEY, amount REAL)")
        conn.executemany("INSERT INTO tx VALUES (?, ?)", [(30, 3.0), (10, 1.0), (20, 2.0)])
    loaded = SqliteScheme().read(sqlite_uri(path, "tx"))
    assert loaded.frame["amount"].tolist() == [1.0, 2.0, 3.0]
    assert loaded.sources.render(np.arange(3)) == ["tx.id=10", "tx.id=20", "tx.id=30"]
    second = list(SqliteScheme().read_chunks(sqlite_uri(path, "tx"), 2))[1]
    assert second.sources.render(np.arange(1)) == ["tx.id=30"]


def test_sqlite_sources_by_composite_key(tmp_path: Path):
    """A composite key gives `<table>.(a,b)=(1,'x')`; WITHOUT ROWID tables page by that key."""
    path = tmp_path / "keys.db"
    rows = [("it's", 2, 1.0), ("a", 1, 2.0), ("a", 3, 3.0), ("b", 0, 4.0)]
    with sqlite3.connect(path) as conn:
        for table, options in (("k", ""), ("w", " WITHOUT ROWID")):
            conn.execute(
                f"CREATE TABLE {table} (day TEXT, seq INTEGER, v REAL, PRIMARY KEY (day, seq))"
                + options
            )
            conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", rows)
    loaded = SqliteScheme().read(sqlite_uri(path, "k"))  # rowid (insertion) order
    assert loaded.sources.render(np.arange(2)) == ["k.(day,seq)=('it''s',2)", "k.(day,seq)=('a',1)"]
    chunks = list(SqliteScheme().read_chunks(sqlite_uri(path, "w"), 1))  # key order
    assert [c.sources.render(np.arange(1))[0] for c in chunks] == [
        "w.(day,seq)=('a',1)",
        "w.(day,seq)=('a',3)",
        "w.(day,seq)=('b',0)",
        "w.(day,seq)=('it''s',2)",
    ]
    assert [c.frame.index[0] for c in chunks] == [0, 1, 2, 3]


def test_sqlite_chunked_read_lets_a_writer_of_the_same_file_commit(tmp_path: Path):
    """Reading chunks of one table while writing another table of the same file does not lock."""
    path = tmp_path / "data.db"
    scheme = SqliteScheme()
    scheme.write(sample(25), sqlite_uri(path, "src"))
    writer = scheme.open_writer(sqlite_uri(path, "dst"), None)
    for chunk in scheme.read_chunks(sqlite_uri(path, "src"), 7):
        writer.append(chunk.frame)
    writer.commit()
    assert_same_rows(scheme.read(sqlite_uri(path, "dst")).frame, sample(25))


def test_sqlite_sources_by_rowid_without_primary_key(tmp_path: Path):
    """A table without a primary key gives `<table>.rowid=<rowid>`; rowid is not a column."""
    uri = sqlite_uri(tmp_path / "data.db")
    SqliteScheme().write(sample(5), uri)
    with sqlite3.connect(tmp_path / "data.db") as conn:
        conn.execute("DELETE FROM t WHERE id = 10")  # rowids keep their gap
    loaded = SqliteScheme().read(uri)
    assert list(loaded.frame.columns) == list(sample(1).columns)
    assert loaded.sources.render(np.arange(4)) == [
        "t.rowid=1",
        "t.rowid=3",
        "t.rowid=4",
        "t.rowid=5",
    ]


def test_sqlite_query_sources_are_positions(tmp_path: Path):
    """`?query=` (URL-encoded) reads a query's result; sources are `query#<position>`."""
    path = tmp_path / "data.db"
    SqliteScheme().write(sample(25), sqlite_uri(path))
    query = url_quote("SELECT id, label FROM t WHERE id >= 100 ORDER BY id")
    uri = f"sqlite:///{path}?query={query}"
    loaded = SqliteScheme().read(uri)
    assert loaded.frame["id"].tolist() == list(range(100, 250, 10))
    assert loaded.sources.render(np.array([0, 14])) == ["query#0", "query#14"]
    chunks = list(SqliteScheme().read_chunks(uri, 7))
    assert chunks[1].sources.render(np.array([0])) == ["query#7"]


def test_sqlite_view_sources_are_positions(tmp_path: Path):
    """A view (no rowid, no key) is paged by position; sources are `<view>#<position>`."""
    path = tmp_path / "data.db"
    SqliteScheme().write(sample(5), sqlite_uri(path))
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE VIEW v AS SELECT id, amount FROM t ORDER BY id DESC")
    chunks = list(SqliteScheme().read_chunks(sqlite_uri(path, "v"), 2))
    assert pd.concat([c.frame for c in chunks])["id"].tolist() == [40, 30, 20, 10, 0]
    assert [c.sources.render(np.arange(len(c.frame))) for c in chunks] == [
        ["v#0", "v#1"],
        ["v#2", "v#3"],
        ["v#4"],
    ]


def test_sqlite_empty_frame_writes_an_empty_table_with_its_columns(tmp_path: Path):
    """An empty frame writes a table with no rows and the frame's columns."""
    uri = sqlite_uri(tmp_path / "data.db")
    SqliteScheme().write(sample(0), uri)
    loaded = SqliteScheme().read(uri)
    assert list(loaded.frame.columns) == list(sample(0).columns)
    assert len(loaded.frame) == 0
    assert [len(c.frame) for c in SqliteScheme().read_chunks(uri, 10)] == [0]


def test_sqlite_writer_types_valueless_columns_from_the_schema(tmp_path: Path):
    """A column no chunk has values for is typed from the schema given to open_writer, else TEXT."""
    path = tmp_path / "data.db"
    for table, schema in (("typed", Sample), ("untyped", None)):
        writer = open_writer(sqlite_uri(path, table), schema)
        writer.append(sample(0))
        writer.commit()
    with sqlite3.connect(path) as conn:
        types = {
            table: [row[2] for row in conn.execute(f"PRAGMA table_info({table})")]
            for table in ("typed", "untyped")
        }
    assert types == {
        "typed": ["INTEGER", "INTEGER", "REAL", "TEXT"],
        "untyped": ["INTEGER", "TEXT", "REAL", "TEXT"],  # `maybe` is an object column
    }


def test_sqlite_abort_leaves_the_previous_table(tmp_path: Path):
    """Abort drops the staging table; the previous table is intact; a new one never appears."""
    path = tmp_path / "data.db"
    scheme = SqliteScheme()
    scheme.write(sample(3), sqlite_uri(path, "old"))
    writer = scheme.open_writer(sqlite_uri(path, "old"), None)
    writer.append(sample(20))
    assert len(scheme.read(sqlite_uri(path, "old")).frame) == 3  # invisible before commit
    writer.abort()
    fresh = scheme.open_writer(sqlite_uri(path, "new"), None)
    fresh.append(sample(20))
    fresh.abort()
    assert sqlite_tables(path) == ["old"]
    assert_same_rows(scheme.read(sqlite_uri(path, "old")).frame, sample(3))
    assert not scheme.exists(sqlite_uri(path, "new"))


def test_sqlite_commit_replaces_the_table_and_leaves_no_stage(tmp_path: Path):
    """Commit swaps the new rows in for the old ones; no `_sdk_stage_` table remains."""
    path = tmp_path / "data.db"
    scheme = SqliteScheme()
    scheme.write(pd.DataFrame({"other": ["x"]}), sqlite_uri(path))
    writer = open_writer(sqlite_uri(path))
    writer.append(sample(10))
    assert any(t.startswith("_sdk_stage_t_") for t in sqlite_tables(path))
    writer.commit()
    assert sqlite_tables(path) == ["t"]
    assert_same_rows(scheme.read(sqlite_uri(path)).frame, sample(10))
    assert exists(scheme, sqlite_uri(path))


def test_sqlite_writer_refuses_chunks_with_other_columns(tmp_path: Path):
    """A chunk whose columns differ from the first chunk's raises and leaves nothing behind."""
    path = tmp_path / "data.db"
    writer = SqliteScheme().open_writer(sqlite_uri(path), None)
    writer.append(sample(3))
    with pytest.raises(sdk.IOSchemeError, match=r"missing \['label'\]"):
        writer.append(sample(3).drop(columns="label"))
    assert sqlite_tables(path) == []


def test_sqlite_missing_database_file(tmp_path: Path):
    """Reading a missing database file names the URI and the fix, and creates no file."""
    uri = sqlite_uri(tmp_path / "nope.db")
    with pytest.raises(sdk.IOSchemeError, match="does not exist; check the path") as info:
        SqliteScheme().read(uri)
    assert uri in str(info.value)
    assert not (tmp_path / "nope.db").exists()
    assert not SqliteScheme().exists(uri)


def test_sqlite_missing_table(tmp_path: Path):
    """Reading a missing table names the URI, the tables there and the fix."""
    path = tmp_path / "data.db"
    SqliteScheme().write(sample(2), sqlite_uri(path, "present"))
    uri = sqlite_uri(path, "absent")
    with pytest.raises(sdk.IOSchemeError) as info:
        list(SqliteScheme().read_chunks(uri, 10))
    message = str(info.value)
    assert uri in message and "'absent'" in message
    assert "tables there: present" in message and "fix ?table=" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("uri", "fix"),
    [
        ("sqlite:///data.db", r"give either \?table=name or \?query="),
        ("sqlite:///data.db?table=a&query=SELECT%201", r"give either \?table=name or \?query="),
        ("sqlite:///data.db?tabel=a", r"unknown parameter\(s\) \['tabel'\]"),
        ("sqlite://data.db?table=a", "is not a SQLite URI"),
    ],
)
def test_sqlite_malformed_uri(uri: str, fix: str):
    """A URI without exactly one of table/query, or with a typo, says how to write it."""
    with pytest.raises(sdk.IOSchemeError, match=fix):
        SqliteScheme().read(uri)


def test_sqlite_pipeline_quarantines_by_table_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The fraud pipeline reads a SQLite table of text; quarantine sources are its keys."""
    monkeypatch.chdir(tmp_path)
    tx = fraud_text_rows()
    with sqlite3.connect("db.sqlite") as conn:
        conn.execute(
            "CREATE TABLE tx (id INTEGER PRIMARY KEY, customer_id TEXT, amount TEXT, country TEXT)"
        )
        conn.executemany(
            "INSERT INTO tx VALUES (?, ?, ?, ?)",
            [tuple(None if pd.isna(v) else v for v in r) for r in tx.itertuples(index=False)],
        )
    pipeline.run(
        transactions="sqlite:///db.sqlite?table=tx",
        outputs={"scored": "sqlite:///db.sqlite?table=scored"},
        quarantine="sqlite:///db.sqlite?table=quarantine",
        max_invalid=1.0,
    )
    with sqlite3.connect("db.sqlite") as conn:
        scored = pd.read_sql("SELECT * FROM scored", conn)
        quarantine = pd.read_sql("SELECT * FROM quarantine", conn)
    tx["id"] = tx["id"].astype(int)
    check_fraud_run(tx, scored, quarantine, "tx")
    assert sqlite_tables(tmp_path / "db.sqlite") == ["quarantine", "scored", "tx"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.one_of(st.none(), st.text()), min_size=0, max_size=20),
    numbers=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=20, max_size=20),
)
def test_sqlite_round_trips_any_text_and_float(
    tmp_path: Path, texts: list[str | None], numbers: list[float]
):
    """Any text (None included) and any float (NaN as NULL) round-trip through SQLite."""
    frame = pd.DataFrame(
        {"t": pd.Series(texts, dtype=object), "f": numbers[: len(texts)]},
        columns=["t", "f"],
    )
    uri = sqlite_uri(tmp_path / "prop.db")
    SqliteScheme().write(frame, uri)
    back = SqliteScheme().read(uri).frame
    assert [None if pd.isna(v) else v for v in back["t"]] == texts
    assert [None if pd.isna(v) else v for v in back["f"]] == [
        None if math.isnan(v) else v for v in frame["f"]
    ]


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def sql(url: str, statement: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement in autocommit mode on its own connection; return its rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def pg_table(pg_url: str) -> Iterator[Callable[[str], str]]:
    """A factory of unique table names (``sdk_test_<hex>_<label>``), all dropped at the end."""
    prefix = f"sdk_test_{secrets.token_hex(4)}"
    yield lambda label: f"{prefix}_{label}"
    leftovers = sql(
        pg_url,
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
        "WHERE tablename LIKE %s OR tablename LIKE %s",
        (f"{prefix}%", f"_sdk_stage_{prefix}%"),
    )
    for (name,) in leftovers:
        sql(pg_url, f"DROP TABLE IF EXISTS {name}")


def pg_uri(url: str, table: str) -> str:
    """``url`` with ``?table=``."""
    return f"{url}{'&' if '?' in url else '?'}table={table}"


def stage_tables(url: str, table: str) -> list[str]:
    """Staging tables of ``table`` that exist (committed) on the server."""
    rows = sql(
        url, "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"_sdk_stage_{table}%",)
    )
    return [r[0] for r in rows]


def test_postgres_pipeline_quarantines_by_table_key(
    pg_url: str, pg_table: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The fraud pipeline reads a table with bad rows; outputs and quarantine check out in SQL."""
    import psycopg

    monkeypatch.chdir(tmp_path)
    tx_table, scored_table, q_table = pg_table("tx"), pg_table("scored"), pg_table("quarantine")
    tx = fraud_text_rows()
    with psycopg.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {tx_table} (id BIGINT PRIMARY KEY, customer_id TEXT, amount TEXT, "
            f"country TEXT)"
        )
        with cursor.copy(f"COPY {tx_table} FROM STDIN") as copy:
            for row in tx.itertuples(index=False):
                copy.write_row([None if pd.isna(v) else v for v in row])

    pipeline.run(
        transactions=pg_uri(pg_url, tx_table),
        outputs={"scored": pg_uri(pg_url, scored_table)},
        quarantine=pg_uri(pg_url, q_table),
        max_invalid=1.0,
    )

    (n_scored,) = sql(pg_url, f"SELECT count(*) FROM {scored_table}")[0]
    (n_sources,) = sql(pg_url, f"SELECT count(DISTINCT source) FROM {q_table}")[0]
    assert n_scored + n_sources == len(tx)
    (unmatched,) = sql(
        pg_url,
        f"SELECT count(*) FROM {q_table} q LEFT JOIN {tx_table} t "
        f"ON q.source = '{tx_table}.id=' || t.id WHERE t.id IS NULL",
    )[0]
    assert unmatched == 0
    types = dict(
        sql(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            (scored_table,),
        )
    )
    assert types == {
        "id": "bigint",
        "customer_id": "bigint",
        "amount": "double precision",
        "country": "text",
        "mean_amount": "double precision",
        "n_tx": "bigint",
        "score": "double precision",
    }
    scheme = PostgresScheme()
    scored = scheme.read(pg_uri(pg_url, scored_table)).frame
    quarantine = scheme.read(pg_uri(pg_url, q_table)).frame
    check_fraud_run(tx, scored, quarantine, tx_table)
    assert stage_tables(pg_url, pg_table("")) == []


def test_postgres_copy_round_trips_awkward_values(pg_url: str, pg_table: Callable[[str], str]):
    """NULLs, NaN, infinities, text with commas/quotes/newlines/unicode round-trip via COPY."""
    frame = pd.DataFrame(
        {
            "i": np.array([1, -5, 2**62, 0], dtype=np.int64),
            "maybe": pd.Series([1, None, 3, None], dtype=object),
            "f": [0.1, math.nan, math.inf, -1e-300],
            "t": pd.Series(
                ['a,"b"', "line1\nline2\r\n\ttab \\N", "ünïcødé 🚀 ✓", ""], dtype=object
            ),
            "null_t": pd.Series([None, "x", None, "y"], dtype=object),
            "b": [True, False, True, False],
            "ts": pd.to_datetime(
                ["2024-01-01 12:30:00.123456", None, "1999-12-31", "2024-02-29"], format="ISO8601"
            ),
            "tz": pd.to_datetime(["2024-01-01 00:00", "2024-06-01 12:00", None, None], utc=True),
        }
    )
    uri = pg_uri(pg_url, pg_table("awkward"))
    PostgresScheme().write(frame, uri)
    back = PostgresScheme().read(uri).frame
    assert back["i"].tolist() == frame["i"].tolist()
    assert back["maybe"].tolist() == [1, None, 3, None]
    assert back["f"].tolist()[0] == 0.1 and math.isnan(back["f"][1])
    assert back["f"].tolist()[2:] == [math.inf, -1e-300]
    assert back["t"].tolist() == frame["t"].tolist()  # "" stays "", distinct from NULL
    assert back["null_t"].isna().tolist() == [True, False, True, False]
    assert back["b"].tolist() == [True, False, True, False]
    assert back["ts"].isna().tolist() == [False, True, False, False]
    assert back["ts"].dropna().tolist() == frame["ts"].dropna().tolist()
    assert back["tz"].dropna().tolist() == frame["tz"].dropna().tolist()
    types = [
        r[0]
        for r in sql(
            pg_url,
            "SELECT data_type FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (pg_table("awkward"),),
        )
    ]
    assert types == [
        "bigint",
        "bigint",
        "double precision",
        "text",
        "text",
        "boolean",
        "timestamp without time zone",
        "timestamp with time zone",
    ]


@pytest.mark.parametrize("chunk_rows", [1, 7, 25, 1000])
def test_postgres_round_trip_in_chunks(
    pg_url: str, pg_table: Callable[[str], str], chunk_rows: int
):
    """Chunks written with COPY then read in chunks of 1, 7, n, >n give back the same rows."""
    frame = sample(25)
    uri = pg_uri(pg_url, pg_table("chunks"))
    writer = PostgresScheme().open_writer(uri, None)
    for start in range(0, 25, 10):
        writer.append(frame.iloc[start : start + 10])
    writer.commit()
    chunks = list(iter_chunks(PostgresScheme(), uri, chunk_rows))
    assert len(chunks) == math.ceil(25 / chunk_rows)
    got = pd.concat([c.frame for c in chunks])
    assert got.index.equals(pd.RangeIndex(25))
    assert_same_rows(got.sort_values("id").reset_index(drop=True), frame)


def test_postgres_sources_by_key_position_and_query(pg_url: str, pg_table: Callable[[str], str]):
    """Sources: `<table>.<pk>=<v>` in key order, `<table>#<pos>` without a key, `query#<pos>`."""
    keyed, plain = pg_table("keyed"), pg_table("plain")
    sql(pg_url, f"CREATE TABLE {keyed} (code TEXT PRIMARY KEY, v DOUBLE PRECISION)")
    sql(pg_url, f"INSERT INTO {keyed} VALUES ('b', 2), ('a', 1), ('c', 3)")
    chunks = list(PostgresScheme().read_chunks(pg_uri(pg_url, keyed), 2))
    assert chunks[0].frame["code"].tolist() == ["a", "b"]
    assert chunks[0].sources.render(np.arange(2)) == [f"{keyed}.code=a", f"{keyed}.code=b"]
    assert chunks[1].sources.render(np.arange(1)) == [f"{keyed}.code=c"]

    PostgresScheme().write(sample(3), pg_uri(pg_url, plain))
    loaded = PostgresScheme().read(pg_uri(pg_url, plain))
    assert loaded.sources.render(np.arange(3)) == [f"{plain}#0", f"{plain}#1", f"{plain}#2"]

    query = url_quote(f"SELECT v * 10 AS ten FROM {keyed} ORDER BY v DESC;")
    chunks = list(PostgresScheme().read_chunks(f"{pg_url}?query={query}", 2))
    assert pd.concat([c.frame for c in chunks])["ten"].tolist() == [30.0, 20.0, 10.0]
    assert chunks[1].sources.render(np.arange(1)) == ["query#2"]


def test_postgres_composite_key_and_schema_table(pg_url: str, pg_table: Callable[[str], str]):
    """`schema.table` is read and written in that schema; a composite key renders as a tuple."""
    schema = pg_table("schema")
    sql(pg_url, f"CREATE SCHEMA {schema}")
    try:
        sql(pg_url, f"CREATE TABLE {schema}.k (day DATE, seq INT, v TEXT, PRIMARY KEY (day, seq))")
        sql(pg_url, f"INSERT INTO {schema}.k VALUES ('2024-05-01', 7, 'x'), ('2024-05-01', 2, 'y')")
        loaded = PostgresScheme().read(pg_uri(pg_url, f"{schema}.k"))
        assert loaded.sources.render(np.arange(2)) == [
            f"{schema}.k.(day,seq)=(2024-05-01,2)",
            f"{schema}.k.(day,seq)=(2024-05-01,7)",
        ]
        uri = pg_uri(pg_url, f"{schema}.out")
        PostgresScheme().write(sample(4), uri)
        assert sql(pg_url, f"SELECT count(*) FROM {schema}.out") == [(4,)]
        assert PostgresScheme().exists(uri)
        assert not PostgresScheme().exists(pg_uri(pg_url, f"{schema}.missing"))
    finally:
        sql(pg_url, f"DROP SCHEMA {schema} CASCADE")


def test_postgres_abort_and_commit_are_atomic(pg_url: str, pg_table: Callable[[str], str]):
    """Before commit nothing is visible; abort keeps the old table; commit leaves no stage."""
    table = pg_table("atomic")
    uri = pg_uri(pg_url, table)
    scheme = PostgresScheme()
    scheme.write(sample(3), uri)

    writer = scheme.open_writer(uri, None)
    writer.append(sample(20))
    assert sql(pg_url, f"SELECT count(*) FROM {table}") == [(3,)]
    assert stage_tables(pg_url, table) == []  # the stage is invisible to other sessions
    writer.abort()
    assert_same_rows(scheme.read(uri).frame, sample(3))

    writer = scheme.open_writer(uri, None)
    writer.append(sample(20))
    writer.append(sample(5))
    writer.commit()
    assert sql(pg_url, f"SELECT count(*) FROM {table}") == [(25,)]
    assert stage_tables(pg_url, table) == []

    fresh = pg_uri(pg_url, pg_table("fresh"))
    writer = scheme.open_writer(fresh, None)
    writer.append(sample(5))
    writer.abort()
    assert not scheme.exists(fresh)


def test_postgres_empty_frame_writes_an_empty_typed_table(
    pg_url: str, pg_table: Callable[[str], str]
):
    """An empty frame writes a table with no rows and typed columns."""
    table = pg_table("empty")
    PostgresScheme().write(sample(0).astype({"amount": float}), pg_uri(pg_url, table))
    loaded = PostgresScheme().read(pg_uri(pg_url, table))
    assert list(loaded.frame.columns) == list(sample(0).columns) and len(loaded.frame) == 0
    assert sql(
        pg_url,
        "SELECT data_type FROM information_schema.columns WHERE table_name = %s "
        "AND column_name = 'amount'",
        (table,),
    ) == [("double precision",)]


def test_postgres_writer_types_valueless_columns_from_the_schema(
    pg_url: str, pg_table: Callable[[str], str]
):
    """A column without values is typed from the schema given to open_writer (BIGINT, not TEXT)."""
    table = pg_table("declared")
    writer = open_writer(pg_uri(pg_url, table), Sample)
    writer.append(sample(3).assign(maybe=None))
    writer.commit()
    types = sql(
        pg_url,
        "SELECT data_type FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    )
    assert [t[0] for t in types] == ["bigint", "bigint", "double precision", "text"]


def test_postgres_column_kind_is_fixed_by_the_first_chunk_with_values(
    pg_url: str, pg_table: Callable[[str], str]
):
    """An empty first chunk does not fix types; an int column upcast by NaN stays BIGINT."""
    uri = pg_uri(pg_url, pg_table("kinds"))
    writer = PostgresScheme().open_writer(uri, None)
    empty = pd.Series([], dtype=object)
    writer.append(pd.DataFrame({"n": empty, "x": empty}))
    writer.append(pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5]}))
    writer.append(pd.DataFrame({"n": [3.0, math.nan], "x": [2, 3]}))  # int upcast, ints as floats
    with pytest.raises(sdk.IOSchemeError, match=r"column 'n' is BIGINT .* holds text values"):
        writer.append(pd.DataFrame({"n": ["seven"], "x": [1.0]}))
    with pytest.raises(sdk.IOSchemeError, match="already closed"):
        writer.commit()
    assert not PostgresScheme().exists(uri)


def test_postgres_lost_connection_mid_write_leaves_nothing(
    pg_url: str, pg_table: Callable[[str], str]
):
    """A backend killed after a COPYed chunk: write and commit raise; no table, no stage."""
    table = pg_table("lost")
    uri = pg_uri(pg_url, table)
    writer = PostgresScheme().open_writer(uri, None)
    writer.append(sample(10))
    backends = sql(
        pg_url,
        "SELECT pid, query FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
        (f"%_sdk_stage_{table}_%",),
    )
    assert len(backends) == 1
    pid, last_query = backends[0]
    assert last_query.startswith(f'COPY "_sdk_stage_{table}_')  # the chunk went by COPY
    assert "FROM STDIN" in last_query
    sql(pg_url, "SELECT pg_terminate_backend(%s)", (pid,))

    with pytest.raises(sdk.IOSchemeError, match="cannot write") as info:
        writer.append(sample(10))
    assert redact(uri) in str(info.value)
    with pytest.raises(sdk.IOSchemeError, match="cannot commit"):
        writer.commit()
    assert not PostgresScheme().exists(uri)
    assert stage_tables(pg_url, table) == []


def test_postgres_missing_table_names_uri_and_fix(pg_url: str, pg_table: Callable[[str], str]):
    """Reading a missing table raises IOSchemeError naming the URI, the table and the fix."""
    uri = pg_uri(pg_url, pg_table("absent"))
    with pytest.raises(sdk.IOSchemeError) as info:
        PostgresScheme().read(uri)
    message = str(info.value)
    assert redact(uri) in message and pg_table("absent") in message
    assert "write the table first" in message


def test_postgres_bad_query_raises_io_scheme_error(pg_url: str):
    """A query the server rejects raises IOSchemeError with the server's message."""
    with pytest.raises(sdk.IOSchemeError, match="no_such_table_anywhere"):
        PostgresScheme().read(f"{pg_url}?query=SELECT%20*%20FROM%20no_such_table_anywhere")


@pytest.mark.parametrize(
    "action",
    [
        lambda s, u: s.read(u),
        lambda s, u: list(s.read_chunks(u, 10)),
        lambda s, u: s.exists(u),
        lambda s, u: s.open_writer(u, None),
        lambda s, u: s.write(sample(2), u),
    ],
    ids=["read", "read_chunks", "exists", "open_writer", "write"],
)
def test_postgres_connection_failure_hides_the_password(action: Callable[[Any, str], Any]):
    """A failed connection raises IOSchemeError naming the URI with the password as ***."""
    pytest.importorskip("psycopg")
    uri = "postgresql://nobody:s3cret@127.0.0.1:1/test?table=t"
    with pytest.raises(sdk.IOSchemeError) as info:
        action(PostgresScheme(), uri)
    message = str(info.value)
    assert "s3cret" not in message and "s3cret" not in repr(info.value)
    assert "postgresql://nobody:***@127.0.0.1:1/test?table=t" in message
    assert "check the host, port" in message


def test_postgres_refused_login_hides_the_password(pg_url: str):
    """A login the server refuses (unknown role) does not reveal the password either."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    user = f"nobody_{secrets.token_hex(3)}"
    uri = f"postgresql://{user}:s3cret@{url.host}:{url.port or 5432}/{url.database}?table=t"
    with pytest.raises(sdk.IOSchemeError) as info:
        PostgresScheme().read(uri)
    assert "s3cret" not in str(info.value)
    assert "***" in str(info.value)
