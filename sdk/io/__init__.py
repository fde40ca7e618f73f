"""I/O schemes: how runners read and write datasets named by URIs.

Steps never read or write. A scheme is any object with ``name``, ``handles(uri)``,
``read(uri)`` and ``write(frame, uri)``; schemes are registered through the
``sdk_register_io_schemes`` hook.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs
import pandas as pd

from sdk.errors import IOSchemeError
from sdk.quarantine import Sources

__all__ = ["IOScheme", "Loaded", "atomic_path"]


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


def atomic_path(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
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
