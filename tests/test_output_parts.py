"""Output parts written by workers and published by the client, and Parquet dataset folders.

The published output must be what ``open_writer`` writes from the same frames appended in
order: the same bytes for CSV and JSON lines, the same frame read back for Parquet.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame

import sdk
from sdk import IOSchemeError, OutputPart, Pipeline, Step
from sdk.io import open_writer
from sdk.plugins import resolve_scheme


def written(uri: str, frames: list[pd.DataFrame], schema: type[pa.DataFrameModel] | None = None):
    """Write ``frames`` to ``uri`` through the core writer."""
    writer = open_writer(uri, schema)
    for frame in frames:
        writer.append(frame)
    writer.commit()


def published(uri: str, frames: list[pd.DataFrame], run_id: str = "r1") -> int:
    """Write ``frames`` as parts (out of order, as workers finish) and publish them."""
    staging = sdk.output_staging(uri, run_id)
    parts = [sdk.write_output_part(uri, f, i, staging) for i, f in enumerate(frames)][::-1]
    parts = pickle.loads(pickle.dumps(parts))  # they travel from workers to the client
    rows = sdk.publish_output_parts(uri, parts)
    assert not Path(staging).exists()
    return rows


# -- byte-identical text formats ----------------------------------------------------------------

TEXT = st.text(alphabet=st.sampled_from('ab,"\n é'), max_size=4)
ROW = st.tuples(st.none() | st.integers(-5, 5), TEXT, st.integers(0, 3) | TEXT)
FRAMES = st.lists(st.lists(ROW, max_size=4), max_size=4)


@settings(max_examples=30, deadline=None)
@given(chunks=FRAMES)
def test_csv_and_jsonl_parts_join_to_the_writers_bytes(tmp_path_factory, chunks):
    """CSV and JSON lines joined from parts are byte for byte what the writer writes: quoted
    commas and newlines, mixed-type columns written by pandas, empty parts, no rows at all."""
    frames = [pd.DataFrame(rows, columns=["n", "text", "mixed"]) for rows in chunks]
    tmp = tmp_path_factory.mktemp("bytes")
    for suffix in ("csv", "jsonl"):
        ref, out = f"{tmp}/ref.{suffix}", f"{tmp}/out.{suffix}"
        written(ref, frames)
        assert published(out, frames) == sum(len(f) for f in frames)
        assert Path(out).read_bytes() == Path(ref).read_bytes()


class Scored(pa.DataFrameModel):
    """The columns of an empty output."""

    n: int
    score: float


def test_no_parts_publish_what_the_writer_publishes_for_an_empty_dataset(tmp_path):
    """Without parts, a CSV output is the header from the schema, as the writer makes it."""
    for suffix in ("csv", "jsonl", "parquet"):
        ref, out = f"{tmp_path}/ref.{suffix}", f"{tmp_path}/out.{suffix}"
        written(ref, [], Scored)
        assert sdk.publish_output_parts(out, [], Scored) == 0
        assert Path(out).read_bytes() == Path(ref).read_bytes() or suffix == "parquet"
    assert Path(f"{tmp_path}/out.csv").read_text() == '"n","score"\n'
    assert pd.read_parquet(f"{tmp_path}/out.parquet").empty


# -- Parquet file -------------------------------------------------------------------------------


def test_parquet_parts_join_to_the_writers_frame(tmp_path):
    """Row groups are copied and cast to the first part's types: a nullable integer column
    all-null in one part, an empty part, integers after floats."""
    frames = [
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "x": [0.5, 1.5], "s": ["a", "b"]}),
        pd.DataFrame({"n": pd.array([None, None], dtype="Int64"), "x": [2, 3], "s": ["c", None]}),
        pd.DataFrame({"n": pd.array([], dtype="Int64"), "x": [], "s": []}),
        pd.DataFrame({"n": pd.array([7], dtype="Int64"), "x": [4.0], "s": ["d,e"]}),
    ]
    written(f"{tmp_path}/ref.parquet", frames)
    assert published(f"{tmp_path}/out.parquet", frames) == 5
    out = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(out, pd.read_parquet(tmp_path / "ref.parquet"))
    assert str(out["n"].dtype) == "Int64" and out["n"].tolist()[:4] == [1, pd.NA, pd.NA, pd.NA]


# -- Parquet dataset folders --------------------------------------------------------------------


def test_folder_parts_and_writer_give_the_same_dataset(tmp_path):
    """A folder published from parts holds the files the folder writer writes (one per part
    with rows), and reads back, whole, in chunks and in parts, with ``file#row`` sources."""
    frames = [
        pd.DataFrame({"n": [1, 2], "s": ["a", None]}),
        pd.DataFrame({"n": pd.Series([], dtype="int64"), "s": []}),
        pd.DataFrame({"n": [3], "s": ["c"]}),
    ]
    ref, out = f"{tmp_path}/ref/", f"{tmp_path}/out/"
    written(ref, frames)
    assert published(out, frames) == 3
    names = sorted(p.name for p in Path(out).iterdir())
    assert names == sorted(p.name for p in Path(ref).iterdir())
    assert names == ["part-000000.parquet", "part-000001.parquet"]
    scheme = resolve_scheme(out)
    loaded = scheme.read(out)
    pd.testing.assert_frame_equal(loaded.frame, scheme.read(ref).frame)
    assert loaded.frame["n"].tolist() == [1, 2, 3]
    sources = [f"{out}part-000000.parquet#0", f"{out}part-000000.parquet#1"]
    assert loaded.sources.render([0, 1, 2]) == [*sources, f"{out}part-000001.parquet#0"]
    parts = sdk.read_parts(out, 10)
    assert [(p.offset, p.rows) for p in parts] == [(0, 2), (2, 1)]
    last = sdk.read_part(parts[1])
    assert last.frame.index.tolist() == [2]
    assert last.sources.render([0]) == [f"{out}part-000001.parquet#0"]
    chunks = list(sdk.io.iter_chunks(scheme, out, 1))
    assert [c.frame.index[0] for c in chunks] == [0, 1, 2]
    assert chunks[2].sources.render([0]) == [f"{out}part-000001.parquet#0"]
    assert sdk.io.exists(scheme, out) and not sdk.io.exists(scheme, f"{tmp_path}/none/")


def test_folder_is_replaced_whole(tmp_path):
    """An existing dataset folder is replaced, never merged: its old parts are gone."""
    out = f"{tmp_path}/out/"
    written(out, [pd.DataFrame({"n": [i]}) for i in range(3)])
    published(out, [pd.DataFrame({"n": [9]})])
    assert [p.name for p in Path(out).iterdir()] == ["part-000000.parquet"]
    assert resolve_scheme(out).read(out).frame["n"].tolist() == [9]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside it


def test_a_folder_of_other_files_is_never_replaced(tmp_path):
    """A folder holding anything but part files is refused by the writer and by publish,
    naming the folder and what is in it; its files stay as they were."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.txt").write_text("years of work")
    uri = f"{home}/"
    frame = pd.DataFrame({"n": [1]})
    with pytest.raises(IOSchemeError, match=r"thesis\.txt.*choose a new folder"):
        written(uri, [frame])
    part = sdk.write_output_part(uri, frame, 0, sdk.output_staging(uri, "r2"))
    with pytest.raises(IOSchemeError, match="not part of a Parquet dataset"):
        sdk.publish_output_parts(uri, [part])
    assert [p.name for p in home.iterdir()] == ["thesis.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(IOSchemeError, match="is a file, not a folder"):
        written(f"{tmp_path}/file/", [frame])


# -- staging, discarding, failures --------------------------------------------------------------


def test_which_destinations_can_be_written_in_parts():
    """Local CSV, Parquet, JSON-lines files and folders; not stdout, databases or streams."""
    yes = ["a.csv", "b/c.parquet", "d.jsonl", "file:///tmp/e.CSV", "out/scored/"]
    no = ["-", "sqlite:///x.db?table=t", "postgresql://h/db?table=t", "redis://h/0?stream=s"]
    assert [sdk.output_parts_supported(u) for u in yes] == [True] * 5
    assert [sdk.output_parts_supported(u) for u in [*no, "x.txt", "s3://b/x/"]] == [False] * 6


def test_staging_is_hidden_beside_the_target_and_per_run(tmp_path):
    """The staging folder is a hidden sibling of the target, one per run; discarding it
    removes it, twice without error."""
    first = sdk.output_staging(f"{tmp_path}/out/scored.csv", "run-1")
    assert Path(first).parent == tmp_path / "out"
    assert Path(first).name.startswith(".scored.csv.")
    assert Path(sdk.output_staging(f"{tmp_path}/out/scored/", "run-1")).parent == tmp_path / "out"
    assert first != sdk.output_staging(f"{tmp_path}/out/scored.csv", "run-2")
    sdk.write_output_part(f"{tmp_path}/out/scored.csv", pd.DataFrame({"n": [1]}), 0, first)
    sdk.discard_output_parts(first)
    sdk.discard_output_parts(first)
    assert not Path(first).exists()


def test_a_failed_publish_leaves_the_target_as_it_was(tmp_path):
    """A part file gone missing fails the publish with the target named; the previous file is
    unchanged, and a destination without parts support is refused with the fix."""
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    staging = sdk.output_staging(str(target), "r3")
    part = sdk.write_output_part(str(target), pd.DataFrame({"n": [1]}), 0, staging)
    lost = OutputPart(part.uri, f"{staging}/gone.csv", 1, 1)
    with pytest.raises(IOSchemeError, match=r"out\.csv.*unchanged"):
        sdk.publish_output_parts(str(target), [part, lost])
    assert target.read_text() == "old\n"
    with pytest.raises(IOSchemeError, match="open_writer"):
        sdk.output_staging("sqlite:///x.db?table=t", "r3")


# -- runners ------------------------------------------------------------------------------------


class Numbers(pa.DataFrameModel):
    """Integers."""

    n: int


class Doubled(Numbers):
    """Integers and their doubles."""

    double: int


class Double(Step):
    """Double each number."""

    output = "scored"

    def run(self, data: DataFrame[Numbers]) -> DataFrame[Doubled]:
        """Compute ``double = 2 * n``."""
        return data.assign(double=data["n"] * 2)


@pytest.mark.parametrize("runner", ["local", "batch"])
def test_runners_write_a_dataset_folder(tmp_path, runner):
    """``outputs={"scored": "out/scored/"}`` writes a Parquet dataset folder with the local
    and the batch runner; reading it as an input over itself is refused."""
    source = tmp_path / "in.csv"
    source.write_text("n\n1\n2\n3\n4\n5\n")
    out = f"{tmp_path}/out/scored/"
    options = {"chunk_rows": 2, "progress": False} if runner == "batch" else {}
    pipeline = Pipeline([Double()], name="tiny")
    pipeline.run(runner, outputs={"scored": out}, runner_options=options, data=str(source))
    frame = resolve_scheme(out).read(out).frame
    assert frame["double"].tolist() == [2, 4, 6, 8, 10]
    with pytest.raises(sdk.PipelineError, match="is the input"):
        pipeline.run(runner, outputs={"scored": out}, overwrite=True, data=out)
