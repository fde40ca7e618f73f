"""A dataset kept on the workers: one future per part, with the parts' row counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

import sdk
from sdk_dask import tasks

__all__ = ["DaskDataset"]


class DaskDataset:
    """A stage's output (or a scattered input) as parts on the workers.

    It is what the run keeps in ``session.datasets``: ``rows`` and ``frames()`` are all the
    core needs to publish it. ``frames()`` brings the parts to the client one at a time (this
    version's outputs pass through the client when they are published), and checks that each
    has the rows its unit committed (a part Dask recomputed after a lost worker must).

    A part may be given as what makes it (a callable returning its future): an input's part
    is read, or a resumed run loads a committed unit's checkpointed part, only when a unit
    that still has to run needs it. With ``keep=False`` (an input's parts) a part is made for
    each unit that reads it and not kept: the workers forget it once that unit has run.

    Attributes:
        client: the run's Dask client.
        sizes: the rows of each part.
        rows: rows over all parts.
    """

    def __init__(
        self, client: Any, parts: list[Any], sizes: list[int], *, keep: bool = True
    ) -> None:
        self.client = client
        self._parts = parts
        self._keep = keep
        self.sizes = sizes
        self.rows = sum(sizes)

    def release(self) -> None:
        """Let the workers forget the parts (no later stage reads them; their rows are kept
        for the run's counts). Dask keeps how to make them again while a part made from them
        may have to be recomputed."""
        self._parts = [None] * len(self._parts)

    def part(self, index: int) -> Any:
        """The future of part ``index`` (made now if it was given as its maker)."""
        part = self._parts[index]
        if part is None:
            raise RuntimeError("a released dataset was read again")  # a bug of the runner
        if callable(part):
            made = part()
            if not self._keep:  # made again for each reader, forgotten once read
                return made
            part = self._parts[index] = made
        return part

    @property
    def parts(self) -> list[Any]:
        """One future of an ``sdk.Data`` per part, in order (every part made)."""
        return [self.part(i) for i in range(len(self._parts))]

    def publish_to(
        self, uri: str, schema: type[pa.DataFrameModel] | None, run_id: str
    ) -> int | None:
        """Publish to ``uri`` with each part written by a worker where it is, joined here
        with one atomic publish (:func:`sdk.publish_output_parts`); ``None`` (the run then
        brings the frames here and writes them) for a destination that cannot be written in
        parts (a table, a stream) or whose folder a worker does not see."""
        from sdk_dask.checkpoint import workers_see
        from sdk_dask.failures import gather

        if not sdk.output_parts_supported(uri):
            return None
        staging = sdk.output_staging(uri, run_id)
        if workers_see(self.client, Path(staging)):
            sdk.discard_output_parts(staging)
            return None
        kept = [i for i, n in enumerate(self.sizes) if n] or [0]
        try:
            futures = [
                self.client.submit(tasks.write_part, self.part(i), uri, place, staging, pure=False)
                for place, i in enumerate(kept)
            ]
            parts = gather(self.client, futures)
            for part, i in zip(parts, kept, strict=True):
                _check(part.rows, self.sizes[i])
            return sdk.publish_output_parts(uri, parts, schema)
        except BaseException:
            sdk.discard_output_parts(staging)
            raise

    def frames(self) -> Iterator[pd.DataFrame]:
        """The parts' frames, in order (empty parts skipped; one empty frame, with the
        columns, when every part is empty)."""
        kept = [(p, n) for p, n in zip(self.parts, self.sizes, strict=True) if n]
        for part, size in kept or list(zip(self.parts[:1], self.sizes[:1], strict=True)):
            frame = self.client.submit(tasks.frame_of, part, pure=False).result()
            _check(len(frame), size)
            yield frame


def _check(rows: int, committed: int) -> None:
    """A part of an output must have the rows its unit committed (a part Dask recomputed
    after a lost worker comes out different when a step is not deterministic)."""
    if rows != committed:
        raise sdk.PipelineError(
            f"a part of an output has {rows} rows, not the {committed} its unit committed: "
            f"Dask recomputed it after losing a worker and it came out different (a step that "
            f"is not deterministic, or an input file changed during the run); nothing was "
            f"published. Run again"
        )
