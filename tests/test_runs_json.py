"""`sdk runs --format json` and the quarantine-rate column of `sdk runs`, parsed back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from examples.fraud.pipeline import pipeline as fraud
from sdk.cli import main
from tests.conftest import ROOT

FRAUD_CSV = ROOT / "examples" / "fraud" / "transactions.csv"


def _sdk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A run directory holding the fraud example's run and a run killed outright (its
    ``run.json`` still says ``running``, for a pid that is gone)."""
    runs = tmp_path / "runs"
    fraud.run(transactions=str(FRAUD_CSV), runner_options={"run_dir": str(runs)}, run_id="a-fraud")
    killed = runs / "z-killed"
    killed.mkdir()
    (killed / "run.json").write_text(
        json.dumps(
            {
                "run_id": "z-killed",
                "status": "running",
                "started": "2020-01-01T00:00:00+00:00",
                "pid": 2**22 + 1,  # above the default pid_max: never alive
                "host": "elsewhere-never",
                "pipeline": "fraud",
                "runner": "batch",
            }
        )
    )
    manifest = json.loads((runs / "a-fraud" / "manifest.json").read_text())
    return runs, manifest


def test_json_lists_each_run_with_rows_and_quarantine_rate(
    runs: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every field of a succeeded run comes from its manifest; newest first; a run that has not
    ended has no counts (null), and no report until one is written."""
    folder, manifest = runs
    code, out, _ = _sdk(capsys, "runs", "--format", "json", "--run-dir", str(folder))
    assert code == 0
    listed = json.loads(out)
    assert [r["run_id"] for r in listed] == ["a-fraud", "z-killed"]  # started 2020 comes last
    run = listed[0]
    assert run["pipeline"] == "fraud" and run["runner"] == "local"
    assert run["status"] == "succeeded"
    assert (run["started"], run["finished"]) == (manifest["started"], manifest["finished"])
    assert run["rows_in"] == 2000 == manifest["inputs"][0]["rows"]
    assert run["quarantined"] == 30 == manifest["quarantine"]["rows"]
    assert run["quarantine_rate"] == pytest.approx(0.015)
    assert 0 <= run["duration"] < 60
    assert Path(run["path"]) == (folder / "a-fraud").absolute()
    assert run["report"] is None
    killed = listed[1]
    assert killed["status"] in ("running", "interrupted")  # another host's pid: not checked
    assert killed["rows_in"] is killed["quarantined"] is killed["quarantine_rate"] is None
    assert killed["finished"] is killed["duration"] is None

    (folder / "a-fraud" / "report.html").write_text("<html></html>")
    code, out, _ = _sdk(
        capsys, "runs", "show", "a-fraud", "--format", "json", "--run-dir", str(folder)
    )
    (shown,) = json.loads(out)
    assert code == 0 and shown["run_id"] == "a-fraud"
    assert Path(shown["report"]) == (folder / "a-fraud" / "report.html").absolute()


def test_table_has_the_quarantined_share(
    runs: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The table's QUARANTINED % column: 1.50% for the fraud run, "-" where it is unknown."""
    code, out, _ = _sdk(capsys, "runs", "--run-dir", str(runs[0]))
    assert code == 0
    header, *lines = out.splitlines()
    column = header.index("QUARANTINED %")
    share = {line.split()[0]: line[column:].split()[0] for line in lines}
    assert share == {"a-fraud": "1.50%", "z-killed": "-"}


def test_json_refused_where_it_means_nothing(
    runs: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json` with prune or --metrics is a usage error; an unknown run is an error."""
    folder = str(runs[0])
    for args in (("prune", "--keep", "1"), ("--metrics",)):
        code, _, err = _sdk(capsys, "runs", *args, "--format", "json", "--run-dir", folder)
        assert code == 2 and "--format json" in err
    code, _, err = _sdk(capsys, "runs", "show", "nope", "--format", "json", "--run-dir", folder)
    assert code == 2 and "no run 'nope'" in err
