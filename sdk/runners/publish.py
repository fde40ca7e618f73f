"""Publishing produced datasets: to a destination atomically, or back into memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
import pandera.pandas as pa

from sdk.errors import IOSchemeError, SdkError
from sdk.io import open_writer, redact
from sdk.runners.session import Spilled
from sdk.runners.stage import Data

__all__ = ["collect", "publish", "rows_of", "stream"]


def stream(value: Data | Spilled) -> Iterator[pd.DataFrame]:
    """The rows of a produced dataset, frame by frame."""
    if isinstance(value, Data):
        yield value.frame
    else:
        yield from value.frames()


def rows_of(value: Data | Spilled) -> int:
    """The rows of a produced dataset."""
    return len(value.frame) if isinstance(value, Data) else value.rows


def collect(value: Data | Spilled) -> pd.DataFrame:
    """A produced dataset as one frame (a spilled one is read back)."""
    if isinstance(value, Data):
        return value.frame
    parts = list(value.frames())
    return pd.concat(parts) if parts else pd.DataFrame()


def publish(
    name: str,
    frames: Iterable[pd.DataFrame],
    uri: str,
    schema: type[pa.DataFrameModel] | None = None,
) -> int:
    """Write ``frames`` to ``uri`` atomically (``schema``: the dataset's model, if known);
    return the rows written."""
    writer = open_writer(uri, schema)
    rows = 0
    try:
        for frame in frames:
            writer.append(frame)
            rows += len(frame)
        writer.commit()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, SdkError) or not isinstance(exc, Exception):
            raise
        raise IOSchemeError(f"cannot write {name!r} to {redact(uri)}: {exc}") from exc
    return rows
