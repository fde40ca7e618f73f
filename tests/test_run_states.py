"""Run states: failed, interrupted (a signal, a kill), locked, damaged, and what is left on disk.

The batch runs use the crash/resume pipeline of ``test_resume`` (its module, input, job and
reference helpers), run with ``python -m sdk run`` in a subprocess and stopped with real signals.
A run is ``running``, ``succeeded``, ``failed`` or ``interrupted``; whatever stops it, its
``run.json`` says which, and ``--resume`` of an interrupted batch run gives exactly the result
of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from test_resume import (
    PIPELINE,
    ROOT,
    RUN_ID,
    SLOW,
    SLOW_WRITE,
    Job,
    Reference,
    assert_refused,
    assert_same_as_reference,
    crash,
    environment,
    errors,
    new_job,
    run_reference,
    temp_files,
    write_input,
)

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk.hookspecs import hookimpl
from sdk.plugins import get_plugin_manager
from sdk.runs import list_runs, show_run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The crash/resume pipeline module and its input CSV (as in test_resume)."""
    folder = tmp_path_factory.mktemp("states")
    module = folder / "resume_pipeline.py"
    module.write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    data = folder / "transactions.csv"
    write_input(data)
    return module, data


@pytest.fixture(scope="module")
def reference(
    workspace: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    """An uninterrupted batch run with the same chunking and run id."""
    return run_reference(new_job(workspace, tmp_path_factory.mktemp("reference")))


def record(run_path: Path) -> dict:
    """The run's ``run.json``."""
    return dict(json.loads((run_path / "run.json").read_text(encoding="utf-8")))


def listed(job: Job) -> str:
    """The run's line in ``sdk runs``."""
    (line,) = [row for row in list_runs(job.run_dir).splitlines() if row.startswith(RUN_ID)]
    return line.rstrip()


def _default_sigint() -> None:
    # a test run started in the background inherits SIGINT ignored, which the run respects
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(job: Job, env: dict[str, str], *more: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``job`` (slowed by ``env``) in its own session, SIGINT at its default; its
    stderr goes to a log file."""
    log = job.out.parent / f"run-{time.monotonic_ns()}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            job.args(*more), cwd=ROOT, env=environment(env), stdout=subprocess.DEVNULL,
            stderr=fh, start_new_session=True, preexec_fn=_default_sigint,
        )
    return proc, log


def wait_for(proc: subprocess.Popen[bytes], ready, what: str, log: Path) -> None:
    """Poll ``ready`` until true; fail if the process ends first or it takes over 60 s."""
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}\n{tail}")
        assert time.monotonic() < deadline, f"{what} was not reached in 60 s"
        time.sleep(0.005)


def leftover_temp_files(*folders: Path) -> list[Path]:
    """Temporary files (``*.tmp``) anywhere under ``folders``."""
    return [p for folder in folders for p in folder.rglob("*.tmp")]


# -- 12: a run that fails or is interrupted says so --------------------------------------------


class Buggy:
    """A plugin with a bug: raises ``error`` after the first committed unit."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    @hookimpl
    def sdk_after_unit(self, run, summary) -> None:
        raise self.error


def tx(n: int) -> pd.DataFrame:
    """``n`` raw, valid transactions."""
    return pd.DataFrame(
        {
            "customer_id": [str(i % 5) for i in range(n)],
            "amount": [f"{i}.5" for i in range(n)],
            "country": ["US"] * n,
        },
        dtype=object,
    )


@pytest.mark.parametrize("runner", ["local", "batch"])
@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("a bug in a plugin"), "failed"), (KeyboardInterrupt(), "interrupted")],
    ids=["exception", "keyboard-interrupt"],
)
def test_unexpected_exception_marks_the_run_failed_or_interrupted(
    runner: str, error: BaseException, status: str, tmp_path: Path
) -> None:
    """A non-SDK exception leaves run.json `failed` with the error (and a failed manifest);
    KeyboardInterrupt leaves it `interrupted`; the lock is released either way."""
    pm = get_plugin_manager()
    plugin = Buggy(error)
    pm.register(plugin, name="test-buggy")
    try:
        with pytest.raises(type(error)):
            fraud.run(
                runner, transactions=tx(30), outputs={"scored": str(tmp_path / "scored.csv")},
                runner_options={"run_dir": str(tmp_path / "runs"), "progress": False,
                                **({"chunk_rows": 10} if runner == "batch" else {})},
            )
    finally:
        pm.unregister(plugin)
    (run_path,) = (tmp_path / "runs").iterdir()
    run = record(run_path)
    assert run["status"] == status
    assert run["pid"] == os.getpid() and run["host"] == os.uname().nodename
    assert not (tmp_path / "scored.csv").exists()
    assert not list(tmp_path.glob("*.manifest.json"))
    if status == "failed":
        assert run["error"] == {"type": "RuntimeError", "message": "a bug in a plugin"}
        manifest = json.loads((run_path / "manifest.json").read_text())
        assert manifest["status"] == "failed"
        assert manifest["error"] == run["error"]
    expected = status if status == "failed" else "interrupted"
    (line,) = list_runs(tmp_path / "runs").splitlines()[1:]
    assert expected in line and "running" not in line


def test_killed_run_is_listed_as_interrupted_and_a_live_one_as_running(
    workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """run.json records pid and host: `sdk runs` shows the live run `running`, and once it
    is killed with SIGKILL, `interrupted (resume with --resume)` (`sdk runs show` too)."""
    job = new_job(workspace, tmp_path)
    proc, log = start(job, SLOW)
    try:
        wait_for(proc, lambda: (job.run_path / "units" / "s00-rows-000000.json").exists(),
                 "the first unit marker", log)
        run = record(job.run_path)
        assert run["pid"] == proc.pid and run["host"] == os.uname().nodename
        assert listed(job).endswith(" running"), listed(job)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert record(job.run_path)["status"] == "running"  # nobody could write it: derived
    assert listed(job).endswith(" interrupted (resume with --resume)"), listed(job)
    assert json.loads(show_run(RUN_ID, job.run_dir))["status"] == "interrupted"


# -- 12b: SIGTERM and SIGINT -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "marker"),
    [
        (signal.SIGTERM, 143, "s00-rows-000000"),
        (signal.SIGINT, 130, "s00-rows-000001"),
    ],
    ids=["SIGTERM", "SIGINT"],
)
def test_signal_marks_the_run_interrupted_and_resume_completes_it(
    signum: int,
    code: int,
    marker: str,
    reference: Reference,
    workspace: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """SIGTERM (SIGINT) after a unit marker: exit 143 (130), run.json `interrupted`, no temp
    file under the output folder or the run directory; --resume gives the reference result."""
    job = new_job(workspace, tmp_path)
    proc, log = start(job, SLOW)
    try:
        wait_for(proc, lambda: (job.run_path / "units" / f"{marker}.json").exists(),
                 f"the marker {marker}", log)
        os.kill(proc.pid, signum)
        assert proc.wait(timeout=30) == code, log.read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    run = record(job.run_path)
    assert run["status"] == "interrupted"
    assert run["signal"] == signal.Signals(signum).name
    assert not leftover_temp_files(job.out, job.run_path)
    assert not job.scored.exists() and not job.quarantine.exists()
    assert listed(job).endswith(" interrupted (resume with --resume)"), listed(job)
    assert "Traceback" not in log.read_text(errors="replace")
    assert_same_as_reference(job, reference, job.resume())


# -- 13: one process per run directory ---------------------------------------------------------


def test_concurrent_resume_is_refused_while_the_first_runs(
    workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """A second --resume of a run that another process is resuming exits 2 naming that pid,
    and leaves run.json to the first."""
    job = new_job(workspace, tmp_path)
    crash(job, lambda j: (j.run_path / "units" / "s00-rows-000000.json").exists(),
          "first-unit-marker", SLOW)
    # slow enough to be still running when the second starts, however loaded the machine
    very_slow = {"RESUME_TEST_DELAY": "1", "RESUME_TEST_GLOBAL_DELAY": "10"}
    first, log = start(job, very_slow, "--resume", RUN_ID)
    try:
        wait_for(first, lambda: '"event": "run_started"' in log.read_text(errors="replace"),
                 "run_started of the first resume", log)
        before = (job.run_path / "run.json").read_bytes()
        second = job.resume()
        line = assert_refused(second, f"run {RUN_ID!r} is in progress in another process",
                              f"pid {first.pid}")
        assert "wait for it" in line and f"--resume {RUN_ID}" in line
        assert (job.run_path / "run.json").read_bytes() == before
        os.kill(first.pid, signal.SIGTERM)
        assert first.wait(timeout=30) == 143
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    assert record(job.run_path)["status"] == "interrupted"


# -- 14: damaged checkpoints -------------------------------------------------------------------


def test_damaged_checkpoints_are_redone_on_resume(
    reference: Reference, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """A truncated spill part, a deleted data part, a deleted quarantine part and a truncated
    source record: --resume redoes those units (logging which file) and gives the reference."""
    job = new_job(workspace, tmp_path)
    crash(job, lambda j: (j.run_path / "units" / "s02-part-000001.json").exists(),
          "partition-phase", SLOW)
    spill = job.run_path / "spill" / "s01-spill-flagged-000001.parquet"
    spill.write_bytes(spill.read_bytes()[: spill.stat().st_size // 2])
    part = job.run_path / "data" / "clean" / "s00-rows-000002.parquet"
    part.unlink()
    quarantined = sorted((job.run_path / "quarantine").glob("s00-rows-*.parquet"))
    assert quarantined, "no quarantine part to damage"
    quarantined[0].unlink()
    source = sorted((job.run_path / "sources" / "transactions").glob("*.pkl"))[1]
    source.write_bytes(source.read_bytes()[:10])
    done = job.resume()
    assert_same_as_reference(job, reference, done)
    damaged = [
        json.loads(line) for line in done.stderr.splitlines()
        if line.startswith("{") and '"checkpoint_damaged"' in line
    ]
    files = {Path(r["file"]).name for r in damaged}
    assert {spill.name, part.name, quarantined[0].name} <= files, damaged


# -- 15: temp files of a killed publish --------------------------------------------------------


def test_temp_file_of_a_killed_publish_is_removed_on_resume(
    reference: Reference, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """kill -9 while publishing leaves `.scored.csv.<hex>.tmp`; the resume removes it (and
    only the temp files of this run's outputs)."""
    job = new_job(workspace, tmp_path)
    slow_write = {"RESUME_TEST_WRITE_DELAY": SLOW_WRITE["RESUME_TEST_WRITE_DELAY"]}
    crash(job, lambda j: bool(temp_files(j, "scored.csv")), "publishing-output", slow_write)
    assert list(job.out.glob(".scored.csv.*.tmp"))
    foreign = job.out / ".other.csv.0123abcd.tmp"
    foreign.write_text("not ours")
    assert_same_as_reference(job, reference, job.resume())
    assert not list(job.out.glob(".scored.csv.*.tmp"))
    assert not leftover_temp_files(job.run_path)
    assert foreign.exists()


# -- 16: one manifest per output ---------------------------------------------------------------


def test_manifest_beside_each_output_is_named_after_it(tmp_path: Path) -> None:
    """Two outputs and the quarantine in one folder: each gets `<file>.manifest.json`;
    no shared `manifest.json`."""
    out = tmp_path / "out"
    frame = tx(40)
    frame.loc[3, "amount"] = "x"
    result = fraud.run(
        "batch", transactions=frame, max_invalid=1.0,
        outputs={"scored": str(out / "scored.csv"), "features": str(out / "features.parquet")},
        quarantine=str(out / "quarantine.csv"),
        runner_options={"chunk_rows": 10, "progress": False, "run_dir": str(tmp_path / "runs")},
    )
    assert sorted(p.name for p in out.glob("*manifest.json")) == [
        "features.parquet.manifest.json",
        "quarantine.csv.manifest.json",
        "scored.csv.manifest.json",
    ]
    run_manifest = json.loads((tmp_path / "runs" / result.run_id / "manifest.json").read_text())
    for path in out.glob("*.manifest.json"):
        assert json.loads(path.read_text()) == run_manifest


def test_no_manifest_beside_an_output_that_was_not_published(tmp_path: Path) -> None:
    """A run over its error budget publishes only the quarantine: only it gets a manifest
    (status failed)."""
    out = tmp_path / "out"
    frame = tx(20)
    frame.loc[[1, 2, 3], "amount"] = "x"
    with pytest.raises(sdk.DataQualityError):
        fraud.run(
            "batch", transactions=frame, max_invalid=0.01,
            outputs={"scored": str(out / "scored.csv")}, quarantine=str(out / "quarantine.csv"),
            runner_options={"chunk_rows": 10, "progress": False,
                            "run_dir": str(tmp_path / "runs")},
        )
    assert not (out / "scored.csv").exists()
    assert [p.name for p in out.glob("*manifest.json")] == ["quarantine.csv.manifest.json"]
    manifest = json.loads((out / "quarantine.csv.manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"]["type"] == "DataQualityError"


def test_importing_sdk_installs_no_signal_handler() -> None:
    """Importing sdk leaves SIGTERM and SIGINT as Python set them; a run restores them."""
    code = (
        "import signal; before = (signal.getsignal(signal.SIGTERM), "
        "signal.getsignal(signal.SIGINT)); import sdk, sdk.cli; "
        "from examples.fraud.pipeline import pipeline; import pandas as pd; "
        "pipeline.run(transactions=pd.DataFrame({'customer_id': ['1'], 'amount': ['2.0'], "
        "'country': ['US']}), runner_options={'progress': False}); "
        "after = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)); "
        "assert before == after, (before, after); print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment(), capture_output=True,
        text=True, timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", errors(done)



def test_the_runs_table_stays_aligned_with_long_pipeline_names(tmp_path: Path) -> None:
    """`sdk runs`: each column starts at the same position whatever the pipeline's name."""
    frame = pd.read_csv(ROOT / "examples/fraud/transactions.csv").head(50)
    runs = tmp_path / "runs"
    for name in ("f", "a_pipeline_with_a_much_longer_name_than_the_column_had"):
        renamed = sdk.Pipeline(list(fraud.order), name=name)
        renamed.run(transactions=frame, max_invalid=1.0, runner_options={"run_dir": str(runs)})
    header, *rows = list_runs(runs).splitlines()
    assert len(rows) == 2
    for column in ("PIPELINE", "RUNNER", "STARTED", "STATUS"):
        at = header.index(column)
        assert all(row[at - 1] == " " and row[at] != " " for row in rows), (column, rows)
