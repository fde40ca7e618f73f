"""The runner pointed at a cluster started separately, as a user would: ``dask scheduler`` and
``dask worker`` processes (2 worker processes, 1 thread each), and one of them SIGKILLed
mid-run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask_harness import HERE, ROOT, run
from dask_pipelines import keyed, slow, transactions

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk.testing import assert_equivalent, capture_logs

FRAUD_CSV = ROOT / "examples" / "fraud" / "transactions.csv"


def test_without_an_address_a_local_cluster_is_started_and_closed() -> None:
    """No address: the runner starts its own local cluster (here of 1 worker), runs, and
    closes it; the result equals local's."""
    frame = transactions()
    with capture_logs() as logs:
        dasked = run(keyed, "dask", {"n_workers": 1}, transactions=frame)
    assert_equivalent(run(keyed, "local", transactions=frame), dasked)
    (connected,) = logs.events("dask_connected")
    assert connected["local_cluster"] is True and connected["workers"] == 1


class KillOnFirst(logging.Handler):
    """SIGKILLs a process when the first record reaches it (a unit is running)."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.killed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.killed:
            self.killed = True
            os.kill(self.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def separate_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two worker processes started with the ``dask`` command line."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [*dask, "--scheduler-file", str(scheduler_file), "--port", "0", "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers = None
    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(scheduler_file), "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with Client(scheduler_file=str(scheduler_file)) as client:
            client.wait_for_workers(2, timeout=30)
            address = client.scheduler.address
        yield address
    finally:
        for process in (workers, scheduler):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_a_separately_started_cluster_runs_the_fraud_example(
    separate_cluster: str, tmp_path: Path
) -> None:
    """Pointed at `dask scheduler` / `dask worker` processes: the fraud example over its CSV,
    the same outputs and quarantine as local."""
    options = {"address": separate_cluster, "partition_rows": 400, "run_dir": str(tmp_path)}
    dasked = run(fraud, "dask", options, transactions=str(FRAUD_CSV))
    local = run(fraud, "local", {"run_dir": str(tmp_path)}, transactions=str(FRAUD_CSV))
    assert_equivalent(local, dasked)
    assert len(dasked.quarantine) == 30


def test_a_worker_killed_mid_run_never_gives_a_short_output(separate_cluster: str) -> None:
    """A worker process SIGKILLed while units run: the run either completes with local's
    result or fails with an SDK error; never a short output. The cluster recovers."""
    from distributed import Client

    with Client(separate_cluster) as client:
        pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    frame = transactions()
    killer = KillOnFirst(victim)
    watched = logging.getLogger("sdk.step.slow_price")
    watched.addHandler(killer)  # the first unit's record (from a worker) triggers the kill
    try:
        outcome: sdk.RunResult | sdk.SdkError
        try:
            outcome = run(
                slow, "dask", {"address": separate_cluster, "partition_rows": 3},
                transactions=frame,
            )  # fmt: skip
        except sdk.SdkError as exc:
            outcome = exc
    finally:
        watched.removeHandler(killer)
    assert killer.killed
    local = run(slow, "local", transactions=frame)
    if isinstance(outcome, sdk.RunResult):
        assert_equivalent(local, outcome)
    else:
        assert isinstance(outcome, sdk.PipelineError), outcome
        assert "lost" in str(outcome) or "killed" in str(outcome)
    with Client(separate_cluster) as client:  # the nanny restarted the worker
        client.wait_for_workers(2, timeout=30)
    again = run(keyed, "dask", {"address": separate_cluster}, transactions=frame)
    assert_equivalent(run(keyed, "local", transactions=frame), again)
