"""Steps touching the file system through pathlib."""

from __future__ import annotations

import pathlib  # expect: SDK107
from pathlib import Path  # expect: SDK107
from pathlib import Path as P  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Sensor(pa.DataFrameModel):
    """A sensor reading."""

    sensor: str
    value: float


class Calibrate(Step):
    """Apply calibration offsets stored as small text files."""

    class Params(Params):
        """Paths."""

        folder: str = "calib"
        out: str = "calibrated"

    def run(self, readings: DataFrame[Sensor]) -> DataFrame[Sensor]:
        """Calibrate every sensor."""
        base = Path(self.params.folder)
        offsets = {}
        for f in base.iterdir():  # expect: SDK101
            offsets[f.stem] = float(f.read_text())  # expect: SDK101
        gain = float(Path(self.params.folder, "gain.txt").read_text(encoding="utf-8"))  # expect: SDK101
        header = P("header.bin").read_bytes()  # expect: SDK101
        with Path("notes.md").open("a") as fh:  # expect: SDK101
            fh.write("calibrated\n")  # tolerate: SDK101
        out_dir = pathlib.Path(self.params.out)
        out_dir.mkdir(parents=True, exist_ok=True)  # expect: SDK101
        (out_dir / "gain.txt").write_text(str(gain))  # expect: SDK101
        Path("flag.bin").write_bytes(header)  # expect: SDK101
        Path("stale.lock").unlink(missing_ok=True)  # expect: SDK101
        Path("marker").touch()  # expect: SDK101
        if Path("override.csv").exists():  # expect: SDK101
            self.log.info("override present")
        csvs = sorted(Path(".").glob("*.csv"))  # expect: SDK101
        home = Path.home()  # expect: SDK101
        cwd = Path.cwd()  # expect: SDK101
        Path("old.txt").rename("new.txt")  # expect: SDK101
        self.log.info("paths", extra={"n": len(csvs), "home": str(home), "cwd": str(cwd)})
        return readings.assign(value=(readings["value"] + readings["sensor"].map(offsets)) * gain)


class CalibrateLocalPath(Step):
    """The path object is kept in a local variable first."""

    def run(self, readings: DataFrame[Sensor]) -> DataFrame[Sensor]:
        """Read one offset."""
        p = Path("offset.txt")
        offset = float(p.read_text())  # expect: SDK101
        size = p.stat().st_size  # expect: SDK101
        return pd.DataFrame(readings).assign(value=readings["value"] + offset + size)
