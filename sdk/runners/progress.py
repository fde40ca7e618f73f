"""Progress of a run: a tqdm bar when interactive, ``progress`` events otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from sdk.logs import get_logger, in_notebook

__all__ = ["Progress"]

logger = get_logger("sdk.run")


class Progress:
    """Rows processed, shown as a tqdm bar on a terminal or in Jupyter, logged otherwise.

    Args:
        enabled: force the bar on or off (default: on when stderr is a terminal or in Jupyter).
        total: rows expected, where the runner knows them.
        interval: seconds between ``progress`` events when no bar is shown.
    """

    def __init__(self, enabled: bool | None, total: int | None = None, interval: float = 5.0):
        interactive = sys.stderr.isatty() or in_notebook()
        self.bar: Any = None
        if enabled if enabled is not None else interactive:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit=" rows", desc="run", leave=False)
        self.interval, self.started, self.last, self.rows = interval, time.monotonic(), 0.0, 0

    def update(self, stage: int, rows: int) -> None:
        """Count ``rows`` more processed in ``stage``."""
        self.rows += rows
        if self.bar is not None:
            self.bar.set_description(f"stage {stage}")
            self.bar.update(rows)
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            logger.info(
                "progress",
                extra={
                    "stage": stage,
                    "rows_done": self.rows,
                    "rows_per_s": round(self.rows / elapsed, 1),
                },
            )

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
