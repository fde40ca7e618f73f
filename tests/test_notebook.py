"""Notebook-scale runs: an in-memory run writes nothing unless asked, and keeps its manifest.

A run of a runner that does not checkpoint, over frames, with no destination, keeps no run
directory (a notebook calling ``pipeline.run`` 200 times leaves no 200 folders behind); its
manifest is on ``RunResult.manifest``. ``run_dir=`` or any destination writes one as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk.plugins import get_plugin_manager
from sdk.runners.registry import get_runner, list_runners
from sdk.testing import capture_logs


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [str(i % 3) for i in range(n)],
            "amount": [str(10.0 + i) for i in range(n)],
            "country": ["GB"] * n,
        }
    )


def test_in_memory_run_writes_no_run_directory(
    _run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames in, nothing out: no folder under the run root or the working folder."""
    monkeypatch.chdir(tmp_path)
    for _ in range(3):
        result = fraud.run(transactions=_rows(1))
        assert result.status == "succeeded"
    assert list(_run_dir.iterdir()) == []
    assert list(tmp_path.iterdir()) == []


def test_in_memory_run_returns_its_manifest(_run_dir: Path) -> None:
    """The manifest is on the result: versions, steps, inputs, validation, quarantine."""
    bad = _rows(3)
    bad.loc[1, "amount"] = "-5"
    result = fraud.run(transactions=bad, max_invalid=1.0)
    manifest = result.manifest
    assert manifest["run_id"] == result.run_id
    assert manifest["status"] == "succeeded"
    assert manifest["pipeline"] == "fraud"
    assert manifest["versions"]["pandas"] == pd.__version__
    assert [s["name"] for s in manifest["steps"]] == ["add_features", "score"]
    assert manifest["inputs"] == [
        {"name": "transactions", "uri": "<DataFrame>", "content_hash": None, "rows": 3}
    ]
    assert manifest["outputs"] == [
        {"name": "features", "uri": None, "rows": 2},
        {"name": "scored", "uri": None, "rows": 2},
    ]
    assert manifest["quarantine"]["rows"] == 1
    assert manifest["quarantine"]["by_check"] == {"amount: greater_than_or_equal_to(0)": 1}
    json.dumps(manifest)  # plain data, as written to manifest.json


def test_run_started_says_there_is_no_run_directory() -> None:
    """The run_started event of an in-memory run has run_dir null."""
    with capture_logs() as logs:
        fraud.run(transactions=_rows(2))
    (started,) = logs.events("run_started")
    assert started["run_dir"] is None


def test_run_dir_given_writes_the_run_directory_and_its_manifest(tmp_path: Path) -> None:
    """runner_options={"run_dir": ...}: run.json and manifest.json, equal to the result's."""
    result = fraud.run(transactions=_rows(2), runner_options={"run_dir": str(tmp_path)})
    folder = tmp_path / result.run_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "profile.json",
        "run.json",
        "run.lock",
    ]
    written = json.loads((folder / "manifest.json").read_text())
    assert written == json.loads(json.dumps(result.manifest, default=str))
    assert json.loads((folder / "run.json").read_text())["status"] == "succeeded"


def test_a_file_output_writes_the_run_directory_and_a_manifest_beside_it(
    _run_dir: Path, tmp_path: Path
) -> None:
    """An output file: the run directory is written, and the manifest beside the file."""
    out = tmp_path / "scored.csv"
    result = fraud.run(transactions=_rows(2), outputs={"scored": str(out)})
    assert (_run_dir / result.run_id / "manifest.json").exists()
    beside = json.loads((tmp_path / "scored.csv.manifest.json").read_text())
    assert beside["run_id"] == result.run_id
    outputs = {o["name"]: o for o in result.manifest["outputs"]}
    assert outputs["scored"] == {"name": "scored", "uri": str(out), "rows": 2}


def test_quarantine_published_nowhere_is_kept_in_the_run_directory(tmp_path: Path) -> None:
    """With a run directory and no quarantine destination, quarantine.parquet keeps it."""
    bad = _rows(3)
    bad.loc[0, "country"] = "gb"
    result = fraud.run(transactions=bad, max_invalid=1.0, runner_options={"run_dir": str(tmp_path)})
    kept = tmp_path / result.run_id / "quarantine.parquet"
    assert result.manifest["quarantine"]["uri"] == str(kept)
    records = pd.read_parquet(kept)
    assert list(records["column"]) == ["country"]
    assert list(records["value"]) == ["gb"]


def test_batch_run_keeps_a_run_directory(_run_dir: Path) -> None:
    """The batch runner checkpoints, so even an in-memory batch run has a directory."""
    result = fraud.run("batch", transactions=_rows(5), runner_options={"progress": False})
    assert (_run_dir / result.run_id / "manifest.json").exists()
    assert result.manifest["runner"] == "batch"


def test_runner_table_follows_plugin_registration() -> None:
    """A runner registered after the table was first built is listed; unregistered, gone."""
    assert "toy_notebook" not in list_runners()

    class ToyRunner(sdk.Runner):
        name = "toy_notebook"

        def run_stage(self, session: sdk.RunSession, stage: sdk.Stage) -> None:
            raise NotImplementedError

    class Plugin:
        @sdk.hookimpl
        def sdk_register_runners(self) -> list[type[sdk.Runner]]:
            return [ToyRunner]

    pm = get_plugin_manager()
    plugin = Plugin()
    pm.register(plugin, name="toy-notebook")
    try:
        assert isinstance(get_runner("toy_notebook"), ToyRunner)
    finally:
        pm.unregister(plugin)
    assert "toy_notebook" not in list_runners()
