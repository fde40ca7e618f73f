"""Steps under a pyproject that enables SDK109, disables SDK104 and allows yaml."""

from __future__ import annotations

import contextlib  # expect: SDK107

import numpy as np
import pandera.pandas as pa
import toml  # expect: SDK107
import yaml
from pandera.typing import DataFrame

from sdk import Params, Step


class Rows(pa.DataFrameModel):
    """A row."""

    x: float
    n: float


class Swallows(Step):
    """Broad excepts that swallow errors (SDK109 enabled here)."""

    class Params(Params):
        """YAML config."""

        cfg: str = "a: 1"

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Swallow errors in several ways."""
        cfg = yaml.safe_load(self.params.cfg)
        noise = np.random.rand(len(rows))
        try:
            z = rows["x"] / rows["n"]
        except Exception:  # expect: SDK109
            z = rows["x"] * 0
        try:
            z = z.clip(0, 1)
        except:  # noqa: E722  # expect: SDK109
            pass
        try:
            z = z.round(2)
        except BaseException:  # expect: SDK109
            z = z * 1
        try:
            z = z.abs()
        except (ValueError, Exception):  # expect: SDK109
            return rows
        try:
            z = z + 0
        except Exception:
            self.log.exception("failed")
            raise
        try:
            z = z * 1
        except ValueError:
            z = z * 0
        try:
            z = z - 0
        except Exception as exc:
            raise ValueError("bad ratio") from exc
        with contextlib.suppress(Exception):  # expect: SDK109 beyond-docs
            z = z / 1
        self.log.info("cfg", extra={"cfg": cfg, "n": float(noise.sum())})
        return rows.assign(x=z)
