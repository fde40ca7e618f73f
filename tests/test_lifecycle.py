"""The end of a run's life: spills removed at success, ``resume="latest"``, ``run_resumed``.

A batch run is interrupted in-process by a step that raises ``KeyboardInterrupt`` (what
Ctrl-C in a notebook does) on a chosen chunk; the same pipeline object is then resumed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

import sdk
from sdk.errors import PipelineError
from sdk.testing import capture_logs

STOP: dict[str, int | None] = {"at_chunk": None, "seen": 0, "fail": 0}
"""Which chunk of ``Double`` raises ``KeyboardInterrupt`` (``None``: none), or
``RuntimeError`` when ``fail`` is set."""


class Numbers(pa.DataFrameModel):
    """A number per row."""

    n: int = pa.Field(ge=0)

    class Config:
        coerce = True


class Doubled(Numbers):
    """The number and its double."""

    double: int


class Double(sdk.Step):
    """Double each number; interrupts on chunk ``STOP["at_chunk"]``."""

    output = "doubled"
    scope = "rows"

    def run(self, numbers: DataFrame[Numbers]) -> DataFrame[Doubled]:
        """Add ``double``."""
        STOP["seen"] = int(STOP["seen"] or 0) + 1
        if STOP["at_chunk"] is not None and STOP["seen"] > STOP["at_chunk"]:
            if STOP["fail"]:
                raise RuntimeError("the source system went away")
            raise KeyboardInterrupt
        return numbers.assign(double=numbers["n"] * 2)


pipeline = sdk.Pipeline([Double()], name="doubling")
CHUNK = 10
ROWS = 45  # five units of ten rows


def _numbers(bad: int = 0) -> pd.DataFrame:
    values = [str(i) for i in range(ROWS)]
    for i in range(bad):
        values[i * 7] = "-1"
    return pd.DataFrame({"n": values})


def _run(run_dir: Path, out: Path, **options: object) -> sdk.RunResult:
    return pipeline.run(
        "batch",
        numbers=_numbers(bad=2),
        outputs={"doubled": str(out)},
        max_invalid=1.0,
        runner_options={"chunk_rows": CHUNK, "progress": False, "run_dir": str(run_dir)},
        **options,  # type: ignore[arg-type]
    )


def _interrupted(run_dir: Path, out: Path, at_chunk: int) -> str:
    """Run until chunk ``at_chunk`` interrupts; return the run id."""
    before = set(run_dir.glob("*")) if run_dir.exists() else set()
    STOP.update(at_chunk=at_chunk, seen=0)
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(run_dir, out)
    finally:
        STOP.update(at_chunk=None, seen=0)
    (folder,) = set(run_dir.glob("*")) - before
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    return folder.name


def test_succeeded_batch_run_keeps_only_its_record_and_manifest(tmp_path: Path) -> None:
    """No spills, checkpoints or row sources are left once a batch run succeeded."""
    result = _run(tmp_path / "runs", tmp_path / "doubled.csv", quarantine=str(tmp_path / "q.csv"))
    folder = tmp_path / "runs" / result.run_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "profile.json",
        "run.json",
        "run.lock",
    ]
    assert len(pd.read_csv(tmp_path / "doubled.csv")) == ROWS - 2


def test_succeeded_run_without_quarantine_destination_keeps_its_quarantine(
    tmp_path: Path,
) -> None:
    """Quarantine published nowhere: kept as quarantine.parquet, named in the manifest."""
    with capture_logs() as logs:
        result = _run(tmp_path / "runs", tmp_path / "doubled.csv")
    folder = tmp_path / "runs" / result.run_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "profile.json",
        "quarantine.parquet",
        "run.json",
        "run.lock",
    ]
    kept = pd.read_parquet(folder / "quarantine.parquet")
    assert sorted(kept["value"]) == ["-1", "-1"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["quarantine"]["uri"] == str(folder / "quarantine.parquet")
    (removed,) = logs.events("spills_removed")
    assert removed["files"] > 0 and removed["bytes"] > 0


def test_interrupted_run_keeps_its_checkpoints(tmp_path: Path) -> None:
    """An interrupted run keeps what resume needs: its unit markers and parts."""
    run_id = _interrupted(tmp_path / "runs", tmp_path / "doubled.csv", at_chunk=2)
    folder = tmp_path / "runs" / run_id
    assert sorted(p.stem for p in (folder / "units").glob("*.json")) == [
        "s00-rows-000000",
        "s00-rows-000001",
    ]
    assert not (tmp_path / "doubled.csv").exists()


def test_failed_run_keeps_its_checkpoints(tmp_path: Path) -> None:
    """A failed run is unfinished too: its checkpoints stay (it can be resumed by id)."""
    runs = tmp_path / "runs"
    STOP.update(at_chunk=3, seen=0, fail=1)
    try:
        with pytest.raises(sdk.StepError, match="the source system went away"):
            _run(runs, tmp_path / "doubled.csv")
    finally:
        STOP.update(at_chunk=None, seen=0, fail=0)
    (folder,) = runs.iterdir()
    assert json.loads((folder / "run.json").read_text())["status"] == "failed"
    assert len(list((folder / "units").glob("*.json"))) == 3
    result = _run(runs, tmp_path / "doubled.csv", resume=folder.name)
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "profile.json",
        "quarantine.parquet",
        "run.json",
        "run.lock",
    ]
    assert result.rows_in == ROWS


def test_resume_latest_continues_the_interrupted_run_and_says_what_it_reused(
    tmp_path: Path,
) -> None:
    """resume="latest" names the run it picked and reuses its two finished units of five."""
    runs, out = tmp_path / "runs", tmp_path / "doubled.csv"
    first = _interrupted(runs, out, at_chunk=1)
    second = _interrupted(runs, out, at_chunk=2)  # the latest
    with capture_logs() as logs:
        result = _run(runs, out, resume="latest")
    assert result.run_id == second
    (selected,) = logs.events("resume_selected")
    assert selected["resumed_run"] == second and selected["run_id"] == second
    (resumed,) = logs.events("run_resumed")
    assert (resumed["reused"], resumed["units"]) == (2, 5)
    assert resumed["detail"] == "resumed: reused 2 of 5 units"
    assert len(pd.read_csv(out)) == ROWS - 2
    assert json.loads((runs / first / "run.json").read_text())["status"] == "interrupted"


def test_resume_latest_is_the_most_recently_active_run(tmp_path: Path) -> None:
    """An older run resumed and interrupted again is the latest, not the newer-started one."""
    runs, out = tmp_path / "runs", tmp_path / "doubled.csv"
    first = _interrupted(runs, out, at_chunk=1)
    _interrupted(runs, out, at_chunk=2)
    STOP.update(at_chunk=1, seen=0)
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(runs, out, resume=first)  # one more unit, then interrupted again
    finally:
        STOP.update(at_chunk=None, seen=0)
    with capture_logs() as logs:
        result = _run(runs, out, resume="latest")
    assert result.run_id == first
    (resumed,) = logs.events("run_resumed")
    assert (resumed["reused"], resumed["units"]) == (2, 5)


def test_resume_latest_skips_runs_with_other_params_or_inputs(tmp_path: Path) -> None:
    """An interrupted run of other inputs is not picked: the error lists it and why."""
    runs, out = tmp_path / "runs", tmp_path / "doubled.csv"
    run_id = _interrupted(runs, out, at_chunk=1)
    with pytest.raises(PipelineError) as caught:
        pipeline.run(
            "batch",
            numbers=_numbers(bad=0),  # other rows: another content hash
            outputs={"doubled": str(out)},
            max_invalid=1.0,
            runner_options={"chunk_rows": CHUNK, "progress": False, "run_dir": str(runs)},
            resume="latest",
        )
    message = str(caught.value)
    assert message.startswith(
        "no interrupted run of pipeline 'doubling' with these inputs/params to resume; runs: "
    )
    assert f"{run_id} (interrupted, other inputs)" in message
    assert "\n" not in message


def test_resume_latest_without_any_run_says_so(tmp_path: Path) -> None:
    """No run at all: the error says there is none in the run folder."""
    with pytest.raises(PipelineError, match=r"to resume; runs: none in .*empty"):
        _run(tmp_path / "empty", tmp_path / "doubled.csv", resume="latest")


def test_resume_latest_does_not_pick_a_succeeded_run(tmp_path: Path) -> None:
    """A succeeded run is listed with its status, not resumed."""
    runs = tmp_path / "runs"
    done = _run(runs, tmp_path / "a.csv")
    with pytest.raises(PipelineError) as caught:
        _run(runs, tmp_path / "a.csv", resume="latest", overwrite=True)
    assert f"{done.run_id} (succeeded)" in str(caught.value)


def test_resume_by_id_still_works(tmp_path: Path) -> None:
    """resume=RUN_ID continues that run."""
    runs, out = tmp_path / "runs", tmp_path / "doubled.csv"
    run_id = _interrupted(runs, out, at_chunk=3)
    with capture_logs() as logs:
        result = _run(runs, out, resume=run_id)
    assert result.run_id == run_id
    assert logs.events("resume_selected") == []
    (resumed,) = logs.events("run_resumed")
    assert (resumed["reused"], resumed["units"]) == (3, 5)


def test_local_runner_refuses_resume_latest() -> None:
    """The local runner does not checkpoint: resume="latest" is refused as any resume."""
    with pytest.raises(PipelineError, match="cannot resume runs; use --runner batch"):
        pipeline.run(numbers=_numbers(), resume="latest")
