"""A data-generation script next to the pipeline: defines no Step, so it may do anything."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd


class Generator:
    """Not a step."""

    def run(self) -> pd.DataFrame:
        """Looks like a step's run, but the class is not a Step."""
        random.seed(time.time())
        frame = pd.DataFrame({"x": np.random.rand(10)})
        frame.to_csv("data.csv")
        print(os.listdir("."))
        subprocess.run(["true"], check=False)
        Path("done").write_text("ok")
        return frame


def main() -> None:
    """Write the data."""
    global RESULT
    RESULT = Generator().run()
    print(eval("1 + 1"), input)


if __name__ == "__main__":
    main()
