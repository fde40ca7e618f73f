"""Flat helper module (no package) beside a step module; defines no step (reached: flat_uses_helpers.py)."""

import pandas as pd


def read_rates() -> pd.DataFrame:
    """Read rates."""
    return pd.read_csv("rates.csv")  # reached: SDK101


def write_rates(frame: pd.DataFrame) -> None:
    """Write rates; reached through `import helpers_flat; helpers_flat.write_rates(...)`."""
    frame.to_json("rates.json")  # reached: SDK101


def unreached() -> None:
    """Never called by a step."""
    print("not reached")
