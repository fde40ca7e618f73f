"""Steps that set up their own logging to files and streams."""

from __future__ import annotations

import logging  # expect: SDK107
import logging.handlers  # expect: SDK107
from logging import FileHandler  # expect: SDK107

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Events(pa.DataFrameModel):
    """An event."""

    kind: str


class LogToFile(Step):
    """Adds a file handler so the analyst can tail the step."""

    def run(self, events: DataFrame[Events]) -> DataFrame[Events]:
        """Attach handlers, then log."""
        self.log.addHandler(logging.FileHandler("step.log"))  # expect: SDK101
        self.log.addHandler(FileHandler("step2.log", mode="a"))  # expect: SDK101
        rot = logging.handlers.RotatingFileHandler("rot.log", maxBytes=10)  # expect: SDK101 beyond-docs
        logging.basicConfig(filename="root.log", level=logging.INFO)  # expect: SDK101 beyond-docs
        self.log.addHandler(rot)
        self.log.info("events", extra={"n": len(events)})
        return events
