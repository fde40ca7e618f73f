"""Policy findings without ``--strict``: the run goes on, but says so and records them.

Every run checks its steps against the policy when it opens (once per pipeline fingerprint
per process), logs a ``policy_findings`` warning with the count and the findings, and records
them in its manifest (``policy``).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import sdk
from sdk.testing import capture_logs

STEPS = '''
"""Steps of the policy tests."""

import pandera.pandas as pa
from pandera.typing import DataFrame

import sdk


class Numbers(pa.DataFrameModel):
    """A number per row."""

    n: int

    class Config:
        coerce = True


class Step(sdk.Step):
    """Pass the rows on."""

    output = "kept"
    scope = "rows"

    def run(self, numbers: DataFrame[Numbers]) -> DataFrame[Numbers]:
        """Pass the rows on."""
        {body}
        return numbers
'''


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[type, type, Path]]:
    """A step that prints (SDK102) and one that does not, each in its own module file."""
    folder = tmp_path_factory.mktemp("policy_steps")
    modules = {"noisy_steps": "print(len(numbers))", "quiet_steps": "pass"}
    for name, body in modules.items():
        (folder / f"{name}.py").write_text(STEPS.format(body=body), encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        noisy = importlib.import_module("noisy_steps").Step
        quiet = importlib.import_module("quiet_steps").Step
        yield noisy, quiet, folder / "noisy_steps.py"
    finally:
        sys.path.remove(str(folder))
        for name in modules:
            sys.modules.pop(name, None)


def _numbers() -> pd.DataFrame:
    return pd.DataFrame({"n": ["1", "2"]})


def test_findings_are_logged_as_a_warning_and_the_run_goes_on(
    steps: tuple[type, type, Path],
) -> None:
    """policy_findings: WARNING, count, one line per finding naming file, line and rule."""
    noisy, _, path = steps
    pipeline = sdk.Pipeline([noisy()], name="noisy")
    with capture_logs() as logs:
        result = pipeline.run(numbers=_numbers())
    assert result.status == "succeeded"
    (event,) = logs.events("policy_findings")
    assert event["level"] == "WARNING"
    assert event["count"] == 1
    (line,) = event["findings"]
    assert line.startswith(f"{path}:27:9:")
    assert "SDK102 [print]" in line and "instead: log with self.log.info" in line
    names = [r["event"] for r in logs]
    assert names.index("run_started") < names.index("policy_findings") < names.index("run_finished")


def test_findings_are_recorded_in_the_manifest(
    steps: tuple[type, type, Path], tmp_path: Path
) -> None:
    """manifest.policy: count and each finding (rule, line, message, alternative)."""
    pipeline = sdk.Pipeline([steps[0]()], name="noisy")
    result = pipeline.run(numbers=_numbers(), runner_options={"run_dir": str(tmp_path)})
    written = json.loads((tmp_path / result.run_id / "manifest.json").read_text())
    for manifest in (result.manifest, written):
        assert manifest["policy"]["count"] == 1
        (finding,) = manifest["policy"]["findings"]
        assert finding["rule"] == "SDK102"
        assert finding["name"] == "print"
        assert (finding["path"], finding["line"]) == (str(steps[2]), 27)
        assert finding["alternative"].startswith("log with self.log.info")


def test_every_run_reports_the_findings_again(steps: tuple[type, type, Path]) -> None:
    """The check is kept per process, but each run still logs and records it."""
    pipeline = sdk.Pipeline([steps[0]()], name="noisy")
    for _ in range(3):
        with capture_logs() as logs:
            result = pipeline.run(numbers=_numbers())
        assert [e["count"] for e in logs.events("policy_findings")] == [1]
        assert result.manifest["policy"]["count"] == 1


def test_a_clean_pipeline_logs_no_finding(steps: tuple[type, type, Path]) -> None:
    """No breach: no policy_findings event; the manifest says zero."""
    pipeline = sdk.Pipeline([steps[1]()], name="quiet")
    with capture_logs() as logs:
        result = pipeline.run(numbers=_numbers())
    assert logs.events("policy_findings") == []
    assert result.manifest["policy"] == {"count": 0, "findings": []}


def test_batch_runner_reports_findings_too(steps: tuple[type, type, Path]) -> None:
    """Every runner opens runs the same way: batch logs and records them as well."""
    pipeline = sdk.Pipeline([steps[0]()], name="noisy")
    with capture_logs() as logs:
        result = pipeline.run("batch", numbers=_numbers(), runner_options={"progress": False})
    assert [e["count"] for e in logs.events("policy_findings")] == [1]
    assert result.manifest["policy"]["count"] == 1
