"""Progress of a run: a tqdm bar when interactive, ``progress`` events otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from sdk.logs import get_logger, in_notebook

__all__ = ["Progress"]

logger = get_logger("sdk.run")


SHOW_AFTER = 0.5
"""Seconds a run lasts before its bar appears, when the bar is on by default (interactive)."""


class Progress:
    """Rows processed, shown as a tqdm bar on a terminal or in Jupyter, logged otherwise.

    On by default (stderr a terminal, or Jupyter), the bar appears only once the run has lasted
    :data:`SHOW_AFTER` seconds: a quick notebook run (one row, a request) draws no widget.

    Args:
        enabled: force the bar on (shown at once) or off (default: on when stderr is a
            terminal or in Jupyter).
        total: rows expected, where the runner knows them.
        interval: seconds between ``progress`` events when no bar is shown.
    """

    def __init__(self, enabled: bool | None, total: int | None = None, interval: float = 5.0):
        self.wanted = enabled if enabled is not None else sys.stderr.isatty() or in_notebook()
        self.show_after = 0.0 if enabled else SHOW_AFTER
        self.bar: Any = None
        self.total = total
        self.interval, self.started, self.last, self.rows = interval, time.monotonic(), 0.0, 0
        if self.wanted and not self.show_after:
            self._show()

    def _show(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, unit=" rows", desc="run", leave=False)
        self.bar.update(self.rows)

    def update(self, stage: int, rows: int) -> None:
        """Count ``rows`` more processed in ``stage``."""
        self.rows += rows
        now = time.monotonic()
        if self.wanted:
            if self.bar is None and now - self.started >= self.show_after:
                self._show()
            elif self.bar is not None:
                self.bar.update(rows)
            if self.bar is not None:
                self.bar.set_description(f"stage {stage}")
            return
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
