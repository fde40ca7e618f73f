"""A module with its own class called Step (a different framework): not an sdk step module."""

from __future__ import annotations

import os

import pandas as pd


class Step:
    """This project's own task base class, unrelated to sdk.Step."""

    def run(self) -> None:
        """Override me."""
        raise NotImplementedError


class Download(Step):
    """A task that downloads and writes: fine, it is not an sdk step."""

    def run(self) -> None:
        """Download."""
        frame = pd.read_csv("https://example.com/data.csv")
        frame.to_parquet(os.path.join("data", "raw.parquet"))
        print("downloaded", pd.Timestamp.now())
