"""Readers at the edges: every physical line of a CSV file is the header, a row, or quarantined;
errors a user can cause in an input file are one line, exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame

import sdk
from sdk import Pipeline, Step
from sdk.io import _csv
from sdk.io.files import CsvScheme
from sdk.testing import assert_equivalent
from sdk.validation import BoundaryCheck, compile_model, validate_frame
from tests.conftest import cli

FRAUD = "examples.fraud.pipeline:pipeline"


class Rec(pa.DataFrameModel):
    """A record: an id, a note, a code (all required)."""

    id: int
    note: str
    code: str

    class Config:
        coerce = True


class Copy(Step):
    """Pass the records through (rows)."""

    output = "out"
    scope = "rows"

    def run(self, rec: DataFrame[Rec]) -> DataFrame[Rec]:
        """Return the records unchanged."""
        return rec


PIPELINE = Pipeline([Copy()], name="readers")


def write(tmp_path: Path, text: str, name: str = "rec.csv") -> str:
    """Write ``text`` (UTF-8, newlines as given) to ``tmp_path/name``; return the path."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def run_local(path: str) -> Any:
    """Run the copy pipeline on ``path`` (no error budget)."""
    return PIPELINE.run(rec=path, max_invalid=1.0)


def run_batch(path: str, chunk_rows: int = 2) -> Any:
    """Run the copy pipeline on ``path`` with the batch runner, in small chunks."""
    return PIPELINE.run(
        "batch",
        rec=path,
        max_invalid=1.0,
        runner_options={"chunk_rows": chunk_rows, "progress": False},
    )


def quarantined(result: Any) -> list[tuple[str, str | None, str, str | None]]:
    """(source, column, check, value) of each quarantine record, in file order."""
    q = result.quarantine
    return [
        (s, None if pd.isna(c) else c, k, None if pd.isna(v) else v)
        for s, c, k, v in zip(q["source"], q["column"], q["check"], q["value"], strict=True)
    ]


def raw_lines(result: Any) -> list[str]:
    """The raw text each field_count record's row shows."""
    q = result.quarantine
    return [json.loads(r)["__sdk_malformed__"] for r in q.loc[q["check"] == "field_count", "row"]]


def ids(result: Any) -> list[int]:
    """The ids of the output rows."""
    return [int(v) for v in result.outputs["out"]["id"]]


# 1. A line with the wrong number of fields is quarantined as `field_count`, with its raw line.


def test_trailing_comma_on_first_row_is_quarantined_not_shifted(tmp_path: Path):
    """One field too many on the first data row: that line is quarantined; no column shifts."""
    path = write(tmp_path, "id,note,code\n1,a,x,\n2,b,y\n")
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:2", None, "field_count", None)]
    assert raw_lines(result) == ["1,a,x,"]
    out = result.outputs["out"]
    assert out[["note", "code"]].values.tolist() == [["b", "y"]]
    assert ids(result) == [2]


def test_extra_field_on_a_later_row_is_quarantined_and_the_run_goes_on(tmp_path: Path):
    """One field too many on a later row: that line is quarantined, the other rows pass."""
    path = write(tmp_path, "id,note,code\n1,a,x\n2,b,y,z\n3,c,w\n")
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:3", None, "field_count", None)]
    assert raw_lines(result) == ["2,b,y,z"]
    assert ids(result) == [1, 3]
    assert "__sdk_malformed__" not in result.outputs["out"].columns


def test_missing_field_is_quarantined_not_read_as_missing_value(tmp_path: Path):
    """A line with too few fields is quarantined as field_count, not read with a missing value."""
    path = write(tmp_path, "id,note,code\n1,a\n2,b,y\n")
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:2", None, "field_count", None)]
    assert raw_lines(result) == ["1,a"]
    assert ids(result) == [2]


def test_bad_field_counts_are_counted_at_the_input_boundary(tmp_path: Path):
    """Conservation at the input: rows = passed + quarantined, field_count counted as a failure."""
    path = write(tmp_path, "id,note,code\n1,a,x,\n2,b,y\n3\n4,d,z\n")
    report = run_local(path).report
    text = json.dumps(report, default=str)
    assert "field_count" in text


def test_batch_quarantines_bad_field_counts_like_local(tmp_path: Path):
    """The batch runner (chunked reads) gives the same rows and quarantine as local."""
    lines = ["id,note,code"] + [f"{i},n{i},c{i}" for i in range(1, 12)]
    lines[1] += ","
    lines[5] = "5,n5"
    lines[9] += ",extra,more"
    path = write(tmp_path, "\n".join(lines) + "\n")
    local = run_local(path)
    assert [s for s, *_ in quarantined(local)] == [f"{path}:2", f"{path}:6", f"{path}:10"]
    assert_equivalent(local, run_batch(path))
    assert_equivalent(local, run_batch(path, chunk_rows=1))


def test_read_chunks_gives_the_rows_and_lines_of_read(tmp_path: Path):
    """CsvScheme.read_chunks gives the same rows, marker and source lines as read."""
    path = write(tmp_path, 'id,note,code\n1,a,x,\n\n2,"b\nb",y\n3,c\n4,d,z\n')
    scheme = CsvScheme()
    whole = scheme.read(path)
    chunks = list(scheme.read_chunks(path, 2))
    assert all(len(c.frame) <= 2 for c in chunks)
    joined = pd.concat([c.frame for c in chunks])
    pd.testing.assert_frame_equal(joined, whole.frame)
    lines = [s for c in chunks for s in c.sources.render(np.arange(len(c.frame)))]
    assert lines == whole.sources.render(np.arange(len(whole.frame)))
    assert lines == [f"{path}:{n}" for n in (2, 4, 6, 7)]


# 2. Runaway quotes: every line is accounted for, nothing vanishes.


def test_unterminated_quote_quarantines_its_line_and_keeps_the_rest(tmp_path: Path):
    """A quote never closed: its line is quarantined; every later line is still read."""
    lines = ["id,note,code"] + [f"{i},n{i},c{i}" for i in range(1, 3001)]
    lines[100] = '100,"oops,c100'
    path = write(tmp_path, "\n".join(lines) + "\n")
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:101", None, "field_count", None)]
    assert raw_lines(result) == ['100,"oops,c100']
    assert len(result.outputs["out"]) == 2999
    assert_equivalent(result, run_batch(path, chunk_rows=500))


def test_stray_quote_does_not_swallow_lines_up_to_the_next_quote(tmp_path: Path):
    """A stray quote that a later quote would close: only its line is quarantined."""
    lines = ["id,note,code"] + [f"{i},n{i},c{i}" for i in range(1, 3001)]
    lines[100] = '100,"oops,c100'
    lines[1000] = '1000,"a, quoted note",c1000'
    path = write(tmp_path, "\n".join(lines) + "\n")
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:101", None, "field_count", None)]
    assert raw_lines(result) == ['100,"oops,c100']
    out = result.outputs["out"]
    assert len(out) == 2999
    assert out.loc[out["id"] == 1000, "note"].tolist() == ["a, quoted note"]
    assert_equivalent(result, run_batch(path, chunk_rows=500))


def test_quote_in_the_middle_of_a_field_is_kept_as_text(tmp_path: Path):
    """A quote inside an unquoted field is a character of the value, as pandas reads it."""
    path = write(tmp_path, 'id,note,code\n1,5" disk,x\n2,b,y\n')
    result = run_local(path)
    assert result.outputs["out"]["note"].tolist() == ['5" disk', "b"]
    assert len(result.quarantine) == 0


# 3. Sources are the physical line of a record's first line.


def test_sources_count_quoted_newlines_and_blank_lines(tmp_path: Path):
    """After a quoted newline and a blank line, a bad row is reported at its physical line."""
    path = write(tmp_path, 'id,note,code\n1,"two\nlines",x\n\n2,b,y\nthree,c,z\n')
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:6", "id", "coerce_dtype('int64')", "three")]
    assert result.outputs["out"]["note"].tolist() == ["two\nlines", "b"]
    assert_equivalent(result, run_batch(path, chunk_rows=1))


def test_crlf_and_blank_lines_keep_physical_line_numbers(tmp_path: Path):
    """Windows line ends and blank (or whitespace-only) lines: sources are physical lines."""
    path = write(tmp_path, "id,note,code\r\n\r\n1,a,x\r\n  \r\nbad,b,y\r\n")
    result = run_local(path)
    assert quarantined(result) == [(f"{path}:5", "id", "coerce_dtype('int64')", "bad")]
    assert ids(result) == [1]


# 4. The reader's conservation law, on arbitrary text.


class Small(pa.DataFrameModel):
    """Two text columns and an int column, all nullable: only field counts can fail."""

    a: str = pa.Field(nullable=True)
    b: int = pa.Field(nullable=True)
    c: str = pa.Field(nullable=True)

    class Config:
        coerce = True


_PIECES = st.lists(
    st.sampled_from(['"', ",", "\n", "\r\n", "x", "7", " ", '""', "é", "\t", ",,"])
    | st.text(alphabet='ab1,"\n', max_size=4),
    max_size=40,
).map("".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_PIECES,
    header=st.sampled_from(["a,b,c", "a,b,c\r", '"a",b,"c"']),
    block=st.sampled_from([4, 16, 1 << 22]),
)
def test_every_physical_line_is_header_row_or_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, header: str, block: int
):
    """On any text, each non-blank physical line is the header or part of exactly one record,
    passed or quarantined (a malformed record's raw text is its lines), whole or chunked, read
    in blocks of any size."""
    monkeypatch.setattr(_csv, "_BLOCK", block)
    path = tmp_path / "any.csv"
    text = header + "\n" + body
    path.write_bytes(text.encode("utf-8"))
    uri = str(path)
    physical = text.split("\n")
    if physical[-1] == "":
        physical.pop()  # the final line end does not start a line
    nonblank = [i + 1 for i, line in enumerate(physical) if line.strip(" \t\r")]
    compiled = compile_model(Small)
    scheme = CsvScheme()
    for parts in ([scheme.read(uri)], list(scheme.read_chunks(uri, 3))):
        records: list[tuple[int, str | None, int]] = []  # first line, raw text, lines spanned
        for part in parts:
            frame = part.frame.reset_index(drop=True)
            result = validate_frame(frame, compiled, BoundaryCheck("s", "input", "d"))
            assert result.rows == len(frame) == result.quarantined + len(result.frame)
            assert "__sdk_malformed__" not in result.frame.columns
            marker = frame.get("__sdk_malformed__", pd.Series([None] * len(frame), dtype=object))
            malformed = set(np.flatnonzero(marker.notna().to_numpy()).tolist())
            flagged = {int(p) for pos, _, check in result.failures for p in pos
                       if check == "field_count"}  # fmt: skip
            assert flagged == malformed
            rendered = part.sources.render(np.arange(len(frame)))
            for i, source in enumerate(rendered):
                first = int(source.rsplit(":", 1)[1])
                if i in malformed:
                    text_ = str(marker.iloc[i])
                    records.append((first, text_, text_.count("\n")))
                else:
                    values = [v for v in frame.iloc[i].tolist() if isinstance(v, str)]
                    records.append((first, None, sum(v.count("\n") for v in values)))
        firsts = [r[0] for r in records]
        assert firsts == sorted(set(firsts)), firsts
        header_end = firsts[0] - 1 if firsts else len(physical)
        accounted = set(range(1, header_end + 1))
        for first, raw_text, extra in records:
            last = first + extra
            assert first in nonblank and last <= len(physical), (first, last, text)
            if raw_text is not None:
                assert raw_text == "\n".join(physical[first - 1 : last]).removesuffix("\r")
            accounted.update(range(first, last + 1))
        assert set(nonblank) <= accounted, (sorted(set(nonblank) - accounted), text)


# 5. Errors a user can cause: one line, exit 2, no traceback.


def run_fraud(tmp_path: Path, source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m sdk run` the fraud pipeline on ``source``."""
    return cli(
        "run", FRAUD,
        "--input", f"transactions={source}",
        "--output", f"scored={tmp_path / 'out' / 'scored.csv'}",
        *args,
    )  # fmt: skip


def assert_one_line_error(out: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2, no traceback, one error line naming each of ``expected``."""
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip() and not x.startswith("{")]
    assert len(lines) == 1, lines
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.mark.parametrize("name", ["tx.csv", "tx.jsonl", "tx.parquet"])
def test_directory_as_input_is_one_line_exit_2(tmp_path: Path, name: str):
    """A directory given as input: IOSchemeError naming it, exit 2."""
    folder = tmp_path / name
    folder.mkdir()
    line = assert_one_line_error(run_fraud(tmp_path, folder), "IOSchemeError", str(folder))
    assert "directory" in line


@pytest.mark.parametrize("name", ["tx.csv", "tx.jsonl"])
def test_invalid_utf8_is_one_line_naming_the_line(tmp_path: Path, name: str):
    """Invalid UTF-8 in a text input: IOSchemeError naming path:line, exit 2."""
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_bytes(b"customer_id,amount,country\n1,2.0,US\n2,3.0,\xff\xfe\n")
    else:
        good = b'{"customer_id": 1, "amount": 2.0, "country": "US"}\n'
        path.write_bytes(good * 2 + b'{"customer_id": 2, "amount": 3.0, "country": "\xff"}\n')
    assert_one_line_error(run_fraud(tmp_path, path), "IOSchemeError", f"{path}:3", "UTF-8")


@pytest.mark.parametrize("runner", ["local", "batch"])
def test_corrupt_parquet_is_one_line_exit_2(tmp_path: Path, runner: str):
    """A file that is not Parquet: IOSchemeError naming it, exit 2, under local and batch."""
    path = tmp_path / "tx.parquet"
    path.write_bytes(b"PAR1 this is not really parquet PAR1")
    out = run_fraud(tmp_path, path, "--runner", runner)
    assert_one_line_error(out, "IOSchemeError", str(path), "Parquet")


def test_duplicate_header_names_are_refused_naming_the_column(tmp_path: Path):
    """A header naming a column twice: IOSchemeError naming it, not a silent `amount.1`."""
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,amount,amount,country\n1,2.0,3.0,US\n", encoding="utf-8")
    line = assert_one_line_error(run_fraud(tmp_path, path), "IOSchemeError", str(path))
    assert "'amount'" in line
    assert "amount.1" not in line


def test_duplicate_header_names_are_refused_by_the_reader(tmp_path: Path):
    """CsvScheme.read and read_chunks raise IOSchemeError for a duplicated column name."""
    path = write(tmp_path, "id,note,id\n1,a,2\n")
    with pytest.raises(sdk.IOSchemeError, match="'id'"):
        CsvScheme().read(path)
    with pytest.raises(sdk.IOSchemeError, match="'id'"):
        list(CsvScheme().read_chunks(path, 10))
