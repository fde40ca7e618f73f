"""`sdk run ... --resume latest`: the latest interrupted run with the same identity is resumed
and named; with none to resume, the run is refused."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from test_runs_prune import Runs


def sdk_run(runs: Runs, output: str, *more: str, how: str = "") -> subprocess.CompletedProcess[str]:
    """`sdk run` of the prune pipeline (batch) writing `output`, with `more` flags."""
    args = runs.args("unused")
    args = [
        *args[: args.index("--output")],
        "--output", f"copy={runs.folder / output}", "--run-dir", str(runs.run_dir), *more,
    ]
    return subprocess.run(
        args, cwd=runs.folder, env={**os.environ, "PRUNE_TEST": how}, capture_output=True,
        text=True, timeout=120,
    )


def test_resume_latest_continues_the_interrupted_run_of_the_same_identity(tmp_path: Path) -> None:
    """Two interrupted runs writing different outputs: `--resume latest` with the first one's
    command resumes the first (not the later, other one), and its summary names it."""
    runs = Runs(tmp_path)
    first = sdk_run(runs, "a.csv", "--run-id", "first", how="SIGTERM")
    assert first.returncode == 143, first.stderr
    other = sdk_run(runs, "b.csv", "--run-id", "other", how="SIGTERM")
    assert other.returncode == 143, other.stderr
    resumed = sdk_run(runs, "a.csv", "--resume", "latest")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0].startswith("Run first of prune succeeded in ")
    assert len((runs.folder / "a.csv").read_text().splitlines()) == 51
    record = json.loads((runs.run_dir / "first" / "run.json").read_text())
    assert record["status"] == "succeeded"
    assert json.loads((runs.run_dir / "other" / "run.json").read_text())["status"] == "interrupted"
    again = sdk_run(runs, "a.csv", "--resume", "latest")
    assert again.returncode == 2
    (line,) = [x for x in again.stderr.splitlines() if not x.startswith("{")]
    assert line.startswith("sdk: error (PipelineError): ")
