"""Steps that mutate class attributes (shared by every instance)."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Registry:
    """A plain class used as a global registry."""

    items: ClassVar[list[str]] = []
    count = 0


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class CountingStep(Step):
    """Counts its invocations on the class."""

    count = 0
    history: ClassVar[list[int]] = []
    seen: ClassVar[dict[str, int]] = {}

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Count and remember."""
        CountingStep.count += 1  # expect: SDK106
        CountingStep.last = len(rows)  # expect: SDK106
        type(self).count = 2  # expect: SDK106
        type(self).count += 1  # expect: SDK106
        self.__class__.count = 3  # expect: SDK106
        self.__class__.history.append(len(rows))  # expect: SDK106
        CountingStep.history.append(len(rows))  # expect: SDK106
        type(self).seen["n"] = len(rows)  # expect: SDK106
        setattr(CountingStep, "flag", True)  # expect: SDK106
        setattr(type(self), "flag", False)  # expect: SDK106
        setattr(self.__class__, "flag2", False)  # expect: SDK106
        del CountingStep.last  # expect: SDK106
        Registry.count += 1  # expect: SDK106
        Registry.items.append("counting")  # expect: SDK106
        setattr(Registry, "owner", "x")  # expect: SDK106
        self.history.append(len(rows))  # expect: SDK106 beyond-docs
        self.seen["k"] = 1  # expect: SDK106 beyond-docs
        pd.DataFrame.my_helper = lambda df: df  # expect: SDK106 beyond-docs
        return rows

    @classmethod
    def reset(cls) -> None:
        """Reset the class counter."""
        cls.count = 0  # expect: SDK106
        cls.history.clear()  # expect: SDK106

    @staticmethod
    def note(n: int) -> None:
        """Touch the registry."""
        Registry.items.append(str(n))  # expect: SDK106
