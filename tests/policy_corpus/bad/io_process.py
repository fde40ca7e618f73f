"""Steps that start other processes."""

from __future__ import annotations

import os  # expect: SDK107
import subprocess  # expect: SDK107
import subprocess as sp  # expect: SDK107
from os import path, system  # expect: SDK107
from subprocess import check_output  # expect: SDK107

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Jobs(pa.DataFrameModel):
    """A job id."""

    job: str


class ShellOut(Step):
    """Asks the shell for things."""

    def run(self, jobs: DataFrame[Jobs]) -> DataFrame[Jobs]:
        """Shell out in every way an analyst might."""
        subprocess.run(["ls", "-l"], check=True)  # expect: SDK101
        rev = subprocess.check_output(["git", "rev-parse", "HEAD"]).decode()  # expect: SDK101
        proc = sp.Popen(["sort"], stdin=sp.PIPE)  # expect: SDK101
        code = sp.call("true", shell=True)  # expect: SDK101
        host = check_output(["hostname"], text=True)  # expect: SDK101
        system("echo hi")  # expect: SDK101
        os.system("touch /tmp/x")  # expect: SDK101
        listing = os.popen("ls").read()  # expect: SDK101
        pid = os.getpid()  # expect: SDK101
        here = path.abspath(".")  # expect: SDK101
        os.kill(pid, 0)  # expect: SDK101
        self.log.info("shell", extra={"rev": rev, "p": str(proc), "c": code, "h": host,
                                       "l": listing, "here": here})
        return jobs
