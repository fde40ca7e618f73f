"""A dataset kept on the workers: one future per part, with the parts' row counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from sdk_dask import tasks

__all__ = ["DaskDataset"]


class DaskDataset:
    """A stage's output (or a scattered input) as parts on the workers.

    It is what the run keeps in ``session.datasets``: ``rows`` and ``frames()`` are all the
    core needs to publish it. ``frames()`` brings the parts to the client one at a time (this
    version's outputs pass through the client when they are published).

    Attributes:
        client: the run's Dask client.
        parts: one future of an ``sdk.Data`` per part, in order.
        sizes: the rows of each part.
        rows: rows over all parts.
    """

    def __init__(self, client: Any, parts: list[Any], sizes: list[int]) -> None:
        self.client = client
        self.parts = parts
        self.sizes = sizes
        self.rows = sum(sizes)

    def frames(self) -> Iterator[pd.DataFrame]:
        """The parts' frames, in order (empty parts skipped; one empty frame, with the
        columns, when every part is empty)."""
        chosen = [p for p, n in zip(self.parts, self.sizes, strict=True) if n] or self.parts[:1]
        for part in chosen:
            yield self.client.submit(tasks.frame_of, part, pure=False).result()
