"""Module-level and class-body code of a step module, and code no step reaches.

Module-level statements of a module that defines steps, and the class bodies of steps (nested
Params defaults included), run when the step is imported in production, so docs/policy.md puts
them in scope. Code no step reaches, and blocks under `if __name__ == "__main__":`, are not.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step

LOADED_AT = dt.datetime.now()  # expect: SDK105
NOISE = np.random.rand(3)  # expect: SDK104
print("importing step module")  # expect: SDK102


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class ClassBody(Step):
    """Class-body statements run once, at import."""

    started = pd.Timestamp.now()  # expect: SDK105
    jitter = np.random.normal()  # expect: SDK104

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Uses the module-level and class-level values."""
        return rows.assign(x=rows["x"] + NOISE.sum() + self.jitter, t=LOADED_AT)

    def report(self) -> None:
        """A method that is part of the step: checked."""
        print(self.started)  # expect: SDK102


class Exporter:
    """Not a step and never used by a step: may do I/O."""

    def export(self, frame: pd.DataFrame) -> None:
        """Write."""
        frame.to_csv("export.csv")
        print("exported")


def make_fixture() -> pd.DataFrame:
    """Not called by any step: a data-generation helper."""
    return pd.read_csv("fixture.csv")


if __name__ == "__main__":
    frame = pd.read_csv("sample.csv")
    print(ClassBody().run(frame))
