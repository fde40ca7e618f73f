"""A frame written into a stream at a steady rate, as production would send it."""

from __future__ import annotations

import math
import time

import pandas as pd

from sdk.errors import ParamsError

__all__ = ["replay"]

TICKS_PER_S = 100
"""With a rate, rows are written in this many rounds per second (a round is one pipelined
batch), so the rate holds from one hundredth of a second to the next."""


def replay(df: pd.DataFrame, to: str, *, rate: float | None = None, batch: int = 1000) -> int:
    """Write ``df``'s rows, in order, to the stream at ``to``; return how many were written.

    ``to`` is any destination the ``stream`` runner can append to, through the same sink:
    ``redis://HOST:PORT/DB?stream=NAME`` (``XADD`` per row, by a server-side script per batch,
    each column a field with its value as text; a missing value is left out of its entry, and
    an entry whose values are all missing is ``json`` = ``{}``; ``&maxlen=N`` trims the stream)
    or a JSON lines file (``.jsonl``: one object per row, missing values ``null``, appended,
    flushed and synced per batch). redis-py is imported only for a Redis stream and comes with
    ``pip install 'pipeline-sdk[redis]'``.

    Args:
        df: the rows, e.g. from :func:`sdk.simulate.synthesize` and
            :func:`sdk.simulate.inject_faults`.
        to: the destination URI.
        rate: rows per second, held steady (rows go in rounds of ``rate / 100``, at most
            ``batch``); ``None`` writes as fast as the destination takes them.
        batch: the most rows per round.

    Returns:
        The number of rows written.

    Raises:
        ParamsError: ``rate`` is not a positive number, or ``batch`` not a positive integer.
        IOSchemeError: the destination cannot be appended to or reached (or redis-py is
            missing).
    """
    if rate is not None and (
        not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0
    ):
        raise ParamsError(f"replay: rate must be a positive number of rows/s, got {rate!r}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ParamsError(f"replay: batch must be a positive integer, got {batch!r}")
    from sdk.io.streams import open_appender

    size = batch if rate is None else max(1, min(batch, math.ceil(rate / TICKS_PER_S)))
    appender = open_appender(to, None)
    written = 0
    started = time.monotonic()
    try:
        for first in range(0, len(df), size):
            if rate is not None and written:
                # each round leaves when its first row is due: the rate holds on average,
                # and a slow round is caught up on instead of slowing every later one
                delay = started + written / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            part = df.iloc[first : first + size]
            appender.append(part)
            written += len(part)
    finally:
        appender.close()
    return written
