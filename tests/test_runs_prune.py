"""`sdk runs prune`: whole run directories of finished runs removed, the newest kept, never a
running one; interrupted runs that can be resumed kept unless `--older-than` says otherwise.

Runs are real: `sdk run` in a subprocess of a one-step pipeline that copies its rows, or — as
`PRUNE_TEST` says — stops itself with SIGTERM (interrupted), SIGKILL (killed: `running` in
run.json with a dead pid) or waits for a file (running).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli

PIPELINE = '''
    """One step that copies its rows; PRUNE_TEST makes it stop or wait."""

    import os
    import signal
    import time
    from pathlib import Path

    import pandera.pandas as pa
    from pandera.typing import DataFrame

    from sdk import Pipeline, Step


    class Rows(pa.DataFrameModel):
        x: int

        class Config:
            coerce = True


    class Copy(Step):
        """Copies its rows."""

        scope = "rows"

        def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
            how = os.environ.get("PRUNE_TEST", "")
            if how == "raise":
                raise ValueError("asked to fail")
            if how in ("SIGTERM", "SIGKILL"):
                os.kill(os.getpid(), getattr(signal, how))
                time.sleep(30)
            if how.startswith("wait:"):
                Path(how[5:] + ".entered").touch()
                while not Path(how[5:]).exists():
                    time.sleep(0.02)
            return rows


    pipeline = Pipeline([Copy()], name="prune")
'''


class Runs:
    """A pipeline, its input and a run directory; `run` starts `sdk run` in a subprocess."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.module = folder / "prune_pipeline.py"
        self.module.write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
        self.data = folder / "rows.csv"
        self.data.write_text("x\n" + "\n".join(map(str, range(50))) + "\n", encoding="utf-8")
        self.run_dir = folder / "runs"

    def args(self, run_id: str, runner: str = "batch") -> list[str]:
        """The `sdk run` command line of run `run_id`."""
        return [
            sys.executable, "-m", "sdk", "run", f"{self.module}:pipeline", "--runner", runner,
            "--input", f"rows={self.data}", "--output", f"copy={self.folder / run_id}.csv",
            "--run-id", run_id, "--run-dir", str(self.run_dir),
        ]

    def run(self, run_id: str, how: str = "", runner: str = "batch") -> int:
        """Run to its end (or its stop); return the exit code."""
        env = {**os.environ, "PRUNE_TEST": how}
        done = subprocess.run(
            self.args(run_id, runner), cwd=self.folder, env=env, capture_output=True, text=True,
            timeout=120,
        )
        return done.returncode

    def prune(self, *flags: str) -> subprocess.CompletedProcess[str]:
        """`sdk runs prune FLAGS` of this run directory."""
        return cli("runs", "prune", "--run-dir", str(self.run_dir), *flags)

    def left(self) -> set[str]:
        """The run directories still there."""
        return {p.name for p in self.run_dir.iterdir()}


@pytest.fixture
def runs(tmp_path: Path) -> Runs:
    """An empty run directory and the pipeline to fill it."""
    return Runs(tmp_path)


def removed(out: subprocess.CompletedProcess[str]) -> set[str]:
    """The runs `sdk runs prune` says it removed (`removed RUN_ID STATUS PIPELINE SIZE`)."""
    lines = [line.split() for line in out.stdout.splitlines()]
    return {w[1] for w in lines if w[:1] == ["removed"] and w[2] not in ("run", "runs")}


def test_keep_removes_all_but_the_newest_finished_runs(runs: Runs) -> None:
    """`--keep 1` of four finished runs (succeeded, failed) removes the three oldest whole run
    directories, prints each with its size and the bytes freed; outputs are left alone."""
    assert runs.run("a-old") == 0
    assert runs.run("b-failed", "raise") == 1
    assert runs.run("c-mid") == 0
    time.sleep(1.1)  # run ids sort by name here; "newest" is by start time
    assert runs.run("d-new") == 0
    out = runs.prune("--keep", "1")
    assert out.returncode == 0, out.stderr
    assert removed(out) == {"a-old", "b-failed", "c-mid"}
    assert runs.left() == {"d-new"}
    assert (runs.folder / "a-old.csv").exists()
    last = out.stdout.splitlines()[-1]
    assert last.startswith(f"removed 3 runs from {runs.run_dir}, freed ")
    assert last.endswith("kept: 1 recent")
    freed = int(last.split(" (")[1].split()[0].replace(",", ""))
    assert freed > 0


def test_dry_run_removes_nothing(runs: Runs) -> None:
    """`--dry-run` lists what would go and leaves it."""
    assert runs.run("one") == 0
    out = runs.prune("--keep", "0", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("would remove one ")
    assert runs.left() == {"one"}


def test_a_running_run_is_never_removed(runs: Runs) -> None:
    """A run in progress (its lock held) stays, whatever the flags say."""
    gate = runs.folder / "gate"
    env = {**os.environ, "PRUNE_TEST": f"wait:{gate}"}
    proc = subprocess.Popen(
        runs.args("live"), cwd=runs.folder, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.entered").exists():
            assert proc.poll() is None, "the run ended before its step started"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        out = runs.prune("--keep", "0", "--older-than", "0s")
        assert out.returncode == 0, out.stderr
        assert runs.left() == {"live"}
        assert "1 running" in out.stdout
    finally:
        gate.touch()
        assert proc.wait(timeout=60) == 0
    assert runs.prune("--keep", "0").returncode == 0
    assert runs.left() == set()


def test_resumable_interrupted_runs_are_kept_unless_older_than(runs: Runs) -> None:
    """Interrupted batch runs (SIGTERM; SIGKILL, which leaves `running` with a dead pid) can
    be resumed: `--keep 0` keeps them; `--older-than` removes them once they are that old. An
    interrupted local run cannot be resumed: it is finished."""
    assert runs.run("term", "SIGTERM") == 143
    assert runs.run("killed", "SIGKILL") == -9
    assert runs.run("local", "SIGTERM", runner="local") == 143
    out = runs.prune("--keep", "0")
    assert out.returncode == 0, out.stderr
    assert removed(out) == {"local"}
    assert runs.left() == {"term", "killed"}
    assert "kept: 2 resumable" in out.stdout
    assert runs.prune("--older-than", "1h").stdout.splitlines()[-1].startswith("removed 0 ")
    time.sleep(1.1)
    out = runs.prune("--older-than", "1s")
    assert removed(out) == {"term", "killed"}
    assert runs.left() == set()


def test_keep_and_older_than_together_keep_either(runs: Runs) -> None:
    """With both flags a run goes only if it is neither among the newest N nor younger than
    the age."""
    assert runs.run("first") == 0
    assert runs.run("second") == 0
    out = runs.prune("--keep", "0", "--older-than", "1h")
    assert removed(out) == set() and runs.left() == {"first", "second"}
    time.sleep(1.1)
    out = runs.prune("--keep", "1", "--older-than", "1s")
    assert removed(out) == {"first"} and runs.left() == {"second"}


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ((), "--keep N, --older-than AGE or both"),
        (("--older-than", "7 days"), "90s, 30m, 12h, 7d, 2w"),
        (("--keep", "-1"), "--keep -1 must be 0 or more"),
    ],
)
def test_prune_usage_errors(runs: Runs, flags: tuple[str, ...], named: str) -> None:
    """Prune without saying what to keep, or with an age it cannot read, exits 2 saying how."""
    out = runs.prune(*flags)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert line.startswith("sdk: error (usage): ")
    assert named in line


def test_prune_of_an_empty_run_dir(tmp_path: Path) -> None:
    """Nothing to prune is not an error."""
    out = cli("runs", "prune", "--keep", "3", "--run-dir", str(tmp_path / "none"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("removed 0 runs")


def test_run_dir_from_the_environment(runs: Runs) -> None:
    """Without --run-dir, prune works on $SDK_RUN_DIR as `sdk runs` does."""
    assert runs.run("env-run") == 0
    env = {**os.environ, "SDK_RUN_DIR": str(runs.run_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "sdk", "runs", "prune", "--keep", "0"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert runs.left() == set()
