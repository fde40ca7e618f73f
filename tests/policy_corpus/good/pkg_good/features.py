"""Pure helpers (no step here)."""

from __future__ import annotations

import pandas as pd


def add_ratio(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a ratio column."""
    return frame.assign(ratio=frame["a"] / frame["b"])
