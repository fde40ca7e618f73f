"""A step module with imports outside the allow-list, at module level and inside code."""

from __future__ import annotations

import collections.abc
import json
import typing as t

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

import xgboost  # expect: SDK107
import yaml  # expect: SDK107
from lightgbm import LGBMRegressor  # expect: SDK107
from sdk import Params, Step
import xml.etree.ElementTree as ET  # expect: SDK107
import copy, csv  # expect: SDK107
import hashlib  # expect: SDK107
import zlib  # expect: SDK107
import threading  # expect: SDK107
import multiprocessing as mp  # expect: SDK107
import ctypes  # expect: SDK107
import inspect  # expect: SDK107
import gc  # expect: SDK107

try:
    import ujson as fastjson  # expect: SDK107
except ImportError:  # pragma: no cover
    fastjson = json

if t.TYPE_CHECKING:
    from pathlib import Path  # gap: SDK107


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class FitWithLightgbm(Step):
    """Uses an unvetted library."""

    class Params(Params):
        """Config as YAML text."""

        cfg: str = "a: 1"

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Fit x."""
        import os  # expect: SDK107
        import torch  # expect: SDK107
        from joblib import Parallel  # expect: SDK107
        from urllib import parse  # expect: SDK107
        cfg = yaml.safe_load(self.params.cfg)
        fitted = LGBMRegressor().fit(rows[["x"]], rows["x"]).predict(rows[["x"]])
        digest = hashlib.md5(b"x").hexdigest()
        self.log.info("cfg", extra={"cfg": cfg, "d": digest})
        return pd.DataFrame(rows).assign(x=fitted)


def helper_with_import(rows: pd.DataFrame) -> pd.DataFrame:
    """Imports inside a helper the step calls."""
    import requests  # expect: SDK107
    return rows


class CallsHelper(Step):
    """Helper import."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Call the helper."""
        return helper_with_import(rows)
