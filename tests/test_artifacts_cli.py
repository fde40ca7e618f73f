"""Models as artifacts from the command line: train, then score in a later run; every refusal
is one clear error line with exit code 2 (1 for a step that returns the wrong type)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli
from test_cli import error_lines, json_lines

TRAIN = "examples/spaceflights/train.toml"
SCORE = "examples/spaceflights/score.toml"


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`sdk run train.toml` with its model and metrics written into a temporary folder."""
    folder = tmp_path_factory.mktemp("trained")
    out = cli(
        "run", TRAIN,
        "--output", f"regressor={folder / 'regressor.skops'}",
        "--output", f"metrics={folder / 'metrics.json'}",
        "--quarantine", str(folder / "quarantine.csv"),
        "--run-dir", str(folder / "runs"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return folder, out


def score(tmp_path: Path, model: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`sdk run score.toml` with ``model`` as the regressor, outputs into ``tmp_path``."""
    return cli(
        "run", SCORE,
        "--input", f"regressor={model}",
        "--output", f"scored={tmp_path / 'scored.csv'}",
        "--quarantine", str(tmp_path / "quarantine.csv"),
        *args,
    )  # fmt: skip


def refused(out: subprocess.CompletedProcess[str], kind: str) -> str:
    """The one error line of a refused run, checked: exit 2, no traceback."""
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    (line,) = [x for x in error_lines(out.stderr) if x.startswith("sdk: error")]
    assert line.startswith(f"sdk: error ({kind}): "), line
    return line


def test_train_then_score_later_in_local_and_batch(
    tmp_path: Path, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """The model written by one run scores a new file in another, loaded once, both runners."""
    folder, training = trained
    (metrics,) = [r for r in json_lines(training.stderr) if r["event"] == "metrics"]
    assert json.loads((folder / "metrics.json").read_text()) == metrics["values"]
    outputs = {}
    for runner in ("local", "batch"):
        target = tmp_path / runner
        target.mkdir()
        chunks = ["--chunk-rows", "30"] if runner == "batch" else []
        out = score(target, folder / "regressor.skops", "--runner", runner, *chunks)
        assert out.returncode == 0, out.stderr
        records = json_lines(out.stderr)
        (loaded,) = [r for r in records if r["event"] == "artifact_loaded"]
        assert loaded["uri"] == str(folder / "regressor.skops")
        assert loaded["produced_by_pipeline"] == "spaceflights-training"
        outputs[runner] = pd.read_csv(target / "scored.csv")
    assert len(outputs["local"]) > 150
    pd.testing.assert_frame_equal(outputs["local"], outputs["batch"], rtol=1e-12)


def test_runs_show_and_metrics_list_the_artifacts(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """`sdk runs show` has the artifacts produced; `sdk runs --metrics` the metrics."""
    folder, training = trained
    run_id = next(r["run_id"] for r in json_lines(training.stderr))
    shown = cli("runs", "show", run_id, "--run-dir", str(folder / "runs"))
    assert shown.returncode == 0, shown.stderr
    manifest = json.loads(shown.stdout)
    produced = {a["name"]: a for a in manifest["artifacts"]["produced"]}
    assert set(produced) == {"regressor", "metrics"}
    assert produced["regressor"]["type"] == "sklearn.linear_model._base.LinearRegression"
    assert produced["regressor"]["uri"] == str(folder / "regressor.skops")
    assert produced["regressor"]["content_hash"].startswith("sha256:")
    listed = cli("runs", "--metrics", "--run-dir", str(folder / "runs"))
    assert listed.returncode == 0, listed.stderr
    (line,) = [x for x in listed.stdout.splitlines() if x.startswith(run_id)]
    r2 = manifest["metrics"]["metrics"]["r2"]
    assert f"metrics.r2={r2:.6g}" in line


def copy_of(trained: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    """A copy of the trained model with its manifest, in ``tmp_path``."""
    folder, _ = trained
    model = tmp_path / "regressor.skops"
    model.write_bytes((folder / "regressor.skops").read_bytes())
    manifest = folder / "regressor.skops.manifest.json"
    (tmp_path / manifest.name).write_bytes(manifest.read_bytes())
    return model


def test_a_tampered_model_is_refused(
    tmp_path: Path, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """One byte changed: refused, naming the file."""
    model = copy_of(trained, tmp_path)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    line = refused(score(tmp_path, model), "ArtifactError")
    assert str(model) in line
    assert "changed" in line
    assert not (tmp_path / "scored.csv").exists()


def test_a_truncated_model_is_refused(
    tmp_path: Path, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """Cut short: refused, naming the file."""
    model = copy_of(trained, tmp_path)
    model.write_bytes(model.read_bytes()[:100])
    line = refused(score(tmp_path, model), "ArtifactError")
    assert str(model) in line
    assert "truncated" in line


def test_an_untrusted_joblib_model_is_refused_and_loads_when_trusted(tmp_path: Path) -> None:
    """.joblib is written when asked, but loaded only under --trust-artifact."""
    model = tmp_path / "regressor.joblib"
    out = cli("run", TRAIN, "--output", f"regressor={model}", "--run-dir", str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr
    line = refused(score(tmp_path, model), "ArtifactError")
    assert "can run arbitrary code when loaded" in line
    assert "--trust-artifact" in line
    trusted = score(tmp_path, model, "--trust-artifact", str(tmp_path / "*.joblib"))
    assert trusted.returncode == 0, trusted.stderr
    assert len(pd.read_csv(tmp_path / "scored.csv")) > 150


NARROW = '''
import pandera.pandas as pa
from pandera.typing import DataFrame
from sklearn.linear_model import LinearRegression

from sdk import Artifact, Pipeline, Step


class Few(pa.DataFrameModel):
    """Two of the model's eight features."""

    engines: int
    crew: int


class Priced(Few):
    """With a price."""

    predicted_price: float


class Price(Step):
    """Predict prices from too few columns."""

    scope = "rows"

    def run(
        self, shuttles: DataFrame[Few], regressor: Artifact[LinearRegression]
    ) -> DataFrame[Priced]:
        return shuttles.assign(predicted_price=regressor.predict(shuttles))


pipeline = Pipeline([Price()], name="narrow")
'''


def test_a_model_whose_features_the_scoring_input_lacks_is_refused(
    tmp_path: Path, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """Checked when the model is loaded, before any row is scored."""
    folder, _ = trained
    (tmp_path / "narrow.py").write_text(textwrap.dedent(NARROW))
    out = cli(
        "run", f"{tmp_path / 'narrow.py'}:pipeline",
        "--input", "shuttles=examples/spaceflights/new_shuttles.csv",
        "--input", f"regressor={folder / 'regressor.skops'}",
        "--output", f"price={tmp_path / 'priced.csv'}",
    )  # fmt: skip
    line = refused(out, "PipelineError")
    assert "fitted on 8 feature(s)" in line
    assert "lacks passenger_capacity, d_check_complete" in line
    assert not (tmp_path / "priced.csv").exists()


ROWS_MODEL = '''
import pandera.pandas as pa
from pandera.typing import DataFrame
from sklearn.linear_model import LinearRegression

from sdk import Artifact, Pipeline, Step


class Rows(pa.DataFrameModel):
    """x and y."""

    x: float
    y: float


class FitPerChunk(Step):
    """Fits on whatever chunk it gets."""

    scope = "rows"

    def run(self, rows: DataFrame[Rows]) -> Artifact[LinearRegression]:
        return LinearRegression().fit(rows[["x"]], rows["y"])


pipeline = Pipeline([FitPerChunk()])
'''


def test_a_rows_step_returning_a_model_is_refused(tmp_path: Path) -> None:
    """A definition error: exit 2 before anything runs."""
    (tmp_path / "bad.py").write_text(textwrap.dedent(ROWS_MODEL))
    (tmp_path / "rows.csv").write_text("x,y\n1,2\n2,4\n")
    out = cli("run", f"{tmp_path / 'bad.py'}:pipeline", "--input", f"rows={tmp_path / 'rows.csv'}")
    line = refused(out, "StepDefinitionError")
    assert "step FitPerChunk: run() returns Artifact[LinearRegression]" in line
    assert "must be scope = 'global'" in line


def test_a_step_returning_the_wrong_type_fails_the_run(tmp_path: Path) -> None:
    """What run() returns is checked: a StepError, exit 1."""
    source = ROWS_MODEL.replace('scope = "rows"', 'scope = "global"').replace(
        'return LinearRegression().fit(rows[["x"]], rows["y"])', "return {'slope': 2.0}"
    )
    (tmp_path / "wrong.py").write_text(textwrap.dedent(source))
    (tmp_path / "rows.csv").write_text("x,y\n1,2\n2,4\n")
    out = cli(
        "run", f"{tmp_path / 'wrong.py'}:pipeline", "--input", f"rows={tmp_path / 'rows.csv'}"
    )
    assert out.returncode == 1, out.stderr
    (line,) = [x for x in error_lines(out.stderr) if x.startswith("sdk: error")]
    assert line.startswith("sdk: error (StepError): step 'fit_per_chunk' returned dict, not ")
    assert "Artifact[LinearRegression]" in line
