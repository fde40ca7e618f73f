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
from typing import Any

import pandas as pd
import pytest
from dask_harness import HERE, ROOT, run, step_events
from dask_pipelines import KILL_MARKER, keyed, killing, slow, transactions

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk.testing import assert_equivalent, capture_logs

FRAUD_CSV = ROOT / "examples" / "fraud" / "transactions.csv"
ALLOWED_FAILURES = 1
"""The scheduler's retry budget in these tests (``distributed.scheduler.allowed-failures``,
3 by default): a task may lose the worker running it once, and is given up the second time."""


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
    """SIGKILLs a process when the first record (of message ``event``, if given) reaches it."""

    def __init__(self, pid: int, event: str = "") -> None:
        super().__init__()
        self.pid = pid
        self.event = event
        self.killed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.killed and self.event in ("", record.getMessage()):
            self.killed = True
            os.kill(self.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def separate_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two worker processes started with the ``dask`` command line."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES),
    }
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
             str(scheduler_file), "--nworkers", "2", "--nthreads", "1", "--nanny",
             "--no-dashboard"],
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


def test_a_worker_killed_mid_run_over_a_dataframe_never_gives_a_short_output(
    separate_cluster: str,
) -> None:
    """A worker process SIGKILLed while units run over a DataFrame input (parts scattered from
    the client, which Dask cannot recompute): the run either completes with local's result or
    fails with the PipelineError saying so; never a short output. The cluster recovers."""
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
        assert "lost a Dask worker" in str(outcome) or "killed" in str(outcome)
    with Client(separate_cluster) as client:  # the nanny restarted the worker
        client.wait_for_workers(2, timeout=30)
    again = run(keyed, "dask", {"address": separate_cluster}, transactions=frame)
    assert_equivalent(run(keyed, "local", transactions=frame), again)


class KillBusiest(KillOnFirst):
    """SIGKILLs the worker holding the most of the run's data (so some of it is only there)
    when the first record (of message ``event``, if given) reaches it."""

    def __init__(self, client: Any, pids: dict[str, int], event: str = "") -> None:
        super().__init__(0, event)
        self.client = client
        self.pids = pids

    def emit(self, record: logging.LogRecord) -> None:
        if not self.killed and self.event in ("", record.getMessage()):
            held = self.client.has_what()
            self.pid = self.pids[max(self.pids, key=lambda worker: len(held.get(worker, ())))]
            super().emit(record)


def wait_for_workers(address: str) -> None:
    """Until the nanny has restarted the killed worker (2 workers again)."""
    from distributed import Client

    with Client(address) as client:
        client.wait_for_workers(2, timeout=30)


@pytest.mark.parametrize(
    ("logger", "moment"),
    [
        ("sdk.step.slow_price", "while the first stage's units run"),
        ("sdk.run", "once the first stage is committed, before the shuffle"),
    ],
)
def test_a_worker_killed_mid_run_over_a_csv_is_recomputed(
    separate_cluster: str, tmp_path: Path, logger: str, moment: str
) -> None:
    """A worker process SIGKILLed over a CSV input, ``moment``: Dask recomputes what it lost
    (parts read from the file, units' results, shuffle pieces) and the run completes with
    local's outputs, quarantine and step events (each unit committed once, its quarantine
    once: conservation holds), although a recomputed unit runs again on a worker (and logs
    its own records again)."""
    from distributed import Client

    wait_for_workers(separate_cluster)
    csv = tmp_path / "transactions.csv"
    other = transactions().assign(customer_id=lambda f: "1" + f["customer_id"])  # 10-15, 1x
    pd.concat([transactions(), other], ignore_index=True).to_csv(csv, index=False)
    with Client(separate_cluster) as client:
        pids = client.run(os.getpid)
        killer = KillBusiest(client, pids, "step_finished" if logger == "sdk.run" else "")
        watched = logging.getLogger(logger)
        watched.addHandler(killer)  # a unit's record (from a worker) or step_finished: the kill
        try:
            with capture_logs() as dask_logs:
                dasked = run(
                    slow, "dask", {"address": separate_cluster, "partition_rows": 6},
                    transactions=str(csv),
                )  # fmt: skip
        finally:
            watched.removeHandler(killer)
    assert killer.killed
    with capture_logs() as local_logs:
        local = run(slow, "local", transactions=str(csv))
    assert_equivalent(local, dasked)
    assert step_events(dask_logs) == step_events(local_logs)
    for event in dask_logs.events("validated"):
        assert event["rows"] == event["passed"] + event["quarantined"], event
    wait_for_workers(separate_cluster)


def test_a_unit_that_kills_every_worker_fails_the_run_and_publishes_nothing(
    separate_cluster: str, tmp_path: Path
) -> None:
    """A unit whose worker dies each time it runs (over a CSV, so its input is recomputable):
    Dask retries it within the scheduler's budget, then gives up; the run fails with the
    PipelineError saying so, and writes no output and no quarantine."""
    wait_for_workers(separate_cluster)
    frame = transactions()
    frame.loc[5, "country"] = KILL_MARKER
    csv = tmp_path / "transactions.csv"
    frame.to_csv(csv, index=False)
    out, quarantine = tmp_path / "totalled.parquet", tmp_path / "quarantine.parquet"
    with pytest.raises(sdk.PipelineError, match="killed the Dask workers"):
        run(
            killing, "dask", {"address": separate_cluster, "partition_rows": 4},
            transactions=str(csv), outputs={"totalled": str(out)}, quarantine=str(quarantine),
        )  # fmt: skip
    assert not out.exists()  # the quarantine so far (no unit was committed) is kept
    assert not quarantine.exists() or pd.read_parquet(quarantine).empty
    wait_for_workers(separate_cluster)
