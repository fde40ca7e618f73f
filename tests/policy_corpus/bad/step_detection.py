"""Steps declared through every spelling of the Step base class."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

import sdk
import sdk.step
from sdk import Step as BaseStep
from sdk.step import Step as CoreStep


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class ViaModule(sdk.Step):
    """`import sdk; class X(sdk.Step)`."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Print."""
        print("module")  # expect: SDK102
        return rows


class ViaStepModule(sdk.step.Step):
    """`class X(sdk.step.Step)`."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Print."""
        print("sdk.step")  # expect: SDK102
        return rows


class ViaAlias(BaseStep):
    """`from sdk import Step as BaseStep`."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Read."""
        return pd.read_csv("x.csv")  # expect: SDK101


class ViaCoreAlias(CoreStep):
    """`from sdk.step import Step as CoreStep`."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Eval."""
        return rows.assign(x=eval("1"))  # expect: SDK103


class Child(ViaAlias):
    """Subclass of a step declared above."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Clock."""
        return rows.assign(t=pd.Timestamp.now())  # expect: SDK105


class GrandChild(Child):
    """Subclass of a subclass."""

    def extra(self) -> None:
        """Global mutation."""
        global STATE  # expect: SDK106


STATE = 0
