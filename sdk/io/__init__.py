"""I/O schemes: how runners read and write datasets named by URIs.

Steps never read or write; runners do, through schemes registered with the
``sdk_register_io_schemes`` hook. A scheme must have what :class:`IOScheme` declares: ``name``,
``handles(uri)``, ``read(uri)`` and ``write(frame, uri)``. It may also have optional
capabilities, each a :class:`typing.Protocol` checked with ``isinstance``:

* :class:`SupportsReadChunks` — ``read_chunks(uri, chunk_rows)``: bounded-memory reads;
* :class:`SupportsReadParts` — ``read_parts(uri, part_rows)`` and ``read_part(part)``: a
  dataset split into independent :class:`Part` objects, each read anywhere (a worker process);
* :class:`SupportsOpenWriter` — ``open_writer(uri, schema)``: a :class:`Writer` that appends
  chunk by chunk;
* :class:`SupportsExists` — ``exists(uri)``: whether a destination is taken already.

Runners go through :func:`iter_chunks`, :func:`read_parts` / :func:`read_part`,
:func:`open_writer` and :func:`exists`, which fall back to ``read`` (sliced into chunks; one part
that is the whole dataset), a buffering writer (one ``write`` at commit) and "cannot tell" for
schemes without a capability.

Every writer publishes atomically: nothing is visible before ``commit``, and ``abort`` leaves
the destination as it was. Files are written through :func:`atomic_path` (or
:class:`StagedFile`, for a file written across several calls): a temporary file beside the
target, renamed onto it.
"""

from __future__ import annotations

import os
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs
import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.quarantine import Sources

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "IOScheme",
    "Loaded",
    "Part",
    "StagedFile",
    "SupportsExists",
    "SupportsOpenWriter",
    "SupportsReadChunks",
    "SupportsReadParts",
    "Writer",
    "atomic_bytes",
    "atomic_path",
    "atomic_text",
    "dataset_identity",
    "exists",
    "iter_chunks",
    "open_writer",
    "positioned",
    "read_part",
    "read_parts",
    "read_whole",
    "redact",
]


@attrs.define
class Loaded:
    """A dataset as read: the raw frame and the source reference of each row."""

    frame: pd.DataFrame
    sources: Sources


@attrs.frozen
class Part:
    """One independent part of a dataset, planned by ``read_parts`` and read by ``read_part``
    (in another process, possibly on another machine: parts pickle).

    ``offset`` is the position of its first row in the whole dataset, ``rows`` its number of
    rows (``None``: not known before reading), ``locator`` what the scheme needs to read only
    this part (``None``: the whole dataset, read with ``read``).
    """

    uri: str
    index: int
    offset: int
    rows: int | None
    locator: object = None


@runtime_checkable
class IOScheme(Protocol):
    """What every I/O scheme provides."""

    name: str

    def handles(self, uri: str) -> bool:
        """Whether this scheme reads and writes ``uri``."""
        ...

    def read(self, uri: str) -> Loaded:
        """Read the whole dataset at ``uri`` with its source references."""
        ...

    def write(self, frame: pd.DataFrame, uri: str) -> None:
        """Write ``frame`` to ``uri`` atomically: nothing is visible until it is complete."""
        ...


@runtime_checkable
class Writer(Protocol):
    """A destination written chunk by chunk; nothing is visible before ``commit``."""

    def append(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (invisible until commit)."""
        ...

    def commit(self) -> None:
        """Make everything appended visible at once (a rename, or one SQL transaction)."""
        ...

    def abort(self) -> None:
        """Discard everything appended; the destination is left as it was."""
        ...


@runtime_checkable
class SupportsReadChunks(Protocol):
    """A scheme that reads a dataset a bounded number of rows at a time."""

    def read_chunks(self, uri: str, chunk_rows: int) -> Iterator[Loaded]:
        """Chunks of at most ``chunk_rows`` rows, each indexed by its rows' positions.

        At least one chunk, empty for an empty dataset; its sources render that chunk's rows.
        """
        ...


@runtime_checkable
class SupportsReadParts(Protocol):
    """A scheme that splits a dataset into parts read independently (by workers)."""

    def read_parts(self, uri: str, part_rows: int) -> list[Part]:
        """Parts of about ``part_rows`` rows, in order; cheap (run where the run is planned)."""
        ...

    def read_part(self, part: Part) -> Loaded:
        """The rows of ``part`` alone, indexed by their positions in the whole dataset, with
        sources that render as reading the whole dataset would."""
        ...


@runtime_checkable
class SupportsOpenWriter(Protocol):
    """A scheme that writes a dataset chunk by chunk."""

    def open_writer(self, uri: str, schema: type[pa.DataFrameModel] | None) -> Writer:
        """An atomic writer for ``uri``; ``schema`` (the rows' model, if known) may guide it."""
        ...


@runtime_checkable
class SupportsExists(Protocol):
    """A scheme that can tell whether a dataset exists."""

    def exists(self, uri: str) -> bool:
        """Whether ``uri`` already holds a dataset."""
        ...


class _BufferedWriter:
    """The writer of a scheme without ``open_writer``: keeps the chunks, writes them at commit."""

    def __init__(self, scheme: IOScheme, uri: str) -> None:
        self._scheme, self._uri = scheme, uri
        self._parts: list[pd.DataFrame] = []
        self._closed = False

    def _refuse_if_closed(self, doing: str) -> None:
        if self._closed:
            raise IOSchemeError(
                f"cannot {doing} {redact(self._uri)}: the writer is already closed (committed "
                f"or aborted)"
            )

    def append(self, frame: pd.DataFrame) -> None:
        """Keep ``frame`` in memory."""
        self._refuse_if_closed("write")
        self._parts.append(frame)

    def commit(self) -> None:
        """Write every chunk with the scheme's own (atomic) ``write``."""
        self._refuse_if_closed("commit")
        frame = pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame()
        self._parts, self._closed = [], True
        self._scheme.write(frame, self._uri)

    def abort(self) -> None:
        """Forget the chunks; nothing was written."""
        self._parts, self._closed = [], True


def positioned(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    """``frame`` indexed by its rows' positions in the whole dataset (a chunk from ``start``)."""
    return frame.set_axis(pd.RangeIndex(start, start + len(frame)), axis=0)


def iter_chunks(scheme: IOScheme, uri: str, chunk_rows: int) -> Iterator[Loaded]:
    """Read ``uri`` in chunks of at most ``chunk_rows`` rows.

    Each chunk's frame is indexed by the rows' positions in the whole dataset, and its
    sources render that chunk's rows (positions 0..len-1 of the chunk). A scheme without
    :class:`SupportsReadChunks` is read whole, then sliced.
    """
    if isinstance(scheme, SupportsReadChunks):
        yield from scheme.read_chunks(uri, chunk_rows)
        return
    loaded = scheme.read(uri)
    frame = loaded.frame.reset_index(drop=True)
    for start in range(0, max(len(frame), 1), chunk_rows):
        stop = min(start + chunk_rows, len(frame))
        positions = np.arange(start, stop, dtype=np.int64)
        yield Loaded(frame.iloc[start:stop], loaded.sources.take(positions))
        if stop >= len(frame):
            break


def read_parts(uri: str, part_rows: int) -> list[Part]:
    """Split ``uri`` into independent parts of about ``part_rows`` rows, through the scheme
    that handles it; one part, the whole dataset, for a scheme without
    :class:`SupportsReadParts`.

    Raises:
        ValueError: ``part_rows`` is not positive.
        PluginError: no scheme handles ``uri``.
    """
    from sdk.plugins import resolve_scheme

    if part_rows < 1:
        raise ValueError(f"part_rows must be at least 1, not {part_rows}")
    scheme = resolve_scheme(uri)
    if isinstance(scheme, SupportsReadParts):
        return scheme.read_parts(uri, part_rows)
    return [Part(uri, 0, 0, None)]


def read_part(part: Part) -> Loaded:
    """Read one part of :func:`read_parts`, anywhere: its frame is indexed by its rows'
    positions in the whole dataset (from ``part.offset``), and its sources render its rows
    (positions ``0..len-1`` of the part) exactly as reading the whole dataset would.

    Raises:
        PluginError: no scheme handles ``part.uri``.
    """
    from sdk.plugins import resolve_scheme

    scheme = resolve_scheme(part.uri)
    if part.locator is not None and isinstance(scheme, SupportsReadParts):
        return scheme.read_part(part)
    return read_whole(scheme, part.uri)


def read_whole(scheme: IOScheme, uri: str) -> Loaded:
    """``uri`` read with ``scheme.read`` as one part: the frame indexed from 0."""
    loaded = scheme.read(uri)
    return Loaded(positioned(loaded.frame, 0), loaded.sources)


def open_writer(uri: str, schema: type[pa.DataFrameModel] | None = None) -> Writer:
    """Open an atomic writer for ``uri``, through the scheme that handles it.

    Args:
        uri: the destination.
        schema: the model of the rows to be written, if known; schemes with
            :class:`SupportsOpenWriter` get it (e.g. to type SQL columns no chunk has values
            for). A scheme without that capability gets a writer that buffers every chunk and
            calls its ``write`` once at commit.

    Raises:
        PluginError: no scheme handles ``uri``.
    """
    from sdk.plugins import resolve_scheme

    scheme = resolve_scheme(uri)
    if isinstance(scheme, SupportsOpenWriter):
        return scheme.open_writer(uri, schema)
    return _BufferedWriter(scheme, uri)


def exists(scheme: IOScheme, uri: str) -> bool:
    """Whether ``uri`` already holds a dataset (``False`` for a scheme that cannot tell)."""
    return bool(scheme.exists(uri)) if isinstance(scheme, SupportsExists) else False


def dataset_identity(uri: str) -> tuple[str, ...] | None:
    """What ``uri`` names, comparable across spellings: a file by its real path (symlinks
    resolved), a table by its database and name. ``None`` for stdin/stdout (``-``).

    Two URIs with the same identity read and write the same data: the runner refuses to write
    an output over an input with it.
    """
    if uri == "-":
        return None
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme == "file":
        return ("file", os.path.realpath(rest if sep else uri))
    location, _, query = rest.partition("?")
    params = dict(urllib.parse.parse_qsl(query))
    name = params.get("table") or params.get("query") or params.get("stream") or ""
    if scheme == "sqlite":
        # sqlite:///x.db is relative, sqlite:////x.db absolute (as the SQLite scheme reads it)
        return ("sqlite", os.path.realpath(urllib.parse.unquote(location[1:])), name)
    netloc, _, database = location.partition("/")
    host = netloc.rpartition("@")[2].lower()
    return (scheme.split("+")[0], host, database, name)


_SECRET_PARAM = re.compile(r"([?&](?:password|passwd|pwd|secret|token)=)[^&#]*", re.IGNORECASE)


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (for messages and logs): in its user
    information (``user:secret@host``) and in query parameters such as ``&password=``."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    rest = _SECRET_PARAM.sub(r"\1***", rest)
    netloc, slash, tail = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return f"{scheme}://{rest}"
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


class StagedFile:
    """A temporary file beside ``target`` that replaces it only when published.

    The temporary is hidden (``.<name>.<hex>.tmp``) in the target's own folder, so publishing
    is one rename on one file system, and created with the permissions of a new file (``0666``
    less the umask, as if the target were written directly). Use :func:`atomic_path` when the
    file is written in one call; this class when it is written across several (a writer).

    Raises:
        OSError: the folder cannot be created or written.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.target.with_name(f".{self.target.name}.{secrets.token_hex(4)}.tmp")
            try:
                # O_EXCL: ours alone; mode 0o666 lets the umask decide, unlike mkstemp's 0o600.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            self.path = path
            return

    def publish(self) -> None:
        """Rename the temporary onto the target (atomic: readers see the old or the new file)."""
        os.replace(self.path, self.target)

    def discard(self) -> None:
        """Remove the temporary; the target is untouched."""
        self.path.unlink(missing_ok=True)


def atomic_path(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    On any failure (``KeyboardInterrupt`` included) the temporary is removed and ``path`` keeps
    its previous content, if any.

    Raises:
        IOSchemeError: ``write`` or the rename failed (an ``IOSchemeError`` from ``write`` is
            raised unchanged).
    """
    target = Path(path)
    staged: StagedFile | None = None
    try:
        staged = StagedFile(target)
        write(staged.path)
        staged.publish()
    except BaseException as exc:
        if staged is not None:
            staged.discard()
        if isinstance(exc, IOSchemeError) or not isinstance(exc, Exception):
            raise
        raise IOSchemeError(
            f"cannot write {str(target)!r}: {type(exc).__name__}: {exc}; the previous content, "
            f"if any, is unchanged"
        ) from exc


def atomic_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_path(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_path(path, lambda tmp: tmp.write_bytes(data))
