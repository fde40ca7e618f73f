"""``--resume RUN_ID`` after the client was killed: the committed units are reused from the run
directory, the others run, and the result is local's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from dask_harness import HERE, ROOT, dask_address, sdk_command
from dask_pipelines import slow, transactions

__all__ = ["dask_address"]

PARTS = 10


def _command(address: str, folder: Path, *extra: str) -> list[str]:
    return [
        "run", "dask_pipelines:slow", "--runner", "dask",
        "--runner-option", f"address={address}", "--runner-option", "partition_rows=24",
        "--runner-option", "progress=false",
        "--input", f"transactions={folder / 'in.csv'}",
        "--output", f"totalled={folder / 'out.csv'}",
        "--quarantine", str(folder / "quarantine.csv"),
        "--run-dir", str(folder / "runs"), "--max-invalid", "1", *extra,
    ]  # fmt: skip


def _events(stdout: str, event: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") == event]


def test_a_killed_client_is_resumed_reusing_its_committed_units(
    dask_address: str, tmp_path: Path
) -> None:
    """The client SIGKILLed once 3 units are committed (their markers written): nothing is
    published; `--resume RUN_ID` reruns only the other units (the step's own `slow_started`
    records say which ran), logs `run_resumed` with the units reused, and publishes local's
    outputs and quarantine."""
    frame = pd.concat([transactions()] * PARTS, ignore_index=True)
    frame.to_csv(tmp_path / "in.csv", index=False)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        "SDK_LOG_FORMAT": "json",
    }
    client = subprocess.Popen(
        [sys.executable, "-m", "sdk", *_command(dask_address, tmp_path, "--run-id", "killed-1")],
        env=environment, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    markers = tmp_path / "runs" / "killed-1" / "dask" / "units"
    deadline = time.monotonic() + 60
    try:
        while len(list(markers.glob("*.json"))) < 3 and time.monotonic() < deadline:
            assert client.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        client.send_signal(signal.SIGKILL)
    finally:
        client.wait(timeout=30)
    committed = len(list(markers.glob("*.json")))
    assert 3 <= committed < PARTS
    assert not (tmp_path / "out.csv").exists()

    resumed = sdk_command(*_command(dask_address, tmp_path, "--resume", "killed-1"), timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    (finished,) = _events(resumed.stderr, "run_resumed")
    assert finished["reused"] >= committed
    ran = _events(resumed.stderr, "slow_started")
    assert len(ran) <= PARTS - committed

    local = slow.run(transactions=frame, max_invalid=1.0)
    published = pd.read_csv(tmp_path / "out.csv", dtype={"customer_id": str})
    expected = local.outputs["totalled"].astype({"customer_id": str})
    key = ["customer_id", "amount"]
    assert published[expected.columns].sort_values(key).to_numpy().tolist() == (
        expected.sort_values(key).to_numpy().tolist()
    )
    quarantine = pd.read_csv(tmp_path / "quarantine.csv", dtype=str)
    assert sorted(quarantine["check"]) == sorted(local.quarantine["check"])
    assert sorted(quarantine["source"]) == sorted(
        f"{tmp_path / 'in.csv'}:{int(label) + 2}" for label in local.quarantine["source"]
    )
