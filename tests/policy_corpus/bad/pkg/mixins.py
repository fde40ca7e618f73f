"""A mixin (not a step) that steps in another module inherit."""

from __future__ import annotations

import pandas as pd


class SaveMixin:
    """Gives steps a save() method."""

    def save(self, frame: pd.DataFrame) -> None:
        """Write the frame."""
        frame.to_csv("mixin.csv")  # reached: SDK101
