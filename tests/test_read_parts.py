"""Reading in parts (``sdk.io.read_parts`` / ``read_part``): every part's rows and sources,
joined, are the whole read's — same values, index and rendered source of every row — and parts
pickle and read in another process."""

from __future__ import annotations

import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdk
from sdk.io import (
    Loaded,
    Part,
    SupportsReadParts,
    _csv,
    read_part,
    read_parts,
)
from sdk.io.files import CsvScheme, JsonLinesScheme, ParquetScheme
from sdk.io.parts import CsvSpan, RowGroups


def write(tmp_path: Path, text: str, name: str = "in.csv") -> str:
    """Write ``text`` (UTF-8, line ends as given) to ``tmp_path/name``; return its path."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def rendered(loaded: Loaded) -> list[str]:
    """The source of every row of ``loaded``."""
    return loaded.sources.render(np.arange(len(loaded.frame)))


def joined(loaded: list[Loaded]) -> pd.DataFrame:
    """The parts' frames, one after the other (the empty ones left out unless all are)."""
    frames = [x.frame for x in loaded if len(x.frame)] or [loaded[0].frame]
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def assert_parts_are_whole(uri: str, part_rows: int, scheme: object = None) -> list[Part]:
    """Plan ``uri`` in parts of ``part_rows``, read each (pickled first, as a worker gets it)
    and check that together they are the whole read; return the parts."""
    scheme = scheme or CsvScheme()
    assert isinstance(scheme, SupportsReadParts)
    whole = scheme.read(uri)  # type: ignore[attr-defined]
    parts = read_parts(uri, part_rows)
    assert [p.index for p in parts] == list(range(len(parts)))
    loaded = [read_part(pickle.loads(pickle.dumps(p))) for p in parts]
    offset = 0
    for part, one in zip(parts, loaded, strict=True):
        assert part.uri == uri and part.offset == offset
        assert part.rows in (None, len(one.frame))
        assert list(one.frame.index) == list(range(offset, offset + len(one.frame)))
        offset += len(one.frame)
    pd.testing.assert_frame_equal(joined(loaded), whole.frame)
    assert list(joined(loaded).index) == list(range(len(whole.frame)))
    assert [s for one in loaded for s in rendered(one)] == rendered(whole)
    return parts


# 1. CSV: the cases of the edges issue, in many parts and in one.

CASES = {
    "plain": "id,note,code\n" + "".join(f"{i},n{i},c{i}\n" for i in range(1, 11)),
    "quoted newlines": 'id,note,code\n1,"two\nlines",x\n2,b,y\n3,"a,\n\nb ""q""",z\n4,d,w\n'
    '5,"e\r\nf",v\n6,f,u\n',
    "crlf": "id,note,code\r\n1,a,x\r\n2,b,y\r\n3,c,z\r\n4,d,w\r\n5,e,v\r\n",
    "bom": "\ufeffid,note,code\n1,a,x\n2,b,y\n3,c,z\n4,d,w\n",
    "blank lines": "\n  \nid,note,code\n\n1,a,x\n \t\n\n2,b,y\n3,c,z\n\n\n4,d,w\n\n",
    "too many and too few fields": "id,note,code\n1,a,x,\n2,b\n3,c,z\n4,d,w,more,more\n5\n"
    '6,"f,\nf",y,extra\n7,g,h\n',
    "only malformed": "id,note,code\n1\n2,b\n3,c,d,e\n",
    "header only": "id,note,code\n",
    "header only, no line end": "id,note,code",
    "no trailing newline": "id,note,code\n1,a,x\n2,b,y\n3,c,z\n4,d,w",
    "no trailing newline, quoted": 'id,note,code\n1,a,x\n2,b,y\n3,c,z\n4,"d\nd",w',
    "empty values and NA text": "id,note,code\n1,,NA\n,,\n3,null,\n4,n/a,x\n",
    "quoted header": '"id","no\nte",code\n1,a,x\n2,b,y\n3,c,z\n',
    "irregular quote": 'id,note,code\n1,a,x\n2,"oops,y\n3,c,z\n4,5" disk,w\n5,e,v\n',
    "unclosed quote at the end": 'id,note,code\n1,a,x\n2,b,y\n3,"c,z\n4,d,w\n',
    "lone carriage return": "id,note,code\n1,a,x\n2,b\ry,y\n3,c,z\n",
}
IRREGULAR = {"irregular quote", "unclosed quote at the end", "lone carriage return"}


@pytest.mark.parametrize("part_rows", [1, 3, 1000])
@pytest.mark.parametrize("case", sorted(CASES))
def test_csv_parts_are_the_whole_read(tmp_path: Path, case: str, part_rows: int) -> None:
    uri = write(tmp_path, CASES[case])
    parts = assert_parts_are_whole(uri, part_rows)
    rows = len(CsvScheme().read(uri).frame)
    if case in IRREGULAR:  # the reader leaves its fast path: the file is one part
        assert parts == [Part(uri, 0, 0, None, None)]
    else:
        assert len(parts) == max(1, math.ceil(rows / part_rows))
        assert [p.rows for p in parts[:-1]] == [part_rows] * (len(parts) - 1)
        assert all(isinstance(p.locator, CsvSpan) for p in parts)


def test_a_part_starts_on_its_first_record_physical_line(tmp_path: Path) -> None:
    """Quoted newlines make records span lines: each part knows its first byte's line."""
    uri = write(tmp_path, 'id,note,code\n1,"a\nb\nc",x\n\n2,b,y\n3,"c\r\nd",z\n4,d,w\n')
    parts = assert_parts_are_whole(uri, 2)
    spans = [p.locator for p in parts]
    assert all(isinstance(s, CsvSpan) for s in spans)
    assert [s.line for s in spans if isinstance(s, CsvSpan)] == [2, 7]
    assert rendered(read_part(parts[1])) == [f"{uri}:7", f"{uri}:9"]


def test_malformed_rows_carry_the_marker_in_every_part(tmp_path: Path) -> None:
    """One malformed line anywhere: every part has the malformed column, as the whole read."""
    uri = write(tmp_path, "id,note,code\n1,a,x\n2,b,y\n3,c,z\n4,d\n")
    parts = read_parts(uri, 2)
    first = read_part(parts[0]).frame
    assert "__sdk_malformed__" in first.columns and first["__sdk_malformed__"].isna().all()
    assert read_part(parts[1]).frame["__sdk_malformed__"].tolist()[-1] == "4,d"


def test_empty_file_is_refused_as_the_whole_read_refuses_it(tmp_path: Path) -> None:
    for text in ("", "\n\n  \n"):
        uri = write(tmp_path, text)
        with pytest.raises(sdk.IOSchemeError) as whole:
            CsvScheme().read(uri)
        with pytest.raises(sdk.IOSchemeError) as parted:
            read_parts(uri, 3)
        assert str(parted.value) == str(whole.value)


def test_invalid_utf8_is_refused_by_its_part_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,note,code\n1,a,x\n2,b,y\n3,\xff,z\n4,d,w\n")
    with pytest.raises(sdk.IOSchemeError) as whole:
        CsvScheme().read(str(path))
    parts = read_parts(str(path), 2)
    read_part(parts[0])
    with pytest.raises(sdk.IOSchemeError) as parted:
        read_part(parts[1])
    assert str(parted.value) == str(whole.value)
    assert f"{path}:4" in str(parted.value)


def test_a_file_changed_since_planning_is_refused(tmp_path: Path) -> None:
    uri = write(tmp_path, "id,note,code\n1,a,x\n2,b,y\n3,c,z\n")
    parts = read_parts(uri, 2)
    Path(uri).write_text("id,note,code\n1,a,x\n")
    with pytest.raises(sdk.IOSchemeError, match="changed since its parts were planned"):
        read_part(parts[1])


def test_part_rows_must_be_positive(tmp_path: Path) -> None:
    uri = write(tmp_path, "id\n1\n")
    for bad in (0, -1):
        with pytest.raises(ValueError, match="part_rows"):
            read_parts(uri, bad)
        with pytest.raises(ValueError, match="part_rows"):
            CsvScheme().read_parts(uri, bad)


def test_parts_span_many_blocks_of_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts larger than a block of the reader, and blocks larger than a part."""
    lines = ["id,note,code"] + [
        f'{i},"n{i}\n{i}",c{i}' if i % 7 == 0 else f"{i},n{i},c{i}" for i in range(1000)
    ]
    lines[500] += ",extra"
    uri = write(tmp_path, "\n".join(lines) + "\n")
    for block in (64, 1000, 1 << 22):
        monkeypatch.setattr(_csv, "_BLOCK", block)
        for part_rows in (17, 333, 5000):
            assert_parts_are_whole(uri, part_rows)


# 2. CSV, property-based: regular and irregular text, any block size, any part size.

_PLAIN = st.text(alphabet="ab1 é\t", max_size=4)
_QUOTED = (
    st.lists(st.sampled_from(["a", ",", "\n", "\r\n", '"', " ", "é", ""]), max_size=5)
    .map("".join)
    .map(lambda t: '"' + t.replace('"', '""') + '"')
)
_FIELDS = _PLAIN | _QUOTED
_RECORD = (
    st.lists(_FIELDS, min_size=3, max_size=3).map(",".join)  # a row, most often
    | st.lists(_FIELDS, min_size=3, max_size=3).map(",".join)
    | st.lists(_FIELDS, min_size=1, max_size=5).map(",".join)  # any number of fields
    | st.sampled_from(["", "  ", "\t"])  # blank
)
_REGULAR = st.tuples(
    st.lists(_RECORD, min_size=2, max_size=25),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
).map(lambda t: t[1].join(t[0]) + (t[1] if t[2] else ""))
_ANY = st.lists(
    st.sampled_from(['"', ",", "\n", "\r\n", "x", "7", " ", '""', "é", "\t", ",,", "\r"])
    | st.text(alphabet='ab1,"\n', max_size=4),
    max_size=40,
).map("".join)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_REGULAR | _REGULAR | _ANY,
    header=st.sampled_from(["a,b,c", "a,b,c\r", '"a",b,"c"', "\ufeffa,b,c"]),
    block=st.sampled_from([4, 16, 1 << 22]),
    part_rows=st.sampled_from([1, 2, 3, 50]),
)
def test_any_csv_text_in_parts_is_the_whole_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    header: str,
    block: int,
    part_rows: int,
) -> None:
    monkeypatch.setattr(_csv, "_BLOCK", block)
    uri = write(tmp_path, header + "\n" + body)
    parts = assert_parts_are_whole(uri, part_rows)
    if isinstance(parts[0].locator, CsvSpan):
        rows = sum(p.rows or 0 for p in parts)
        assert len(parts) == max(1, math.ceil(rows / part_rows))


# 3. Parquet: parts are whole row groups.


def parquet(tmp_path: Path, sizes: list[int], name: str = "in.parquet") -> str:
    """A Parquet file with one row group of each of ``sizes`` rows; return its path."""
    total = sum(sizes)
    frame = pd.DataFrame(
        {
            "id": np.arange(total, dtype=np.int64),
            "name": pd.array([f"n{i}" if i % 3 else None for i in range(total)], dtype="str"),
            "amount": np.arange(total) / 4,
            "flag": np.arange(total) % 2 == 0,
            "at": pd.date_range("2026-01-01", periods=total, freq="h"),
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = tmp_path / name
    with pq.ParquetWriter(path, table.schema) as writer:
        start = 0
        for size in sizes:
            writer.write_table(table.slice(start, size))
            start += size
    return str(path)


@pytest.mark.parametrize(
    ("part_rows", "groups"),
    [(1, [(0,), (1,), (2,), (3,)]), (5, [(0,), (1, 2), (3,)]), (3, [(0,), (1,), (2, 3)]),
     (6, [(0, 1), (2, 3)]), (100, [(0, 1, 2, 3)])],
)  # fmt: skip
def test_parquet_parts_are_whole_row_groups(
    tmp_path: Path, part_rows: int, groups: list[tuple[int, ...]]
) -> None:
    """Consecutive row groups while a part keeps at most ``part_rows`` rows."""
    uri = parquet(tmp_path, [3, 3, 2, 1])
    parts = assert_parts_are_whole(uri, part_rows, ParquetScheme())
    assert [p.locator.groups for p in parts if isinstance(p.locator, RowGroups)] == groups
    assert rendered(read_part(parts[-1]))[-1] == f"{uri}#8"


def test_a_row_group_larger_than_part_rows_is_a_part_of_its_own(tmp_path: Path) -> None:
    uri = parquet(tmp_path, [2, 7, 1, 1])
    parts = assert_parts_are_whole(uri, 3, ParquetScheme())
    assert [(p.offset, p.rows) for p in parts] == [(0, 2), (2, 7), (9, 2)]


def test_parquet_categories_and_a_stored_index_as_the_whole_read(tmp_path: Path) -> None:
    """A categorical column whose row groups hold other categories, and an index stored as a
    column (which the whole read drops): parts convert them as the whole read does."""
    frame = pd.DataFrame(
        {"c": pd.Categorical(list("abacdd")), "i": range(6), "key": list("uvwxyz")}
    ).set_index("key")
    table = pa.Table.from_pandas(frame)
    path = tmp_path / "cat.parquet"
    with pq.ParquetWriter(path, table.schema) as writer:
        for start in (0, 2, 4):
            writer.write_table(table.slice(start, 2))
    assert len(assert_parts_are_whole(str(path), 2, ParquetScheme())) == 3


def test_parquet_without_rows_is_one_empty_part(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"id": pd.array([], dtype="int64")}).to_parquet(path, index=False)
    parts = assert_parts_are_whole(str(path), 10, ParquetScheme())
    assert len(parts) == 1 and parts[0].rows == 0


def test_corrupt_parquet_is_refused_when_planned(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(sdk.IOSchemeError, match="cannot be read as Parquet"):
        read_parts(str(path), 10)


# 4. Parts travel: pickled, read in a fresh process; schemes without the capability.


def test_parts_read_in_a_fresh_process_are_the_same(tmp_path: Path) -> None:
    csv_uri = write(tmp_path, CASES["too many and too few fields"])
    pq_uri = parquet(tmp_path, [4, 4, 4])
    parts = read_parts(csv_uri, 2) + read_parts(pq_uri, 4)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = list(pool.map(read_part, parts))
    for part, there in zip(parts, remote, strict=True):
        here = read_part(part)
        pd.testing.assert_frame_equal(there.frame, here.frame)
        assert rendered(there) == rendered(here)


def test_a_scheme_without_the_capability_is_one_whole_part(tmp_path: Path) -> None:
    uri = write(tmp_path, '{"a": 1}\n\n{"a": 2}\n{"b": "x"}\n', "in.jsonl")
    assert not isinstance(JsonLinesScheme(), SupportsReadParts)
    parts = read_parts(uri, 1)
    assert parts == [Part(uri, 0, 0, None, None)]
    one = read_part(parts[0])
    whole = JsonLinesScheme().read(uri)
    pd.testing.assert_frame_equal(one.frame, whole.frame)
    assert rendered(one) == rendered(whole) == [f"{uri}:1", f"{uri}:3", f"{uri}:4"]


def test_the_capability_is_public() -> None:
    assert sdk.read_parts is read_parts and sdk.read_part is read_part and sdk.Part is Part
    assert isinstance(CsvScheme(), SupportsReadParts)
    assert isinstance(ParquetScheme(), SupportsReadParts)
