"""I/O schemes: the built-in files (CSV, Parquet, JSON lines, ``-``), writers, capabilities."""

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

import sdk
from sdk.io import (
    StagedFile,
    SupportsExists,
    SupportsOpenWriter,
    SupportsReadChunks,
    Writer,
    atomic_path,
    atomic_text,
    exists,
    iter_chunks,
    open_writer,
)
from sdk.io.files import CsvScheme, JsonLinesScheme, ParquetScheme, StdioScheme
from sdk.io.postgres import PostgresScheme
from sdk.io.sql import SqliteScheme
from sdk.plugins import resolve_scheme


def sample() -> pd.DataFrame:
    """A small typed frame: int, float, text and a missing text value."""
    return pd.DataFrame(
        {
            "customer_id": [1, 22, 333],
            "amount": [1.5, 0.25, 1000000.0],
            "country": ["US", None, "FR"],
        }
    )


def files_in(folder: Path) -> list[str]:
    """Names of every entry in ``folder`` (hidden ones included)."""
    return sorted(p.name for p in folder.iterdir())


# Resolution.


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("data/tx.csv", "csv"),
        ("DATA/TX.CSV", "csv"),
        ("data/tx.parquet", "parquet"),
        ("data/tx.pq", "parquet"),
        ("data/tx.jsonl", "jsonl"),
        ("data/tx.ndjson", "jsonl"),
        ("-", "stdio"),
    ],
)
def test_resolve_scheme_by_extension(uri: str, name: str):
    """resolve_scheme picks the built-in scheme from the URI's extension (or `-`)."""
    scheme = resolve_scheme(uri)
    assert scheme.name == name
    assert isinstance(scheme, sdk.IOScheme)


def test_unknown_extension_raises_plugin_error_listing_schemes():
    """An unknown extension raises PluginError naming the URI and listing the known schemes."""
    with pytest.raises(sdk.PluginError) as info:
        resolve_scheme("data/tx.xlsx")
    message = str(info.value)
    assert "data/tx.xlsx" in message
    for name in ("csv", "parquet", "jsonl", "stdio"):
        assert name in message


def test_unknown_input_scheme_fails_the_run_with_plugin_error():
    """Running a pipeline on an input with an unknown extension raises PluginError."""
    from examples.fraud.pipeline import pipeline

    with pytest.raises(sdk.PluginError):
        pipeline.run(transactions="data/tx.xlsx")


# Reading.


def test_csv_read_keeps_values_as_text(tmp_path: Path):
    """CSV values are read as the text in the file (leading zeros, trailing zeros, odd text)."""
    path = tmp_path / "tx.csv"
    path.write_text(
        'customer_id,amount,country\n007,1.50,US\n8,"12,5x",FR\n1e3,abc, de\n', encoding="utf-8"
    )
    frame = resolve_scheme(str(path)).read(str(path)).frame
    assert frame.to_dict("list") == {
        "customer_id": ["007", "8", "1e3"],
        "amount": ["1.50", "12,5x", "abc"],
        "country": ["US", "FR", " de"],
    }


def test_csv_empty_field_is_missing(tmp_path: Path):
    """An empty CSV field is read as a missing value."""
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,amount,country\n1,,US\n2,3.5,\n", encoding="utf-8")
    frame = resolve_scheme(str(path)).read(str(path)).frame
    assert frame["amount"].isna().tolist() == [True, False]
    assert frame["country"].isna().tolist() == [False, True]
    assert frame.loc[1, "amount"] == "3.5"


@pytest.mark.parametrize("text", ["NA", "null", "N/A", "nan", "None"])
def test_csv_non_empty_na_like_text_stays_as_read(tmp_path: Path, text: str):
    """Only an empty field is missing: text like NA (Namibia) or null is kept as written."""
    path = tmp_path / "tx.csv"
    path.write_text(f"customer_id,amount,country\n1,2.5,{text}\n", encoding="utf-8")
    frame = resolve_scheme(str(path)).read(str(path)).frame
    assert frame.loc[0, "country"] == text


def test_csv_sources_are_path_line_with_header_on_line_one(tmp_path: Path):
    """CSV rows are referenced as path:line; the first data row is line 2."""
    path = tmp_path / "tx.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6\n", encoding="utf-8")
    loaded = resolve_scheme(str(path)).read(str(path))
    assert isinstance(loaded, sdk.Loaded)
    assert loaded.sources.render(np.array([0, 2])) == [f"{path}:2", f"{path}:4"]


def test_parquet_sources_are_path_hash_row(tmp_path: Path):
    """Parquet rows are referenced as path#row."""
    path = tmp_path / "tx.parquet"
    sample().to_parquet(path)
    loaded = resolve_scheme(str(path)).read(str(path))
    assert loaded.sources.render(np.array([0, 2])) == [f"{path}#0", f"{path}#2"]


def test_jsonl_sources_are_path_line_counting_blank_lines(tmp_path: Path):
    """JSON-lines rows are referenced as path:line, the physical line (blank lines count)."""
    path = tmp_path / "tx.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    loaded = resolve_scheme(str(path)).read(str(path))
    assert loaded.frame["a"].tolist() == [1, 2]
    assert loaded.sources.render(np.array([0, 1])) == [f"{path}:1", f"{path}:3"]


def test_jsonl_read_keeps_values_as_written(tmp_path: Path):
    """JSON-lines values keep their JSON types: text stays text, a null is missing."""
    path = tmp_path / "tx.jsonl"
    lines = [
        {"customer_id": 1, "amount": "12,5x", "country": "US"},
        {"customer_id": 2, "amount": 3.5, "country": None},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    frame = resolve_scheme(str(path)).read(str(path)).frame
    assert frame.loc[0, "amount"] == "12,5x"
    assert frame.loc[1, "amount"] == 3.5
    assert frame["customer_id"].tolist() == [1, 2]
    assert pd.isna(frame.loc[1, "country"])


@pytest.mark.parametrize("name", ["tx.csv", "tx.parquet", "tx.jsonl"])
def test_missing_input_file_raises_io_scheme_error_naming_path(tmp_path: Path, name: str):
    """Reading a file that does not exist raises IOSchemeError naming the path."""
    path = tmp_path / "nowhere" / name
    with pytest.raises(sdk.IOSchemeError) as info:
        resolve_scheme(str(path)).read(str(path))
    assert str(path) in str(info.value)
    assert isinstance(info.value, sdk.SdkError)


def test_missing_input_file_fails_the_run_with_io_scheme_error(tmp_path: Path):
    """A pipeline run whose input file does not exist raises IOSchemeError naming it."""
    from examples.fraud.pipeline import pipeline

    path = tmp_path / "missing.csv"
    with pytest.raises(sdk.IOSchemeError, match=r"missing\.csv"):
        pipeline.run(transactions=str(path))


def test_malformed_json_line_raises_io_scheme_error_naming_path_line(tmp_path: Path):
    """A line that is not valid JSON raises IOSchemeError naming path:line."""
    path = tmp_path / "tx.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3,\n{"a": 4}\n', encoding="utf-8")
    with pytest.raises(sdk.IOSchemeError) as info:
        resolve_scheme(str(path)).read(str(path))
    assert f"{path}:3" in str(info.value)


def test_non_object_json_line_raises_io_scheme_error_naming_its_line(tmp_path: Path):
    """A JSON line that is not an object raises IOSchemeError naming its physical line."""
    path = tmp_path / "tx.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(sdk.IOSchemeError) as info:
        resolve_scheme(str(path)).read(str(path))
    message = str(info.value)
    assert f"{path}:3" in message or f"{path}: line 3" in message, message


def test_corrupt_parquet_raises_io_scheme_error_naming_path(tmp_path: Path):
    """A file that is not Parquet raises IOSchemeError naming the path."""
    path = tmp_path / "tx.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(sdk.IOSchemeError) as info:
        resolve_scheme(str(path)).read(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_csv_file_is_refused_as_empty(tmp_path: Path, text: str):
    """A CSV file without even a header line is an error that says so (not a missing-column
    error listing no columns); a header with no rows is an empty dataset."""
    path = tmp_path / "tx.csv"
    path.write_text(text, encoding="utf-8")
    scheme = resolve_scheme(str(path))
    with pytest.raises(sdk.IOSchemeError, match=r"tx\.csv: the file is empty \(no header line\)"):
        scheme.read(str(path))
    with pytest.raises(sdk.IOSchemeError, match="the file is empty"):
        list(scheme.read_chunks(str(path), 10))
    path.write_text("customer_id,amount\n", encoding="utf-8")
    assert list(scheme.read(str(path)).frame.columns) == ["customer_id", "amount"]


# Writing.


def test_csv_round_trip_gives_back_the_text(tmp_path: Path):
    """A frame written as CSV reads back as the same values in text, missing as missing."""
    path = str(tmp_path / "out.csv")
    scheme = resolve_scheme(path)
    scheme.write(sample(), path)
    back = scheme.read(path).frame
    assert back["customer_id"].tolist() == ["1", "22", "333"]
    # floats are written in their shortest round-trip form (1000000.0 as "1000000")
    assert [float(v) for v in back["amount"]] == [1.5, 0.25, 1_000_000.0]
    assert back.loc[[0, 2], "country"].tolist() == ["US", "FR"]
    assert pd.isna(back.loc[1, "country"])
    assert not (tmp_path / "out.csv").read_text().startswith(",")  # no index column


def test_parquet_round_trip_keeps_values_and_dtypes(tmp_path: Path):
    """A frame written as Parquet reads back with the same values and dtypes."""
    path = str(tmp_path / "out.parquet")
    scheme = resolve_scheme(path)
    scheme.write(sample(), path)
    back = scheme.read(path).frame
    pd.testing.assert_frame_equal(back, sample())


def test_jsonl_round_trip_keeps_values(tmp_path: Path):
    """A frame written as JSON lines reads back with the same values, one object per line."""
    path = tmp_path / "out.jsonl"
    scheme = resolve_scheme(str(path))
    scheme.write(sample(), str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"customer_id": 1, "amount": 1.5, "country": "US"},
        {"customer_id": 22, "amount": 0.25, "country": None},
        {"customer_id": 333, "amount": 1000000.0, "country": "FR"},
    ]
    back = scheme.read(str(path)).frame
    assert back["customer_id"].tolist() == [1, 22, 333]
    assert back["amount"].tolist() == [1.5, 0.25, 1000000.0]
    assert back.loc[0, "country"] == "US" and pd.isna(back.loc[1, "country"])


def test_jsonl_empty_frame_round_trip(tmp_path: Path):
    """An empty frame written as JSON lines gives an empty file that reads back empty."""
    path = str(tmp_path / "out.jsonl")
    scheme = resolve_scheme(path)
    scheme.write(sample().iloc[:0], path)
    assert Path(path).read_text() == ""
    assert len(scheme.read(path).frame) == 0


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.jsonl"])
def test_write_leaves_no_temporary_files(tmp_path: Path, name: str):
    """After a write the folder holds only the written file (no temporary left behind)."""
    path = str(tmp_path / name)
    scheme = resolve_scheme(path)
    scheme.write(sample(), path)
    scheme.write(sample().iloc[:1], path)
    assert files_in(tmp_path) == [name]


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.jsonl"])
def test_write_creates_missing_parent_folders(tmp_path: Path, name: str):
    """Writing into a folder that does not exist yet creates it."""
    path = tmp_path / "a" / "b" / name
    resolve_scheme(str(path)).write(sample(), str(path))
    assert path.exists()


class Unserialisable:
    """An object pyarrow cannot write."""


def unwritable() -> pd.DataFrame:
    """A frame whose object column to_parquet cannot serialise."""
    return pd.DataFrame({"x": [Unserialisable(), Unserialisable()]})


def test_failed_write_leaves_previous_file_intact(tmp_path: Path):
    """A write that fails leaves the previous file untouched and no temporary behind."""
    path = tmp_path / "out.parquet"
    scheme = resolve_scheme(str(path))
    scheme.write(sample(), str(path))
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - any failure will do here
        scheme.write(unwritable(), str(path))
    assert path.read_bytes() == before
    pd.testing.assert_frame_equal(scheme.read(str(path)).frame, sample())
    assert files_in(tmp_path) == ["out.parquet"]


def test_failed_write_raises_io_scheme_error_naming_path(tmp_path: Path):
    """A write that cannot be done raises IOSchemeError (an SdkError) naming the path."""
    path = tmp_path / "out.parquet"
    with pytest.raises(sdk.IOSchemeError) as info:
        resolve_scheme(str(path)).write(unwritable(), str(path))
    assert str(path) in str(info.value)
    assert not path.exists()


# Writers: append, then commit or abort.

FILE_NAMES = ["out.csv", "out.parquet", "out.jsonl"]


@pytest.mark.parametrize("name", FILE_NAMES)
def test_writer_appends_chunks_and_commit_publishes_them_at_once(tmp_path: Path, name: str):
    """Chunks appended stay invisible (the old file is intact) until commit publishes them all."""
    path = str(tmp_path / name)
    scheme = resolve_scheme(path)
    scheme.write(sample().iloc[:1], path)
    before = Path(path).read_bytes()
    writer = open_writer(path)
    assert isinstance(writer, Writer)
    writer.append(sample().iloc[:2])
    writer.append(sample().iloc[2:])
    assert Path(path).read_bytes() == before
    writer.commit()
    assert len(scheme.read(path).frame) == 3
    assert files_in(tmp_path) == [name]


@pytest.mark.parametrize("name", FILE_NAMES)
def test_writer_abort_leaves_the_existing_file_and_no_temporary(tmp_path: Path, name: str):
    """Abort after appending leaves the previous file byte for byte and no temporary file."""
    path = str(tmp_path / name)
    resolve_scheme(path).write(sample(), path)
    before = Path(path).read_bytes()
    writer = open_writer(path)
    writer.append(sample().iloc[:1])
    assert len(files_in(tmp_path)) == 2  # the target and the hidden temporary beside it
    writer.abort()
    assert Path(path).read_bytes() == before
    assert files_in(tmp_path) == [name]


@pytest.mark.parametrize("name", FILE_NAMES)
def test_writer_abort_without_a_previous_file_leaves_nothing(tmp_path: Path, name: str):
    """Abort of a new destination leaves the folder as it was: no file, no temporary."""
    writer = open_writer(str(tmp_path / name))
    writer.append(sample())
    writer.abort()
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("name", FILE_NAMES)
def test_writer_commit_without_chunks_publishes_an_empty_dataset(tmp_path: Path, name: str):
    """A writer committed without any chunk still publishes a readable, empty file; a CSV one
    gets the header of the dataset's model."""
    path = str(tmp_path / name)
    open_writer(path, Rows).commit()
    frame = resolve_scheme(path).read(path).frame
    assert len(frame) == 0
    if name.endswith(".csv"):
        assert list(frame.columns) == ["a"]


def test_writer_refuses_chunks_after_commit(tmp_path: Path):
    """Appending to (or committing) a writer that is closed raises IOSchemeError naming it."""
    path = tmp_path / "out.csv"
    writer = open_writer(str(path))
    writer.commit()
    with pytest.raises(sdk.IOSchemeError, match=r"out\.csv.*already closed"):
        writer.append(sample())
    with pytest.raises(sdk.IOSchemeError, match="already closed"):
        writer.commit()
    writer.abort()  # harmless: the committed file stays
    assert path.exists()


def test_writer_failing_chunk_aborts_and_keeps_the_previous_file(tmp_path: Path):
    """A chunk the format cannot hold raises IOSchemeError; old file intact, no temporary."""
    path = tmp_path / "out.parquet"
    resolve_scheme(str(path)).write(sample(), str(path))
    before = path.read_bytes()
    writer = open_writer(str(path))
    writer.append(sample())
    with pytest.raises(sdk.IOSchemeError, match=r"out\.parquet.*previous file"):
        writer.append(unwritable())
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["out.parquet"]


@pytest.mark.parametrize("name", FILE_NAMES)
def test_published_files_get_the_permissions_of_a_new_file(tmp_path: Path, name: str):
    """An output's mode is 0666 less the umask, as if written directly (not mkstemp's 0600)."""
    umask = os.umask(0o027)
    try:
        path = tmp_path / name
        writer = open_writer(str(path))
        writer.append(sample())
        writer.commit()
        resolve_scheme(str(path)).write(sample(), str(tmp_path / f"whole-{name}"))
    finally:
        os.umask(umask)
    for written in (path, tmp_path / f"whole-{name}"):
        assert stat.S_IMODE(written.stat().st_mode) == 0o640


# The atomic-write helper.


def test_atomic_path_publishes_by_rename_with_new_file_permissions(tmp_path: Path):
    """atomic_path writes a temporary beside the target, then renames it into place."""
    target = tmp_path / "deep" / "out.bin"
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == target.parent and tmp.name.startswith(".out.bin.")
        assert not target.exists()
        tmp.write_bytes(b"new")

    atomic_path(target, write)
    assert target.read_bytes() == b"new"
    assert files_in(target.parent) == ["out.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("error", [ValueError("bad value"), KeyboardInterrupt()])
def test_atomic_path_failure_keeps_the_old_content_and_removes_the_temporary(
    tmp_path: Path, error: BaseException
):
    """Any failure (an interrupt too) keeps the previous content and leaves no temporary."""
    target = tmp_path / "out.json"
    atomic_text(target, "old")

    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise error

    expected = sdk.IOSchemeError if isinstance(error, Exception) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        atomic_path(target, write)
    if expected is sdk.IOSchemeError:
        message = str(info.value)
        assert str(target) in message and "bad value" in message and "unchanged" in message
    assert target.read_text() == "old"
    assert files_in(tmp_path) == ["out.json"]


def test_staged_file_publishes_or_discards(tmp_path: Path):
    """A StagedFile written across several calls replaces its target only when published."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    kept = StagedFile(target)
    kept.path.write_text("new")
    discarded = StagedFile(target)
    assert kept.path != discarded.path  # two writers of one target never share a temporary
    discarded.discard()
    assert target.read_text() == "old"
    kept.publish()
    assert target.read_text() == "new"
    assert files_in(tmp_path) == ["out.txt"]


# Optional capabilities, declared as protocols.


@pytest.mark.parametrize(
    ("scheme", "capabilities"),
    [
        (CsvScheme(), {"chunks", "writer", "exists"}),
        (ParquetScheme(), {"chunks", "writer", "exists"}),
        (JsonLinesScheme(), {"chunks", "writer", "exists"}),
        (StdioScheme(), set()),
        (SqliteScheme(), {"chunks", "writer", "exists"}),
        (PostgresScheme(), {"chunks", "writer", "exists"}),
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_built_in_schemes_declare_their_capabilities(scheme: object, capabilities: set[str]):
    """Every built-in scheme is an IOScheme and meets the protocols of its capabilities."""
    assert isinstance(scheme, sdk.IOScheme)
    found = {
        label
        for label, protocol in (
            ("chunks", SupportsReadChunks),
            ("writer", SupportsOpenWriter),
            ("exists", SupportsExists),
        )
        if isinstance(scheme, protocol)
    }
    assert found == capabilities


class MemoryScheme:
    """``memory://name``: frames kept in a dict; only what every scheme must have."""

    name = "memory"

    def __init__(self) -> None:
        self.frames: dict[str, pd.DataFrame] = {}
        self.writes = 0

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` starts with ``memory://``."""
        return uri.startswith("memory://")

    def read(self, uri: str) -> sdk.Loaded:
        """The frame stored at ``uri``, with sources ``<uri>@<row>``."""
        frame = self.frames[uri]
        return sdk.Loaded(frame, sdk.Sources.from_values([f"{uri}@{i}" for i in range(len(frame))]))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Store ``frame`` at ``uri`` (one assignment: all or nothing)."""
        self.writes += 1
        self.frames[uri] = frame.copy()


class ListWriter:
    """Chunks kept in a list, stored in a MemoryScheme on commit."""

    def __init__(self, scheme: MemoryScheme, uri: str) -> None:
        self.scheme, self.uri, self.parts = scheme, uri, list[pd.DataFrame]()

    def append(self, frame: pd.DataFrame) -> None:
        """Keep ``frame``."""
        self.parts.append(frame)

    def commit(self) -> None:
        """Store the chunks."""
        self.scheme.write(pd.concat(self.parts, ignore_index=True), self.uri)

    def abort(self) -> None:
        """Forget the chunks."""
        self.parts = []


class KeepingScheme(MemoryScheme):
    """``keeping://name``: a memory scheme with its own writer, which records its schema."""

    name = "keeping"

    def __init__(self) -> None:
        super().__init__()
        self.schemas: list[object] = []

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` starts with ``keeping://``."""
        return uri.startswith("keeping://")

    def open_writer(self, uri: str, schema: object) -> ListWriter:
        """A list writer; ``schema`` is recorded."""
        self.schemas.append(schema)
        return ListWriter(self, uri)


class MemoryPlugin:
    """A plugin registering a MemoryScheme and a KeepingScheme."""

    def __init__(self) -> None:
        self.memory, self.keeping = MemoryScheme(), KeepingScheme()

    @sdk.hookimpl
    def sdk_register_io_schemes(self) -> list[MemoryScheme]:
        """The two schemes."""
        return [self.memory, self.keeping]


@pytest.fixture
def plugin() -> Iterator[MemoryPlugin]:
    """The memory schemes registered in-process through a real plugin, for the test."""
    pm = sdk.plugins.get_plugin_manager()
    registered = MemoryPlugin()
    pm.register(registered, name="test-memory")
    yield registered
    pm.unregister(registered)


@pytest.fixture
def memory(plugin: MemoryPlugin) -> MemoryScheme:
    """The registered scheme that has only what every scheme must have."""
    return plugin.memory


def test_minimal_scheme_meets_no_optional_protocol(memory: MemoryScheme):
    """A scheme with only name/handles/read/write is an IOScheme and has no capability."""
    assert resolve_scheme("memory://x") is memory
    assert isinstance(memory, sdk.IOScheme)
    assert not isinstance(memory, SupportsReadChunks | SupportsOpenWriter | SupportsExists)


def test_minimal_scheme_gets_a_buffering_writer(memory: MemoryScheme):
    """open_writer buffers the chunks of a scheme without open_writer and writes once at commit."""
    writer = open_writer("memory://out")
    assert isinstance(writer, Writer)
    writer.append(sample().iloc[:2])
    writer.append(sample().iloc[2:])
    assert memory.frames == {} and memory.writes == 0
    writer.commit()
    assert memory.writes == 1
    pd.testing.assert_frame_equal(memory.frames["memory://out"], sample())

    with pytest.raises(sdk.IOSchemeError, match=r"memory://out.*already closed"):
        writer.append(sample())

    aborted = open_writer("memory://gone")
    aborted.append(sample())
    aborted.abort()
    assert "memory://gone" not in memory.frames and memory.writes == 1


class Rows(pa.DataFrameModel):
    """The rows a writer is told about."""

    a: int


def test_open_writer_passes_the_schema_to_a_scheme_that_opens_writers(plugin: MemoryPlugin):
    """open_writer(uri, schema) hands the schema to the scheme's own open_writer."""
    writer = open_writer("keeping://out", Rows)
    assert isinstance(plugin.keeping, SupportsOpenWriter)
    assert isinstance(writer, ListWriter)
    writer.append(pd.DataFrame({"a": [1]}))
    writer.commit()
    assert plugin.keeping.frames["keeping://out"]["a"].tolist() == [1]
    open_writer("keeping://other")
    assert plugin.keeping.schemas == [Rows, None]


def test_minimal_scheme_is_read_whole_then_sliced_into_chunks(memory: MemoryScheme):
    """iter_chunks reads a scheme without read_chunks whole, then yields positioned slices."""
    memory.frames["memory://in"] = pd.DataFrame({"a": range(5)})
    chunks = list(iter_chunks(memory, "memory://in", 2))
    assert [c.frame["a"].tolist() for c in chunks] == [[0, 1], [2, 3], [4]]
    assert [c.frame.index.tolist() for c in chunks] == [[0, 1], [2, 3], [4]]
    assert chunks[1].sources.render(np.arange(2)) == ["memory://in@2", "memory://in@3"]
    memory.frames["memory://empty"] = pd.DataFrame({"a": []})
    assert [len(c.frame) for c in iter_chunks(memory, "memory://empty", 2)] == [0]


def test_minimal_scheme_cannot_tell_whether_a_dataset_exists(memory: MemoryScheme):
    """exists() is False for a scheme without the exists capability, even for a stored frame."""
    memory.frames["memory://in"] = sample()
    assert exists(memory, "memory://in") is False


# Standard input and output.


def test_stdio_write_emits_json_lines(capsys: pytest.CaptureFixture[str]):
    """Writing to `-` prints one JSON object per line on stdout."""
    resolve_scheme("-").write(sample(), "-")
    out = capsys.readouterr().out
    assert [json.loads(x)["customer_id"] for x in out.splitlines()] == [1, 22, 333]


def test_stdio_read_parses_json_lines(monkeypatch: pytest.MonkeyPatch):
    """Reading `-` parses JSON lines from stdin with sources stdin:line."""
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"a": "x"}\n{"a": "y"}\n'))
    loaded = resolve_scheme("-").read("-")
    assert loaded.frame["a"].tolist() == ["x", "y"]
    assert loaded.sources.render(np.array([1])) == ["stdin:2"]


def test_cli_reads_stdin_and_writes_stdout(repo_root: Path, tmp_path: Path):
    """`sdk run ... --input transactions=- --output scored=-` pipes JSON lines through."""
    rows = [
        {"customer_id": 1, "amount": 10.0, "country": "US"},
        {"customer_id": "2", "amount": "20.5", "country": "FR"},
        {"customer_id": 1, "amount": "12,5x", "country": "US"},
        {"customer_id": 1, "amount": 30.0, "country": "US"},
    ]
    quarantine = tmp_path / "q.jsonl"
    proc = subprocess.run(
        [
            sys.executable, "-m", "sdk", "run", "examples.fraud.pipeline:pipeline",
            "--input", "transactions=-", "--output", "scored=-",
            "--quarantine", str(quarantine), "--max-invalid", "1",
        ],
        input="".join(json.dumps(r) + "\n" for r in rows),
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert [(r["customer_id"], r["amount"], r["country"]) for r in out] == [
        (1, 10.0, "US"),
        (2, 20.5, "FR"),
        (1, 30.0, "US"),
    ]
    assert [r["n_tx"] for r in out] == [2, 1, 2]
    assert all(0 <= r["score"] <= 1 for r in out)
    records = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(r["source"], r["value"]) for r in records] == [("stdin:3", "12,5x")]
