"""Own-module utilities (no step): reached functions are reported here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .helpers import write_side


def stamp(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds the current time."""
    return frame.assign(ts=pd.Timestamp.now())  # reached: SDK105


def chain(frame: pd.DataFrame) -> pd.DataFrame:
    """Transitive within this module."""
    return _noise(frame)


def _noise(frame: pd.DataFrame) -> pd.DataFrame:
    """Unseeded noise."""
    return frame.assign(n=np.random.rand(len(frame)))  # reached: SDK104


def relay(frame: pd.DataFrame) -> pd.DataFrame:
    """Transitive into another own module (helpers.write_side)."""
    write_side(frame)
    return frame


def unused_io() -> None:
    """Never reached from a step."""
    pd.read_csv("never.csv")
