"""Parquet dataset folders: a URI ending in ``/`` names a folder of Parquet part files.

Written, the folder holds ``part-000000.parquet``, ``part-000001.parquet``, … (one per chunk
with rows, or one empty part for an empty dataset), and is published whole: the parts are
written into a hidden folder beside the target, which then takes the target's place (an
existing folder is moved aside, then removed). Only a folder that is empty or holds nothing
but ``part-*.parquet`` files is ever replaced, so an output pointed at a folder of other files
by mistake destroys nothing.

Read, the folder is every visible ``*.parquet`` file in it, by name; each file keeps its own
column types, joined as Arrow promotes them (an all-null column takes the other files' type).
Sources are ``<folder>/<file>#<row>``, the row within that file, as for a Parquet file.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.io import Loaded, Part, Writer, positioned, read_whole
from sdk.io.parts import RowGroups, _not_parquet, parquet_parts, read_parquet_part
from sdk.quarantine import Sources

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "FolderPart",
    "ParquetFolderScheme",
    "check_replaceable",
    "folder_path",
    "is_folder_uri",
    "kept_parts",
    "publish_folder",
    "write_parquet_part",
]

PART_NAME = "part-{:06d}.parquet"
"""The name of the part file at a position of the dataset."""


@attrs.frozen
class FolderPart:
    """Where a part of a folder is: the file's ``name`` and the part of that file."""

    name: str
    part: Part


def is_folder_uri(uri: str) -> bool:
    """Whether ``uri`` names a local Parquet dataset folder (it ends in ``/``)."""
    rest = uri.removeprefix("file://")
    return uri.endswith("/") and "://" not in rest


def folder_path(uri: str) -> Path:
    """The folder ``uri`` names, absolute, symbolic links resolved (a folder linked to another
    disk is replaced there, not by a folder in the link's place).

    Raises:
        IOSchemeError: ``uri`` names the file system's root.
    """
    path = Path(os.path.realpath(uri.removeprefix("file://")))
    if not path.name:
        raise IOSchemeError(
            f"{uri!r} is the root of the file system; give a dataset folder such as 'out/name/'"
        )
    return path


def _files(uri: str) -> list[Path]:
    """The data files of the folder ``uri``: its visible ``*.parquet`` files, by name."""
    path = folder_path(uri)
    if not path.exists():
        raise IOSchemeError(
            f"input {uri!r} does not exist; check the path (relative to {Path.cwd()})"
        )
    if not path.is_dir():
        raise IOSchemeError(
            f"input {uri!r} is a file, not a folder; remove the trailing '/' to read the file"
        )
    return sorted(
        (
            p
            for p in path.iterdir()
            if p.is_file() and p.suffix.lower() == ".parquet" and not p.name.startswith((".", "_"))
        ),
        key=lambda p: p.name,
    )


def check_replaceable(uri: str, path: Path) -> None:
    """Refuse to replace ``path`` unless it is missing, empty, or a folder of part files.

    Raises:
        IOSchemeError: ``path`` is a file, or a folder holding anything but ``part-*.parquet``
            files.
    """
    if not path.exists():
        return
    if not path.is_dir():
        raise IOSchemeError(
            f"cannot write {uri!r}: {str(path)!r} is a file, not a folder; remove the trailing "
            f"'/' to write a Parquet file, or choose another folder"
        )
    strangers = sorted(
        p.name
        for p in path.iterdir()
        if not (fnmatch.fnmatchcase(p.name, "part-*.parquet") and p.is_file())
    )
    if strangers:
        shown = ", ".join(repr(n) for n in strangers[:3]) + (", …" if len(strangers) > 3 else "")
        raise IOSchemeError(
            f"cannot write {uri!r}: the folder holds {len(strangers)} entr"
            f"{'y' if len(strangers) == 1 else 'ies'} that {'is' if len(strangers) == 1 else 'are'}"
            f" not part of a Parquet dataset ({shown}); only an empty folder or one of "
            f"part-*.parquet files is replaced: choose a new folder"
        )


def _beside(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.{tag}")


def publish_folder(uri: str, files: Sequence[Path]) -> None:
    """Make ``files`` (Parquet files, in order, on the folder's file system) the dataset folder
    ``uri``: moved into a new hidden folder beside it as ``part-000000.parquet``, …, which then
    replaces the folder (the old one is moved aside first, then removed).

    Raises:
        IOSchemeError: the folder cannot be replaced (see :func:`check_replaceable`) or
            written; the previous folder is then unchanged.
    """
    target = folder_path(uri)
    check_replaceable(uri, target)
    new: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        new = _beside(target, "new")
        new.mkdir()
        for position, file in enumerate(files):
            os.replace(file, new / PART_NAME.format(position))
        _swap(new, target)
    except OSError as exc:
        if new is not None:
            shutil.rmtree(new, ignore_errors=True)
        raise IOSchemeError(
            f"cannot write {uri!r}: {type(exc).__name__}: {exc}; the previous folder, if any, is "
            f"unchanged"
        ) from exc


def _swap(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``; an existing ``target`` is moved aside first, so a crash
    leaves the old folder (under a hidden name) or the new one, never a mix."""
    old = None
    if target.exists():
        old = _beside(target, "old")
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_parquet_part(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (without its index) as the Parquet file ``path``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def kept_parts(rows: Sequence[int]) -> list[int]:
    """The positions of the parts a folder keeps, given each part's rows: the parts with
    rows, or the first part alone when none has any (the columns of an empty dataset)."""
    kept = [i for i, n in enumerate(rows) if n]
    return kept or list(range(min(len(rows), 1)))


class _FolderWriter:
    """Chunks written as part files into a hidden folder, published as the folder at commit."""

    def __init__(self, uri: str, columns: list[str]) -> None:
        self._uri, self._columns = uri, columns
        target = folder_path(uri)
        check_replaceable(uri, target)  # refused before any chunk is computed and written
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._staged = _beside(target, "tmp")
            self._staged.mkdir()
        except OSError as exc:
            raise IOSchemeError(
                f"cannot write {uri!r}: {exc}; check the folder and its permissions"
            ) from exc
        self._files: list[Path] = []
        self._rows: list[int] = []
        self._closed = False

    def _refuse_if_closed(self, doing: str) -> None:
        if self._closed:
            raise IOSchemeError(
                f"cannot {doing} {self._uri!r}: the writer is already closed (committed, "
                f"aborted, or an earlier chunk failed)"
            )

    def _write(self, frame: pd.DataFrame) -> None:
        path = self._staged / PART_NAME.format(len(self._files))
        write_parquet_part(frame, path)
        self._files.append(path)
        self._rows.append(len(frame))

    def append(self, frame: pd.DataFrame) -> None:
        """Write ``frame`` as the next part file (hidden until commit)."""
        self._refuse_if_closed("write")
        try:
            self._write(frame)
        except Exception as exc:
            self.abort()
            raise IOSchemeError(
                f"cannot write {self._uri!r}: {type(exc).__name__}: {exc}; the previous folder, "
                f"if any, is unchanged"
            ) from exc

    def commit(self) -> None:
        """Publish the part files as the folder, replacing the previous one whole."""
        self._refuse_if_closed("commit")
        try:
            if not self._files:  # an empty dataset still has its columns
                self._write(pd.DataFrame(columns=self._columns))
            publish_folder(self._uri, [self._files[i] for i in kept_parts(self._rows)])
        except BaseException:
            self.abort()
            raise
        self._closed = True
        shutil.rmtree(self._staged, ignore_errors=True)

    def abort(self) -> None:
        """Remove the hidden folder; the target is untouched."""
        if self._closed:
            return
        self._closed = True
        shutil.rmtree(self._staged, ignore_errors=True)


class ParquetFolderScheme:
    """``<folder>/``: a Parquet dataset folder, one Parquet file per part."""

    name = "parquet-folder"

    def handles(self, uri: str) -> bool:
        """Whether ``uri`` is a local path ending in ``/``."""
        return is_folder_uri(uri)

    def _file_uri(self, uri: str, file: Path) -> str:
        return f"{uri}{file.name}"

    def read(self, uri: str) -> Loaded:
        """Read every part file, in name order; sources are ``<folder>/<file>#row``.

        Raises:
            IOSchemeError: the folder is missing or a file, or a file is not Parquet.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables: list[Any] = []
        sources, add = Sources.chunked()
        offset = 0
        for file in _files(uri):
            try:
                table = pq.read_table(file)
            except Exception as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError
                raise _not_parquet(self._file_uri(uri, file), exc) from None
            add(offset, Sources.from_file_rows(self._file_uri(uri, file)))
            offset += table.num_rows
            tables.append(table)
        if not tables:
            return Loaded(pd.DataFrame(), sources)
        try:
            joined = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise IOSchemeError(
                f"{uri}: its part files have columns of incompatible types ({exc}); rewrite "
                f"the folder with one type per column"
            ) from None
        return Loaded(joined.to_pandas().reset_index(drop=True), sources)

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Read at most ``chunk_rows`` rows at a time, file by file (record batches)."""
        import pyarrow.parquet as pq

        start = 0
        for file in _files(uri):
            file_uri, row = self._file_uri(uri, file), 0
            try:
                for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                    frame = batch.to_pandas()
                    yield Loaded(positioned(frame, start), Sources.from_file_rows(file_uri, row))
                    start, row = start + len(frame), row + len(frame)
            except Exception as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError
                raise _not_parquet(file_uri, exc) from None
        if start == 0:
            yield self.read(uri)

    def read_parts(self, uri: str, part_rows: int) -> list[Part]:
        """Parts of whole row groups of one file each, at most ``part_rows`` rows unless one
        row group has more (see :mod:`sdk.io.parts`); one empty part for a dataset without
        rows."""
        parts: list[Part] = []
        offset = 0
        for file in _files(uri):
            for inner in parquet_parts(file, self._file_uri(uri, file), part_rows):
                if not inner.rows:
                    continue
                locator = FolderPart(file.name, inner)
                parts.append(Part(uri, len(parts), offset, inner.rows, locator))
                offset += inner.rows or 0
        return parts or [Part(uri, 0, 0, 0)]

    def read_part(self, part: Part) -> Loaded:
        """The rows of one part; sources ``<folder>/<file>#row`` as :meth:`read` gives."""
        where = part.locator
        if where is None:
            return read_whole(self, part.uri)
        if not isinstance(where, FolderPart) or not isinstance(where.part.locator, RowGroups):
            raise IOSchemeError(
                f"{part.uri}: part {part.index} was not planned by the Parquet folder scheme"
            )
        loaded = read_parquet_part(self, where.part, folder_path(part.uri) / where.name)
        return Loaded(positioned(loaded.frame, part.offset), loaded.sources)

    def exists(self, uri: str) -> bool:
        """Whether the folder (or a file of its name) exists."""
        return folder_path(uri).exists()

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic writer of the folder: one part file per chunk with rows, published whole
        at commit; ``schema`` gives the columns of an empty dataset.

        Raises:
            IOSchemeError: the folder exists and holds anything but ``part-*.parquet`` files.
        """
        columns = list(schema.to_schema().columns) if schema is not None else []
        return _FolderWriter(uri, columns)

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` atomically as a folder of one part file."""
        writer = self.open_writer(uri, None)
        writer.append(frame)
        writer.commit()
