"""Steps that use os, shutil, glob and tempfile."""

from __future__ import annotations

import glob  # expect: SDK107
import os  # expect: SDK107
import os.path  # expect: SDK107
import shutil  # expect: SDK107
import tempfile  # expect: SDK107
from os import environ, getenv, listdir  # expect: SDK107
from os import path as osp  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Files(pa.DataFrameModel):
    """A file name."""

    name: str


class Housekeeping(Step):
    """A step that looks around the machine it runs on."""

    def run(self, files: DataFrame[Files]) -> DataFrame[Files]:
        """Mark which files exist."""
        mode = os.environ["PIPELINE_MODE"]  # expect: SDK101
        region = os.environ.get("REGION", "eu")  # expect: SDK101
        user = os.getenv("USER")  # expect: SDK101
        token = getenv("TOKEN")  # expect: SDK101
        home = environ["HOME"]  # expect: SDK101
        present = set(os.listdir("."))  # expect: SDK101
        also = set(listdir("/data"))  # expect: SDK101
        exists = files["name"].map(os.path.exists)  # expect: SDK101
        isfile = files["name"].map(lambda n: osp.isfile(n))  # expect: SDK101
        os.makedirs("out", exist_ok=True)  # expect: SDK101
        os.remove("out/old.csv")  # expect: SDK101
        os.rename("a.csv", "b.csv")  # expect: SDK101
        for root, _dirs, names in os.walk("/data"):  # expect: SDK101
            present.update(os.path.join(root, n) for n in names)  # tolerate: SDK101
        cwd = os.getcwd()  # expect: SDK101
        os.chdir("/tmp")  # expect: SDK101
        shutil.copy("a.csv", "backup.csv")  # expect: SDK101
        shutil.rmtree("scratch", ignore_errors=True)  # expect: SDK101
        shutil.move("b.csv", "archive/")  # expect: SDK101
        matches = glob.glob("/data/*.csv")  # expect: SDK101
        tmp = tempfile.mkdtemp()  # expect: SDK101
        with tempfile.NamedTemporaryFile("w", suffix=".csv") as tf:  # expect: SDK101
            files.to_string(tf)  # tolerate: SDK101
        self.log.info("env", extra={"m": mode, "r": region, "u": user, "t": token, "h": home,
                                     "c": cwd, "n": len(matches), "tmp": tmp})
        return pd.DataFrame(files).assign(exists=exists | isfile | files["name"].isin(present | also))
