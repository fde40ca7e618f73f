"""What a dask run leaves on disk: outputs written by the workers and published at once (one
file per URI, a Parquet folder for a URI ending in ``/``, a table through the client), and the
checkpoints that let ``--resume RUN_ID`` finish a run whose client was killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from dask_harness import HERE, ROOT, dask_address, run, sdk_command
from dask_pipelines import keyed, slow, transactions

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


@pytest.mark.parametrize("target", ["out.csv", "out.parquet", "out/", "out.jsonl", "sqlite"])
def test_outputs_are_written_by_the_workers_and_published_whole(
    dask_address: str, tmp_path: Path, target: str
) -> None:
    """Each output written as parts by the workers and joined into its URI (CSV, Parquet,
    JSON lines, a Parquet folder), or through the client for a table: local's rows, no
    staging folder left beside it."""
    uri = (
        f"sqlite:///{tmp_path / 'out.db'}?table=totalled"
        if target == "sqlite"
        else (f"{tmp_path}/{target}")
    )
    frame = transactions()
    options = {"address": dask_address, "partition_rows": 6, "run_dir": str(tmp_path / "runs")}
    dasked = run(keyed, "dask", options, transactions=frame, outputs={"totalled": uri})
    assert dasked.written["totalled"] == uri
    if target == "sqlite":
        import sqlite3

        with sqlite3.connect(tmp_path / "out.db") as connection:
            published = pd.read_sql("select * from totalled", connection)
    elif target.endswith(".csv"):
        published = pd.read_csv(uri)
    elif target.endswith(".jsonl"):
        published = pd.read_json(uri, lines=True)
    else:
        published = pd.read_parquet(uri)
    expected = run(keyed, "local", transactions=frame).outputs["totalled"]
    key = ["customer_id", "amount"]
    assert len(published) == len(expected) > 0
    got = published.astype({"customer_id": str}).sort_values(key)[list(expected.columns)]
    want = expected.astype({"customer_id": str}).sort_values(key)
    assert got.to_numpy().tolist() == want.to_numpy().tolist()
    assert sorted(p.name for p in tmp_path.iterdir() if "sdk-parts" in p.name) == []
