"""Helpers with I/O, in a module that defines no step.

Checked alone it is silent; reached from a step (pkg/child_steps.py) its reached functions
and its imports are reported here (`reached` markers).
"""

from __future__ import annotations

import os  # reached: SDK107

import pandas as pd


def load_lookup(name: str) -> pd.DataFrame:
    """Read a lookup table."""
    print("loading", name, os.getcwd())  # reached: SDK102,SDK101
    return pd.read_csv(f"{name}.csv")  # reached: SDK101


def write_side(frame: pd.DataFrame) -> None:
    """Write a side output."""
    frame.to_parquet("side.parquet")  # reached: SDK101


def never_called() -> None:
    """Not reached from any step: silent even when the module is followed."""
    open("never.txt", "w").write(str(os.listdir(".")))
