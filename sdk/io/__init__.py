"""I/O schemes: how runners read and write datasets named by URIs.

Steps never read or write. A scheme is any object with ``name``, ``handles(uri)``,
``read(uri)`` and ``write(frame, uri)``; schemes are registered through the
``sdk_register_io_schemes`` hook. Chunked runners also use, where a scheme has them,
``read_chunks(uri, chunk_rows)``, ``open_writer(uri)`` and ``exists(uri)``; the helpers
:func:`iter_chunks`, :func:`open_writer` and :func:`exists` fall back to ``read``/``write``
for schemes without them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.quarantine import Sources

__all__ = [
    "IOScheme",
    "Loaded",
    "Writer",
    "atomic_path",
    "exists",
    "iter_chunks",
    "open_writer",
    "positioned",
    "redact",
    "temporary_beside",
]


@attrs.define
class Loaded:
    """A dataset as read: the raw frame and the source reference of each row."""

    frame: pd.DataFrame
    sources: Sources


@runtime_checkable
class IOScheme(Protocol):
    """What an I/O scheme provides."""

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
    """A destination being written chunk by chunk; nothing is visible before ``commit``."""

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (invisible until commit)."""
        ...

    def commit(self) -> None:
        """Make everything written visible at once (rename, or one SQL transaction)."""
        ...

    def abort(self) -> None:
        """Discard everything written; the destination is left as it was."""
        ...


class _BufferedWriter:
    """A writer for schemes that only have ``write(frame, uri)``: buffers, writes on commit."""

    def __init__(self, scheme: Any, uri: str) -> None:
        self._scheme, self._uri = scheme, uri
        self._parts: list[pd.DataFrame] = []

    def write(self, frame: pd.DataFrame) -> None:
        self._parts.append(frame)

    def commit(self) -> None:
        frame = pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame()
        self._scheme.write(frame, self._uri)
        self._parts = []

    def abort(self) -> None:
        self._parts = []


def positioned(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    """``frame`` indexed by its rows' positions in the whole dataset (a chunk from ``start``)."""
    return frame.set_axis(pd.RangeIndex(start, start + len(frame)), axis=0)


def iter_chunks(scheme: Any, uri: str, chunk_rows: int) -> Iterator[Loaded]:
    """Read ``uri`` in chunks of at most ``chunk_rows`` rows.

    Each chunk's frame is indexed by the rows' positions in the whole dataset, and its
    sources render that chunk's rows (positions 0..len-1 of the chunk).
    """
    reader = getattr(scheme, "read_chunks", None)
    if reader is not None:
        yield from reader(uri, chunk_rows)
        return
    loaded = scheme.read(uri)
    frame = loaded.frame.reset_index(drop=True)
    for start in range(0, max(len(frame), 1), chunk_rows):
        stop = min(start + chunk_rows, len(frame))
        positions = np.arange(start, stop, dtype=np.int64)
        yield Loaded(frame.iloc[start:stop], loaded.sources.take(positions))
        if stop >= len(frame):
            break


def open_writer(scheme: Any, uri: str) -> Writer:
    """Open a chunked, atomic writer for ``uri`` (buffering for schemes without one)."""
    opener = getattr(scheme, "open_writer", None)
    return opener(uri) if opener is not None else _BufferedWriter(scheme, uri)


def exists(scheme: Any, uri: str) -> bool:
    """Whether ``uri`` already holds a dataset (``False`` for schemes that cannot tell)."""
    check = getattr(scheme, "exists", None)
    return bool(check(uri)) if check is not None else False


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (for messages and logs)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    netloc, slash, tail = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


def temporary_beside(target: Path) -> str:
    """Create an empty temporary file beside ``target``, with the permissions of a new file.

    ``mkstemp`` creates files readable by the owner only; outputs should get the usual
    permissions (``0666`` less the umask), as if written directly.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def atomic_path(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(target)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise IOSchemeError(
            f"cannot write {str(target)!r}: {type(exc).__name__}: {exc}; the previous content, "
            f"if any, is unchanged"
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
