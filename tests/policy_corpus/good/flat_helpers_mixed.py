"""A helper module (no step) with one pure function a step uses and one I/O function it does not."""

from __future__ import annotations

import pandas as pd


def add_total(frame: pd.DataFrame) -> pd.DataFrame:
    """Pure: reached from flat_step.py."""
    return frame.assign(total=frame["a"] + frame["b"])


def dump(frame: pd.DataFrame) -> None:
    """I/O, but never reached from a step."""
    frame.to_csv("dump.csv")
    print("dumped")
