"""Built-in file schemes: CSV, Parquet, JSON lines, and ``-`` (stdin/stdout JSON lines).

Text formats are read as text, so validation coerces the values and the quarantine shows
exactly what was in the file. In CSV only an empty field is a missing value; every other
value (``NA``, ``null``, ``n/a`` included) stays the text it was.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from sdk.errors import IOSchemeError
from sdk.hookspecs import hookimpl
from sdk.io import IOScheme, Loaded, atomic_path
from sdk.quarantine import Sources

__all__ = ["CsvScheme", "JsonLinesScheme", "ParquetScheme", "StdioScheme"]


def _path(uri: str) -> Path:
    path = uri.removeprefix("file://")
    return Path(path)


def _existing(uri: str) -> Path:
    path = _path(uri)
    if not path.exists():
        raise IOSchemeError(
            f"input {uri!r} does not exist; check the path (relative to {Path.cwd()})"
        )
    return path


def _parse_lines(text: io.TextIOBase | Any, origin: str) -> tuple[pd.DataFrame, list[int]]:
    records: list[Any] = []
    lines: list[int] = []
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IOSchemeError(
                f"{origin}:{number}: not valid JSON ({exc.msg}); fix the line"
            ) from None
        if not isinstance(record, dict):
            raise IOSchemeError(
                f"{origin}:{number}: is {type(record).__name__}, not a JSON object; write one "
                f"object per line"
            )
        records.append(record)
        lines.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for column in frame.columns:  # keep values as written: no int->float upcasting by NaN
        if frame[column].isna().any() and frame[column].dtype != object:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame, lines


class CsvScheme:
    """``*.csv``: read as text (empty field = missing), written without the index."""

    name = "csv"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` ends in ``.csv``."""
        return uri.lower().endswith(".csv")

    def read(self, uri: str) -> Loaded:
        """Read every column as text; row 0 is line 2 (the header is line 1)."""
        path = _existing(uri)
        try:
            # Only an empty field is missing: "NA" (Namibia), "null" or "n/a" stay text as read.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise IOSchemeError(f"{uri}: cannot be parsed as CSV ({exc}); fix the file") from None
        return Loaded(frame, Sources.from_file_lines(uri, first_line=2))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as CSV."""
        atomic_path(_path(uri), lambda tmp: frame.to_csv(tmp, index=False))


class ParquetScheme:
    """``*.parquet``: typed columnar files (pyarrow)."""

    name = "parquet"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` ends in ``.parquet`` or ``.pq``."""
        return uri.lower().endswith((".parquet", ".pq"))

    def read(self, uri: str) -> Loaded:
        """Read the file; sources are ``path#row`` (0-based)."""
        path = _existing(uri)
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise IOSchemeError(f"{uri}: cannot be read as Parquet ({exc})") from None
        return Loaded(frame.reset_index(drop=True), Sources.from_file_rows(uri))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as Parquet."""
        atomic_path(_path(uri), lambda tmp: frame.to_parquet(tmp, index=False))


class JsonLinesScheme:
    """``*.jsonl`` / ``*.ndjson``: one JSON object per line, values kept as written."""

    name = "jsonl"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` ends in ``.jsonl`` or ``.ndjson``."""
        return uri.lower().endswith((".jsonl", ".ndjson"))

    def read(self, uri: str) -> Loaded:
        """Read one object per line; sources are ``path:line``."""
        path = _existing(uri)
        with path.open(encoding="utf-8") as fh:
            frame, lines = _parse_lines(fh, uri)
        return Loaded(frame, Sources.from_values([f"{uri}:{n}" for n in lines]))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as JSON lines."""
        atomic_path(_path(uri), lambda tmp: _write_jsonl(frame, tmp))


def _write_jsonl(frame: pd.DataFrame, target: Any) -> None:
    if frame.empty:
        Path(target).write_text("") if not hasattr(target, "write") else None
        return
    text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    if hasattr(target, "write"):
        target.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(target).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


class StdioScheme:
    """``-``: JSON lines from standard input, or to standard output."""

    name = "stdio"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` is ``-``."""
        return uri == "-"

    def read(self, uri: str) -> Loaded:
        """Read JSON lines from stdin; sources are ``stdin:line``."""
        frame, lines = _parse_lines(sys.stdin, "stdin")
        return Loaded(frame, Sources.from_values([f"stdin:{n}" for n in lines]))

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write JSON lines to stdout."""
        _write_jsonl(frame, sys.stdout)
        sys.stdout.flush()


@hookimpl
def sdk_register_io_schemes() -> list[IOScheme]:
    """The built-in file schemes."""
    return [CsvScheme(), ParquetScheme(), JsonLinesScheme(), StdioScheme()]
