"""Built-in I/O schemes (CSV, Parquet, JSON lines, ``-``) resolved from URIs."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdk
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


def test_empty_csv_file_reads_as_empty_frame(tmp_path: Path):
    """An empty CSV file reads as an empty frame, not an error."""
    path = tmp_path / "tx.csv"
    path.write_text("", encoding="utf-8")
    assert len(resolve_scheme(str(path)).read(str(path)).frame) == 0


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
