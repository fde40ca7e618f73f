"""Pipeline inputs as given to a run: a DataFrame or a URI, read whole or in chunks."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pandas as pd

from sdk.io import iter_chunks
from sdk.plugins import resolve_scheme
from sdk.quarantine import Sources
from sdk.runners.stage import Data

__all__ = ["Input"]


@attrs.define
class Input:
    """A pipeline input as given: a DataFrame or a URI; read whole or in chunks."""

    name: str
    value: pd.DataFrame | str

    @property
    def uri(self) -> str | None:
        """The URI, or ``None`` for an in-memory frame."""
        return None if isinstance(self.value, pd.DataFrame) else self.value

    def read(self) -> Data:
        """Read the whole input, with each row's source reference."""
        if isinstance(self.value, pd.DataFrame):
            return Data(self.value, Sources.from_index(self.value.index))
        loaded = resolve_scheme(self.value).read(self.value)
        return Data(loaded.frame, loaded.sources)

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame, Sources]]:
        """Yield ``(offset, frame, sources)`` chunks of at most ``chunk_rows`` rows.

        ``offset`` is the position of the chunk's first row in the whole input; ``sources``
        renders the chunk's own rows (positions ``0..len-1``). At least one (maybe empty)
        chunk is yielded.
        """
        if isinstance(self.value, pd.DataFrame):
            n = len(self.value)
            for start in range(0, max(n, 1), chunk_rows):
                frame = self.value.iloc[start : start + chunk_rows]
                yield start, frame, Sources.from_index(frame.index)
            return
        start = 0
        for loaded in iter_chunks(resolve_scheme(self.value), self.value, chunk_rows):
            yield start, loaded.frame, loaded.sources
            start += len(loaded.frame)
