"""Output parts: a dataset written by workers, part by part, then published at once.

A distributed runner keeps a produced dataset as parts on its workers. Rather than gather them
to write through :func:`sdk.io.open_writer`, each worker writes its part with
:func:`write_output_part`, in the destination's format, into a staging folder beside the
target (:func:`output_staging`: same file system, so publishing is a rename); the client then
joins the parts into the target with :func:`publish_output_parts`, atomically, or drops them
with :func:`discard_output_parts`.

The published dataset is what ``open_writer`` would have written from the same frames appended
in index order: the same bytes for CSV (the first part's header, then every part's rows) and
JSON lines; for a Parquet file, the parts' row groups copied into one file, cast to the first
part's types; for a Parquet dataset folder (a URI ending in ``/``), the part files themselves.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import attrs
import pandas as pd

from sdk.errors import IOSchemeError, PluginError
from sdk.io import atomic_path, redact
from sdk.io.files import CsvScheme, JsonLinesScheme, ParquetScheme, csv_rows, jsonl_rows
from sdk.io.folders import (
    ParquetFolderScheme,
    check_replaceable,
    folder_path,
    kept_parts,
    publish_folder,
    write_parquet_part,
)

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "OutputPart",
    "discard_output_parts",
    "output_parts_supported",
    "output_staging",
    "publish_output_parts",
    "write_output_part",
]

_SCHEMES: dict[str, type[CsvScheme | JsonLinesScheme | ParquetScheme | ParquetFolderScheme]] = {
    "csv": CsvScheme,
    "jsonl": JsonLinesScheme,
    "parquet": ParquetScheme,
    "folder": ParquetFolderScheme,
}
"""The core schemes whose destinations can be written in parts, by format."""
_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet", "folder": "parquet"}


@attrs.frozen
class OutputPart:
    """One part of an output, written by a worker (a small picklable value for the client).

    Attributes:
        uri: the destination it belongs to.
        path: the part file, inside the staging folder.
        index: its place in the output (parts are joined by increasing index).
        rows: its number of rows.
        header: for CSV, the header the joined file starts with if this part is the first.
    """

    uri: str
    path: str
    index: int
    rows: int
    header: bytes = b""


def _format(uri: str) -> str | None:
    """The format of a local file destination of a core scheme, ``None`` for any other."""
    local = uri.removeprefix("file://")
    if uri == "-" or "://" in local:
        return None
    for name, scheme in _SCHEMES.items():
        if scheme().handles(uri):
            return name
    return None


def _required(uri: str) -> str:
    found = _format(uri)
    if found is None:
        raise IOSchemeError(
            f"{redact(uri)} cannot be written in parts (only local .csv, .parquet, .jsonl "
            f"files and Parquet folders ending in '/' can); write it with sdk.io.open_writer"
        )
    return found


def _target(uri: str, fmt: str) -> Path:
    if fmt == "folder":
        return folder_path(uri)
    return Path(os.path.abspath(uri.removeprefix("file://")))


def output_parts_supported(uri: str) -> bool:
    """Whether workers can write ``uri`` in parts: a local CSV, Parquet or JSON-lines file, or
    a Parquet dataset folder (``…/``), read and written by the core's own scheme (a plugin
    that takes over the URI is written through ``open_writer``)."""
    from sdk.plugins import resolve_scheme

    fmt = _format(uri)
    if fmt is None:
        return False
    try:
        scheme = resolve_scheme(uri)
    except PluginError:
        return False
    return type(scheme) is _SCHEMES[fmt]


def output_staging(uri: str, run_id: str) -> str:
    """The staging folder of ``uri``'s parts in run ``run_id``: hidden, beside the target (on
    its file system, so publishing is a rename), absolute (workers may run elsewhere),
    ``<folder>/.<name>.sdk-parts-<run_id>``.

    Raises:
        IOSchemeError: ``uri`` cannot be written in parts (see :func:`output_parts_supported`).
    """
    target = _target(uri, _required(uri))
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return str(target.with_name(f".{target.name}.sdk-parts-{safe}"))


def write_output_part(uri: str, frame: pd.DataFrame, index: int, staging: str) -> OutputPart:
    """Write ``frame`` (without its index) as part ``index`` of ``uri`` in ``staging``.

    Runs on a worker. The part file appears whole or not at all (written beside, renamed);
    writing the same index again replaces it. CSV parts hold rows without a header (the
    header is returned on the part), JSON-lines parts their lines, Parquet parts (file or
    folder) a Parquet file ``part-<index>.parquet``.

    Raises:
        IOSchemeError: ``uri`` cannot be written in parts, or the part cannot be written.
        ValueError: ``index`` is negative.
    """
    fmt = _required(uri)
    if index < 0:
        raise ValueError(f"index must be at least 0, not {index}")
    folder = Path(staging)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IOSchemeError(
            f"cannot write a part of {redact(uri)} in {staging!r}: {exc}; check the folder and "
            f"its permissions"
        ) from exc
    path = folder / f"part-{index:06d}.{_SUFFIX[fmt]}"
    header: list[bytes] = []
    if fmt == "csv":

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                header.append(csv_rows(fh, frame))

    elif fmt == "jsonl":

        def write(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                jsonl_rows(fh, frame)

    else:

        def write(tmp: Path) -> None:
            write_parquet_part(frame, tmp)

    atomic_path(path, write)
    return OutputPart(uri, str(path), index, len(frame), header[0] if header else b"")


def publish_output_parts(
    uri: str,
    parts: Sequence[OutputPart],
    schema: type[pa.DataFrameModel] | None = None,
) -> int:
    """Join ``parts`` (by index) into ``uri`` atomically, remove their staging folder, and
    return the rows published.

    Without parts, ``uri`` gets what ``open_writer(uri, schema)`` commits for an empty dataset
    (a CSV header from ``schema``, an empty file or folder).

    Raises:
        IOSchemeError: ``uri`` cannot be written in parts, a part belongs to another
            destination or repeats an index, or the join failed; the previous ``uri`` is
            unchanged and the staging folder kept (drop it with :func:`discard_output_parts`).
    """
    fmt = _required(uri)
    ordered = sorted(parts, key=lambda p: p.index)
    strangers = sorted({p.uri for p in ordered if p.uri != uri})
    if strangers:
        raise IOSchemeError(
            f"cannot publish {redact(uri)}: parts of {', '.join(map(redact, strangers))} were "
            f"given; pass each destination its own parts"
        )
    indexes = [p.index for p in ordered]
    if len(set(indexes)) != len(indexes):
        raise IOSchemeError(
            f"cannot publish {redact(uri)}: two parts have the same index; give each part its "
            f"place in the output"
        )
    if not ordered:
        _SCHEMES[fmt]().open_writer(uri, schema).commit()
        return 0
    if fmt == "folder":  # refused as such: running again would not help
        check_replaceable(uri, folder_path(uri))
    try:
        if fmt == "folder":
            kept = kept_parts([p.rows for p in ordered])
            publish_folder(uri, [Path(ordered[i].path) for i in kept])
        elif fmt == "parquet":
            atomic_path(_target(uri, fmt), lambda tmp: _join_parquet(ordered, tmp))
        else:
            atomic_path(_target(uri, fmt), lambda tmp: _join_bytes(ordered, tmp))
    except IOSchemeError as exc:
        raise IOSchemeError(
            f"cannot publish {len(ordered)} part(s) to {redact(uri)}: {exc}; run again (the "
            f"staging folder is kept until discard_output_parts)"
        ) from exc
    for folder in {str(Path(p.path).parent) for p in ordered}:
        discard_output_parts(folder)
    return sum(p.rows for p in ordered)


def _join_bytes(parts: Sequence[OutputPart], tmp: Path) -> None:
    with tmp.open("wb") as out:
        out.write(parts[0].header)
        for part in parts:
            with Path(part.path).open("rb") as fh:
                _copy(fh, out)


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    shutil.copyfileobj(source, out, 1 << 20)


def _join_parquet(parts: Sequence[OutputPart], tmp: Path) -> None:
    import pyarrow.parquet as pq

    # the first part fixes the column types and later ones are cast to them, as the
    # Parquet writer does with chunks; row group by row group, so memory is one row group
    schema = pq.read_schema(parts[0].path)
    with pq.ParquetWriter(tmp, schema) as writer:
        for part in parts:
            with pq.ParquetFile(part.path) as source:
                for group in range(source.num_row_groups):
                    table = source.read_row_group(group)
                    if not table.schema.equals(schema):
                        table = table.cast(schema)
                    writer.write_table(table)


def discard_output_parts(staging: str) -> None:
    """Remove the staging folder ``staging`` and every part in it (a failed run); nothing
    happens if it is missing."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(staging)
